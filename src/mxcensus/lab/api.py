"""The lab for tests and benchmarks.

``Lab`` runs ``mxcensus lab`` in a subprocess (its own processes, so a benchmark measures the
scanner, not a lab sharing its event loop). Its ``base`` is ``"auto"`` unless given: a free range
above 127.128.0.0, so parallel tests and several people on one machine do not collide::

    with Lab(size=2000, seed=7, hostile_fraction=0.05) as lab:
        lab.addresses          # ["127.64.0.1", …]
        lab.truth["hosts"]     # the ground truth, as written to the truth file
        lab.counters()         # {"connections": {address: n}, "by_port": …, "total": n}

``serve_in_process`` serves hosts in the running event loop, for unit tests::

    async with serve_in_process(LabConfig(size=20)) as (servers, hosts, tls):
        ...
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

import mxcensus
from mxcensus.lab.model import Host
from mxcensus.lab.population import ALL_PORTS, DEFAULT_BASE, LabConfig, generate
from mxcensus.lab.servers import LabError, LabServers
from mxcensus.lab.tlsgen import TlsMaterial, make_tls_material


class Lab:
    """A lab in a subprocess; a context manager. Ready when ``__enter__`` returns."""

    def __init__(
        self,
        size: int = 200,
        seed: int = 1,
        *,
        base: str = "auto",
        hostile_fraction: float = 0.05,
        hidden_fraction: float = 0.0,
        ports: tuple[int, ...] = ALL_PORTS,
        workers: int | None = None,
        duration: float = 3600.0,
        tarpit_interval: float = 2.0,
        startup_timeout: float = 180.0,
        epoch: int = 0,
        geography: bool = False,
    ) -> None:
        self.auto_base = base == "auto"
        self.config = LabConfig(
            size=size,
            seed=seed,
            base=DEFAULT_BASE if self.auto_base else base,
            hostile_fraction=hostile_fraction,
            hidden_fraction=hidden_fraction,
            ports=tuple(ports),
            tarpit_interval=tarpit_interval,
            epoch=epoch,
        )
        self.config.check()
        self.workers = workers
        self.geography = geography
        self.duration = duration
        self.startup_timeout = startup_timeout
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._seq = 0
        self.truth: dict[str, Any] = {}
        self.final_counters: dict[str, Any] | None = None

    # -- paths ----------------------------------------------------------------------------

    @property
    def workdir(self) -> Path:
        if self._tmp is None:
            raise LabError("lab: not started")
        return Path(self._tmp.name)

    @property
    def truth_path(self) -> Path:
        return self.workdir / "truth.json"

    @property
    def counters_path(self) -> Path:
        return self.workdir / "counters.json"

    @property
    def geo_db(self) -> Path:
        """The MMDB of the hosts' simulated geography (``geography=True``), for --geo-db."""
        return self.workdir / "geo.mmdb"

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise LabError("lab: not started")
        return self._proc.pid

    @property
    def addresses(self) -> list[str]:
        return list(self.truth.get("hosts", {}))

    def serving(self, port: int) -> list[str]:
        """The addresses with ``port`` open (a Dovecot host has no port 25, …)."""
        key = str(port)
        return [a for a, h in self.truth.get("hosts", {}).items() if key in h["ports"]]

    @property
    def ca_pem(self) -> str:
        return str(self.truth.get("ca_pem", ""))

    # -- lifecycle ------------------------------------------------------------------------

    def command(self) -> list[str]:
        c = self.config
        cmd = [
            sys.executable,
            "-m",
            "mxcensus",
            "lab",
            "--size",
            str(c.size),
            "--seed",
            str(c.seed),
            "--base",
            "auto" if self.auto_base else c.base,
            "--hostile-fraction",
            str(c.hostile_fraction),
            "--hidden-fraction",
            str(c.hidden_fraction),
            "--ports",
            ",".join(map(str, c.ports)),
            "--tarpit-interval",
            str(c.tarpit_interval),
            "--duration",
            str(self.duration),
            "--truth",
            str(self.truth_path),
            "--counters",
            str(self.counters_path),
            "--die-with-parent",
        ]
        if self.workers:
            cmd += ["--workers", str(self.workers)]
        if c.epoch:
            cmd += ["--epoch", str(c.epoch)]
        if self.geography:
            cmd += ["--mmdb", str(self.geo_db)]
        return cmd

    def start(self) -> Lab:
        self._tmp = tempfile.TemporaryDirectory(prefix="mxcensus-lab-")
        env = dict(os.environ)
        src = str(Path(mxcensus.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
        log = (self.workdir / "lab.log").open("wb")
        with log:
            self._proc = subprocess.Popen(
                self.command(), stdout=subprocess.DEVNULL, stderr=log, env=env
            )
        end = time.monotonic() + self.startup_timeout
        while not self.truth_path.exists():
            if self._proc.poll() is not None:
                raise LabError(f"lab: exited with {self._proc.returncode}: {self._log_tail()}")
            if time.monotonic() > end:
                self.stop()
                raise LabError(f"lab: not ready after {self.startup_timeout:.0f} s")
            time.sleep(0.05)
        self.truth = json.loads(self.truth_path.read_text())
        self.config = replace(self.config, base=self.truth["base"])
        return self

    def _log_tail(self) -> str:
        try:
            text = (self.workdir / "lab.log").read_text(errors="replace").strip()
        except OSError:
            return ""
        return text.splitlines()[-1] if text else ""

    def counters(self, timeout: float = 30.0) -> dict[str, Any]:
        """Connections so far: ``{"connections": {address: n}, "by_port": …, "total": n}``."""
        if self._proc is None or self._proc.poll() is not None:
            if self.final_counters is not None:
                return self.final_counters
            raise LabError("lab: not running")
        want = self._seq + 1
        self._proc.send_signal(signal.SIGUSR1)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            doc = self._read_counters()
            if doc is not None and doc["seq"] >= want:
                self._seq = doc["seq"]
                return doc
            time.sleep(0.01)
        raise LabError(f"lab: no counters after {timeout:.0f} s")

    def _read_counters(self) -> dict[str, Any] | None:
        try:
            doc: dict[str, Any] = json.loads(self.counters_path.read_text())
        except (OSError, ValueError):
            return None
        return doc

    def stop(self) -> dict[str, Any] | None:
        """Stop the lab (SIGTERM) and return its final counters."""
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
            self.final_counters = self._read_counters()
            self._proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return self.final_counters

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.asynccontextmanager
async def serve_in_process(
    config: LabConfig, tls: TlsMaterial | None = None
) -> AsyncIterator[tuple[LabServers, list[Host], TlsMaterial]]:
    """Serve ``config``'s population in the running loop (unit tests, no subprocess)."""
    hosts = generate(config)
    material = tls or make_tls_material(config.base)
    async with LabServers(hosts, material, tarpit_interval=config.tarpit_interval) as servers:
        yield servers, hosts, material

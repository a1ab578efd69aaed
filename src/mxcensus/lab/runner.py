"""Running the lab: a supervisor and worker processes, each worker on uvloop.

Host *i* is served by worker ``i % workers``, which builds its share of the population
itself (hosts depend only on the seed and their index) and binds one socket per (address,
port): each process stays far below its file limit and a busy benchmark uses every core.
The supervisor forks the workers, writes the truth when all are listening (so an existing
truth file means "ready"), writes the counters on SIGUSR1 and at the end, and stops
everything after ``duration`` seconds or on SIGTERM/SIGINT.

Supervisor ⇄ worker messages on a pipe: worker → ("ready", sockets) | ("error", text);
supervisor → "counters" | "stop"; worker → ("counters", {(address, port): n}).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import multiprocessing
import os
import resource
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from mxcensus.errors import UsageError
from mxcensus.lab.model import Host
from mxcensus.lab.population import LabConfig, generate, make_host
from mxcensus.lab.servers import LabError, LabServers
from mxcensus.lab.tlsgen import TlsMaterial, make_tls_material

log = logging.getLogger(__name__)

TRUTH_SCHEMA = 1

TRUTH_FIELDS = {
    "hosts.<address>": "one simulated host; its open ports are exactly the keys of 'ports'",
    "hosts.*.product/vendor/version": "what the host really runs (version: full build)",
    "hosts.*.visible_version/precision": (
        "what a correct identifier can know combining the evidence of all its ports"
    ),
    "hosts.*.exposure": "Exchange: smtp-only | owa-path | x-owa-version | ecp-manifest",
    "hosts.*.hostile": "empty, or the hostile behaviour (tarpit, reset, giant, …)",
    "hosts.*.ports.<port>.product/version/precision": "what this port alone shows",
    "hosts.*.ports.<port>.outcome": "the outcome class a correct, bounded client ends with",
    "hosts.*.ports.<port>.banner": (
        "the exact greeting sent (latin-1, CRLFs kept); the first 64 bytes for 'giant'"
    ),
    "hosts.*.ports.<port>.tls": "none | starttls (offered in-band) | implicit",
    "hosts.*.ports.<port>.hidden": (
        "present (true) when the greeting was customised and names no product"
    ),
    "ca_pem": "the CA of every certificate the lab serves (generated at start)",
    "epoch": "with --epoch N > 0: the population N epochs later (lab/epochs.py)",
    "changes.appeared/vanished/patched": (
        "with --epoch: addresses new since epoch N-1, gone since, and serving other software"
    ),
}


def raise_nofile() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            return hard
    return soft


def truth_document(config: LabConfig, hosts: list[Host], tls: TlsMaterial | None) -> dict[str, Any]:
    return {
        "schema": TRUTH_SCHEMA,
        "generated_by": "mxcensus lab",
        "seed": config.seed,
        "size": config.size,
        "base": config.base,
        "hostile_fraction": config.hostile_fraction,
        "hidden_fraction": config.hidden_fraction,
        "ports": list(config.ports),
        "fields": TRUTH_FIELDS,
        "ca_pem": tls.ca_pem.decode() if tls else "",
        "hosts": {h.address: h.truth() for h in hosts},
        **_epoch(config, hosts),
    }


def _epoch(config: LabConfig, hosts: list[Host]) -> dict[str, Any]:
    """For a later epoch: its number and what changed since the one before."""
    if config.epoch == 0:
        return {}
    from dataclasses import replace

    from mxcensus.lab.epochs import changes

    before = generate(replace(config, epoch=config.epoch - 1))
    return {
        "epoch": config.epoch,
        "changes": changes(
            {h.address: h.truth() for h in before}, {h.address: h.truth() for h in hosts}
        ),
    }


def counters_document(counts: dict[tuple[str, int], int], seq: int, final: bool) -> dict[str, Any]:
    by_address: dict[str, int] = {}
    by_port: dict[str, dict[str, int]] = {}
    for (address, port), n in sorted(counts.items()):
        by_address[address] = by_address.get(address, 0) + n
        by_port.setdefault(address, {})[str(port)] = n
    return {
        "seq": seq,
        "final": final,
        "written_at": time.time(),
        "total": sum(by_address.values()),
        "connections": by_address,
        "by_port": by_port,
    }


def write_json_atomic(path: Path, document: dict[str, Any]) -> None:
    """Write via a temporary file and a rename: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(document, indent=1, ensure_ascii=False))
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise LabError(f"lab: cannot write {path}: {exc.strerror or exc}") from exc


# -- worker ---------------------------------------------------------------------------------


def _worker_main(
    config: LabConfig, worker: int, workers: int, tls: TlsMaterial, conn: Connection
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.set_wakeup_fd(-1)  # inherited from the supervisor
    raise_nofile()
    try:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency
        loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_worker(config, worker, workers, tls, conn))
    finally:
        loop.close()


async def _worker(
    config: LabConfig, worker: int, workers: int, tls: TlsMaterial, conn: Connection
) -> None:
    from mxcensus.lab.population import members

    hosts = [
        make_host(config, i, address, patched)
        for i, address, patched in members(config)
        if i % workers == worker
    ]
    servers = LabServers(hosts, tls, tarpit_interval=config.tarpit_interval)
    try:
        await servers.start()
    except LabError as exc:
        conn.send(("error", str(exc)))
        return
    conn.send(("ready", servers.sockets))
    # the specs live as long as the worker: keep them out of every garbage collection
    gc.collect()
    gc.freeze()
    loop = asyncio.get_running_loop()
    stopping = loop.create_future()

    def on_message() -> None:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            message = "stop"
        if message == "counters":
            conn.send(("counters", servers.counters()))
        elif message == "stop" and not stopping.done():
            stopping.set_result(None)

    loop.add_reader(conn.fileno(), on_message)
    try:
        await stopping
    finally:
        loop.remove_reader(conn.fileno())
        await servers.close()
        with contextlib.suppress(OSError):
            conn.send(("counters", servers.counters()))


# -- supervisor -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunResult:
    counters: dict[tuple[str, int], int]
    sockets: int
    hosts: int
    reason: str  # "duration", "signal"


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


@dataclass(slots=True)
class _Control:
    """What the signal handlers tell the supervisor: stop (and why), dump the counters."""

    stop: str = ""
    dump: bool = False
    wake: tuple[socket.socket, socket.socket] = field(default_factory=socket.socketpair)


@contextlib.contextmanager
def _signals() -> Iterator[_Control]:
    """SIGTERM/SIGINT stop the lab, SIGUSR1 dumps counters; each wakes the supervisor."""
    control = _Control()
    wake_r, wake_w = control.wake
    wake_r.setblocking(False)
    wake_w.setblocking(False)

    def on_stop(signum: int, frame: object) -> None:
        control.stop = "signal"

    def on_dump(signum: int, frame: object) -> None:
        control.dump = True

    old_handlers = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, on_stop),
        signal.SIGINT: signal.signal(signal.SIGINT, on_stop),
        signal.SIGUSR1: signal.signal(signal.SIGUSR1, on_dump),
    }
    old_wakeup = signal.set_wakeup_fd(wake_w.fileno())
    try:
        yield control
    finally:
        signal.set_wakeup_fd(old_wakeup)
        for signum, handler in old_handlers.items():
            signal.signal(signum, handler)
        wake_r.close()
        wake_w.close()


def _worker_count(sockets_needed: int, workers: int | None) -> int:
    limit = raise_nofile()
    # half of each worker's file limit for listeners, the rest for connections
    enough = -(-sockets_needed // max(512, limit // 2))
    nworkers = workers or max(default_workers(), enough)
    if nworkers < 1:
        raise LabError(f"lab --workers: must be at least 1, got {nworkers}")
    return nworkers


def _start(
    config: LabConfig, nworkers: int, tls: TlsMaterial, procs: list[Any], conns: list[Connection]
) -> int:
    """Fork the workers (into ``procs``/``conns``, so the caller cleans up whatever started)
    and wait until each listens; the number of listening sockets."""
    ctx = multiprocessing.get_context("fork")
    for w in range(nworkers):
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_worker_main,
            args=(config, w, nworkers, tls, child),
            daemon=True,
            name=f"mxcensus-lab-{w}",
        )
        proc.start()
        child.close()
        procs.append(proc)
        conns.append(parent)
    sockets = 0
    for proc, conn in zip(procs, conns, strict=True):
        kind, value = _recv(conn, proc, 300.0)
        if kind == "error":
            raise LabError(str(value))
        sockets += int(value)
    return sockets


def _supervise(
    control: _Control,
    procs: list[Any],
    conns: list[Connection],
    duration: float,
    counters: Path | None,
    parent: int | None,
) -> tuple[str, int]:
    """Wait for the end (duration, a signal, the parent gone), dumping counters on SIGUSR1;
    why it ended and how many dumps were written. A worker that dies is a ``LabError``."""
    wake_r = control.wake[0]
    deadline = time.monotonic() + duration
    seq = 0
    while True:
        if control.stop:
            return "signal", seq
        if parent is not None and os.getppid() != parent:
            return "parent gone", seq
        if control.dump:
            control.dump = False
            if counters is not None:
                seq += 1
                write_json_atomic(counters, counters_document(_gather(procs, conns), seq, False))
        left = deadline - time.monotonic()
        if left <= 0:
            return "duration", seq
        ready = wait([wake_r, *(p.sentinel for p in procs)], timeout=min(left, 1.0))
        if wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                wake_r.recv(4096)
        dead = [p for p in procs if not p.is_alive()]
        if dead:
            raise LabError(f"lab: worker {dead[0].name} died (exit code {dead[0].exitcode})")


def run_lab(
    config: LabConfig,
    *,
    duration: float,
    truth: Path | None = None,
    counters: Path | None = None,
    workers: int | None = None,
    on_ready: Callable[[int, int], None] | None = None,
    die_with_parent: bool = False,
) -> RunResult:
    """Serve the population until ``duration`` passes or SIGTERM/SIGINT; block meanwhile.

    ``on_ready(hosts, sockets)`` is called once every worker listens and the truth is
    written. ``die_with_parent`` stops the lab when the process that started it is gone (a
    test runner killed mid-run leaves no lab behind). Must run in the main thread (it
    installs signal handlers).
    """
    starter = os.getppid()
    config.check()
    for option, path in (("--truth", truth), ("--counters", counters)):
        if path is not None and not path.parent.is_dir():
            raise UsageError(f"lab {option}: directory {path.parent} does not exist")
    hosts = generate(config)
    nworkers = _worker_count(sum(len(h.services) for h in hosts), workers)
    tls = make_tls_material(config.base)
    procs: list[Any] = []
    conns: list[Connection] = []
    with _signals() as control:
        try:
            sockets = _start(config, nworkers, tls, procs, conns)
            if truth is not None:
                write_json_atomic(truth, truth_document(config, hosts, tls))
            if on_ready is not None:
                on_ready(len(hosts), sockets)
            parent = starter if die_with_parent else None
            reason, seq = _supervise(control, procs, conns, duration, counters, parent)
            final = _stop(procs, conns)
            if counters is not None:
                write_json_atomic(counters, counters_document(final, seq + 1, True))
            return RunResult(final, sockets, len(hosts), reason)
        finally:
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()
                proc.join(timeout=10)
            for conn in conns:
                conn.close()


def _recv(conn: Connection, proc: multiprocessing.process.BaseProcess, timeout: float) -> Any:
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise LabError(f"lab: worker {proc.name} did not answer in {timeout:.0f} s")
        if conn.poll(min(left, 0.5)):
            try:
                return conn.recv()
            except EOFError as exc:
                raise LabError(f"lab: worker {proc.name} exited (code {proc.exitcode})") from exc
        if not proc.is_alive() and not conn.poll(0):
            raise LabError(f"lab: worker {proc.name} exited (code {proc.exitcode})")


def _merge(parts: list[dict[tuple[str, int], int]]) -> dict[tuple[str, int], int]:
    out: dict[tuple[str, int], int] = {}
    for part in parts:
        for key, n in part.items():
            out[key] = out.get(key, 0) + n
    return out


def _gather(
    procs: list[multiprocessing.process.BaseProcess], conns: list[Connection]
) -> dict[tuple[str, int], int]:
    for conn in conns:
        conn.send("counters")
    parts = []
    for proc, conn in zip(procs, conns, strict=True):
        _kind, value = _recv(conn, proc, 30.0)
        parts.append(value)
    return _merge(parts)


def _stop(
    procs: list[multiprocessing.process.BaseProcess], conns: list[Connection]
) -> dict[tuple[str, int], int]:
    for conn in conns:
        with contextlib.suppress(OSError):
            conn.send("stop")
    parts = []
    for proc, conn in zip(procs, conns, strict=True):
        with contextlib.suppress(LabError):
            _kind, value = _recv(conn, proc, 30.0)
            parts.append(value)
        proc.join(timeout=10)
    return _merge(parts)

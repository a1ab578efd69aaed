"""A real authoritative DNS server for the tests: Debian's NSD on loopback.

``nsd_server(records)`` writes a zone ``test.`` holding ``records`` (zone-file lines
relative to ``test.``), starts ``/usr/sbin/nsd -d`` on 127.0.0.1 at a free port (UDP and
TCP), waits until it answers the zone's SOA (bounded), yields ``"127.0.0.1:PORT"`` for
``--resolver``, and stops the pid it started (SIGTERM, then SIGKILL). No root needed: it
binds an unprivileged port and is told not to change user or chroot.
``scripts/system-deps.sh`` installs the ``nsd`` package; without it the fixture skips.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

NSD = "/usr/sbin/nsd"


def _free_port() -> int:
    rng = random.Random()
    for _ in range(50):
        port = rng.randrange(20_000, 60_000)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", port))
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                t.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free UDP+TCP port on 127.0.0.1 for nsd")


@contextlib.contextmanager
def nsd_server(records: Sequence[str]) -> Iterator[str]:
    if not Path(NSD).exists():
        pytest.skip(f"{NSD} is not installed (scripts/system-deps.sh installs nsd)")
    work = Path(tempfile.mkdtemp(prefix="mxcensus-nsd-"))
    port = _free_port()
    zone = "\n".join(
        [
            "$ORIGIN test.",
            "$TTL 60",
            "@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60",
            "@ IN NS ns.test.",
            "ns IN A 127.0.0.1",
            *records,
            "",
        ]
    )
    (work / "test.zone").write_text(zone)
    (work / "nsd.conf").write_text(
        f"""server:
  ip-address: 127.0.0.1@{port}
  port: {port}
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "{work}"
  pidfile: "{work}/nsd.pid"
  database: ""
  zonelistfile: "{work}/zone.list"
  xfrdfile: "{work}/xfrd.state"
  xfrdir: "{work}"
  logfile: "{work}/nsd.log"
  server-count: 1
  verbosity: 1
remote-control:
  control-enable: no
zone:
  name: test
  zonefile: test.zone
"""
    )
    with (work / "stderr.log").open("wb") as err:
        proc = subprocess.Popen(
            [NSD, "-d", "-c", str(work / "nsd.conf")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        _wait_answering(proc, port, work)
        yield f"127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def _wait_answering(proc: subprocess.Popen[bytes], port: int, work: Path) -> None:
    import dns.message
    import dns.query

    deadline = time.monotonic() + 15
    while True:
        if proc.poll() is not None:
            logs = "".join(p.read_text(errors="replace") for p in work.glob("*.log"))
            raise RuntimeError(f"nsd exited with {proc.returncode}:\n{logs[-3000:]}")
        try:
            dns.query.udp(dns.message.make_query("test.", "SOA"), "127.0.0.1", 0.5, port=port)
        except (OSError, dns.exception.Timeout):
            if time.monotonic() > deadline:
                raise RuntimeError(f"nsd not answering on 127.0.0.1:{port} after 15 s") from None
            time.sleep(0.1)
        else:
            return

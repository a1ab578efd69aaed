"""nmap -sV -oX against Debian's real Exim and Dovecot ManageSieve on loopback, imported: the
format as nmap writes it today, not only as the committed fixtures have it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mxcensus.importers import import_files
from mxcensus.model import Outcome
from mxcensus.store.db import Store
from tests.servers import MANAGESIEVE, dovecot_server

EXIM = shutil.which("exim4") or "/usr/sbin/exim4"
NMAP = shutil.which("nmap")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (os.path.exists(EXIM) and NMAP and os.geteuid() == 0),
        reason="needs Debian's exim4-daemon-light and nmap (make test installs them) and root",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def exim_port(tmp_path: Path) -> Iterator[int]:
    port = _free_port()
    pidfile = tmp_path / "exim.pid"
    proc = subprocess.Popen(
        [EXIM, "-bd", "-oX", f"127.0.0.1.{port}", "-oP", str(pidfile)],  # loopback only
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=2) as s,
            ):
                if s.recv(256).startswith(b"220"):
                    break
            time.sleep(0.1)
        else:
            raise AssertionError(f"exim did not answer on 127.0.0.1:{port}")
        yield port
    finally:
        pid = int(pidfile.read_text()) if pidfile.exists() else proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        proc.wait(timeout=10)


def test_nmap_sv_output_of_a_real_exim_imports(exim_port: int, tmp_path: Path) -> None:
    out = tmp_path / "nmap.xml"
    assert NMAP is not None
    subprocess.run(
        [NMAP, "-sV", "-Pn", "-n", "-p", str(exim_port), "--script", "banner,smtp-commands",
         "--host-timeout", "60s", "-oX", str(out), "127.0.0.1"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    with Store.open(tmp_path / "s.duckdb") as store:
        r = import_files(store, "nmap-xml", [out], analyze=False)
        assert r.malformed == 0 and r.transcripts == 1
        (t,) = store.iter_transcripts(r.scan)
    assert (t.ip, t.port, t.outcome) == ("127.0.0.1", exim_port, Outcome.OK)
    extra = dict(t.extra)
    assert extra["nmap.product"] == "Exim smtpd"
    greeting = t.step("greeting")
    assert greeting is not None and b" ESMTP Exim " in greeting.received
    assert greeting.received.split(b"Exim ")[1].split()[0].decode() == extra["nmap.version"]
    ehlo = t.step("ehlo")
    assert ehlo is not None and ehlo.received.startswith(b"250-") and ehlo.code == 250


def test_nmap_sv_output_of_a_real_dovecot_managesieve_imports(tmp_path: Path) -> None:
    """nmap names 4190 ``sieve`` and its banner script records Pigeonhole's greeting."""
    if not os.path.exists(MANAGESIEVE):
        pytest.skip("dovecot-managesieved is not installed (scripts/system-deps.sh installs it)")
    out = tmp_path / "nmap.xml"
    assert NMAP is not None
    with dovecot_server() as server:
        subprocess.run(
            [NMAP, "-sV", "--version-intensity", "0", "-Pn", "-n", "-p",
             str(server.ports["managesieve"]), "--script", "banner", "--host-timeout", "90s",
             "-oX", str(out), server.address],
            check=True, capture_output=True, timeout=150,
        )  # fmt: skip
    with Store.open(tmp_path / "s.duckdb") as store:
        r = import_files(store, "nmap-xml", [out])
        assert r.malformed == 0 and r.transcripts == 1, out.read_text()
        (t,) = store.iter_transcripts(r.scan)
        (rec,) = store.iter_records(r.scan)
    assert (t.port, t.protocol, t.outcome) == (4190, "managesieve", Outcome.OK)
    assert dict(t.extra)["nmap.name"] == "sieve"
    greeting = t.step("greeting")
    assert greeting is not None
    assert greeting.received.startswith(b'"IMPLEMENTATION" "Dovecot (Debian) Pigeonhole"\r\n')
    assert (rec["product"], rec["distro"], rec["evidence"]) == (
        "dovecot",
        "debian",
        ["managesieve.banner"],
    )

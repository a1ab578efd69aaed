"""The whole pipeline once, on Debian's real Exim: scan -> store -> identify -> assess -> export."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RunCli

EXIM = shutil.which("exim4") or "/usr/sbin/exim4"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (os.path.exists(EXIM) and os.geteuid() == 0),
        reason="needs Debian's exim4-daemon-light (make test installs it) and root",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_banner(port: int, deadline: float) -> bytes:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                return s.recv(512)
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"exim did not answer on 127.0.0.1:{port}")


@pytest.fixture
def real_exim(tmp_path: Path) -> Iterator[tuple[int, bytes]]:
    """Debian's exim4 daemon with the packaged configuration, on a free loopback port."""
    port = _free_port()
    pidfile = tmp_path / "exim.pid"
    proc = subprocess.Popen(
        [EXIM, "-bd", "-oX", str(port), "-oP", str(pidfile)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        banner = _wait_for_banner(port, time.monotonic() + 15)
        yield port, banner
    finally:
        pid = int(pidfile.read_text()) if pidfile.exists() else proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        proc.wait(timeout=10)


def test_scan_real_exim_identify_assess_export(
    real_exim: tuple[int, bytes], mx: RunCli, db_path: Path
) -> None:
    port, banner = real_exim
    version = banner.split(b"Exim ")[1].split()[0].decode()  # what Debian ships, e.g. 4.96

    res = mx("scan", "127.0.0.1", "-p", str(port), "--allow-reserved", "--db", str(db_path), "-q")
    assert res.returncode == 0, res.stderr

    res = mx("export", "--format", "jsonl", "--db", str(db_path))
    assert res.returncode == 0, res.stderr
    records = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(records) == 1
    rec = records[0]
    assert rec["schema"] == 1
    assert (rec["ip"], rec["port"], rec["outcome"]) == ("127.0.0.1", port, "ok")
    assert rec["product"] == "exim"
    assert rec["version"] == version
    assert rec["precision"] == "version"
    assert "smtp.banner" in rec["evidence"]
    assert rec["banner"].startswith("220 ")

    cves = {c["id"]: c for c in rec["cves"]}
    # Debian's 4.96 is older than 4.96.1: in range for CVE-2023-42115 by its banner, but
    # Debian backports fixes without changing the banner, so the honest verdict is
    # "potentially-vulnerable", with that reason, never a flat "vulnerable".
    c = cves["CVE-2023-42115"]
    assert c["status"] == "potentially-vulnerable"
    assert "backport" in c["reason"].lower()
    assert c["fixed_in"] == "4.96.1"
    # out of range: 4.96 is newer than the fixes for these
    for cve in ("CVE-2019-10149", "CVE-2019-15846", "CVE-2020-28017"):
        assert cves[cve]["status"] == "not-vulnerable", cves[cve]


def test_loopback_target_needs_allow_reserved(mx: RunCli, db_path: Path) -> None:
    res = mx("scan", "127.0.0.1", "-p", "2525", "--db", str(db_path), "-q")
    assert res.returncode == 2
    assert "127.0.0.1" in res.stderr and "--allow-reserved" in res.stderr
    assert res.stderr.strip().count("\n") == 0
    assert not db_path.exists()


@pytest.mark.parametrize("port", ["0", "70000", "abc"])
def test_bad_port(mx: RunCli, db_path: Path, port: str) -> None:
    res = mx("scan", "127.0.0.1", "-p", port, "--allow-reserved", "--db", str(db_path), "-q")
    assert res.returncode == 2
    assert port in res.stderr
    assert "Traceback" not in res.stderr


def test_unwritable_db(mx: RunCli) -> None:
    res = mx("scan", "127.0.0.1", "-p", "2525", "--allow-reserved", "--db", "/proc/x/mx.duckdb")
    assert res.returncode in (1, 2)
    assert "/proc/x" in res.stderr
    assert "Traceback" not in res.stderr

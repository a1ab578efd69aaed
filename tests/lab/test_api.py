"""The Python API: ``serve_in_process`` for unit tests and ``Lab`` for subprocess labs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mxcensus.lab.api import Lab, serve_in_process
from mxcensus.lab.population import LabConfig
from mxcensus.lab.servers import LabError, LabServers


def test_serve_in_process_counts_and_closes() -> None:
    config = LabConfig(size=12, seed=8, base="127.69.0.0", hostile_fraction=0.0, ports=(25,))

    async def scenario() -> tuple[dict[tuple[str, int], int], str]:
        async with serve_in_process(config) as (servers, hosts, _tls):
            smtp = [h for h in hosts if h.services]
            target = smtp[0]
            for _ in range(3):
                reader, writer = await asyncio.open_connection(target.address, 25)
                greeting = await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)
                writer.write(b"QUIT\r\n")
                await asyncio.wait_for(reader.read(), 10)
                writer.close()
                await writer.wait_closed()
            return servers.counters(), target.address + "|" + greeting.decode()

    counts, seen = asyncio.run(scenario())
    address, greeting = seen.split("|", 1)
    assert counts == {(address, 25): 3}
    assert greeting.startswith("220 ")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address, 25), timeout=5).close()


def test_address_in_use_is_a_clear_error() -> None:
    config = LabConfig(size=3, seed=1, base="127.69.1.0", hostile_fraction=0.0, ports=(25,))

    async def scenario() -> None:
        async with serve_in_process(config) as (_servers, hosts, tls):
            with pytest.raises(LabError, match=r"cannot listen on 127\.69\.1\."):
                async with LabServers(hosts, tls):
                    pass

    asyncio.run(scenario())


def test_lab_subprocess_stop_returns_final_counters() -> None:
    lab = Lab(size=30, seed=2, base="auto", hostile_fraction=0.0, ports=(25, 143), workers=1)
    with lab:
        assert lab.config.base != "auto" and lab.addresses[0].startswith("127.")
        target = lab.serving(25)[0]
        for _ in range(4):
            with socket.create_connection((target, 25), timeout=10) as sock:
                assert sock.recv(4) == b"220 "
        live = lab.counters()
        assert live["final"] is False and live["connections"][target] == 4
    final = lab.final_counters
    assert final is not None and final["final"] is True
    assert final["connections"] == {target: 4} and final["total"] == 4
    assert lab.counters() == final  # after the stop, the last counters stay readable


def test_lab_stops_by_itself_after_duration() -> None:
    lab = Lab(size=5, seed=2, base="auto", hostile_fraction=0.0, ports=(25,), duration=1.0)
    with lab:
        proc = lab._proc
        assert proc is not None
        proc.wait(timeout=60)
        assert proc.returncode == 0


def test_sigint_stops_the_lab_cleanly(tmp_path: Path) -> None:
    truth = tmp_path / "truth.json"
    src = str(Path(__file__).resolve().parents[2] / "src")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mxcensus", "lab", "--size", "5", "--base", "auto",
         "--ports", "25", "--duration", "120", "--truth", str(truth)],
        stderr=subprocess.PIPE, text=True, env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    try:
        for _ in range(600):  # bounded wait for the truth file (ready)
            if truth.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert truth.exists()
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped (signal)" in err


def test_lab_dies_with_its_parent(tmp_path: Path) -> None:
    """A lab whose starter is killed stops by itself (no lab left behind by a dead test)."""
    truth = tmp_path / "truth.json"
    src = str(Path(__file__).resolve().parents[2] / "src")
    starter = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-m', 'mxcensus', 'lab', '--size', '3',"
        " '--base', 'auto', '--ports', '25', '--duration', '300', '--die-with-parent',"
        f" '--truth', {str(truth)!r}])\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", starter], stdout=subprocess.PIPE, text=True,
        env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert parent.stdout is not None
    lab_pid = int(parent.stdout.readline())
    try:
        for _ in range(600):  # bounded wait for the lab to be ready
            if truth.exists():
                break
            time.sleep(0.05)
        assert truth.exists()
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
    for _ in range(300):  # bounded: the lab notices within about a second
        try:
            os.kill(lab_pid, 0)
        except ProcessLookupError:
            break
        with contextlib.suppress(ChildProcessError):
            os.waitpid(lab_pid, os.WNOHANG)
        time.sleep(0.1)
    else:
        os.kill(lab_pid, signal.SIGKILL)
        pytest.fail("the lab outlived its parent")

"""Starting the worker interpreters, apart from the engine so the CLI can start them first.

A worker is a fresh interpreter (``python -c BOOT FD PARENT_PID``). It takes the parent's
``sys.path`` over the pipe ``FD``, imports :mod:`mxcensus.engine.worker` (the probes,
uvloop: about 0.15 s), then waits for its work ``(plan, worker, state, pace)``. ``mxcensus scan``
starts them before it imports DuckDB, parses the targets and opens the store, so the two
start-ups overlap; :func:`~mxcensus.engine.run.run_scan` then only sends the work. This
module imports nothing of mxcensus, so that start costs the parent nothing.
"""

from __future__ import annotations

import contextlib
import multiprocessing.connection as mpc
import os
import subprocess
import sys
from dataclasses import dataclass

BOOT = """\
import signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles ^C and stops us
from multiprocessing.connection import Connection
conn = Connection(int(sys.argv[1]))
sys.path[:] = conn.recv()
from mxcensus.engine.worker import worker_main
worker_main(conn, int(sys.argv[2]))
"""
"""What a worker's fresh interpreter runs. Only :mod:`mxcensus.engine.worker` and what it
imports (probes, targets, uvloop) are loaded: none of the parent's store, DuckDB, pyarrow
or rich."""


def worker_count(workers: int | None) -> int:
    """How many workers a scan runs: as asked, else one per core."""
    return workers if workers is not None else (os.cpu_count() or 1)


class SpawnError(Exception):
    """A worker interpreter could not be started (the engine turns it into EngineError)."""


@dataclass
class Booting:
    """A worker interpreter starting up, and the parent's end of its pipe."""

    proc: subprocess.Popen[bytes]
    conn: mpc.Connection

    def stop(self) -> None:
        """Not needed after all: closing the pipe makes it exit; make sure it does."""
        self.conn.close()
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def spawn() -> Booting:
    """Start one worker interpreter; it imports the worker module while we go on."""
    if not sys.executable:
        raise SpawnError("no Python interpreter (sys.executable)")
    ours, theirs = mpc.Pipe(duplex=True)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", BOOT, str(theirs.fileno()), str(os.getpid())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
        )
    except OSError as exc:
        ours.close()
        raise SpawnError(str(exc)) from exc
    finally:
        theirs.close()
    booting = Booting(proc, ours)
    try:
        ours.send(sys.path)
    except OSError as exc:
        booting.stop()
        raise SpawnError(str(exc)) from exc
    return booting


def prestart(n: int) -> list[Booting]:
    """``n`` workers started ahead of :func:`run_scan`; best effort (none on failure)."""
    started: list[Booting] = []
    try:
        for _ in range(n):
            started.append(spawn())
    except SpawnError:
        stop_all(started)
        return []
    return started


def stop_all(started: list[Booting]) -> None:
    """Stop the workers of ``started`` that no scan took (run_scan empties the list)."""
    while started:
        with contextlib.suppress(OSError):
            started.pop().stop()

"""Workers started ahead of the scan (``mxcensus scan`` boots them while it parses targets
and opens the store): an unneeded one exits quietly and none is left behind."""

from __future__ import annotations

from mxcensus.engine.spawn import prestart, spawn, stop_all


def test_a_worker_not_given_work_exits_cleanly_when_its_pipe_closes() -> None:
    booting = spawn()
    booting.conn.close()
    assert booting.proc.wait(timeout=30) == 0  # EOF where the work was expected: exit 0


def test_stop_all_leaves_no_worker_running() -> None:
    started = prestart(2)
    procs = [b.proc for b in started]
    assert len(procs) == 2
    stop_all(started)
    assert started == []
    assert all(p.poll() is not None for p in procs)

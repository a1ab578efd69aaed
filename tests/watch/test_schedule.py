"""Schedules (every / cron through croniter), the embeddable Scheduler, the daemon, and a
run killed halfway being redone."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mxcensus.errors import UsageError
from mxcensus.store.db import Store
from mxcensus.store.watches import WatchStore
from mxcensus.watch.manage import WatchInput, add_watch, list_events
from mxcensus.watch.run import RunOptions, RunReport
from mxcensus.watch.schedule import Scheduler
from mxcensus.watch.spec import Schedule
from tests.conftest import _env
from tests.watch.test_feed_webhook import feed_file

T0 = datetime(2026, 5, 4, 10, 30, tzinfo=UTC)


def test_schedules() -> None:
    assert Schedule.parse("every  12h").next_after(T0, T0) == T0 + timedelta(hours=12)
    assert Schedule.parse("every 1d").next_after(None, T0) == T0  # never ran: due now
    daily = Schedule.parse("0 3 * * *")
    assert daily.next_after(T0, T0) == datetime(2026, 5, 5, 3, 0, tzinfo=UTC)
    assert Schedule.parse("*/15 * * * 1-5").next_after(T0, T0) == T0 + timedelta(minutes=15)
    for bad in ("every 5s", "every 2y", "0 3 * *", "0 25 * * *", "hourly"):
        with pytest.raises(UsageError):
            Schedule.parse(bad)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def feed_watch(tmp: Path, name: str = "f", every: str = "1d") -> tuple[Path, Path]:
    feed = tmp / f"feed-{name}"
    feed.mkdir()
    db = tmp / "s.duckdb"
    add_watch(db, WatchInput(name=name, feed=feed, every=every).to_watch())
    return db, feed


def test_scheduler_runs_what_is_due_and_what_is_asked(tmp_path: Path) -> None:
    db, feed = feed_watch(tmp_path)
    add_watch(db, WatchInput(name="manual", feed=feed).to_watch())  # no schedule
    feed_file(feed, "2026-05-04", {"203.0.113.10": "4.92"})
    clock = Clock()
    seen: list[tuple[str, object]] = []
    s = Scheduler(RunOptions(db=db, clock=clock), on_run=lambda n, o: seen.append((n, o)))
    nxt = {n.watch: n for n in s.next_runs()}
    assert nxt["f"].due == T0 and nxt["f"].last is None and nxt["manual"].due is None
    assert [n for n, _ in s.tick()] == ["f"]
    assert isinstance(seen[0][1], RunReport) and seen[0][1].runs
    assert {n.watch: n.due for n in s.next_runs()}["f"] == T0 + timedelta(days=1)
    clock.now += timedelta(hours=5)
    assert s.tick() == []  # not due
    s.run_now("manual")
    assert {n.watch: n.due for n in s.next_runs()}["manual"] == clock.now
    assert [n for n, _ in s.tick()] == ["manual"]
    clock.now = T0 + timedelta(days=1)
    assert [n for n, _ in s.tick()] == ["f"]
    with pytest.raises(UsageError, match="no such watch"):
        s.run_now("nope")


def test_a_killed_run_is_due_at_once_and_redone_without_its_half(tmp_path: Path) -> None:
    db, feed = feed_watch(tmp_path)
    feed_file(feed, "2026-05-04", {"203.0.113.10": "4.92"})
    clock = Clock()
    # a process died in the middle of a run: its row says running, nothing else exists
    with Store.open(db) as store:
        WatchStore(store).start_run("run-killed", "f", "feed", T0 - timedelta(hours=1), None)
    s = Scheduler(RunOptions(db=db, clock=clock))
    assert {n.watch: n.due for n in s.next_runs()}["f"] == T0
    (_, report), *_ = s.tick()
    assert isinstance(report, RunReport) and len(report.runs) == 1
    with Store.open(db) as store:
        runs = {r.id: r.status for r in WatchStore(store).runs("f")}
    assert runs["run-killed"] == "abandoned" and list(runs.values()).count("done") == 1
    assert not [e for e in list_events(db) if e.run == "run-killed"]


def test_start_stop_in_a_thread(tmp_path: Path) -> None:
    db, feed = feed_watch(tmp_path)
    feed_file(feed, "2026-05-04", {"203.0.113.10": "4.92"})
    done: list[str] = []
    s = Scheduler(RunOptions(db=db), poll=1.0, on_run=lambda n, o: done.append(n))
    s.start()
    try:
        deadline = time.monotonic() + 60
        while not done and time.monotonic() < deadline:
            time.sleep(0.05)
        assert done == ["f"]
    finally:
        assert s.stop(timeout=30)


@pytest.mark.timeout(120)
def test_the_daemon_runs_and_stops_on_sigterm(tmp_path: Path) -> None:
    db, feed = feed_watch(tmp_path)
    feed_file(feed, "2026-05-04", {"203.0.113.10": "4.92"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "mxcensus", "watch", "daemon", "--db", str(db), "--poll", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # bounded by the test timeout (pytest-timeout)
        assert line.startswith("watch f: run run-") and "events" in line
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0 and "stopped" in err

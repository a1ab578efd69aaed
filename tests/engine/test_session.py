"""The one way a scan runs (``engine.session.scan``): from a request to a finished scan,
events through one callback, an interruption that leaves the scan resumable, a resume
that never creates a store, and what may change on resume."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pytest

from mxcensus.engine import LocalExecutor, Progress, ScanRequest, scan
from mxcensus.engine.request import RESUMABLE
from mxcensus.engine.session import (
    PROBE_TABLE_ENV,
    Analysing,
    ScanEvent,
    ScanInterrupted,
    Started,
)
from mxcensus.errors import UsageError
from mxcensus.probes.interface import ProbeConfig
from tests.engine import tinyprobe
from tests.engine.servers import counting_servers, free_port

QUICK = ProbeConfig(connect_timeout=2, greeting_timeout=3, read_timeout=3)


@pytest.fixture(autouse=True)
def tiny_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROBE_TABLE_ENV, tinyprobe.TABLE)


def request(port: int, **kw: object) -> ScanRequest:
    return ScanRequest(
        targets=("127.0.21.0/28",), ports=str(port), allow_reserved=True, seed=3, workers=2,
        probe_config=QUICK, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_a_request_runs_to_a_finished_scan(tmp_path: Path) -> None:
    port = free_port()
    listening = [(f"127.0.21.{i}", port) for i in range(1, 5)]
    events: list[ScanEvent] = []
    db = tmp_path / "s.duckdb"
    with counting_servers(listening) as srv:
        done = scan(request(port, name="lib"), db=db, on_event=events.append)
        counts = srv.snapshot()
    assert counts == dict.fromkeys(listening, 1)
    assert events[0] == Started(done.scan, 16)
    probing = [e for e in events if isinstance(e, Progress)]
    assert probing and probing[-1].finished and probing[-1].done == 16
    analysing = [e for e in events if isinstance(e, Analysing)]
    assert analysing and all(e.total == 16 for e in analysing)
    assert events.index(probing[-1]) < events.index(analysing[0])
    assert (done.result.done, done.result.outcomes) == (16, {"ok": 4, "refused": 12})
    assert done.db == db and done.services > 0 and done.plan.seed == 3
    con = duckdb.connect(str(db))
    assert con.execute("SELECT name, status FROM scans").fetchall() == [("lib", "finished")]
    con.close()


def test_an_interruption_leaves_a_resumable_scan(tmp_path: Path) -> None:
    port = free_port()
    listening = [(f"127.0.21.{i}", port) for i in range(16)]
    db = tmp_path / "s.duckdb"

    def stop_midway(event: ScanEvent) -> None:
        if isinstance(event, Progress) and event.done >= 1 and not event.finished:
            raise KeyboardInterrupt

    with counting_servers(listening, delay=0.2) as srv:
        with pytest.raises(ScanInterrupted) as exc:
            scan(request(port, name="half", rate=20, concurrency=4), db=db, on_event=stop_midway)
        assert exc.value.exit_code == 130
        assert f"mxcensus scan --resume {exc.value.scan} --db {db}" in str(exc.value)
        con = duckdb.connect(str(db))
        assert con.execute("SELECT status FROM scans").fetchall() == [("running",)]
        before = {ip for (ip,) in con.execute("SELECT ip FROM transcripts").fetchall()}
        con.close()
        assert 0 < len(before) < 16
        probed = srv.snapshot()
        done = scan(ScanRequest(resume="half", rate=1000), db=db)
        counts = srv.snapshot()
    assert done.scan == exc.value.scan and done.result.done == 16
    assert done.plan.rate == 1000 and done.plan.concurrency == 4  # only the rate changed
    con = duckdb.connect(str(db))
    ips = [ip for (ip,) in con.execute("SELECT ip FROM transcripts").fetchall()]
    assert con.execute("SELECT status FROM scans").fetchall() == [("finished",)]
    con.close()
    assert sorted(ips) == sorted(f"127.0.21.{i}" for i in range(16))  # one result each
    for ip in before:  # a target with its result is not probed again
        assert counts[(ip, port)] == probed[(ip, port)]


def test_resume_never_creates_a_store(tmp_path: Path) -> None:
    db = tmp_path / "nowhere" / "s.duckdb"
    with pytest.raises(UsageError, match="no such database"):
        scan(ScanRequest(resume="x"), db=db)
    assert not db.exists() and not db.parent.exists()


def test_only_the_pace_may_change_on_resume() -> None:
    fixed = {
        "ports": "25", "probes": "smtp", "http": True, "exclude": ("127.0.0.1",),
        "exclude_file": Path("x"), "allow_reserved": True, "workers": 2, "shards": 2,
        "shard": 1, "seed": 1, "name": "n", "probe_config": QUICK,
        "hostnames": (("127.0.0.1", "mx.example.test"),),
    }  # fmt: skip
    options = {f.name for f in dataclasses.fields(ScanRequest)}
    assert options == set(fixed) | set(RESUMABLE) | {"targets", "input_list", "resume"}
    for key, value in fixed.items():
        with pytest.raises(UsageError, match="cannot change on resume"):
            ScanRequest(resume="s", **{key: value}).check()  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="takes no targets"):
        ScanRequest(resume="s", targets=("127.0.0.1",)).check()
    ScanRequest(resume="s", rate=5, concurrency=6, per_net=7).check()
    with pytest.raises(UsageError, match=r"--rate 0: must be at least 1 \(allowed"):
        ScanRequest(resume="s", rate=0).check()


def test_prestarted_workers_are_stopped_when_the_request_is_refused(tmp_path: Path) -> None:
    executor = LocalExecutor(2)
    procs = [b.proc for b in executor._booting]
    with executor, pytest.raises(UsageError, match="no targets given"):
        scan(ScanRequest(ports="25"), db=tmp_path / "s.duckdb", executor=executor)
    assert all(p.wait(timeout=10) is not None for p in procs)
    assert not (tmp_path / "s.duckdb").exists()

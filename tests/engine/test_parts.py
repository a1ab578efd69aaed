"""One shard per process into Parquet parts, then ingest: exactly once, and every bad
input refused before the store is touched."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from mxcensus.engine import parts as parts_mod
from mxcensus.engine.ingest import ingest
from mxcensus.engine.parts import PartsInterrupted, scan_parts
from mxcensus.engine.request import ScanRequest
from mxcensus.errors import PartsError, UsageError
from tests.conftest import RunCli
from tests.engine import tinyprobe
from tests.engine.servers import counting_servers, free_port

NET = "127.0.31"


@pytest.fixture(autouse=True)
def _tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MXCENSUS_PROBE_TABLE", tinyprobe.TABLE)


def _request(port: int, shard: int, **over: Any) -> ScanRequest:
    args: dict[str, Any] = {
        "targets": (f"{NET}.0/27",),
        "ports": str(port),
        "allow_reserved": True,
        "exclude": (f"{NET}.30-{NET}.31",),
        "seed": 7,
        "shards": 2,
        "shard": shard,
        "workers": 1,
        "name": "job",
    }
    args.update(over)
    return ScanRequest(**args)


def _rows(db: Path) -> list[tuple[str, int, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT ip, port, protocol FROM transcripts ORDER BY ip").fetchall()
    finally:
        con.close()


def test_two_shards_then_ingest_exactly_once_and_again_changes_nothing(tmp_path: Path) -> None:
    port = free_port()
    listening = [(f"{NET}.{i}", port) for i in range(1, 21)]
    uri = str(tmp_path / "parts")
    db = tmp_path / "db.duckdb"
    with counting_servers(listening) as srv:
        done = [scan_parts(_request(port, s), uri) for s in (0, 1)]
        again = scan_parts(_request(port, 1), uri)  # a retried pod of a complete shard
        counts = srv.snapshot()
    assert [d.rows for d in done] == [15, 15] and again.already and again.result.probed == 0
    first = ingest(uri, name="job", db=db)
    assert first.finished and first.complete == (0, 1) and first.rows == 30
    rows = _rows(db)
    assert len(rows) == len(set(rows)) == 30  # one result per (address, port, probe)
    assert {ip for ip, _, _ in rows} == {f"{NET}.{i}" for i in range(30)}  # .30-.31 excluded
    assert counts == dict.fromkeys(listening, 1)
    second = ingest(uri, name="job", db=db)
    assert second.finished and second.parts == second.rows == 0 and second.services == 0
    assert _rows(db) == rows


def test_a_missing_shard_is_named_and_ingested_when_it_comes(tmp_path: Path) -> None:
    port = free_port()
    uri = str(tmp_path / "parts")
    db = tmp_path / "db.duckdb"
    with counting_servers([(f"{NET}.1", port)]):
        scan_parts(_request(port, 1), uri)
        half = ingest(uri, name="job", db=db)
        assert (half.missing, half.complete, half.finished) == ((0,), (1,), False)
        assert len(_rows(db)) == 15
        scan_parts(_request(port, 0), uri)
    whole = ingest(uri, name="job", db=db)
    assert whole.finished and whole.parts == 1 and len(set(_rows(db))) == len(_rows(db)) == 30


def test_an_interrupted_shard_goes_on_from_its_last_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pod killed mid-shard: its retry probes only what no written part holds."""
    monkeypatch.setattr(parts_mod, "PART_ROWS", 3)
    port = free_port()
    listening = [(f"{NET}.{i}", port) for i in range(0, 30)]
    uri = str(tmp_path / "parts")
    seen = {"n": 0}

    def stop_after_some(event: object) -> None:
        done = getattr(event, "done", 0)
        if done >= 6:
            raise KeyboardInterrupt

    with counting_servers(listening, delay=0.05) as srv:
        req = _request(port, 0, rate=40)
        with pytest.raises(PartsInterrupted, match="run the same command again"):
            scan_parts(req, uri, on_event=stop_after_some)
        shard = Path(uri) / "shard-00000-of-00002"
        written = sorted(p.name for p in shard.glob("part-*.parquet"))
        assert written and not (shard / "_COMPLETE.json").exists()
        before = srv.snapshot()
        done = scan_parts(_request(port, 0), uri)
        after = srv.snapshot()
        seen["n"] = done.parts
    assert done.rows == 15 and not done.already
    ingested = ingest(uri, name="job", db=tmp_path / "db.duckdb")
    assert ingested.incomplete == () and ingested.missing == (1,)
    rows = _rows(tmp_path / "db.duckdb")
    assert len(rows) == len(set(rows)) == 15
    # a target whose result was in a written part was not probed again
    import pyarrow.parquet as pq

    kept = {r for name in written for r in pq.read_table(shard / name).column("ip").to_pylist()}
    assert kept and all(after[(ip, port)] == before[(ip, port)] for ip in kept)


def test_truncated_part_is_refused_and_nothing_is_ingested(tmp_path: Path) -> None:
    port = free_port()
    uri = str(tmp_path / "parts")
    db = tmp_path / "db.duckdb"
    for s in (0, 1):
        scan_parts(_request(port, s), uri)
    part = tmp_path / "parts" / "shard-00001-of-00002" / "part-000000.parquet"
    part.write_bytes(part.read_bytes()[:-100])
    with pytest.raises(PartsError, match=r"shard-00001-of-00002/part-000000\.parquet"):
        ingest(uri, name="job", db=db)
    assert not db.exists() or _rows(db) == []


def test_a_part_of_another_scan_is_refused(tmp_path: Path) -> None:
    port = free_port()
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for s in (0, 1):
        scan_parts(_request(port, s), str(ours))
    scan_parts(_request(port, 1, seed=8), str(theirs))
    shard = "shard-00001-of-00002"
    for name in ("part-000000.parquet", "_COMPLETE.json"):  # a part and its marker copied over
        shutil.copy(theirs / shard / name, ours / shard / name)
    with pytest.raises(PartsError, match="of another scan"):
        ingest(str(ours), name="job", db=tmp_path / "db.duckdb")
    shutil.copy(theirs / shard / "part-000000.parquet", ours / "shard-00000-of-00002")
    with pytest.raises(PartsError, match="shard-00000-of-00002"):
        ingest(str(ours), name="job", db=tmp_path / "db.duckdb")


def test_shards_whose_plans_disagree_are_refused(tmp_path: Path) -> None:
    port = free_port()
    uri = str(tmp_path / "parts")
    scan_parts(_request(port, 0), uri)
    with pytest.raises(UsageError, match=r"holds parts of another scan plan \(seed 7 vs 8"):
        scan_parts(_request(port, 0, seed=8), uri)  # the same shard, another plan
    scan_parts(_request(port, 1, seed=8), uri)
    with pytest.raises(PartsError, match=r"shards 0 and 1 .*seed 7 vs 8"):
        ingest(uri, name="job", db=tmp_path / "db.duckdb")
    assert not (tmp_path / "db.duckdb").exists()


def test_a_shard_written_again_after_its_ingest_is_refused(tmp_path: Path) -> None:
    port = free_port()
    uri = str(tmp_path / "parts")
    db = tmp_path / "db.duckdb"
    scan_parts(_request(port, 0), uri)
    ingest(uri, name="job", db=db)
    shutil.rmtree(tmp_path / "parts" / "shard-00000-of-00002")
    scan_parts(_request(port, 0), uri)
    with pytest.raises(PartsError, match="written again after its ingest"):
        ingest(uri, name="job", db=db)
    with pytest.raises(UsageError, match="--name job: names another"):
        scan_parts(_request(port, 1, seed=9), str(tmp_path / "other"))
        ingest(str(tmp_path / "other"), name="job", db=db)


def test_cli_parts_errors_are_one_line(tmp_path: Path, mx: RunCli) -> None:
    env = {"MXCENSUS_PROBE_TABLE": tinyprobe.TABLE}
    blocker = tmp_path / "file"
    blocker.write_text("")
    base = ["scan", f"{NET}.0/30", "-p", "2525", "--allow-reserved", "--seed", "1"]
    cases = [
        (["--shards", "2", "--shard", "0", "--parts", str(blocker / "parts")], 1, "cannot be"),
        (["--shards", "2", "--shard", "0", "--parts", "memory:///x"], 2, "pyarrow.fs"),
        (["--shards", "2", "--parts", str(tmp_path / "p")], 2, "--shard I"),
        (["--executor", "ray", "--parts", str(tmp_path / "p")], 2, "--parts with --executor"),
    ]
    for extra, code, text in cases:
        res = mx(*base, *extra, env=env)
        assert res.returncode == code, (extra, res.stderr)
        assert text in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    res = mx("ingest", str(tmp_path / "nothing"), "--name", "x", "--db", str(tmp_path / "d"))
    assert res.returncode == 2 and "no such directory" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1

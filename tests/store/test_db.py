from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from mxcensus.errors import StoreError, UsageError
from mxcensus.model import (
    Assessment,
    Identification,
    Precision,
    ScanId,
    ServiceRecord,
)
from mxcensus.store.db import Store, _observed_at
from mxcensus.store.schema import LATEST
from tests.factories import NOW
from tests.factories import smtp_transcript as transcript


def test_new_file_is_migrated_to_latest(db_path: Path) -> None:
    with Store.open(db_path) as store:
        assert store.schema_version() == LATEST
    with Store.open(db_path, read_only=True) as store:
        assert store.schema_version() == LATEST


def test_transcripts_roundtrip_losslessly(db_path: Path) -> None:
    raw = bytes(range(256)) + b"\r\n"
    with Store.open(db_path) as store:
        sid = store.create_scan(name="t", kind="scan", source="scan")
        store.write_transcripts(sid, [transcript(banner=raw), transcript(port=587)])
        got = list(store.iter_transcripts(sid))
    assert [t.port for t in got] == [25, 587]
    assert got[0].steps[0].received == raw
    assert got[0] == transcript(banner=raw)


def test_finished_scan_is_immutable(db_path: Path) -> None:
    with Store.open(db_path) as store:
        sid = store.create_scan(name=None, kind="scan", source="scan")
        store.finish_scan(sid)
        with pytest.raises(StoreError, match="immutable"):
            store.write_transcripts(sid, [transcript()])


def test_scan_resolves_by_id_name_or_newest(db_path: Path) -> None:
    with Store.open(db_path) as store:
        a = store.create_scan(name="april", kind="scan", source="scan")
        store.finish_scan(a)
        assert store.resolve_scan("april") == a
        assert store.resolve_scan(a) == a
        assert store.resolve_scan(None) == a
        with pytest.raises(UsageError, match="no scan"):
            store.resolve_scan("may")
        with pytest.raises(UsageError, match="exists already"):
            store.create_scan(name="april", kind="scan", source="scan")


def test_failed_batch_leaves_nothing_visible(db_path: Path) -> None:
    with Store.open(db_path) as store:
        sid = store.create_scan(name=None, kind="scan", source="scan")
        bad = transcript()
        object.__setattr__(bad, "port", "not a port")  # the INTEGER cast fails mid-batch
        with pytest.raises(Exception):  # noqa: B017 - any failure; the point is the rollback
            store.write_transcripts(sid, [transcript(), bad])
        assert store.count("transcripts", sid) == 0
        store.write_transcripts(sid, [transcript()])
        assert store.count("transcripts", sid) == 1


def test_services_and_findings_written_together(db_path: Path) -> None:
    ident = Identification(
        product="exim", vendor="exim", version="4.96", precision=Precision.VERSION
    )
    rec = ServiceRecord(
        scan="s", transcript=transcript(), identification=ident, assessment=Assessment()
    )
    with Store.open(db_path) as store:
        sid = store.create_scan(name=None, kind="scan", source="scan")
        assert store.write_services(sid, [rec]) == 1
        records = list(store.iter_records(sid))
    assert records[0]["product"] == "exim"
    assert records[0]["version"] == "4.96"
    assert records[0]["schema"] == 1


def test_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        target = Path("/proc/mx.duckdb")  # not writable even for root
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "mx.duckdb"
    with pytest.raises(StoreError, match=str(target.parent)):
        Store.open(target)


def test_newer_schema_is_refused(db_path: Path) -> None:
    with Store.open(db_path):
        pass
    con = duckdb.connect(str(db_path))
    con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(StoreError, match="newer"):
        Store.open(db_path)


def test_read_only_missing_file_is_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such database"):
        Store.open(tmp_path / "nope.duckdb", read_only=True)


def test_version_key_sorts_versions_inside_duckdb(db_path: Path) -> None:
    versions = ["4.100", "4.9", "4.90_RC3", "4.90", "4.89_1", "4.92.2"]
    records = [
        ServiceRecord(
            scan="s",
            transcript=transcript(ip=f"192.0.2.{i}"),
            identification=Identification(product="exim", version=v, precision=Precision.VERSION),
            assessment=Assessment(),
        )
        for i, v in enumerate(versions)
    ]
    with Store.open(db_path) as store:
        sid = store.create_scan(name=None, kind="scan", source="scan")
        store.write_services(sid, records)
        rows = store.con.execute(
            "SELECT version FROM services WHERE scan = ? ORDER BY version_key", [sid]
        ).fetchall()
    assert [r[0] for r in rows] == ["4.9", "4.89_1", "4.90_RC3", "4.90", "4.92.2", "4.100"]


def test_migration_3_keeps_transcripts_of_a_version_2_file(db_path: Path) -> None:
    from mxcensus.serialize import dumps
    from mxcensus.store.schema import MIGRATIONS

    raw = bytes(range(256))
    con = duckdb.connect(str(db_path))
    con.execute(MIGRATIONS[0])
    con.execute(MIGRATIONS[1])
    con.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    con.execute(
        "INSERT INTO scans VALUES ('s2', 'old', 'scan', 'scan', ?, NULL, 'running', '{}', NULL)",
        [NOW],
    )
    con.execute(
        "INSERT INTO transcripts VALUES ('s2', '127.0.0.1', 25, 'smtp', 'plain', ?, 'ok',"
        " 'scan', ?)",
        [NOW, dumps(transcript(banner=raw)).decode()],
    )
    con.close()
    with Store.open(db_path) as store:
        assert store.schema_version() == LATEST >= 3
        (kind,) = store.con.execute(
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_name = 'transcripts' AND column_name = 'data'"
        ).fetchone() or ("",)
        assert kind == "VARCHAR"
        assert list(store.iter_transcripts(ScanId("s2"))) == [transcript(banner=raw)]


def test_migration_4_keeps_the_services_of_a_version_3_file(db_path: Path) -> None:
    from mxcensus.store.schema import MIGRATIONS

    con = duckdb.connect(str(db_path))
    for m in MIGRATIONS[:3]:
        con.execute(m)
    con.execute("INSERT INTO meta VALUES ('schema_version', '3')")
    con.execute(
        "INSERT INTO scans VALUES ('s3', 'old', 'scan', 'scan', ?, ?, 'finished', '{}', NULL)",
        [NOW, NOW],
    )  # readers see a scan's services through its row (migration 8)
    con.execute(
        "INSERT INTO services (scan, ip, port, protocol, transport, observed_at, outcome,"
        " source, product, precision, kev, worst_status, evidence, record) VALUES"
        " ('s3', '127.0.0.1', 25, 'smtp', 'plain', ?, 'ok', 'scan', 'exim', 'version',"
        " false, 'unknown', ['smtp.banner'], '{\"schema\":1,\"banner\":\"220 x\"}')",
        [NOW],
    )
    con.close()
    with Store.open(db_path) as store:
        assert store.schema_version() == LATEST >= 4
        (kind,) = store.con.execute(
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_name = 'services' AND column_name = 'record'"
        ).fetchone() or ("",)
        assert kind == "VARCHAR"
        assert list(store.iter_records(ScanId("s3"))) == [{"schema": 1, "banner": "220 x"}]
        (evidence,) = store.con.execute("SELECT evidence FROM services").fetchone() or ("",)
        assert evidence == ["smtp.banner"]


def test_rows_and_docs_write_paths_store_the_same(db_path: Path) -> None:
    """Scan rows go in as list parameters (no pyarrow in the scan's parent), imported docs
    through Arrow: on varied transcripts both must store identical rows."""
    import random
    from datetime import UTC, datetime, timedelta, timezone

    from mxcensus.model import Outcome, Step, Transcript, Transport
    from mxcensus.serialize import transcript_to_dict

    rnd = random.Random(5)
    zones = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30))]
    ts = []
    for i in range(300):
        ts.append(
            Transcript(
                ip=rnd.choice([f"127.0.{i % 256}.{rnd.randrange(256)}", f"2001:db8::{i:x}"]),
                port=rnd.choice([25, 80, 443, 465, 587, 993, 65535]),
                protocol=rnd.choice(["smtp", "imap", "pop3", "owa"]),
                transport=rnd.choice(list(Transport)),
                observed_at=datetime(2026, 1, 1, tzinfo=UTC).astimezone(rnd.choice(zones))
                + timedelta(microseconds=rnd.randrange(10**13)),
                outcome=rnd.choice(list(Outcome)),
                steps=(Step("greeting", received=bytes(rnd.randrange(256) for _ in range(9))),),
                error=rnd.choice(["", 'it\'s "odd"\nline', "ünïcødé ✓"]),
                duration_ms=rnd.randrange(30_000),
                hostname=rnd.choice(["", "mx.example.org", "bücher.example"]),
                source=rnd.choice(["scan", "shodan"]),
            )
        )
    query = (
        "SELECT ip, port, protocol, transport, observed_at, outcome, source, data"
        " FROM transcripts WHERE scan = ? ORDER BY ip, port, observed_at, data"
    )
    with Store.open(db_path) as store:
        rows_scan = store.create_scan(name=None, kind="scan", source="scan")
        docs_scan = store.create_scan(name=None, kind="import", source="shodan")
        store.write_transcripts(rows_scan, ts[:150], progress=[("s", 150, (3, 7))])
        store.write_transcripts(rows_scan, ts[150:])
        store.write_transcript_docs(docs_scan, [transcript_to_dict(t) for t in ts])
        via_rows = store.con.execute(query, [rows_scan]).fetchall()
        via_docs = store.con.execute(query, [docs_scan]).fetchall()
        saved = store.load_progress_state(rows_scan)
    assert len(via_rows) == 300
    assert via_rows == via_docs
    assert saved == {"s": (150, (3, 7))}


ODD_TIMES = [
    "2024-03-05T11:22:33.456789+00:00", "2024-03-05T11:22:33+05:30", "2024-03-05 11:22:33Z",
    "1969-12-31T23:59:59.999999+00:00", "0001-01-01T00:00:00+00:00", "2024-03-05T11:22+00:00",
    "9999-12-31T23:59:59.999999-12:00", "2024-03-05T11:22:33.4-0130", "2024-02-29T00:00:00+14:00",
]  # fmt: skip
REFUSED_BY_ARROW = [
    "2024-03-05T11:22:33", "2024-03-05T11:22:33.123456789+00:00", " 2024-03-05T11:22:33+00:00",
    "2024-03-05T11:22:33+05:30:15", "2024-03-05T24:00:00+00:00", "2024-3-5T11:22:33+00:00",
]  # fmt: skip


@pytest.mark.parametrize("extra", [[], *[[t] for t in REFUSED_BY_ARROW]])
def test_transcript_docs_times_are_duckdbs_instants(db_path: Path, extra: list[str]) -> None:
    """write_transcript_docs parses observed_at in Arrow when it can: the instants stored are
    DuckDB's cast of the same text, also for a batch that falls back to that cast."""
    import random
    from datetime import UTC, datetime, timedelta, timezone

    from mxcensus.serialize import transcript_to_dict

    rnd = random.Random(7)
    texts = ODD_TIMES + extra
    for _ in range(200):
        zone = timezone(timedelta(minutes=rnd.randrange(-14 * 60, 14 * 60 + 1)))
        when = datetime(1900, 1, 1, tzinfo=UTC) + timedelta(microseconds=rnd.randrange(10**17))
        texts.append(when.astimezone(zone).isoformat())
    base = transcript_to_dict(transcript())
    docs = [
        dict(base, ip=f"127.0.{i // 256}.{i % 256}", observed_at=t) for i, t in enumerate(texts)
    ]
    with Store.open(db_path) as store:
        scan = store.create_scan(name=None, kind="import", source="shodan")
        store.write_transcript_docs(scan, docs)
        got = store.con.execute(
            "SELECT data::JSON->>'observed_at', epoch_us(observed_at) FROM transcripts"
            " WHERE scan = ?",
            [scan],
        ).fetchall()
        want = {
            t: store.con.execute("SELECT epoch_us(CAST(? AS TIMESTAMPTZ))", [t]).fetchone()[0]  # type: ignore[index]
            for t in texts
        }
    assert len(got) == len(texts)
    assert dict(got) == want
    assert _observed_at(texts)[1] == bool(extra)  # Arrow parsed them all, or none


def test_memory_limited_sets_restores_and_checkpoints(db_path: Path) -> None:
    with Store.open(db_path) as store:
        before = store.setting("memory_limit")
        sid = store.create_scan(name=None, kind="scan", source="scan")
        with store.memory_limited("64MB"):
            assert store.setting("memory_limit") != before
            store.write_transcripts(sid, [transcript()])
        assert store.setting("memory_limit") == before
        # the checkpoint folded the write into the file: nothing is left in the log
        wal = db_path.with_name(db_path.name + ".wal")
        assert not wal.exists() or wal.stat().st_size == 0
        with pytest.raises(KeyError), store.memory_limited("64MB"):
            raise KeyError("the block's own error, not hidden")
        assert store.setting("memory_limit") == before


def test_a_scan_is_ours_before_another_connection_can_see_it_running(tmp_path: Path) -> None:
    """The web service holds the store on several connections of one process: one that
    opens it while a watch's import starts must not take that import for one a dead
    process left running (and fail it). The scan is this process's before its row commits."""
    from mxcensus.store import db
    from tests.store.kill import fault

    path = tmp_path / "s.duckdb"
    sid = ScanId("20260101T000000-aaaaaa")
    commits: list[bool] = []

    def at_commit(sql: str) -> None:
        if sql == "COMMIT":
            commits.append((str(path.resolve()), sid) in db._OURS)

    with Store.open(path) as store:
        with fault(at_commit):
            store.create_scan(name="w", kind="import", source="shodan", scan_id=sid)
        assert commits == [True]
        with Store.open(path) as beside:  # what a request opening the store runs
            assert [(s.id, s.status) for s in beside.reader().scans()] == [(sid, "running")]

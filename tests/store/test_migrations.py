"""Upgrades through every migration, from a store the oldest schema wrote (built with the
frozen migration 1 itself, rows as mxcensus wrote them then), with the values written by
hand; and the upgrade killed at each of its writes, which leaves a store at one version or
the next, never between, that the next open finishes upgrading to the same result."""

from __future__ import annotations

import shutil
import signal
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import orjson
import pytest

from mxcensus.model import Outcome, ScanId, Step, Transcript, Transport
from mxcensus.pipeline import analyze_scan
from mxcensus.serialize import dumps
from mxcensus.store.db import Store
from mxcensus.store.schema import LATEST, MIGRATIONS
from tests.store.kill import count_writes, killed_at, leftovers, state

T0 = datetime(2024, 4, 1, 10, 0, tzinfo=UTC)
T1 = datetime(2024, 4, 1, 11, 0, tzinfo=UTC)
T2 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
T3 = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
EXIM = b"220 mx.example.org ESMTP Exim 4.92 Tue, 02 Apr 2024 10:00:00 +0000\r\n"
SEEN = [
    Transcript(ip="192.0.2.1", port=25, protocol="smtp", transport=Transport.PLAIN,
               observed_at=T0, outcome=Outcome.OK, steps=(Step("greeting", received=EXIM),)),
    Transcript(ip="192.0.2.1", port=587, protocol="submission", transport=Transport.PLAIN,
               observed_at=T0, outcome=Outcome.OK,
               steps=(Step("greeting", received=bytes(range(256))),)),
]  # fmt: skip
RECORD = {"schema": 1, "scan": "s1", "ip": "192.0.2.1", "port": 25, "product": "exim"}


def oldest(path: Path) -> None:
    """A store as the first schema held it: "april" (a finished scan: two transcripts, one
    service with its flat record and finding), "may" (an import a killed process left
    running) and "june" (a scan left running, with its resume checkpoint)."""
    con = duckdb.connect(str(path))
    con.execute(MIGRATIONS[0])
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.executemany(
        "INSERT INTO scans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            ["s1", "april", "scan", "scan", T0, T1, "finished", '{"seed": 1}', 2],
            ["s2", "may", "import", "shodan", T2, None, "running", "{}", None],
            ["s3", "june", "scan", "scan", T3, None, "running", '{"seed": 3}', 8],
        ],
    )
    con.executemany(
        "INSERT INTO transcripts VALUES (?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS JSON))",
        [
            [
                scan,
                t.ip,
                t.port,
                t.protocol,
                "plain",
                t.observed_at,
                "ok",
                "scan",
                dumps(t).decode(),
            ]
            for scan, t in (("s1", SEEN[0]), ("s1", SEEN[1]), ("s2", SEEN[0]))
        ],
    )
    con.execute(
        "INSERT INTO services (scan, ip, port, protocol, transport, observed_at, outcome,"
        " source, vendor, product, version, precision, evidence, kev, worst_status, country,"
        " record) VALUES ('s1', '192.0.2.1', 25, 'smtp', 'plain', ?, 'ok', 'scan', 'exim',"
        " 'exim', '4.92', 'version', ['smtp.banner'], true, 'potentially-vulnerable', 'DE', ?)",
        [T0, orjson.dumps(RECORD).decode()],
    )
    con.execute(
        "INSERT INTO findings VALUES ('s1', '192.0.2.1', 25, 'CVE-2019-15846',"
        " 'potentially-vulnerable', true, false, 9.8, 'banner 4.92 in range', '4.92.2', [])"
    )
    con.execute("INSERT INTO progress VALUES ('s3', 'w0', 4, ?)", [T3])
    con.close()


def test_every_migration_from_the_oldest_schema(tmp_path: Path) -> None:
    path = tmp_path / "v1.duckdb"
    oldest(path)
    with Store.open(path) as store:
        assert store.schema_version() == LATEST
        # killed runs of the old store: the import failed and emptied, the scan resumable
        assert [(s.id, s.name, s.status, s.services) for s in store.list_scans()] == [
            ("s1", "april", "finished", 1),
            ("s2", "may", "failed", 0),
            ("s3", "june", "interrupted", 0),
        ]
        assert list(store.iter_transcripts(ScanId("s1"))) == SEEN  # every byte kept
        assert store.count("transcripts", ScanId("s2")) == 0
        assert list(store.iter_records(ScanId("s1"))) == [RECORD]  # the flat record
        assert store.con.execute(
            "SELECT ip, port, product, version, kev, worst_status, country, merged"
            " FROM services"
        ).fetchall() == [("192.0.2.1", 25, "exim", "4.92", True, "potentially-vulnerable",
                          "DE", None)]  # fmt: skip
        assert store.con.execute("SELECT scan, cve, status, fixed_in FROM findings").fetchall() == [
            ("s1", "CVE-2019-15846", "potentially-vulnerable", "4.92.2")
        ]
        assert store.load_progress_state(ScanId("s3")) == {"w0": (4, ())}
        assert store.resolve_scan(None) == "s1"
        # reassessing the old scan replaces its flat rows by the analysis' own
        assert analyze_scan(store, ScanId("s1")) == 2
        assert [r["port"] for r in store.iter_records(ScanId("s1"))] == [25, 587]
        (n,) = store.con.execute("SELECT count(*) FROM finding_rows").fetchone() or (0,)
        assert n == 0
    assert not leftovers(path)


def _layout(con: duckdb.DuckDBPyConnection) -> list[tuple[str, ...]]:
    """Every table and view with its columns and their types."""
    return sorted(
        con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'main'"
        ).fetchall()
    )


@pytest.fixture(scope="module")
def layouts() -> dict[int, list[tuple[str, ...]]]:
    """The layout after each migration, applied to an empty database."""
    con = duckdb.connect()
    out = {}
    for version, sql in enumerate(MIGRATIONS, start=1):
        con.execute(sql)
        out[version] = _layout(con)
    return out


def test_an_upgrade_killed_at_any_write(
    tmp_path: Path, layouts: dict[int, list[tuple[str, ...]]]
) -> None:
    base = tmp_path / "v1.duckdb"
    oldest(base)
    done = tmp_path / "done.duckdb"
    shutil.copyfile(base, done)
    total = count_writes(lambda: Store.open(done).close())
    want = state(done)
    assert total >= 2 * (LATEST - 1)  # a migration and its version, per version
    versions = set()
    for n in range(1, total + 1):
        path = tmp_path / f"kill-{n}.duckdb"
        shutil.copyfile(base, path)
        assert killed_at(n, lambda p=path: Store.open(p).close()) == -signal.SIGKILL
        con = duckdb.connect(str(path))
        (version,) = con.execute(
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema_version'"
        ).fetchone() or (0,)
        assert _layout(con) == layouts[version], f"killed at write {n}: a half migration"
        con.close()
        versions.add(version)
        Store.open(path).close()  # the next open finishes the upgrade
        assert state(path) == want, f"killed at write {n}"
        assert not leftovers(path)
        path.unlink()
    assert versions == set(range(1, LATEST + 1))

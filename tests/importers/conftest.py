"""Fixtures for the importer tests: the store, the fixture files, and big generated files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mxcensus.model import Transcript
from mxcensus.store.db import Store

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "import.duckdb")
    yield s
    s.close()


def fixture(name: str) -> Path:
    return FIXTURES / name


def store_state(store: Store) -> tuple[int, int, int]:
    """(scans, transcripts, services) rows in the whole store."""

    def n(table: str) -> int:
        row = store.con.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        return int(row[0])

    return n("scans"), n("transcripts"), n("services")


def imported(store: Store, fmt: str, *paths: Path) -> dict[tuple[str, int], Transcript]:
    """The transcripts of importing ``paths`` (no analysis), by (ip, port)."""
    from mxcensus.importers import import_files

    r = import_files(store, fmt, list(paths), analyze=False)
    assert r.malformed == 0, r.problems
    out = {(t.ip, t.port): t for t in store.iter_transcripts(r.scan)}
    assert len(out) == r.transcripts
    assert all(t.source == fmt for t in out.values())
    return out


def extra(t: Transcript) -> dict[str, str]:
    return dict(t.extra)


def analysed(
    store: Store, fmt: str, *paths: Path
) -> tuple[tuple[int, int, int, int, int], list[tuple[object, ...]]]:
    """Import and analyse ``paths`` (no enrichment): (records, transcripts, skipped,
    malformed, services) and each service's (ip, port, protocol, outcome, product, version,
    precision, worst verdict), in (ip, port) order."""
    from mxcensus.importers import import_files

    r = import_files(store, fmt, list(paths), enricher=None)
    rows = store.con.execute(
        "SELECT ip, port, protocol, outcome, product, version, precision, worst_status"
        " FROM services WHERE scan = ? ORDER BY ip, port",
        [r.scan],
    ).fetchall()
    return (r.records, r.transcripts, r.skipped, r.malformed, r.services), rows

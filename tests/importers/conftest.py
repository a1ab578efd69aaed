"""Fixtures for the importer tests: the store, the fixture files, and big generated files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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

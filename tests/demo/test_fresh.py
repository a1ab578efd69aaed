"""The demo replaces its own earlier database and refuses any other file at --db."""

from __future__ import annotations

from pathlib import Path

import pytest

from mxcensus.demo import SCANS, _fresh
from mxcensus.errors import UsageError
from mxcensus.store.db import Store


def _store(path: Path, *names: str) -> None:
    with Store.open(path) as store:
        for name in names:
            sid = store.create_scan(name=name, kind="scan", source="scan")
            store.finish_scan(sid)


def test_an_earlier_demo_database_is_replaced(tmp_path: Path) -> None:
    db = tmp_path / "mxcensus-demo.duckdb"
    _store(db, *SCANS)
    _fresh(db)
    assert not db.exists()
    _fresh(db)  # nothing there: nothing to do


def test_a_census_is_never_replaced(tmp_path: Path) -> None:
    db = tmp_path / "census.duckdb"
    _store(db, "day-0", "nov")
    with pytest.raises(UsageError, match="holds scans other than the demo's"):
        _fresh(db)
    assert db.exists()
    other = tmp_path / "notes.txt"
    other.write_text("not a store")
    with pytest.raises(UsageError, match="not a demo database"):
        _fresh(other)
    assert other.read_text() == "not a store"

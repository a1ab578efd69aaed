"""Empty inputs are refused with one line and create no scan (an empty finished scan would
become the reports' default); an empty ``--db`` file is named for what it is."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from mxcensus.errors import StoreError
from mxcensus.importers import import_files
from mxcensus.importers.interface import WrongFormatError
from mxcensus.store.db import Store
from tests.conftest import RunCli
from tests.importers.conftest import fixture, store_state

FORMATS = ["shodan", "censys", "zgrab2", "masscan", "nmap-xml", "shadowserver"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "content", [b"", b"\n\n  \n", gzip.compress(b"", mtime=0)], ids=["empty", "blank", "gz"]
)
def test_an_empty_file_is_refused_and_creates_nothing(
    store: Store, tmp_path: Path, fmt: str, content: bytes
) -> None:
    path = tmp_path / "empty.in"
    path.write_bytes(content)
    before = store_state(store)
    with pytest.raises(WrongFormatError) as info:
        import_files(store, fmt, [path], name="nothing")
    assert str(info.value).startswith(f"{path}")
    assert "\n" not in str(info.value)
    assert store_state(store) == before and store.list_scans() == []


def test_masscan_comments_only_is_refused(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "m.txt"
    path.write_text("#masscan\n# end\n")
    with pytest.raises(WrongFormatError, match=r"no record to import \(only blank lines or comm"):
        import_files(store, "masscan", [path])
    assert store.list_scans() == []


def test_an_empty_file_among_good_ones_refuses_them_all(store: Store, tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    with pytest.raises(WrongFormatError, match=r"empty.json: no record to import \(the file is"):
        import_files(store, "shodan", [fixture("shodan-mail.json"), empty])
    assert store.list_scans() == []


def test_cli_empty_import_is_one_line(tmp_path: Path, mx: RunCli) -> None:
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    db = tmp_path / "s.duckdb"
    res = mx("import", "shodan", str(empty), "--db", str(db))
    assert res.returncode == 1
    assert res.stderr == f"mxcensus: error: {empty}: no record to import (the file is empty)\n"
    with Store.open(db, read_only=True) as store:
        assert store.list_scans() == []


def test_a_zero_byte_db_is_named_for_what_it_is(tmp_path: Path, mx: RunCli) -> None:
    db = tmp_path / "zero.duckdb"
    db.touch()
    for read_only in (False, True):
        with pytest.raises(StoreError, match=r"an empty file \(0 bytes\), not a DuckDB database"):
            Store.open(db, read_only=read_only)
    res = mx("report", "--db", str(db))
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and "an empty file (0 bytes)" in res.stderr
    assert db.stat().st_size == 0  # left as it was

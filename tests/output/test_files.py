"""``mxcensus.output.files``: outputs whole or not at all, never over a database."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import duckdb
import pytest

from mxcensus.errors import OutputError, UsageError
from mxcensus.output.files import FileSet, atomic_file, is_duckdb_file, refuse_database


def _duckdb(path: Path) -> Path:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (a INTEGER)")
    con.close()
    return path


def test_a_duckdb_file_is_known_by_its_magic(tmp_path: Path) -> None:
    db = _duckdb(tmp_path / "report.html")  # whatever its name says
    assert is_duckdb_file(db)
    (tmp_path / "text").write_text("DUCK is not at byte 8 here")
    assert not is_duckdb_file(tmp_path / "text")
    assert not is_duckdb_file(tmp_path / "absent")


def test_the_store_and_any_database_are_refused_unless_forced(tmp_path: Path) -> None:
    store = _duckdb(tmp_path / "census.duckdb")
    with pytest.raises(UsageError, match="is the store this command reads"):
        refuse_database(store, store, force=False)
    link = tmp_path / "link"
    link.symlink_to(store)
    with pytest.raises(UsageError, match="is the store"):
        refuse_database(link, store, force=False)
    wal = tmp_path / "census.duckdb.wal"
    wal.write_bytes(b"log")
    with pytest.raises(UsageError, match="is the store"):
        refuse_database(wal, store, force=False)
    other = _duckdb(tmp_path / "other.db")
    with pytest.raises(UsageError, match="is a DuckDB database"):
        refuse_database(other, store, force=False)
    refuse_database(other, store, force=True)
    refuse_database(tmp_path / "new.csv", store, force=False)
    (tmp_path / "old.csv").write_text("a,b\r\n")
    refuse_database(tmp_path / "old.csv", store, force=False)


def test_atomic_file_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(target, "csv export") as fh:
        fh.write(b"half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    with atomic_file(target, "csv export") as fh:
        fh.write(b"new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_a_write_error_names_the_path_and_what(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    with pytest.raises(OutputError) as caught, atomic_file(target, "jsonl export"):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert str(caught.value) == f"{target}: cannot write the jsonl export: No space left on device"
    assert caught.value.exit_code == 1
    assert list(tmp_path.iterdir()) == []


def test_a_file_set_appears_whole_in_a_new_directory(tmp_path: Path) -> None:
    out = tmp_path / "a" / "notices"
    with FileSet(out, "notify files") as fs:
        for name in ("one.csv", "two.csv", "index.csv"):
            with fs.file(name) as fh:
                fh.write(name.encode())
        assert not out.exists()  # nothing visible before the commit
        fs.commit()
    assert sorted(p.name for p in out.iterdir()) == ["index.csv", "one.csv", "two.csv"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["notices"]  # no staging left


def test_a_file_set_replaces_its_files_and_keeps_the_others(tmp_path: Path) -> None:
    out = tmp_path / "notices"
    out.mkdir(mode=0o750)
    os.chmod(out, 0o750)
    (out / "index.csv").write_text("old index")
    (out / "mine.txt").write_text("the user's")
    with FileSet(out, "notify files") as fs:
        with fs.file("new.csv") as fh:
            fh.write(b"new")
        with fs.file("index.csv") as fh:
            fh.write(b"new index")
        fs.commit()
    assert sorted(p.name for p in out.iterdir()) == ["index.csv", "mine.txt", "new.csv"]
    assert (out / "index.csv").read_text() == "new index"
    assert (out / "mine.txt").read_text() == "the user's"
    assert oct(out.stat().st_mode & 0o777) == oct(0o750)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notices"]


def test_a_failed_file_set_publishes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "notices"
    out.mkdir()
    (out / "index.csv").write_text("old index")
    failed = pytest.raises(OutputError, match=r"notices/b.csv: cannot write the notify files")
    with failed, FileSet(out, "notify files") as fs:
        with fs.file("a.csv") as fh:
            fh.write(b"a")
        with fs.file("b.csv"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert sorted(p.name for p in out.iterdir()) == ["index.csv"]
    assert (out / "index.csv").read_text() == "old index"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notices"]
    with (
        pytest.raises(UsageError, match="exists and is not a directory"),
        FileSet(out / "index.csv", "notify files"),
    ):
        pass

"""How a full disk is recognised in what DuckDB and the OS raise (store/full.py); the real
full disks, and the one line each command makes of them, are
tests/reliability/test_full_disk.py (root only)."""

from __future__ import annotations

import errno

import duckdb

from mxcensus.store.full import disk_full

COMMIT = (
    'TransactionContext Error: Failed to commit: Could not write file "/d/s.duckdb.wal":'
    " No space left on device"
)
FATAL = (
    "FATAL Error: Failed: database has been invalidated because of a previous fatal error."
    ' The database must be restarted prior to being used again.\nOriginal error: "Failed to'
    ' create checkpoint because of error: Could not write file "/d/s.duckdb": No space left'
    ' on device"'
)


def test_the_shapes_duckdb_and_the_os_use() -> None:
    assert disk_full(duckdb.TransactionException(COMMIT)) == "/d/s.duckdb.wal"
    assert disk_full(duckdb.FatalException(FATAL)) == "/d/s.duckdb"
    assert disk_full(OSError(errno.ENOSPC, "No space left on device", "/d/x")) == "/d/x"
    assert disk_full(OSError(errno.ENOSPC, "No space left on device")) == ""
    assert disk_full(OSError(errno.EACCES, "Permission denied", "/d/x")) is None
    assert disk_full(duckdb.IOException("Could not read file")) is None


def test_found_behind_the_error_that_replaced_it() -> None:
    """A clean-up that failed on the invalidated database replaces the first error while it
    propagates: the chain of causes and contexts is followed."""
    try:
        try:
            raise duckdb.TransactionException(COMMIT)
        except duckdb.Error:
            raise duckdb.FatalException("database has been invalidated") from None
    except duckdb.Error as exc:
        assert disk_full(exc) == "/d/s.duckdb.wal"

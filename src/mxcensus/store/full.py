"""A full disk under the store, recognised in whatever DuckDB or the OS raised.

DuckDB reports a write that found no space in several shapes, depending on where it was:
``Could not write file "…/x.duckdb.wal": No space left on device`` from a commit, the same
inside a ``FatalException`` ("database has been invalidated … Original error: …") once a
checkpoint failed, and a later statement on the invalidated database says only that; the
OS raises ``OSError(ENOSPC)``. :func:`disk_full` finds the first of them in an exception
and its causes and names the file, so the command line can say it in one line (the store
itself is as before: the failed transaction never committed, and DuckDB replays or drops
its log when the file is next opened)."""

from __future__ import annotations

import errno
import re

import duckdb

_WRITE = re.compile(r'(?:write|open|create|extend|resize) (?:to )?file "([^"]+)"[^"]*?No space')
_NO_SPACE = "No space left on device"


def disk_full(exc: BaseException) -> str | None:
    """The path DuckDB or the OS could not write for lack of space (``""`` when the
    message names none), or None when ``exc`` and its causes are no full disk."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno == errno.ENOSPC:
            return str(cur.filename or "")
        if isinstance(cur, duckdb.Error) and _NO_SPACE in str(cur):
            found = _WRITE.search(str(cur))
            return found.group(1) if found else ""
        cur = cur.__cause__ or cur.__context__
    return None

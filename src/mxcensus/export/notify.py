"""``notify``: one Shadowserver-style CSV per network owner and report type, plus an index.

Only services that need their owner's action are written: vulnerable, potentially
vulnerable or end of support. Owners are ASNs (``as3320``), countries (``de``) or
prefixes (IPv4 /24, IPv6 /48: ``192.0.2.0_24``). File names follow Shadowserver's
``DATE-TYPE-OWNER-FILTER.csv`` (``2026-04-01-scan_exchange-as3320-asn.csv``), made only
of ``[a-z0-9_.]`` between the dashes, so no owner string can escape the directory.
Every file is written atomically; ``index.csv`` is written last.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain, groupby
from pathlib import Path

from mxcensus.errors import UsageError
from mxcensus.export.interface import ExportError
from mxcensus.export.shadowserver import APPS, columns_for, row
from mxcensus.output.csv import write_csv
from mxcensus.output.files import FileSet, refuse_database
from mxcensus.store.db import Store
from mxcensus.store.filters import Filter
from mxcensus.store.queries import Reader
from mxcensus.store.results import OwnerFile, ShadowSource

PER = ("asn", "country", "prefix")
INDEX_COLUMNS = (
    "owner", "per", "org", "report_type", "file", "services", "hosts", "critical", "high",
    "medium",
)  # fmt: skip
_UNSAFE = re.compile(r"[^A-Za-z0-9_.]+")


def safe_token(text: str) -> str:
    """A file-name part: runs of characters other than ``[A-Za-z0-9_.]`` as one ``_``,
    lower case, ``.``/``_`` trimmed, at most 80, or ``unknown`` (the store's
    ``safe_token_sql`` is the same rule in SQL: owners are named inside the query)."""
    token = _UNSAFE.sub("_", text).lower().strip("._")
    return token[:80] or "unknown"


@dataclass(frozen=True, slots=True)
class NotifyFile:
    owner: str
    report_type: str
    path: Path
    services: int
    hosts: int


def notify(
    source: Store | Reader,
    scan_ref: str | None,
    per: str,
    out_dir: Path,
    *,
    force: bool = False,
) -> list[NotifyFile]:
    """Write the files of ``scan`` into ``out_dir``, all of them or none: they are written
    into a staging directory beside it and published together (``output.files.FileSet``),
    ``index.csv`` last. One file at a time is read from the store, so memory stays flat."""
    if per not in PER:
        raise UsageError(f"--per {per!r}: choose from {', '.join(PER)}")
    reader = source.reader() if isinstance(source, Store) else source
    scan = reader.resolve_scan(scan_ref)
    found = reader.scan(scan)
    assert found is not None
    day = found.started_at.date().isoformat()
    f = Filter(scans=(scan,), at_risk=True)
    with reader.bounded_memory(), reader.snapshot() as snap:
        files = snap.owner_files(f, APPS, per)
        names = {
            (o.owner, o.report_type): f"{day}-{safe_token(o.report_type)}-{o.owner}-{per}.csv"
            for o in files
        }
        store_path = source.path
        for name in (*names.values(), "index.csv"):
            refuse_database(out_dir / name, store_path, force=force, flag="--out")
        rows = chain.from_iterable(snap.shadow_rows(f, APPS, per=per))
        with FileSet(out_dir, "notify files") as fileset:
            written = _write_files(fileset, files, names, rows)
            with fileset.file("index.csv") as fh:
                write_csv(fh, INDEX_COLUMNS, _index(files, names, per))
            fileset.commit()
    return [
        NotifyFile(
            o.owner, o.report_type, out_dir / names[(o.owner, o.report_type)], o.services, o.hosts
        )
        for o in written
    ]


def _write_files(
    fileset: FileSet,
    files: list[OwnerFile],
    names: dict[tuple[str, str], str],
    rows: Iterator[ShadowSource],
) -> list[OwnerFile]:
    """One file per group of rows (they come ordered by owner and report type, as
    ``files``); each group must hold the services its count says."""
    expected = iter(files)
    done = []
    for (owner, rtype), group in groupby(rows, key=lambda r: (r.owner, r.report_type)):
        o = next(expected, None)
        if o is None or (o.owner, o.report_type) != (owner, rtype):
            raise ExportError(f"notify: rows of {owner}/{rtype} out of order")
        cols = columns_for(rtype)
        with fileset.file(names[(owner, rtype)]) as fh:
            n = write_csv(fh, cols, (row(r, cols) for r in group))
        if n != o.services:
            raise ExportError(f"notify: {owner}/{rtype} has {n} rows, counted {o.services}")
        done.append(o)
    return done


def _index(
    files: list[OwnerFile], names: dict[tuple[str, str], str], per: str
) -> Iterator[tuple[object, ...]]:
    for o in files:
        org = o.org if per == "asn" else None
        yield (o.owner, per, org, o.report_type, names[(o.owner, o.report_type)], o.services,
               o.hosts, o.critical, o.high, o.medium)  # fmt: skip

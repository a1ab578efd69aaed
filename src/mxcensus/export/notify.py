"""``notify``: one Shadowserver-format CSV per network owner and report type, plus an index.

Only services that need their owner's action are written: vulnerable, potentially
vulnerable or end of support. Owners are ASNs (``as3320``), countries (``de``) or
prefixes (IPv4 /24, IPv6 /48: ``192_0_2_0_24``, ``2001_db8_1_48``). File names are
Shadowserver's ``DATE-REPORT-OWNER-FILTER.csv`` (``2026-04-01-scan_exchange-as3320-asn.csv``),
every part ``[a-z0-9_]``, so no owner string can escape the directory and IntelMQ's
Shadowserver parser detects the report from the name. The index is ``index.tsv`` (tab
separated): a File collector watching the directory for ``*.csv`` takes only the reports.
Services of a family Shadowserver has no report for (ManageSieve) are counted, not written
(:attr:`Notices.unreported`). The files are published together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from mxcensus.errors import UsageError
from mxcensus.export.interface import ExportError
from mxcensus.export.shadowserver import (
    APPS,
    REPORTS,
    columns_for,
    file_name,
    pick,
    rows_with_transcripts,
    safe_token,
    scan_day,
)
from mxcensus.output.csv import write_csv
from mxcensus.output.files import FileSet, refuse_database
from mxcensus.store.db import Store
from mxcensus.store.filters import Filter
from mxcensus.store.queries import Reader
from mxcensus.store.results import OwnerFile, ShadowSource

__all__ = ["INDEX", "PER", "Notices", "NotifyFile", "notify", "safe_token"]

PER = ("asn", "country", "prefix")
INDEX = "index.tsv"
INDEX_COLUMNS = (
    "owner", "per", "org", "report_type", "file", "services", "hosts", "critical", "high",
    "medium",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class NotifyFile:
    owner: str
    report_type: str
    path: Path
    services: int
    hosts: int


class Notices(list["NotifyFile"]):
    """The files written; ``unreported``: services per report type that no Shadowserver
    report holds (ManageSieve), counted and not written."""

    unreported: dict[str, int]


def notify(
    source: Store | Reader,
    scan_ref: str | None,
    per: str,
    out_dir: Path,
    *,
    force: bool = False,
) -> Notices:
    """Write the files of ``scan`` into ``out_dir``, all of them or none: they are written
    into a staging directory beside it and published together (``output.files.FileSet``),
    the index last. One file at a time is read from the store, so memory stays flat."""
    if per not in PER:
        raise UsageError(f"--per {per!r}: choose from {', '.join(PER)}")
    reader, scan, day = scan_day(source, scan_ref)
    f = Filter(scans=(scan,), at_risk=True)
    with reader.bounded_memory(), reader.snapshot() as snap:
        counted = snap.owner_files(f, APPS, per)
        files = [o for o in counted if o.report_type in REPORTS]
        names = {
            (o.owner, o.report_type): file_name(day, o.report_type, o.owner, per) for o in files
        }
        store_path = source.path
        for name in (*names.values(), INDEX):
            refuse_database(out_dir / name, store_path, force=force, flag="--out")
        batches = snap.shadow_rows(f, APPS, per=per)
        rows = (
            (r, cells)
            for r, cells in rows_with_transcripts(snap, batches, scan)
            if r.report_type in REPORTS
        )
        with FileSet(out_dir, "notify files") as fileset:
            written = _write_files(fileset, files, names, rows)
            with fileset.file(INDEX) as fh:
                write_csv(fh, INDEX_COLUMNS, _index(files, names, per), delimiter="\t")
            fileset.commit()
    result = Notices(
        NotifyFile(
            o.owner, o.report_type, out_dir / names[(o.owner, o.report_type)], o.services, o.hosts
        )
        for o in written
    )
    result.unreported = {}
    for o in counted:
        if o.report_type not in REPORTS:
            result.unreported[o.report_type] = result.unreported.get(o.report_type, 0) + o.services
    return result


def _write_files(
    fileset: FileSet,
    files: list[OwnerFile],
    names: dict[tuple[str, str], str],
    rows: Iterator[tuple[ShadowSource, dict[str, object]]],
) -> list[OwnerFile]:
    """One file per group of rows (they come ordered by owner and report type, as
    ``files``); each group must hold the services its count says."""
    expected = iter(files)
    done = []
    for (owner, rtype), group in groupby(rows, key=lambda rc: (rc[0].owner, rc[0].report_type)):
        o = next(expected, None)
        if o is None or (o.owner, o.report_type) != (owner, rtype):
            raise ExportError(f"notify: rows of {owner}/{rtype} out of order")
        cols = columns_for(rtype)
        with fileset.file(names[(owner, rtype)]) as fh:
            n = write_csv(fh, cols, (pick(cells, cols) for _, cells in group))
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

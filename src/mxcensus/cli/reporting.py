"""Reporting: ``report``, ``trend``, ``export``, ``notify``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer

from mxcensus.cli.app import DbOption, ForceOption, OutOption, ScanOption, app, command
from mxcensus.cli.options import grouped
from mxcensus.errors import UsageError

if TYPE_CHECKING:
    from mxcensus.store.db import Store

By = Annotated[str, typer.Option(help="Group by: {fields} (comma-separated).")]
ReportFormat = Annotated[str, typer.Option("--format", help="One of {report_formats}.")]


@dataclass(frozen=True, slots=True)
class Rendering:
    """The options ``report`` and ``trend`` share: the breakdown, its format, where it goes,
    and the store it reads (opened read-only)."""

    by: By = "product_line"
    fmt: ReportFormat = "table"
    output: OutOption = None
    db: DbOption = None
    force: ForceOption = False


@command(app)
@grouped
def report(scan_ref: ScanOption = None, *, rendering: Rendering) -> None:
    """Count services and hosts by the chosen fields.

    Hosts count once per group, and once under their most severe verdict; services are
    ip:port; every percentage names its denominator (the rules are printed in the report).
    The HTML report is self-contained (no network) with charts and a world map.
    """
    from mxcensus.report.render import write_report

    by, fmt = rendering.by, rendering.fmt

    def write(store: Store, out: BinaryIO, width: int, color: bool) -> None:
        write_report(store, scan_ref, by, fmt, out, width=width, color=color)

    _rendered(rendering, "report", f"the {fmt} report", write)


@command(app)
@grouped
def trend(
    from_: Annotated[str | None, typer.Option("--from", help="Scan or date (YYYY-MM-DD).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Scan or date (YYYY-MM-DD).")] = None,
    *,
    rendering: Rendering,
) -> None:
    """Compare scans over time: counts, absolute and relative change, host churn.

    The series is every finished scan started between --from and --to (a scan or a date
    YYYY-MM-DD, inclusive; default: all); changes compare its first and last scan.
    """
    from mxcensus.report.render import write_trend

    by, fmt = rendering.by, rendering.fmt

    def write(store: Store, out: BinaryIO, width: int, color: bool) -> None:
        write_trend(store, from_, to, by, fmt, out, width=width, color=color)

    _rendered(rendering, "trend", f"the {fmt} trend", write)


def _rendered(
    rendering: Rendering,
    name: str,
    what: str,
    write: Callable[[Store, BinaryIO, int, bool], None],
) -> None:
    """``write`` a rendering of the store (opened read-only) to ``rendering.output`` or the
    terminal, at the terminal's width and in colour only there; ``-o FILE`` confirmed in one
    line."""
    from mxcensus.cli.render import terminal, written
    from mxcensus.output.files import output_to
    from mxcensus.store.db import Store

    output = rendering.output
    width, color = terminal(output)
    with (
        Store.open(rendering.db, read_only=True) as store,
        output_to(output, name, store=store.path, force=rendering.force) as out,
    ):
        write(store, out, width, color)
    if output is not None:
        written(output, what)


@command(app)
def export(
    fmt: Annotated[str, typer.Option("--format", help="One of {export_formats}.")] = "jsonl",
    scan_ref: ScanOption = None,
    output: OutOption = None,
    report: Annotated[
        str | None,
        typer.Option(help="shadowserver: one report type (scan_smtp …) to -o FILE or stdout."),
    ] = None,
    db: DbOption = None,
    force: ForceOption = False,
    all_outcomes: Annotated[
        bool,
        typer.Option(
            help="Also a record per port that never accepted a connection (refused, "
            "unreachable, timeout, excluded): the scan's whole coverage."
        ),
    ] = False,
) -> None:
    """Export one record per service (JSONL schema in schema/record.schema.json).

    A service is a port that accepted a connection, as in Shodan, Censys or Shadowserver
    data; --all-outcomes adds the ports that never did. csv and shadowserver neutralise
    formula cells. shadowserver writes Shadowserver's report files, one per report type,
    into -o DIR (e.g. 2026-04-01-scan_smtp-SCAN-export.csv), or the one --report TYPE to -o
    FILE or stdout (services only).
    """
    from mxcensus.cli.render import plural, written
    from mxcensus.export.formats import export_scan, get_format
    from mxcensus.output.files import output_to
    from mxcensus.store.db import Store

    get_format(fmt)
    if report is not None and fmt != "shadowserver":
        raise UsageError("--report: only with --format shadowserver")
    if fmt == "shadowserver" and report is None:
        return _shadowserver_files(db, scan_ref, output, force)
    if fmt == "parquet" and output is None and sys.stdout.isatty():
        raise UsageError("--format parquet: binary output; give -o FILE or redirect stdout")
    with (
        Store.open(db, read_only=True) as store,
        output_to(output, f"{fmt} export", store=store.path, force=force) as out,
    ):
        if report is None:
            n = export_scan(store, scan_ref, fmt, out, all_outcomes=all_outcomes)
        else:
            from mxcensus.export.shadowserver import export_reports

            done = export_reports(store, scan_ref, report=report, out=out)
    if report is not None:
        typer.echo(done.summary(str(output or "stdout")), err=True)
    elif output is not None:
        written(output, plural(n, "record"))


def _shadowserver_files(db: Path | None, scan_ref: str | None, output: Path | None,
                        force: bool) -> None:  # fmt: skip
    from mxcensus.export.shadowserver import export_reports
    from mxcensus.store.db import Store

    if output is None:
        raise UsageError(
            "--format shadowserver writes one file per report type: give -o DIR,"
            " or --report TYPE for one report on stdout"
        )
    with Store.open(db, read_only=True) as store:
        done = export_reports(store, scan_ref, out_dir=output, force=force)
    typer.echo(done.summary(str(output)), err=True)


@command(app)
def notify(
    per: Annotated[str, typer.Option(help="One of {owners}.")] = "asn",
    out: Annotated[Path, typer.Option("--out", help="Directory for one file per owner.")] = Path(
        "notify"
    ),
    scan_ref: ScanOption = None,
    db: DbOption = None,
    force: ForceOption = False,
) -> None:
    """Write one Shadowserver-format CSV per network owner, plus index.tsv.

    Only services needing action (vulnerable, potentially vulnerable, end of support);
    one file per owner and Shadowserver report type, e.g.
    2026-04-01-scan_exchange-as3320-asn.csv.
    """
    from mxcensus.cli.render import plural
    from mxcensus.export.notify import INDEX
    from mxcensus.export.notify import notify as write_notices
    from mxcensus.store.db import Store

    with Store.open(db, read_only=True) as store:
        files = write_notices(store, scan_ref, per, out, force=force)
    owners = plural(len({f.owner for f in files}), "owner")
    typer.echo(f"{plural(len(files), 'file')} for {owners} in {out} (index: {out / INDEX})")
    if files.unreported:
        left = ", ".join(f"{n} {t}" for t, n in files.unreported.items())
        typer.echo(f"no Shadowserver report, not written: {left} (see export --format csv)",
                   err=True)  # fmt: skip

"""The store's own records: ``scans list``, ``scans delete``.

Both open the store for writing, so runs a killed process left ``running`` are marked first
(a scan ``interrupted``, resumable; an import ``failed``, its rows removed); see
:meth:`mxcensus.store.db.Store.open`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mxcensus.cli.app import DbOption, app, command, group
from mxcensus.errors import UsageError

if TYPE_CHECKING:
    from mxcensus.store.db import Store

scans_app = group("The scans and imports in the store: list them, delete one.")
app.add_typer(scans_app, name="scans")

_COLUMNS = ("id", "name", "kind", "source", "status", "started", "finished", "services")


def _when(t: datetime | None) -> str:
    return t.isoformat(timespec="seconds") if t is not None else ""


def _open(db: Path | None) -> Store:
    """The store, for writing (the store module is imported here: ``--help`` stays quick)."""
    from mxcensus.store.db import Store, default_db_path

    path = db if db is not None else default_db_path()
    if not path.exists():
        raise UsageError(f"{path}: no such database (run a scan or an import first)")
    return Store.open(path)


@command(scans_app, "list")
def list_scans(
    db: DbOption = None,
    fmt: Annotated[
        str, typer.Option("--format", help="table, or json (one object per line).")
    ] = "table",
) -> None:
    """Every scan and import, oldest first: id, name, kind, source, status, when it
    started and finished, and its services."""
    from mxcensus.text import visible

    if fmt not in ("table", "json"):
        raise UsageError(f"scans list --format {fmt!r}: one of table, json")
    with _open(db) as store:
        scans = store.list_scans()
    rows = [
        (s.id, s.name or "", s.kind, s.source, s.status, _when(s.started_at),
         _when(s.finished_at), s.services)
        for s in scans
    ]  # fmt: skip
    if fmt == "json":
        import orjson

        for r in rows:
            typer.echo(orjson.dumps(dict(zip(_COLUMNS, r, strict=True))).decode())
        return
    shown = [[c.upper() for c in _COLUMNS], *([visible(str(v), 60) for v in r] for r in rows)]
    widths = [max(len(r[i]) for r in shown) for i in range(len(_COLUMNS))]
    for line in shown:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


@command(scans_app, "delete")
def delete_scan(
    scan: Annotated[str, typer.Argument(metavar="SCAN", help="Scan id or name.")],
    db: DbOption = None,
) -> None:
    """Delete a scan or import and everything stored of it, in one step (a kill leaves it
    whole or gone); its space is reused by later scans. A running scan is refused."""
    from mxcensus.text import visible

    with _open(db) as store:
        gone = store.delete_scan(scan)
    name = f" ({visible(gone.name, 60)})" if gone.name else ""
    typer.echo(f"deleted {gone.kind} {gone.id}{name}: {gone.services} services, {gone.status}")

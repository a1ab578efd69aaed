"""Who holds the store: ``mxcensus serve`` leaves ``<store>.serve.json`` (its pid and
address) beside the store while it runs, so that another command that finds the store
locked says so in one line — and how to hand the work to the service — instead of
DuckDB's lock error."""

from __future__ import annotations

import os
from pathlib import Path

import orjson


def service_file(db: Path) -> Path:
    return db.with_name(db.name + ".serve.json")


def held_by(db: Path) -> str | None:
    """The one-line explanation when a running ``serve`` holds ``db``, else None."""
    try:
        info = orjson.loads(service_file(db).read_bytes())
        pid, url = int(info["pid"]), str(info["url"])
    except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # a service that died without cleaning up
    except PermissionError:
        pass
    return (
        f"{db}: held by `mxcensus serve` (pid {pid}, {url}); while it runs, submit work "
        f"to it — an import: POST {url}api/v1/imports?format=FORMAT with the file as the "
        f"body (or the scans page); a reassessment: POST {url}api/v1/reassess?scan=SCAN — "
        "or stop it first"
    )

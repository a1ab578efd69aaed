"""``mxcensus ingest URI --name NAME``: the Parquet parts of a sharded scan into the store.

The shards of a Kubernetes Indexed Job (``scan --shards N --shard I --parts URI``) write
their results apart; this brings the finished ones together as one scan, then analyses it
like any scan. Everything about the parts is checked before the store is touched
(:func:`mxcensus.engine.parts.survey`: one plan for every shard, markers that match their
parts byte for byte); each part is then stored in one transaction with its record in
``parts_ingested``, so a part is in the store whole or not at all, and never twice:
running ``ingest`` again, or after a retried shard finished, adds only what is new. The
scan is finished once every shard is in; until then the result names the shards missing
(no directory) and incomplete (no completion marker) by index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mxcensus.engine.parts import ShardParts, Survey, read_rows, survey
from mxcensus.engine.plan import ScanPlan
from mxcensus.engine.session import Analysing, analyze
from mxcensus.errors import PartsError, UsageError
from mxcensus.model import ScanId
from mxcensus.store import cluster
from mxcensus.store.db import Store, default_db_path


@dataclass(frozen=True, slots=True)
class Ingesting:
    """``parts`` of ``total`` new parts stored (``rows`` results)."""

    parts: int
    total: int
    rows: int


@dataclass(frozen=True, slots=True)
class IngestDone:
    scan: ScanId
    name: str
    plan: ScanPlan  # the scan of every shard
    shards: int
    complete: tuple[int, ...]  # shards whose every part is in the store
    missing: tuple[int, ...]  # shards without a directory
    incomplete: tuple[int, ...]  # shards without a completion marker
    parts: int  # parts stored by this run
    rows: int  # results stored by this run
    results: int  # results of the scan in the store
    services: int  # services the analysis wrote (0 when it did not run)
    finished: bool
    db: Path


def ingest(
    uri: str,
    *,
    name: str,
    db: Path | None = None,
    on_event: Callable[[Ingesting | Analysing], None] | None = None,
) -> IngestDone:
    """Bring the finished shards under ``uri`` into the scan ``name`` (made when new)."""
    notify = on_event or (lambda event: None)
    found = survey(uri)  # raises before anything is written
    with Store.open(db if db is not None else default_db_path()) as store:
        scan = _scan_for(store, found, uri, name)
        have = cluster.ingested_parts(store, scan)
        todo = _new_parts(found, have)
        rows = 0
        for i, (shard, part) in enumerate(todo):
            record = cluster.IngestedPart(
                shard.index, str(part["name"]), str(part["sha256"]), int(part["rows"])
            )
            batches = read_rows(found.location, shard.dir, record.part)
            rows += cluster.ingest_part(store, scan, record, batches)
            notify(Ingesting(i + 1, len(todo), rows))
        results = store.count("transcripts", scan)
        services = 0
        if todo or store.count("services", scan) == 0:
            services = analyze(store, scan, lambda n: notify(Analysing(n, results)))
        finished = not found.missing and not found.incomplete
        if finished and _status(store, scan) != "finished":
            store.finish_scan(scan)
        complete = tuple(s.index for s in found.complete)
        return IngestDone(
            scan, name, found.plan, found.plan.shards, complete, tuple(found.missing),
            tuple(found.incomplete), len(todo), rows, results, services, finished, store.path,
        )  # fmt: skip


def _status(store: Store, scan: ScanId) -> str:
    row = store.row("SELECT status FROM scans WHERE id = ?", [scan])
    return str(row[0]) if row else ""


def _scan_for(store: Store, found: Survey, uri: str, name: str) -> ScanId:
    """The scan ``name`` of these parts: made now, or the one an earlier ingest made."""
    existing = store.find_scan(name)
    if existing is None:
        params = {
            **found.plan.to_params(),
            "parts": {"uri": uri, "fingerprint": found.fingerprint},
        }
        return store.create_scan(
            name=name,
            kind="scan",
            source="scan",
            params=params,
            targets_total=found.plan.space().size,
        )
    parts = existing["params"].get("parts") or {}
    if existing["kind"] != "scan" or parts.get("fingerprint") != found.fingerprint:
        what = "another scan's parts" if parts else f"a {existing['kind']} of its own"
        raise UsageError(
            f"--name {name}: names {what} in {store.path}, not the parts at {uri}; choose "
            "another name"
        )
    scan = ScanId(existing["id"])
    store.claim_scan(scan)  # this process brings more in (an earlier ingest may have died)
    return scan


def _new_parts(
    found: Survey, have: dict[tuple[int, str], cluster.IngestedPart]
) -> list[tuple[ShardParts, dict[str, Any]]]:
    """The complete shards' parts not in the store yet. A part in the store whose bytes
    differ from the one there now means the shard was written again after its ingest:
    refused, nothing stored."""
    todo = []
    for shard in found.complete:
        for part in (shard.marker or {})["parts"]:
            before = have.get((shard.index, str(part["name"])))
            if before is None:
                todo.append((shard, part))
            elif before.sha256 != part["sha256"]:
                raise PartsError(
                    f"{found.location.where(shard.dir, str(part['name']))}: differs from the "
                    "part of that name ingested before (sha256): the shard was written again "
                    "after its ingest; ingest these parts under another --name"
                )
    return todo

"""Starting and resuming scans: from the user's inputs to a stored scan and its plan."""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from mxcensus.engine.plan import (
    DEFAULT_PROBES,
    ScanPlan,
    load_port_table,
    load_probes,
    port_plan,
)
from mxcensus.engine.run import shard_total
from mxcensus.engine.spawn import worker_count
from mxcensus.engine.worker import raise_nofile
from mxcensus.errors import UsageError
from mxcensus.model import ScanId
from mxcensus.probes.interface import ProbeConfig
from mxcensus.store.db import Store
from mxcensus.targets import load_targets, parse_ports

PROBE_TABLE_ENV = "MXCENSUS_PROBE_TABLE"
"""``module:attribute`` of another probe registry (plugins, tests); default the built-in."""


def new_plan(
    targets: list[str],
    *,
    ports: str | None = None,
    probes: str | None = None,
    http: bool = False,
    input_list: Path | None = None,
    exclude: list[str] | None = None,
    exclude_file: Path | None = None,
    allow_reserved: bool = False,
    rate: float = 1000,
    concurrency: int = 1000,
    per_net: int = 64,
    workers: int | None = None,
    shards: int = 1,
    shard: int = 0,
    seed: int | None = None,
    probe_config: ProbeConfig | None = None,
    stdin: TextIO | None = None,
) -> ScanPlan:
    """Validate everything the user gave before anything touches the store or the network."""
    if shards > 1 and seed is None:
        raise UsageError(
            f"--shards {shards}: give --seed S too, the same on every shard, or the shards "
            "walk different orders and neither cover every target nor avoid overlaps"
        )
    port_list = parse_ports(ports) if ports is not None else None
    table = os.environ.get(PROBE_TABLE_ENV) or DEFAULT_PROBES
    registry = load_probes(table)
    selected = [p.strip() for p in probes.split(",") if p.strip()] if probes else None
    config = probe_config or ProbeConfig()
    if http:
        if "owa" not in (selected or registry):
            raise UsageError("--http: only the owa probe speaks HTTP; add owa to --probes")
        config = dataclasses.replace(config, http=True)
    pairs = port_plan(registry, load_port_table(table), port_list, selected, config)
    if not targets and input_list is None:
        raise UsageError("no targets given (name IPs, CIDRs, ranges, hostnames, -iL FILE or -)")
    tgts = load_targets(
        targets,
        input_list=input_list,
        exclude=exclude,
        exclude_file=exclude_file,
        allow_reserved=allow_reserved,
        stdin=stdin,
    )
    n_workers = worker_count(workers)
    limit = raise_nofile(concurrency + 256)
    return ScanPlan(
        targets=tgts,
        ports=pairs,
        seed=seed if seed is not None else secrets.randbits(63),
        shards=shards,
        shard=shard,
        workers=n_workers,
        rate=rate,
        concurrency=max(1, min(concurrency, limit - 128)),
        per_net=per_net,
        probe_config=config,
        probe_table=table,
    )


def start(store: Store, plan: ScanPlan, name: str | None) -> ScanId:
    return store.create_scan(
        name=name,
        kind="scan",
        source="scan",
        params=plan.to_params(),
        targets_total=shard_total(plan),
    )


def resume(
    store: Store,
    ref: str,
    *,
    rate: float | None = None,
    concurrency: int | None = None,
    per_net: int | None = None,
) -> tuple[ScanId, ScanPlan]:
    """The interrupted scan ``ref`` (id or name) and the plan it was started with.

    ``rate``, ``concurrency`` and ``per_net``, when given, replace the stored ones (and are
    stored as the scan's parameters from now on): they pace the walk, they do not change
    which targets it visits nor their order, so the checkpoint stays valid.
    """
    found = store.find_scan(ref)
    if found is None:
        raise UsageError(f"--resume {ref}: no scan with that id or name in {store.path}")
    if found["kind"] != "scan":
        raise UsageError(f"--resume {ref}: is an import, not a scan")
    if found["status"] == "finished":
        raise UsageError(f"--resume {ref}: the scan is finished already")
    try:
        plan = ScanPlan.from_params(found["params"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"--resume {ref}: its stored parameters are incomplete ({exc})") from exc
    changes: dict[str, Any] = {}
    if rate is not None:
        changes["rate"] = rate
    if concurrency is not None:
        limit = raise_nofile(concurrency + 256)
        changes["concurrency"] = max(1, min(concurrency, limit - 128))
    if per_net is not None:
        changes["per_net"] = per_net
    if changes:
        plan = dataclasses.replace(plan, **changes)  # validates them (UsageError)
        store.set_scan_params(ScanId(found["id"]), plan.to_params())
    return ScanId(found["id"]), plan


def analyze(store: Store, scan: ScanId, progress: Callable[[int], None] | None = None) -> int:
    """Identify, assess and enrich the scan's transcripts (``mxcensus.pipeline``).

    Returns the number of services written. Imported here, not at the top: rules and
    knowledge are not needed while scanning, and the scan's parent should not hold them.
    """
    from mxcensus.pipeline import analyze_scan_with_geo

    return analyze_scan_with_geo(store, scan, progress=progress)

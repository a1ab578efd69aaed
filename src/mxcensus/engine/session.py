"""Running a scan from the user's request to a finished scan in the store.

:func:`scan` is the one way a scan runs (the CLI, the demo, watches and the cluster driver
call it): check the request, start or resume the stored scan, probe through an
:class:`~mxcensus.engine.executor.Executor`, analyse, finish. Progress goes to one
callback as :data:`ScanEvent` values; nothing here prints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from mxcensus.engine.executor import Executor, LocalExecutor, local_shape
from mxcensus.engine.plan import (
    DEFAULT_PROBES,
    ScanPlan,
    load_port_table,
    load_probes,
    port_plan,
)
from mxcensus.engine.request import (
    DEFAULT_CONCURRENCY,
    DEFAULT_PER_NET,
    DEFAULT_RATE,
    RESUMABLE,
    WORKERS,
    ScanRequest,
)
from mxcensus.engine.run import Progress, ScanResult, shard_total
from mxcensus.errors import MxcensusError, UsageError
from mxcensus.model import ScanId
from mxcensus.probes.interface import ProbeConfig
from mxcensus.store.db import Store, default_db_path
from mxcensus.targets import Targets, load_targets, parse_ports
from mxcensus.targets.intervals import key_of

PROBE_TABLE_ENV = "MXCENSUS_PROBE_TABLE"
"""``module:attribute`` of another probe registry (plugins, tests); default the built-in."""


@dataclass(frozen=True, slots=True)
class Started:
    """The scan is stored and its probing begins (``total``: targets of its shards).
    ``notes``: what the user should know about the plan (one line each)."""

    scan: ScanId
    total: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Analysing:
    """Identification, assessment and enrichment: ``written`` services of ``total``."""

    written: int
    total: int


ScanEvent = Started | Progress | Analysing
Observer = Callable[[ScanEvent], None]


@dataclass(frozen=True, slots=True)
class ScanDone:
    scan: ScanId
    plan: ScanPlan
    result: ScanResult  # the probing of this run
    services: int  # services the analysis wrote
    db: Path


class ScanInterrupted(MxcensusError):
    """Ctrl-C (or SIGTERM mapped to it) while probing or analysing: the scan is kept,
    unfinished, and resumes where it stopped."""

    exit_code = 130

    def __init__(self, scan: ScanId, db: Path) -> None:
        super().__init__(f"interrupted; resume with: mxcensus scan --resume {scan} --db {db}")
        self.scan = scan


def scan(
    request: ScanRequest,
    *,
    db: Path | None = None,
    executor: Executor | None = None,
    on_event: Observer | None = None,
    geo_db: Sequence[Path | str] = (),
) -> ScanDone:
    """Run ``request`` to the end: a new scan, or the resumption of ``request.resume``.

    Everything the user gave is checked before the store or the network is touched, and a
    resume never creates a store. ``executor``: where the probes run (default: this
    machine's workers, started and stopped here). ``geo_db``: MMDB files the enrichment
    reads (as ``--geo-db``), beside the offline country table.
    """
    request.check()
    notify: Observer = on_event or _ignore
    with contextlib.ExitStack() as stack:
        if executor is None:
            executor = stack.enter_context(LocalExecutor())
        plan = None if request.resume is not None else new_plan(request, executor=executor)
        store = stack.enter_context(Store.open(_store_path(db, request)))
        if plan is None:
            scan_id, plan = resume(store, request, executor=executor)
        else:
            scan_id = start(store, plan, request.name)
        notify(Started(scan_id, shard_total(plan), plan_notes(plan)))
        try:
            result = executor.run(store, scan_id, plan, notify)
            services = analyze(
                store, scan_id, lambda n: notify(Analysing(n, result.done)), geo_db=geo_db
            )
        except KeyboardInterrupt:
            raise ScanInterrupted(scan_id, store.path) from None
        store.finish_scan(scan_id)
    return ScanDone(scan_id, plan, result, services, store.path)


def _ignore(event: ScanEvent) -> None:
    pass


def plan_notes(plan: ScanPlan) -> tuple[str, ...]:
    """Where a cluster's plan cannot hold a limit as the user may read it."""
    if plan.shard is not None:
        return ()
    notes = []
    if plan.shards > plan.per_net:
        notes.append(
            f"{plan.shards} shards > --per-net {plan.per_net}: each shard keeps at most one "
            f"connection per /24 open, so a /24 may see up to {plan.shards} at once"
        )
    if plan.shards > plan.concurrency:
        notes.append(
            f"{plan.shards} shards > --concurrency {plan.concurrency}: at most "
            f"{plan.concurrency} of them probe at a time"
        )
    return tuple(notes)


def _store_path(db: Path | None, request: ScanRequest) -> Path:
    path = db if db is not None else default_db_path()
    if request.resume is not None and not path.exists():
        raise UsageError(f"--resume {request.resume}: {path}: no such database")
    return path


def new_plan(
    request: ScanRequest, *, executor: Executor | None = None, stdin: TextIO | None = None
) -> ScanPlan:
    """The plan of a new scan: every option validated, the defaults applied."""
    request.check()
    r = request
    shards, shard, workers = (executor.shape if executor else local_shape)(r)
    if shards > 1 and shard is not None and r.seed is None:
        raise UsageError(
            f"--shards {r.shards}: give --seed S too, the same on every shard, or the shards "
            "walk different orders and neither cover every target nor avoid overlaps"
        )
    table = os.environ.get(PROBE_TABLE_ENV) or DEFAULT_PROBES
    ports, config = _ports(r, table)
    if not r.targets and r.input_list is None:
        raise UsageError("no targets given (name IPs, CIDRs, ranges, hostnames, -iL FILE or -)")
    targets = load_targets(
        list(r.targets), input_list=r.input_list, exclude=list(r.exclude),
        exclude_file=r.exclude_file, allow_reserved=r.allow_reserved, stdin=stdin,
    )  # fmt: skip
    if r.hostnames:
        targets = with_hostnames(targets, r.hostnames)
    plan = ScanPlan(
        targets=targets,
        ports=ports,
        seed=r.seed if r.seed is not None else secrets.randbits(63),
        shards=shards,
        shard=shard,
        workers=workers,
        rate=DEFAULT_RATE if r.rate is None else r.rate,
        concurrency=DEFAULT_CONCURRENCY if r.concurrency is None else r.concurrency,
        per_net=DEFAULT_PER_NET if r.per_net is None else r.per_net,
        probe_config=config,
        probe_table=table,
    )
    return _fit(plan, executor, given=r.concurrency is not None)


def with_hostnames(targets: Targets, names: tuple[tuple[str, str], ...]) -> Targets:
    """``targets`` probing each named address under its name (SNI, HTTP ``Host``); a name
    for an address outside the final set (blocklisted, excluded) is dropped with it."""
    keys: dict[int, str] = {}
    for address, name in names:
        try:
            key = key_of(ipaddress.ip_address(address))
        except ValueError as exc:
            raise UsageError(f"hostname {name!r}: {address!r} is not an IP address") from exc
        if key in targets.addresses:
            keys.setdefault(key, name)
    return dataclasses.replace(targets, hostnames={**targets.hostnames, **keys})


def _ports(r: ScanRequest, table: str) -> tuple[tuple[tuple[int, str], ...], ProbeConfig]:
    """(port, probe) pairs and the probes' settings."""
    registry = load_probes(table)
    selected = [p.strip() for p in r.probes.split(",") if p.strip()] if r.probes else None
    config = r.probe_config or ProbeConfig()
    if r.http:
        if "owa" not in (selected or registry):
            raise UsageError("--http: only the owa probe speaks HTTP; add owa to --probes")
        config = dataclasses.replace(config, http=True)
    port_list = parse_ports(r.ports) if r.ports is not None else None
    return port_plan(registry, load_port_table(table), port_list, selected, config), config


def _fit(plan: ScanPlan, executor: Executor | None, *, given: bool) -> ScanPlan:
    """The plan within what ``executor`` can hold open: a ``--concurrency`` the user gave
    beyond it is refused; the default is lowered to it."""
    if executor is None:
        return plan
    cap = executor.concurrency_cap(plan.concurrency)
    if plan.concurrency <= cap:
        return plan
    if given:
        raise UsageError(
            f"--concurrency {plan.concurrency}: the open-file limit allows at most {cap} "
            "open connections here (raise it with ulimit -n)"
        )
    return dataclasses.replace(plan, concurrency=max(1, cap))


def start(store: Store, plan: ScanPlan, name: str | None) -> ScanId:
    return store.create_scan(
        name=name,
        kind="scan",
        source="scan",
        params=plan.to_params(),
        targets_total=shard_total(plan),
    )


def resume(
    store: Store, request: ScanRequest, *, executor: Executor | None = None
) -> tuple[ScanId, ScanPlan]:
    """The interrupted scan ``request.resume`` (id or name) and the plan it was started
    with.

    The request's rate, concurrency and per-net cap, when given, replace the stored ones
    (and are stored from now on): they pace the walk, they do not change which targets it
    visits nor their order, so the checkpoint stays valid.
    """
    request.check()
    ref = request.resume or ""
    found = store.find_scan(ref)
    if found is None:
        raise UsageError(f"--resume {ref}: no scan with that id or name in {store.path}")
    if found["kind"] != "scan":
        raise UsageError(f"--resume {ref}: is an import, not a scan")
    if found["status"] == "finished":
        raise UsageError(f"--resume {ref}: the scan is finished already")
    parts = found["params"].get("parts")
    if parts is not None:
        raise UsageError(
            f"--resume {ref}: its results come from Parquet parts ({parts.get('uri')}); run "
            "the shards that are missing there, then mxcensus ingest again"
        )
    try:
        plan = ScanPlan.from_params(found["params"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"--resume {ref}: its stored parameters are incomplete ({exc})") from exc
    streams = plan.shards * plan.workers
    if (
        plan.shard is None
        and getattr(executor, "name", "local") == "local"
        and (streams > WORKERS.hi)
    ):
        raise UsageError(
            f"--resume {ref}: a cluster scan of {streams} streams; this machine runs "
            f"{WORKERS.hi} workers at most (resume it with --executor ray)"
        )
    changes: dict[str, Any] = {
        key: getattr(request, key) for key in RESUMABLE if getattr(request, key) is not None
    }
    fitted = _fit(dataclasses.replace(plan, **changes), executor, given="concurrency" in changes)
    if fitted != plan:
        store.set_scan_params(ScanId(found["id"]), fitted.to_params())
    return ScanId(found["id"]), fitted


def analyze(
    store: Store,
    scan: ScanId,
    progress: Callable[[int], None] | None = None,
    *,
    geo_db: Sequence[Path | str] = (),
) -> int:
    """Identify, assess and enrich the scan's transcripts (``mxcensus.pipeline``).

    Returns the number of services written. Imported here, not at the top: rules and
    knowledge are not needed while scanning, and the scan's parent should not hold them.
    """
    from mxcensus.pipeline import analyze_scan_with_geo

    return analyze_scan_with_geo(store, scan, geo_db, progress=progress)

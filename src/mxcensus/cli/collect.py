"""Collecting: ``scan``, ``import``, ``reassess``."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from mxcensus.bounds import Range
from mxcensus.cli.app import DbOption, GeoDbOption, QuietOption, app, command
from mxcensus.cli.options import bounded, grouped
from mxcensus.engine import request as req

Targets = Annotated[
    list[str] | None,
    typer.Argument(help="IPs, CIDRs, ranges (a.b.c.d-e.f.g.h), hostnames; '-' reads stdin."),
]
Ports = Annotated[
    str | None, typer.Option("-p", "--ports", help="Ports, e.g. 25,465,587,993 or 2525.")
]
Probes = Annotated[
    str | None, typer.Option("--probes", help="Probes to run: {probes} (default: all).")
]
InputList = Annotated[
    Path | None,
    typer.Option("-iL", "--input-list", help="File of targets, or masscan/ZMap output."),
]
Http = Annotated[
    bool,
    typer.Option(
        "--http", help="owa: also probe plain HTTP on port 80 (default: HTTPS 443 only, or -p 80)."
    ),
]


def _unset(option: str, bounds: Range, what: str, default: object, then: str = "") -> Any:
    """A number left None when not given, so that the request fills in ``default`` (or a
    resumed scan keeps its own); the help names that default all the same."""
    return bounded(option, bounds=bounds, show_default=False,
                   help=f"{what} [default: {default}]{then}.")  # fmt: skip


_PACE = "; with --resume: the new"
Rate = Annotated[
    int | None,
    _unset("--rate", req.RATE, "New connections per second, all workers", req.DEFAULT_RATE,
           f"{_PACE} rate"),
]  # fmt: skip
Concurrency = Annotated[
    int | None,
    _unset("--concurrency", req.CONCURRENCY, "Open connections at most",
           f"{req.DEFAULT_CONCURRENCY}, or what the open-file limit allows", f"{_PACE} cap"),
]  # fmt: skip
PerNet = Annotated[
    int | None,
    _unset("--per-net", req.PER_NET, "Open connections per /24 (IPv6 /56) at most",
           req.DEFAULT_PER_NET, f"{_PACE} cap"),
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Pace:
    """How fast a scan goes: the options a resumed scan may change (``req.RESUMABLE``)."""

    rate: Rate = None
    concurrency: Concurrency = None
    per_net: PerNet = None


Workers = Annotated[
    int | None,
    bounded("--workers", bounds=req.WORKERS,
            help="Worker processes (default: one per core). At most "
            f"{req.WORKERS_PER_CORE} per core: each is a fresh interpreter of 30-40 MB "
            "that keeps a core busy, so more only cost memory."),
]  # fmt: skip
Exclude = Annotated[
    list[str] | None, typer.Option(help="CIDR or range never to contact (repeatable).")
]
ExcludeFile = Annotated[Path | None, typer.Option(help="File of CIDRs/ranges never to contact.")]
AllowReserved = Annotated[
    bool, typer.Option(help="Allow loopback and private space (the lab, your own networks).")
]
Resume = Annotated[
    str | None,
    typer.Option(
        help="Resume the interrupted scan SCAN (id or name); only --rate, --concurrency "
        "and --per-net may change."
    ),
]
Shards = Annotated[
    int | None, _unset("--shards", req.SHARDS, "Split the target space into N shards", 1)
]
Shard = Annotated[
    int | None, _unset("--shard", req.SHARD, "Which shard this process scans (0-based)", 0)
]
Seed = Annotated[
    int | None,
    bounded("--seed", bounds=req.SEED, help="Seed of the pseudo-random order (default: random)."),
]
ExecutorName = Annotated[
    str,
    typer.Option(
        "--executor",
        metavar="local|ray",
        help="Where the probes run: this machine's worker processes, or a Ray cluster "
        "(pip install 'mxcensus[ray]'): every shard a task, --rate, --concurrency and "
        "--per-net the cluster's totals, --shards default the cluster's CPUs.",
    ),
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        metavar="ADDR",
        help="With --executor ray: the cluster to join (host:port of its head; default "
        "RAY_ADDRESS, else a local Ray started for this scan).",
        show_default=False,
    ),
]
Parts = Annotated[
    str | None,
    typer.Option(
        "--parts",
        metavar="URI",
        help="Write this shard's results as Parquet parts under URI (a path or any URI "
        "pyarrow.fs reads: s3://, gs://, hdfs://) instead of a store; with --shards N "
        "--shard I, one pod of a Kubernetes Indexed Job. --rate, --concurrency and "
        "--per-net are then every shard's together. mxcensus ingest brings them in.",
        show_default=False,
    ),
]


@command(app)
@grouped
def scan(
    targets: Targets = None,
    ports: Ports = None,
    probes: Probes = None,
    input_list: InputList = None,
    http: Http = False,
    *,
    pace: Pace,
    workers: Workers = None,
    exclude: Exclude = None,
    exclude_file: ExcludeFile = None,
    allow_reserved: AllowReserved = False,
    db: DbOption = None,
    name: Annotated[str | None, typer.Option(help="A name for this scan.")] = None,
    resume: Resume = None,
    shards: Shards = None,
    shard: Shard = None,
    seed: Seed = None,
    executor: ExecutorName = "local",
    ray_address: RayAddress = None,
    parts: Parts = None,
    quiet: QuietOption = False,
) -> None:
    """Scan TARGETs for mail services and store transcripts, identifications and verdicts.

    Responsible by default: IANA special-purpose ranges are never contacted (loopback and
    private space only with --allow-reserved), the rate is capped, the EHLO name and
    User-Agent identify the scanner, and it never authenticates, sends mail or exploits.
    """
    request = req.ScanRequest(
        targets=tuple(targets or ()), ports=ports, probes=probes, http=http,
        input_list=input_list, exclude=tuple(exclude or ()), exclude_file=exclude_file,
        allow_reserved=allow_reserved, workers=workers, shards=shards, shard=shard, seed=seed,
        name=name, resume=resume, **asdict(pace),
    )  # fmt: skip
    request.check()  # before any worker starts
    chosen = _executor(request, executor, ray_address, parts)
    with chosen as running, _terminate_as_interrupt(), _quiet_ray(running, quiet) as show:
        from mxcensus.cli.render import ScanDisplay, scan_summary
        from mxcensus.engine.session import scan as run

        with ScanDisplay(show) as display:
            if parts is not None:
                from mxcensus.cli.render import parts_summary
                from mxcensus.engine.parts import scan_parts

                one = scan_parts(request, parts, executor=running, on_event=display)
            else:
                done = run(request, db=db, executor=running, on_event=_noting(display))
    typer.echo("\n".join(scan_summary(done) if parts is None else parts_summary(one)))


def _executor(request: req.ScanRequest, name: str, address: str | None, parts: str | None) -> Any:
    """The executor the options name, started (Ray: joined or started, ~7 s)."""
    from mxcensus.engine.executor import LocalExecutor
    from mxcensus.errors import UsageError

    if name not in ("local", "ray"):
        raise UsageError(f"--executor {name}: must be local or ray")
    if name == "local":
        if address is not None:
            raise UsageError("--ray-address: only with --executor ray")
        from mxcensus.engine.spawn import worker_count

        # the workers boot (import the probes) while this process parses the targets and
        # opens the store; the scan then only hands them their work
        return LocalExecutor(0 if request.resume is not None else worker_count(request.workers))
    if parts is not None:
        raise UsageError(
            "--parts with --executor ray: Ray's shards hand their results to this process, "
            "which writes the store; --parts is for one shard per process (--shard I)"
        )
    from mxcensus.engine import ray_executor

    ray_executor.check_request(request)  # before Ray takes its seconds to start
    return ray_executor.RayExecutor(address)


@contextmanager
def _quiet_ray(executor: Any, quiet: bool) -> Iterator[bool]:
    """Whether to draw progress; Ray's driver prints task failures to stdout, which the live
    bar takes above itself: without a bar they go to stderr, never into the summary."""
    show = not quiet and sys.stdout.isatty()
    if executor.name != "ray" or show:
        yield show
        return
    with redirect_stdout(sys.stderr):
        yield show


def _noting(display: Any) -> Any:
    """The display, with the plan's notes (limits a cluster cannot hold) on stderr."""
    from mxcensus.engine.session import Started

    def observe(event: Any) -> None:
        if isinstance(event, Started):
            for note in event.notes:
                typer.echo(f"mxcensus: note: {note}", err=True)
        display(event)

    return observe


@command(app)
def ingest(
    uri: Annotated[str, typer.Argument(metavar="URI", help="Where the shards wrote (--parts).")],
    name: Annotated[str, typer.Option(help="The scan's name in the store (made when new).")],
    db: DbOption = None,
    quiet: QuietOption = False,
) -> None:
    """Bring the finished shards of a sharded scan (scan --parts URI) into the store.

    Everything is checked first (one plan for every shard, parts whole and their own);
    each part is stored once, whole or not at all, so running it again adds only what is
    new. Missing and incomplete shards are named by index (exit 1); the scan is analysed
    like any scan and finished once every shard is in.
    """
    from mxcensus.cli.render import IngestDisplay, ingest_summary
    from mxcensus.engine.ingest import ingest as run
    from mxcensus.errors import MxcensusError

    with IngestDisplay(not quiet and sys.stdout.isatty()) as display:
        done = run(uri, name=name, db=db, on_event=display)
    typer.echo("\n".join(ingest_summary(done)))
    if not done.finished:
        gaps = []
        if done.missing:
            gaps.append(f"missing shards {_indexes(done.missing)}")
        if done.incomplete:
            gaps.append(f"incomplete shards {_indexes(done.incomplete)} (no completion marker)")
        raise MxcensusError(
            f"ingest {uri}: {'; '.join(gaps)} of {done.shards}; ingest again when they finish"
        )


def _indexes(found: tuple[int, ...], shown: int = 20) -> str:
    text = ", ".join(map(str, found[:shown]))
    return text + (f" … ({len(found)} in all)" if len(found) > shown else "")


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the scan as Ctrl-C does: resumable, with the line that says how."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@command(app, "import")
def import_(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help="One of {import_formats}.")],
    files: Annotated[list[Path], typer.Argument(help="Files to import (.gz is read as is).")],
    db: DbOption = None,
    name: Annotated[str | None, typer.Option(help="A name for this import.")] = None,
    strict: Annotated[
        bool, typer.Option(help="Stop at the first malformed record and write nothing.")
    ] = False,
    geo_db: GeoDbOption = None,
    quiet: QuietOption = False,
) -> None:
    """Import scans made by others; each record is identified and assessed like a live scan."""
    from mxcensus.cli.render import import_progress, import_summary
    from mxcensus.enrich import GeoEnricher
    from mxcensus.importers import import_files
    from mxcensus.store.db import Store

    enricher = GeoEnricher(geo_db or ())
    with Store.open(db) as store, import_progress(enabled=not quiet) as progress:
        result = import_files(
            store, fmt, files, name=name, strict=strict, progress=progress, enricher=enricher
        )
    enricher.close()
    out, warnings = import_summary(result)
    typer.echo(out)
    if warnings:
        typer.echo(warnings, err=True)


@command(app)
def reassess(
    scan_ref: Annotated[str, typer.Argument(metavar="SCAN", help="Scan id or name.")],
    db: DbOption = None,
    geo_db: GeoDbOption = None,
) -> None:
    """Re-identify and re-assess a stored scan with the current rules and knowledge, offline.

    The raw transcripts stay as they were; services and findings are replaced in one go.
    """
    from mxcensus.pipeline import analyze_scan_with_geo
    from mxcensus.store.db import Store

    with Store.open(db) as store:
        scan_id = store.resolve_scan(scan_ref)
        transcripts = store.count("transcripts", scan_id)
        services = analyze_scan_with_geo(store, scan_id, geo_db or ())
    typer.echo(f"reassessed scan {scan_id}: {transcripts} transcripts, {services} services")

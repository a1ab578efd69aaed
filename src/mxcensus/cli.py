"""The command line: parses, wires, renders. The library never prints.

Exit codes: 0 done, 1 failed, 2 bad usage. Every error is one line on stderr that says what
and where; no traceback reaches the user (``MXCENSUS_DEBUG=1`` shows it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from typer._click import exceptions as click_exc

from mxcensus import __version__
from mxcensus.errors import MxcensusError, UsageError

app = typer.Typer(
    name="mxcensus",
    help=(
        "Find exposed mail servers, identify their exact software and build, and judge them "
        "against exploited CVEs and end-of-support dates. Scans only what you allow, politely; "
        "or imports others' scans (Shodan, Censys, ZGrab2, nmap, masscan, Shadowserver)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
rules_app = typer.Typer(help="Fingerprint rules: validate the rule files.", no_args_is_help=True)
kb_app = typer.Typer(
    help="The knowledge base: list advisories, load newer data files.", no_args_is_help=True
)
app.add_typer(rules_app, name="rules")
app.add_typer(kb_app, name="kb")

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        envvar="MXCENSUS_DB",
        help="DuckDB file (default: the user data directory; env MXCENSUS_DB).",
        show_default=False,
    ),
]
ScanOption = Annotated[
    str | None,
    typer.Option("--scan", help="Scan id or --name (default: the newest scan in the store)."),
]
OutOption = Annotated[
    Path | None, typer.Option("-o", "--output", help="Write to FILE instead of stdout.")
]


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"mxcensus {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=version_callback, is_eager=True, help="Show version."),
    ] = False,
) -> None:
    """mxcensus."""


# -- collection ------------------------------------------------------------------------


@app.command()
def scan(
    targets: Annotated[
        list[str] | None,
        typer.Argument(help="IPs, CIDRs, ranges (a.b.c.d-e.f.g.h), hostnames; '-' reads stdin."),
    ] = None,
    ports: Annotated[
        str | None, typer.Option("-p", "--ports", help="Ports, e.g. 25,465,587,993 or 2525.")
    ] = None,
    probes: Annotated[
        str | None,
        typer.Option("--probes", help="Probes to run: smtp,imap,pop3,owa (default: all)."),
    ] = None,
    input_list: Annotated[
        Path | None,
        typer.Option("-iL", "--input-list", help="File of targets, or masscan/ZMap output."),
    ] = None,
    http: Annotated[
        bool,
        typer.Option(
            "--http",
            help="owa: also probe plain HTTP on port 80 (default: HTTPS 443 only, or -p 80).",
        ),
    ] = False,
    rate: Annotated[
        int | None,
        typer.Option(
            help="New connections per second, all workers [default: 1000]; with --resume: the "
            "new rate.",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            help="Open connections at most [default: 1000]; with --resume: the new cap.",
            show_default=False,
        ),
    ] = None,
    per_net: Annotated[
        int | None,
        typer.Option(
            help="Open connections per /24 (IPv6 /56) at most [default: 64]; with --resume: "
            "the new cap.",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: one per core).")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option(help="CIDR or range never to contact (repeatable).")
    ] = None,
    exclude_file: Annotated[
        Path | None, typer.Option(help="File of CIDRs/ranges never to contact.")
    ] = None,
    allow_reserved: Annotated[
        bool,
        typer.Option(help="Allow loopback and private space (the lab, your own networks)."),
    ] = False,
    db: DbOption = None,
    name: Annotated[str | None, typer.Option(help="A name for this scan.")] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            help="Resume the interrupted scan SCAN (id or name); only --rate, --concurrency "
            "and --per-net may change."
        ),
    ] = None,
    shards: Annotated[
        int | None,
        typer.Option(help="Split the target space into N shards [default: 1].", show_default=False),
    ] = None,
    shard: Annotated[
        int | None,
        typer.Option(
            help="Which shard this process scans (0-based) [default: 0].", show_default=False
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the pseudo-random order.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Scan TARGETs for mail services and store transcripts, identifications and verdicts.

    Responsible by default: IANA special-purpose ranges are never contacted (loopback and
    private space only with --allow-reserved), the rate is capped, the EHLO name and
    User-Agent identify the scanner, and it never authenticates, sends mail or exploits.
    """
    import signal

    from rich.console import Console

    from mxcensus import engine
    from mxcensus.engine.view import AnalysisView, ProgressView, summary
    from mxcensus.store.db import Store

    if resume is not None and (targets or input_list):
        raise UsageError("--resume SCAN takes no targets: the scan's own are used")
    if resume is not None:
        fixed = [
            flag
            for flag, given in (
                ("-p/--ports", ports is not None),
                ("--probes", probes is not None),
                ("--http", http),
                ("--exclude", bool(exclude)),
                ("--exclude-file", exclude_file is not None),
                ("--allow-reserved", allow_reserved),
                ("--workers", workers is not None),
                ("--shards", shards is not None),
                ("--shard", shard is not None),
                ("--seed", seed is not None),
                ("--name", name is not None),
            )
            if given
        ]
        if fixed:
            raise UsageError(
                f"--resume SCAN: {', '.join(fixed)} cannot change on resume, the scan's targets "
                "and their order are fixed (only --rate, --concurrency and --per-net may)"
            )
    from mxcensus.engine.spawn import prestart, stop_all, worker_count

    # the workers boot (import the probes) while this process parses the targets and
    # opens the store; run_scan only hands them their work
    booting = prestart(worker_count(workers)) if resume is None else []
    try:
        plan = None
        if resume is None:
            plan = engine.new_plan(
                list(targets or []),
                ports=ports,
                probes=probes,
                http=http,
                input_list=input_list,
                exclude=exclude,
                exclude_file=exclude_file,
                allow_reserved=allow_reserved,
                rate=1000 if rate is None else rate,
                concurrency=1000 if concurrency is None else concurrency,
                per_net=64 if per_net is None else per_net,
                workers=workers,
                shards=1 if shards is None else shards,
                shard=0 if shard is None else shard,
                seed=seed,
            )
        store = Store.open(db)
        try:
            if resume is not None:
                scan_id, plan = engine.resume(
                    store, resume, rate=rate, concurrency=concurrency, per_net=per_net
                )
            else:
                assert plan is not None
                scan_id = engine.start(store, plan, name)
            signal.signal(signal.SIGTERM, signal.default_int_handler)
            console = Console()
            show = not quiet and sys.stdout.isatty()
            try:
                if show:
                    with ProgressView(console, engine.shard_total(plan)) as view:
                        result = engine.run_scan(
                            store, scan_id, plan, progress=view.update, started=booting
                        )
                else:
                    result = engine.run_scan(store, scan_id, plan, started=booting)
            except KeyboardInterrupt:
                print(
                    f"mxcensus: interrupted; resume with: mxcensus scan --resume {scan_id}"
                    f" --db {store.path}",
                    file=sys.stderr,
                )
                sys.exit(130)
            if show:
                with AnalysisView(console, result.done) as analysing:
                    services = engine.analyze(store, scan_id, progress=analysing.update)
            else:
                services = engine.analyze(store, scan_id)
            store.finish_scan(scan_id)
        finally:
            store.close()
        for line in summary(result, plan.targets, len(plan.ports), services, "finished"):
            typer.echo(line)
    finally:
        stop_all(booting)  # not taken: the scan stopped before it began


@app.command("import")
def import_(
    fmt: Annotated[
        str,
        typer.Argument(
            metavar="FORMAT", help="shodan, censys, zgrab2, nmap-xml, masscan or shadowserver."
        ),
    ],
    files: Annotated[list[Path], typer.Argument(help="Files to import (.gz is read as is).")],
    db: DbOption = None,
    name: Annotated[str | None, typer.Option(help="A name for this import.")] = None,
    strict: Annotated[
        bool, typer.Option(help="Stop at the first malformed record and write nothing.")
    ] = False,
    geo_db: Annotated[
        list[Path] | None,
        typer.Option(
            "--geo-db",
            metavar="MMDB",
            help="MaxMind/DB-IP/ipinfo MMDB for ASN, organisation and city (repeatable).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Import scans made by others; each record is identified and assessed like a live scan."""
    from mxcensus.enrich import GeoEnricher
    from mxcensus.importers import import_files
    from mxcensus.importers.summary import render_summary, rich_progress
    from mxcensus.store.db import Store

    enricher = GeoEnricher(geo_db or ())
    with Store.open(db) as store, rich_progress(enabled=not quiet) as progress:
        result = import_files(
            store, fmt, files, name=name, strict=strict, progress=progress, enricher=enricher
        )
    enricher.close()
    out, warnings = render_summary(result)
    typer.echo(out)
    if warnings:
        typer.echo(warnings, err=True)


@app.command()
def reassess(
    scan_ref: Annotated[str, typer.Argument(metavar="SCAN", help="Scan id or name.")],
    db: DbOption = None,
    geo_db: Annotated[
        list[Path] | None,
        typer.Option("--geo-db", help="MMDB file(s) for ASN / organisation / city."),
    ] = None,
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


# -- reporting -------------------------------------------------------------------------


def _terminal(output: Path | None) -> tuple[int, bool]:
    """Width and colour for terminal tables: colour only on a terminal, never in a file."""
    import shutil

    tty = output is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    return shutil.get_terminal_size((120, 24)).columns, tty


def _emit(data: bytes, output: Path | None) -> None:
    """stdout, or FILE written atomically (temp file + rename)."""
    from mxcensus.report.output import atomic_file

    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    with atomic_file(output) as fh:
        fh.write(data)


@app.command()
def report(
    scan_ref: ScanOption = None,
    by: Annotated[
        str,
        typer.Option(
            help="Group by: product, product_line, version, release, cve, verdict, kev, eol, "
            "country, continent, asn, port (comma-separated)."
        ),
    ] = "product_line",
    fmt: Annotated[str, typer.Option("--format", help="table, json, csv or html.")] = "table",
    output: OutOption = None,
    db: DbOption = None,
) -> None:
    """Count services and hosts by the chosen fields.

    Hosts count once per group, and once under their most severe verdict; services are
    ip:port; every percentage names its denominator (the rules are printed in the report).
    The HTML report is self-contained (no network) with charts and a world map.
    """
    from mxcensus.report.render import render_report
    from mxcensus.store.db import Store

    width, color = _terminal(output)
    with Store.open(db, read_only=True) as store:
        data = render_report(store, scan_ref, by, fmt, width=width, color=color)
    _emit(data, output)


@app.command()
def trend(
    from_: Annotated[str | None, typer.Option("--from", help="Scan or date (YYYY-MM-DD).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Scan or date (YYYY-MM-DD).")] = None,
    by: Annotated[str, typer.Option(help="Group by (as report).")] = "product_line",
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    output: OutOption = None,
    db: DbOption = None,
) -> None:
    """Compare scans over time: counts, absolute and relative change, host churn.

    The series is every finished scan started between --from and --to (a scan or a date
    YYYY-MM-DD, inclusive; default: all); changes compare its first and last scan.
    """
    from mxcensus.report.render import render_trend
    from mxcensus.store.db import Store

    width, color = _terminal(output)
    with Store.open(db, read_only=True) as store:
        data = render_trend(store, from_, to, by, fmt, width=width, color=color)
    _emit(data, output)


@app.command()
def export(
    fmt: Annotated[
        str, typer.Option("--format", help="jsonl, csv, parquet or shadowserver.")
    ] = "jsonl",
    scan_ref: ScanOption = None,
    output: OutOption = None,
    db: DbOption = None,
) -> None:
    """Export one record per service (JSONL schema in schema/record.schema.json).

    csv and shadowserver neutralise formula cells; shadowserver writes Shadowserver's
    14-column common prefix and tags such as exchange;cve-2021-26855.
    """
    from mxcensus.export.formats import export_scan, get_format
    from mxcensus.report.output import atomic_file
    from mxcensus.store.db import Store

    get_format(fmt)
    if fmt == "parquet" and output is None and sys.stdout.isatty():
        raise UsageError("--format parquet: binary output; give -o FILE or redirect stdout")
    with Store.open(db, read_only=True) as store:
        if output is None:
            export_scan(store, scan_ref, fmt, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            with atomic_file(output) as fh:
                export_scan(store, scan_ref, fmt, fh)


@app.command()
def notify(
    per: Annotated[str, typer.Option(help="asn, country or prefix.")] = "asn",
    out: Annotated[Path, typer.Option("--out", help="Directory for one file per owner.")] = Path(
        "notify"
    ),
    scan_ref: ScanOption = None,
    db: DbOption = None,
) -> None:
    """Write one Shadowserver-compatible CSV per network owner, plus index.csv.

    Only services needing action (vulnerable, potentially vulnerable, end of support);
    one file per owner and Shadowserver report type, e.g.
    2026-04-01-scan_exchange-as3320-asn.csv.
    """
    from mxcensus.export.notify import notify as write_notices
    from mxcensus.store.db import Store

    with Store.open(db, read_only=True) as store:
        files = write_notices(store, scan_ref, per, out)
    owners = len({f.owner for f in files})
    print(f"{len(files)} files for {owners} owners in {out} (index: {out / 'index.csv'})")


# -- interpretation --------------------------------------------------------------------


@app.command()
def identify(
    protocol: Annotated[
        str, typer.Option(help="smtp, imap, pop3 or http: what the banners are.")
    ] = "smtp",
) -> None:
    """Identify raw banners, one per stdin line (\\r\\n escapes allowed), as JSONL on stdout."""
    import orjson

    from mxcensus.identify.engine import decode
    from mxcensus.identify.lines import assessment_adder, identifier, identify_lines

    identifier(protocol)  # a bad --protocol fails before reading stdin
    lines = (decode(raw) for raw in sys.stdin.buffer)
    out = sys.stdout.buffer
    for record in identify_lines(lines, protocol, extend=assessment_adder()):
        out.write(orjson.dumps(record) + b"\n")
    out.flush()


@app.command()
def explain(
    target: Annotated[str, typer.Argument(metavar="IP[:PORT]")],
    scan_ref: ScanOption = None,
    db: DbOption = None,
) -> None:
    """Show the evidence chain: what was seen, which rule, which knowledge row, why.

    Without --scan, the newest scan that saw the address is used. Identification and
    assessment are re-run with the current rules and knowledge.
    """
    from mxcensus.explain import explain as explain_chain
    from mxcensus.store.db import Store

    with Store.open(db, read_only=True) as store:
        lines = explain_chain(store, target, scan_ref)
    typer.echo("\n".join(lines).rstrip())


@rules_app.command("check")
def rules_check(
    rules_dir: Annotated[
        Path | None,
        typer.Option("--dir", help="Check the rule files in DIR instead of the packaged ones."),
    ] = None,
) -> None:
    """Load every rule file and run every example."""
    from mxcensus.identify.rules import RULES_DIR, load_reports

    if rules_dir is not None and not rules_dir.is_dir():
        raise UsageError(f"rules check: {rules_dir} is not a directory")
    failed = 0
    for report in load_reports(rules_dir or RULES_DIR):
        if report.errors:
            failed += len(report.errors)
            typer.echo(f"{report.file}: FAIL ({len(report.errors)} problem(s))")
            for problem in report.errors:
                typer.echo(f"  {problem}")
        else:
            typer.echo(
                f"{report.file}: ok ({report.field}, {len(report.rules)} rules, "
                f"{report.examples} examples)"
            )
    if failed:
        raise MxcensusError(f"rules check: {failed} problem(s) in the rule files")


@kb_app.command("update")
def kb_update(
    kev: Annotated[Path, typer.Option("--kev", help="A CISA KEV catalog JSON file.")],
) -> None:
    """Load a newer CISA KEV catalog without a release.

    The catalog (CISA's JSON: catalogVersion, vulnerabilities[] with cveID, dateAdded,
    knownRansomwareCampaignUse) is validated and kept in the user data directory
    (MXCENSUS_DATA_DIR overrides it); its KEV flags then replace the shipped ones.
    """
    from mxcensus.kb import kev as kevmod

    result = kevmod.update(kev)
    typer.echo(f"KEV catalog {result.version}: {result.entries} entries installed at {result.path}")
    if result.changed:
        typer.echo(f"KEV flags changed for: {', '.join(result.changed)}")
    if result.missing:
        typer.echo(
            f"{len(result.missing)} CVEs marked KEV in the shipped knowledge are not in this "
            "catalog; they stay marked."
        )


@kb_app.command("list")
def kb_list(
    product: Annotated[
        str, typer.Option("--product", help="Only this product (zimbra, postfix, …).")
    ] = "",
    cve: Annotated[str, typer.Option("--cve", help="Only this CVE id.")] = "",
) -> None:
    """List the advisories in force: KEV flags, what is affected and fixed, sources."""
    from mxcensus import kb as kbase
    from mxcensus.kb.listing import describe, select

    for adv in select(kbase.get(), product=product, cve=cve):
        typer.echo("\n".join(describe(adv)))


# -- lab and demo ----------------------------------------------------------------------


@app.command()
def lab(
    size: Annotated[int, typer.Option(help="Simulated hosts.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the population.")] = 1,
    truth: Annotated[Path | None, typer.Option(help="Write the ground truth JSON here.")] = None,
    duration: Annotated[float, typer.Option(help="Stop after this many seconds.")] = 600.0,
    base: Annotated[
        str,
        typer.Option(
            help="Hosts get the loopback addresses after this one; 'auto' picks a free range."
        ),
    ] = "127.64.0.0",
    hostile_fraction: Annotated[
        float, typer.Option(help="Share of hostile hosts (tarpit, reset, giant banner, …).")
    ] = 0.05,
    ports: Annotated[
        str,
        typer.Option(help="Ports to serve (subset of 25,587,465,143,993,110,995,80,443)."),
    ] = "25,587,465,143,993,110,995,80,443",
    counters: Annotated[
        Path | None,
        typer.Option(help="Write connection counts here on SIGUSR1 and at the end."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Server processes (default: up to 2).")
    ] = None,
    tarpit_interval: Annotated[
        float, typer.Option(help="Seconds between the bytes of a tarpit greeting.")
    ] = 2.0,
    die_with_parent: Annotated[
        bool, typer.Option(help="Stop when the process that started the lab is gone.")
    ] = False,
) -> None:
    """Serve a simulated population of mail servers on loopback addresses.

    Exim, Exchange (builds below and at the ProxyLogon/ProxyShell/ProxyNotShell fixes, with
    varying exposure of the build), Postfix, Sendmail, OpenSMTPD, Dovecot, Courier,
    hMailServer, MDaemon, Zimbra and hostile servers, deterministic by --seed. The truth file
    appears once every address listens. Stops after --duration, on SIGTERM or Ctrl-C;
    SIGUSR1 writes the counters.
    """
    from mxcensus.lab.population import LabConfig, free_base, parse_ports
    from mxcensus.lab.runner import run_lab

    served = parse_ports(ports)
    if base == "auto":
        base = free_base(size, served)
    config = LabConfig(
        size=size, seed=seed, base=base, hostile_fraction=hostile_fraction,
        ports=served, tarpit_interval=tarpit_interval,
    )  # fmt: skip
    if duration <= 0:
        raise UsageError(f"lab --duration: must be positive, got {duration}")

    def ready(hosts: int, sockets: int) -> None:
        print(
            f"mxcensus lab: {hosts} hosts, {sockets} listening sockets after {base}"
            f" (seed {seed}); stops in {duration:g} s",
            file=sys.stderr,
            flush=True,
        )

    result = run_lab(
        config, duration=duration, truth=truth, counters=counters, workers=workers,
        on_ready=ready, die_with_parent=die_with_parent,
    )  # fmt: skip
    total = sum(result.counters.values())
    print(f"mxcensus lab: stopped ({result.reason}); {total} connections", file=sys.stderr)


@app.command()
def demo(
    db: Annotated[
        Path,
        typer.Option("--db", help="DuckDB file the demo scan is stored in."),
    ] = Path("mxcensus-demo.duckdb"),
    size: Annotated[int, typer.Option(help="Simulated hosts in the lab.")] = 300,
    seed: Annotated[int, typer.Option(help="Seed of the lab population.")] = 1,
) -> None:
    """A first look: start the lab on loopback, scan it, report what was found.

    Everything stays on 127.0.0.0/8. The scan is kept in --db so you can go on with
    report, export and explain.
    """
    from rich.console import Console

    from mxcensus.demo import run_demo
    from mxcensus.engine.view import ProgressView

    if size < 1:
        raise UsageError(f"--size {size}: the lab needs at least one host")
    width, color = _terminal(None)
    console = Console()
    say = typer.echo
    if sys.stdout.isatty():
        with ProgressView(console, size * 9) as view:
            res = run_demo(
                db, size=size, seed=seed, say=say, progress=view.update, width=width, color=color
            )
    else:
        res = run_demo(db, size=size, seed=seed, say=say, width=width, color=color)
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(res.result.outcomes.items()))
    typer.echo(
        f"scanned {res.result.done} endpoints of {res.hosts} hosts in {res.result.duration:.1f} s;"
        f" {res.services} results stored; outcomes: {outcomes}"
    )
    for data in res.reports.values():
        sys.stdout.write("\n")
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    typer.echo(
        f"\nnext: mxcensus report --db {res.db} --format html -o report.html"
        f"\n      mxcensus export --db {res.db} --format jsonl"
        f"\n      mxcensus explain {res.example or 'IP'} --db {res.db}"
    )


def _command_names() -> set[str]:
    """Top-level command and group names, as registered (so the list cannot drift)."""
    names = {g.name for g in app.registered_groups if g.name}
    for c in app.registered_commands:
        if c.name:
            names.add(c.name)
        elif c.callback is not None:
            names.add(c.callback.__name__.replace("_", "-"))
    return names


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    try:
        app(args=args, prog_name="mxcensus", standalone_mode=False)
    except click_exc.NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx else "")
        sys.exit(0)
    except click_exc.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "mxcensus"
        if where == "mxcensus" and args and args[0] in _command_names():
            where = f"mxcensus {args[0]}"
        print(f"{where}: error: {exc.format_message()}", file=sys.stderr)
        sys.exit(2)
    except typer.Abort:
        print("mxcensus: interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except UsageError as exc:
        print(f"mxcensus: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except MxcensusError as exc:
        if os.environ.get("MXCENSUS_DEBUG"):
            raise
        print(f"mxcensus: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("mxcensus: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)

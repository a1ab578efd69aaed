"""Watching: ``watch add/list/show/remove/run/daemon`` and ``events`` (list, ack, mute)."""

from __future__ import annotations

import signal
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mxcensus.bounds import Range
from mxcensus.cli.app import DbOption, GeoDbOption, QuietOption, app, command, group
from mxcensus.cli.options import bounded, grouped
from mxcensus.errors import MxcensusError, UsageError

if TYPE_CHECKING:
    from mxcensus.watch.run import RunOptions

watch_app = group(
    "Standing watch lists (networks, ASNs, domains, feeds) run on a schedule: change events "
    "between runs, and the owners told by e-mail or signed webhook."
)
app.add_typer(watch_app, name="watch")

ASN_RANGE = Range(1, 4_294_967_295)
RATE = Range(1, 10_000_000)
TRIES = Range(1, 10)
BACKOFF = Range(0.0, 60.0, float)
TIMEOUT = Range(0.1, 120.0, float)
DNS_TIMEOUT = Range(0.1, 60.0, float)
POLL = Range(1.0, 3600.0, float)
LIMIT = Range(1, 1_000_000)

Name = Annotated[str, typer.Argument(metavar="NAME", help="The watch's name.")]
Strings = list[str] | None


@dataclass(frozen=True, slots=True)
class Watched:
    """What the watch looks at (the spec's ``Watched``)."""

    net: Annotated[Strings, typer.Option("--net", help="IP, CIDR or range (repeatable).")] = None
    asn: Annotated[
        list[int] | None,
        bounded("--asn", bounds=ASN_RANGE, help="An ASN whose prefixes to watch (repeatable)."),
    ] = None
    file: Annotated[Strings, typer.Option("--file", help="File of targets (repeatable).")] = None
    domain: Annotated[
        Strings, typer.Option("--domain", help="Domain: its MX hosts' A/AAAA (repeatable).")
    ] = None
    web_names: Annotated[
        bool, typer.Option(help="Also autodiscover., owa., mail., webmail. of each domain.")
    ] = False
    feed: Annotated[
        Path | None, typer.Option(help="Directory of Shadowserver CSVs or Shodan downloads.")
    ] = None
    feed_format: Annotated[
        str | None, typer.Option(help="One of {feed_formats} (default: by file name).")
    ] = None


@dataclass(frozen=True, slots=True)
class Lookup:
    """Where its ASNs and domains resolve (the spec's ``Lookup``)."""

    asn_db: Annotated[
        list[Path] | None, typer.Option(help="ASN MMDB to find --asn prefixes in (repeatable).")
    ] = None
    prefix_file: Annotated[Path | None, typer.Option(help="Prefix list: PREFIX ASN a line.")] = None
    resolver: Annotated[
        str | None, typer.Option(help="DNS server IP[:PORT] for domains (default: system).")
    ] = None
    dns_timeout: Annotated[
        float, bounded("--dns-timeout", bounds=DNS_TIMEOUT, help="Seconds per DNS query.")
    ] = 5.0


@dataclass(frozen=True, slots=True)
class When:
    """When it runs: one of the two, or neither (``watch run`` only)."""

    every: Annotated[str | None, typer.Option(help="Run every DURATION (30m, 12h, 1d).")] = None
    cron: Annotated[str | None, typer.Option(help="Run on a cron expression (UTC).")] = None


@dataclass(frozen=True, slots=True)
class Notification:
    """Whom it tells, through which mail server (the spec's ``Notification``)."""

    contacts: Annotated[Path | None, typer.Option(help="Contacts file (YAML or CSV).")] = None
    smtp: Annotated[str | None, typer.Option(help="Your SMTP server HOST[:PORT].")] = None
    smtp_security: Annotated[
        str, typer.Option(help="starttls (required), tls (implicit) or none.")
    ] = "starttls"
    smtp_user: Annotated[str | None, typer.Option(help="Log in as USER.")] = None
    smtp_password_file: Annotated[
        Path | None, typer.Option(help="Password file (else env MXCENSUS_SMTP_PASSWORD).")
    ] = None
    smtp_ca: Annotated[Path | None, typer.Option(help="CA bundle for the SMTP server.")] = None
    smtp_timeout: Annotated[
        float, bounded("--smtp-timeout", bounds=TIMEOUT, help="Seconds to wait for the server.")
    ] = 30.0
    sender: Annotated[str, typer.Option(help="From address.")] = "mxcensus@localhost"


@dataclass(frozen=True, slots=True)
class Scanning:
    """How it scans (the spec's ``Scanning``)."""

    ports: Annotated[str | None, typer.Option("-p", "--ports", help="Ports to scan.")] = None
    probes: Annotated[str | None, typer.Option(help="Probes: {probes}.")] = None
    rate: Annotated[
        int | None, bounded("--rate", bounds=RATE, help="New connections per second.")
    ] = None
    allow_reserved: Annotated[bool, typer.Option(help="Allow loopback and private space.")] = False
    exclude: Annotated[Strings, typer.Option(help="CIDR never to contact (repeatable).")] = None


@command(watch_app, "add")
@grouped
def watch_add(
    name: Name,
    *,
    watched: Watched,
    lookup: Lookup,
    when: When,
    notification: Notification,
    scanning: Scanning,
    geo_db: GeoDbOption = None,
    replace: Annotated[bool, typer.Option(help="Replace a watch of that name.")] = False,
    db: DbOption = None,
) -> None:
    """Add a watch: what to look at, when, and whom to tell (checked now, run later)."""
    from mxcensus.watch.manage import WatchInput, add_watch

    groups = (watched, lookup, when, notification, scanning)
    given = WatchInput(name, **{k: v for g in groups for k, v in asdict(g).items()}, geo_db=geo_db)
    spec = add_watch(db, given.to_watch(), replace=replace)
    typer.echo(f"watch {spec.name}: added ({spec.kind}; {spec.schedule or 'no schedule'})")


@command(watch_app, "list")
def watch_list(db: DbOption = None) -> None:
    """List the watches with their schedule, last run and next run."""
    from mxcensus.cli.watch_view import watch_table
    from mxcensus.watch.manage import overview

    typer.echo(watch_table(overview(db)))


@command(watch_app, "show")
def watch_show(name: Name, db: DbOption = None) -> None:
    """Show a watch: its settings, recent runs and, for domains, what each resolved to."""
    from mxcensus.cli.watch_view import watch_detail
    from mxcensus.watch.manage import detail

    typer.echo(watch_detail(detail(db, name)))


@command(watch_app, "remove")
def watch_remove(name: Name, db: DbOption = None) -> None:
    """Remove a watch with its runs, events and outbox (its scans stay in the store)."""
    from mxcensus.watch.manage import remove_watch

    events = remove_watch(db, name)
    typer.echo(f"watch {name}: removed ({events} event{'' if events == 1 else 's'} with it)")


Names = Annotated[
    list[str] | None, typer.Argument(metavar="[NAME]...", help="Watches (default: all).")
]


@dataclass(frozen=True, slots=True)
class Delivery:
    """How a pass delivers notifications (``watch run`` and ``watch daemon`` alike)."""

    tries: Annotated[
        int, bounded("--tries", bounds=TRIES, help="Delivery tries per message in this run.")
    ] = 3
    backoff: Annotated[
        float, bounded("--backoff", bounds=BACKOFF, help="Seconds before the 2nd try (doubling).")
    ] = 1.0
    webhook_timeout: Annotated[
        float, bounded("--webhook-timeout", bounds=TIMEOUT, help="Seconds to wait for a webhook.")
    ] = 10.0


@command(watch_app, "run")
@grouped
def watch_run(
    names: Names = None,
    dry_run: Annotated[
        Path | None,
        typer.Option("--dry-run", metavar="DIR", help="Write what would be sent to DIR."),
    ] = None,
    *,
    delivery: Delivery,
    quiet: QuietOption = False,
    db: DbOption = None,
) -> None:
    """One pass of each watch: scan or import, events, notifications (for cron/systemd).

    Exit 1 when a watch could look at nothing or a notification could not be delivered
    (it is kept and retried by the next run); every other watch still runs.
    """
    from mxcensus.cli.watch_view import run_lines
    from mxcensus.watch.manage import run_many

    opts = _options(db, dry_run, delivery)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    bad = total = 0
    for name, outcome in run_many(opts, names or ()):
        lines, good = run_lines(name, outcome)
        bad, total = bad + (not good), total + 1
        for line, err in lines:
            typer.echo(line, err=err)
    if bad:
        raise MxcensusError(f"watch run: {bad} of {total} watch{'es' if total > 1 else ''} "
                            "failed or left notifications undelivered (above)")  # fmt: skip


@command(watch_app, "daemon")
@grouped
def watch_daemon(
    names: Names = None,
    poll: Annotated[
        float, bounded("--poll", bounds=POLL, help="Seconds between outbox passes at most.")
    ] = 30.0,
    *,
    delivery: Delivery,
    db: DbOption = None,
) -> None:
    """Run watches on their schedules (--every / --cron of watch add) until stopped.

    One run at a time; a run killed halfway is redone at the next start. SIGTERM or
    Ctrl-C stop it after the run in progress.
    """
    from mxcensus.cli.watch_view import run_lines
    from mxcensus.watch.schedule import Scheduler

    def report(name: str, outcome: object) -> None:
        for line, err in run_lines(name, outcome)[0]:
            typer.echo(line, err=err)

    opts = _options(db, None, delivery)
    scheduler = Scheduler(opts, watches=names or (), poll=poll, on_run=report)
    signal.signal(signal.SIGTERM, lambda *_: scheduler.stop(0))
    typer.echo(f"mxcensus watch daemon: {opts.db}; Ctrl-C or SIGTERM stops", err=True)
    try:
        scheduler.serve()
    except KeyboardInterrupt:
        scheduler.stop(0)
    typer.echo("mxcensus watch daemon: stopped", err=True)


def _options(db: Path | None, dry_run: Path | None, delivery: Delivery) -> RunOptions:
    from mxcensus.store.db import default_db_path
    from mxcensus.watch.run import RunOptions

    return RunOptions(db=db or default_db_path(), dry_run=dry_run, **asdict(delivery))


# -- events ------------------------------------------------------------------------------

events_app = group(
    "Change events of the watches: list them, acknowledge, mute.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(events_app, name="events")


@events_app.callback()
def events(
    ctx: typer.Context,
    watch: Annotated[str | None, typer.Option(help="Only this watch's events.")] = None,
    since: Annotated[str | None, typer.Option(help="Only from DATE (YYYY-MM-DD) on.")] = None,
    kind: Annotated[Strings, typer.Option(help="Only these kinds (repeatable).")] = None,
    state: Annotated[Strings, typer.Option(help="Only these states (repeatable).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    limit: Annotated[
        int | None, bounded("--limit", bounds=LIMIT, help="At most N events (oldest first).")
    ] = None,
    db: DbOption = None,
) -> None:
    """List change events (new, gone, vulnerable, potentially-vulnerable, kev, eol, fixed,
    version-changed, problem) with their state: open, notified, acked, muted, unrouted."""
    if ctx.invoked_subcommand is not None:
        return
    from mxcensus.cli.watch_view import render_events
    from mxcensus.watch.manage import list_events

    rows = list_events(db, watch=watch, since=parse_day(since), kinds=kind or (),
                       states=state or (), limit=limit)  # fmt: skip
    sys.stdout.buffer.write(render_events(rows, fmt))


@command(events_app, "ack")
def events_ack(
    ids: Annotated[list[str], typer.Argument(metavar="ID...", help="Event ids.")],
    db: DbOption = None,
) -> None:
    """Acknowledge events: they are not sent (if not sent yet) and stay acknowledged."""
    from mxcensus.watch.manage import ack

    n = ack(db, [int(LIMIT.parse(i, "ID")) for i in ids])
    typer.echo(f"acknowledged {n} event{'' if n == 1 else 's'}")


@command(events_app, "mute")
def events_mute(
    host: Annotated[str | None, typer.Option(help="An address or CIDR.")] = None,
    cve: Annotated[str | None, typer.Option(help="A CVE id.")] = None,
    owner: Annotated[str | None, typer.Option(help="A contact's name.")] = None,
    watch: Annotated[str | None, typer.Option(help="Only in this watch.")] = None,
    until: Annotated[str | None, typer.Option(help="Until DATE (YYYY-MM-DD).")] = None,
    note: Annotated[str | None, typer.Option(help="Why (kept with the mute).")] = None,
    db: DbOption = None,
) -> None:
    """Mute events of a host, a CVE or an owner: stored, never sent."""
    from mxcensus.watch.manage import mute

    given = [(w, v) for w, v in (("host", host), ("cve", cve), ("owner", owner)) if v]
    if len(given) != 1:
        raise UsageError("events mute: give exactly one of --host, --cve, --owner")
    mid = mute(db, given[0][0], given[0][1], watch, parse_day(until), note)
    typer.echo(f"mute {mid}: {given[0][0]} {given[0][1]}")


@command(events_app, "unmute")
def events_unmute(
    mute_id: Annotated[str, typer.Argument(metavar="ID", help="The mute's id.")],
    db: DbOption = None,
) -> None:
    """Remove a mute (events it muted stay muted; new ones are sent)."""
    from mxcensus.watch.manage import unmute

    unmute(db, int(LIMIT.parse(mute_id, "ID")))
    typer.echo(f"mute {mute_id}: removed")


@command(events_app, "mutes")
def events_mutes(db: DbOption = None) -> None:
    """List the mutes."""
    from mxcensus.cli.watch_view import mute_table
    from mxcensus.watch.manage import list_mutes

    typer.echo(mute_table(list_mutes(db)))


def parse_day(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{text!r}: not a date (YYYY-MM-DD or an ISO 8601 time)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)

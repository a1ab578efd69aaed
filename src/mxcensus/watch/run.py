"""One pass of a watch: scan (or import the feed's new files), compare, notify, deliver.

:func:`run_watch` is what ``mxcensus watch run``, the daemon and the web service call:

1. take the watch's lock (a ``flock`` beside the store: one run at a time per watch, in
   this process or any other) and mark runs a dead process left ``running`` as
   ``abandoned`` — their scan is resumed, their events were never written;
2. resolve the targets (domains through DNS, ASNs through prefixes; see ``resolve.py``)
   and scan them through :func:`mxcensus.engine.session.scan`, or import each new day of
   the feed through :func:`mxcensus.importers.import_files` (each file once: by SHA-256);
3. compare the run's services with the previous run's (``events.py``) and store the
   events with the run's end in one transaction (``store/watches.py``);
4. route open events to their owners (``contacts.py``), honouring mutes and each
   contact's interval, and file each contact's ticket into the outbox;
5. send what the outbox holds for the watch (``delivery.py``).

What cannot be resolved, scanned or imported becomes a ``problem`` event (announced once
while it persists) and, when nothing at all could be looked at, a failed run
(:class:`WatchRunFailed`, exit 1). Nothing here prints; progress goes to ``on_event``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import logging
import os
import re
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mxcensus.errors import MxcensusError, TargetError, UsageError
from mxcensus.importers.registry import feed_format_of
from mxcensus.model import ScanId
from mxcensus.store.db import Store
from mxcensus.store.watches import EventRow, Outgoing, RunRow, WatchStore, _domain_of
from mxcensus.watch import events as ev
from mxcensus.watch.contacts import Contact, Contacts, load_contacts
from mxcensus.watch.delivery import (
    Channels,
    DeliveryError,
    recipients_of,
    retry_at,
    send_email,
    send_webhook,
)
from mxcensus.watch.messages import (
    Attachment,
    email_bytes,
    json_attachment,
    render_text,
    webhook_body,
)
from mxcensus.watch.resolve import Name, Problem, Resolver, prefixes_by_asn, resolve_domains
from mxcensus.watch.spec import Lookup, Watch

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})")
_SKIP = (".tmp", ".part", ".partial", ".crdownload")


def utcnow() -> datetime:
    return datetime.now(UTC)


class WatchRunFailed(MxcensusError):
    """A pass that looked at nothing (every domain unresolvable, every target excluded, a
    feed file unreadable …): stored as a failed run with its problems, exit 1."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class WatchBusy(MxcensusError):
    """Another run of the same watch holds its lock."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    db: Path
    clock: Clock = utcnow
    dry_run: Path | None = None  # write what would be sent here, send nothing
    tries: int = 3
    backoff: float = 1.0
    webhook_timeout: float = 10.0
    on_event: Callable[[Any], None] | None = None  # the scan's progress (session events)
    after_send: Callable[[str, str], None] | None = None  # (ticket, channel): tests' seam


@dataclass
class RunReport:
    watch: str
    runs: list[tuple[str, str | None, int]] = field(default_factory=list)  # run, scan, events
    problems: list[str] = field(default_factory=list)
    tickets: list[tuple[str, str, int]] = field(default_factory=list)  # ticket, contact, events
    sent: list[tuple[str, str, str]] = field(default_factory=list)  # ticket, channel, target
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # ticket, channel, error
    dry_run_files: list[Path] = field(default_factory=list)
    unrouted: int = 0


def new_id(prefix: str, now: datetime) -> str:
    return f"{prefix}-{now:%Y%m%d}-{secrets.token_hex(4).upper()}"


@contextlib.contextmanager
def watch_lock(db: Path, name: str) -> Iterator[None]:
    """The watch's lock file beside the store, held for the pass (never blocks)."""
    path = db.with_name(f".{db.name}.watch-{name}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise WatchBusy(f"watch {name}: a run is in progress (pid {holder})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def load_watch(store: Store, name: str) -> Watch:
    return Watch.from_json(WatchStore(store).watch_spec(name))


def run_watch(name: str, opts: RunOptions) -> RunReport:
    """One pass of the watch ``name`` (see the module doc)."""
    report = RunReport(name)
    with watch_lock(opts.db, name):
        with Store.open(opts.db) as store:
            spec = load_watch(store, name)
            killed = WatchStore(store).take_over_killed(name, opts.clock())
        if spec.kind == "feed":
            failure = _feed_pass(spec, opts, report)
        else:
            failure = _scan_pass(spec, opts, report, killed)
        with Store.open(opts.db) as store:
            notify(store, spec, opts, report)
            if opts.dry_run is None:
                deliver(store, spec, opts, report)
    if failure is not None:
        raise WatchRunFailed(failure, [p for p in report.problems if p != failure])
    return report


# -- the scan pass -----------------------------------------------------------------------


@dataclass
class _Targets:
    targets: list[str]
    names: list[Name]
    problems: list[Problem]
    asn_nets: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, int]]


def resolve_targets(spec: Watch) -> _Targets:
    """The watch's addresses now: its networks, files, ASN prefixes and domains."""
    from mxcensus.targets import blocklist
    from mxcensus.targets.intervals import key_of
    from mxcensus.targets.parse import parse_exclusions, read_list

    targets = list(spec.watched.networks)
    for f in spec.watched.files:
        try:
            targets.extend(tok for _, tok in read_list(Path(f)))
        except TargetError as exc:
            raise UsageError(f"watch {spec.name}: {exc}") from None
    problems: list[Problem] = []
    asn_nets: list[tuple[Any, int]] = []
    if spec.watched.asns:
        by_asn, missing = _prefixes(spec.lookup, spec.watched.asns)
        targets.extend(sorted({p for prefixes in by_asn.values() for p in prefixes}))
        problems.extend(missing)
        asn_nets = [
            (ipaddress.ip_network(p), asn) for asn in spec.watched.asns for p in by_asn[asn]
        ]
    names: list[Name] = []
    if spec.watched.domains:
        resolver = Resolver(spec.lookup.resolver, spec.lookup.dns_timeout)
        found, failed = resolve_domains(
            spec.watched.domains, resolver, web_names=spec.watched.web_names
        )
        problems.extend(failed)
        block = blocklist.blocked(allow_reserved=spec.scanning.allow_reserved)
        excluded = parse_exclusions(spec.scanning.exclude, None)
        for n in found:
            key = key_of(ipaddress.ip_address(n.ip))
            if key in block or key in excluded:
                why = "excluded" if key in excluded else "special-purpose address space"
                problems.append(Problem(n.domain, f"domain {n.domain}: {n.hostname} ({n.source})"
                                                  f" -> {n.ip}: {why}, not scanned"))  # fmt: skip
                continue
            names.append(n)
        targets.extend(sorted({n.ip for n in names}))
    return _Targets(targets, names, problems, asn_nets)


def _prefixes(lookup: Lookup, asns: Sequence[int]) -> tuple[dict[int, list[str]], list[Problem]]:
    """The prefixes of each of ``asns`` in the watch's ASN databases or prefix list, each
    database read once however many ASNs the watch names."""
    prefix_file = Path(lookup.prefix_file) if lookup.prefix_file else None
    return prefixes_by_asn(asns, mmdbs=[Path(p) for p in lookup.asn_db], prefix_file=prefix_file)


def _scan_pass(
    spec: Watch, opts: RunOptions, report: RunReport, killed: list[RunRow]
) -> str | None:
    from mxcensus.engine.request import ScanRequest
    from mxcensus.engine.session import Started, scan

    now = opts.clock()
    run = new_id("run", now)
    resume = next((r.scan for r in reversed(killed) if r.kind == "scan" and r.scan), None)
    with Store.open(opts.db) as store:
        ws = WatchStore(store)
        ws.start_run(run, spec.name, "scan", now, None)
        if resume is not None and _unfinished(store, resume):
            ws.set_run_scan(run, ScanId(resume))
        else:
            resume = None
    try:
        found = resolve_targets(spec)
    except MxcensusError as exc:
        return _fail(opts, spec.name, run, [str(exc)], report)
    problems = [p.message for p in found.problems]
    if not found.targets:
        return _fail(opts, spec.name, run, [*problems, f"watch {spec.name}: no target left to "
                                                        "scan"], report)  # fmt: skip
    hostnames = tuple(sorted({(n.ip, n.hostname) for n in found.names}))
    if resume is not None:
        request = ScanRequest(resume=resume)
    else:
        request = ScanRequest(
            targets=tuple(found.targets), hostnames=hostnames, name=f"watch {spec.name} {run}",
            **asdict(spec.scanning),
        )  # fmt: skip
    store_for_events = Store.open(opts.db)
    try:
        ws = WatchStore(store_for_events)

        def observe(event: Any) -> None:
            if isinstance(event, Started):
                ws.set_run_scan(run, event.scan)
            if opts.on_event is not None:
                opts.on_event(event)

        try:
            done = scan(request, db=opts.db, on_event=observe)
        except (TargetError, UsageError) as exc:
            return _fail_in(ws, opts, spec.name, run, [*problems, str(exc)], report)
        if spec.geo_db:
            from mxcensus.pipeline import analyze_scan_with_geo

            analyze_scan_with_geo(store_for_events, done.scan, list(spec.geo_db))
        _finish(ws, spec, run, done.scan, found.names, problems, [], opts, report,
                found.asn_nets)  # fmt: skip
    finally:
        store_for_events.close()
    return None


def _unfinished(store: Store, scan: str) -> bool:
    found = store.find_scan(scan)
    return found is not None and found["kind"] == "scan" and found["status"] != "finished"


def _fail(opts: RunOptions, watch: str, run: str, problems: list[str], report: RunReport) -> str:
    with Store.open(opts.db) as store:
        return _fail_in(WatchStore(store), opts, watch, run, problems, report)


def _fail_in(ws: WatchStore, opts: RunOptions, watch: str, run: str, problems: list[str],
             report: RunReport) -> str:  # fmt: skip
    now = opts.clock()
    fresh = _fresh_problems(ws, watch, problems)
    with ws.store.transaction():
        ws.add_problems(watch, run, fresh, now)
        ws.fail_run(run, problems, now)
    report.problems.extend(problems)
    return problems[-1]


def _fresh_problems(ws: WatchStore, watch: str, problems: Sequence[str]) -> list[str]:
    """The problems the previous run (done or failed) did not have: announced once."""
    previous = next((r for r in ws.runs(watch, 5) if r.status in ("done", "failed")), None)
    known = set(previous.problems) if previous else set()
    return [p for p in dict.fromkeys(problems) if p not in known]


def _finish(
    ws: WatchStore,
    spec: Watch,
    run: str,
    scan: ScanId,
    names: Sequence[Name],
    problems: list[str],
    feed_files: list[tuple[str, str]],
    opts: RunOptions,
    report: RunReport,
    asn_nets: Sequence[tuple[Any, int]] = (),
) -> None:
    """Compare with the previous done run and store events and the run's end at once."""
    store = ws.store
    ws.set_run_scan(run, scan)
    ws.replace_names(scan, names)
    previous = ws.last_done(spec.name)
    before: Iterator[ev.Service] = iter(())
    if previous is not None and previous.scan is not None:
        if store.find_scan(previous.scan) is None:
            problems.append(
                f"watch {spec.name}: the previous run's scan {previous.scan} was deleted; "
                "every service is reported as new"
            )
        else:
            before = ev.exposed(store.iter_records(ScanId(previous.scan)))
    now_services = ev.exposed(store.iter_records(scan))
    changes = _with_asn(ev.diff(before, now_services), asn_nets)
    fresh = _fresh_problems(ws, spec.name, problems)
    problem_events = [ev.Event("problem", p, domain=_domain_of(p)) for p in fresh]
    count = ws.complete_run(
        run, spec.name, _chain(changes, problem_events), feed_files=feed_files,
        problems=problems, now=opts.clock(),
    )  # fmt: skip
    report.runs.append((run, scan, count))
    report.problems.extend(problems)


def _chain(*parts: Any) -> Iterator[ev.Event]:
    for p in parts:
        yield from p


def _with_asn(events: Iterator[ev.Event], nets: Sequence[tuple[Any, int]]) -> Iterator[ev.Event]:
    """Events without an ASN (no MMDB enrichment) get the one of the watched prefix."""
    for e in events:
        at = e.endpoint
        if at is not None and at.asn is None and nets:
            addr = ipaddress.ip_address(at.ip)
            asn = next((a for net, a in nets if addr.version == net.version and addr in net),
                       None)  # fmt: skip
            if asn is not None:
                e = replace(e, endpoint=at._replace(asn=asn))
        yield e


# -- the feed pass -----------------------------------------------------------------------


def feed_format(path: Path, spec: Watch) -> str:
    if spec.watched.feed_format:
        return spec.watched.feed_format
    fmt = feed_format_of(path.name)
    if fmt is None:
        raise UsageError(f"watch {spec.name}: {path}: no feed format takes this file name")
    return fmt


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def new_feed_days(spec: Watch, seen: set[str]) -> list[tuple[str, list[tuple[Path, str]]]]:
    """The feed's files not imported yet, by day (the file name's leading YYYY-MM-DD, else
    its modification day), oldest first: ``[(day, [(path, sha256)])]``."""
    assert spec.watched.feed is not None
    days: dict[str, list[tuple[Path, str]]] = defaultdict(list)
    for path in sorted(Path(spec.watched.feed).iterdir()):
        if not path.is_file() or path.name.startswith(".") or path.name.endswith(_SKIP):
            continue
        sha = _sha256(path)
        if sha in seen:
            continue
        m = _DAY.match(path.name)
        day = m[1] if m else datetime.fromtimestamp(path.stat().st_mtime, UTC).date().isoformat()
        days[day].append((path, sha))
    return sorted(days.items())


def _feed_pass(spec: Watch, opts: RunOptions, report: RunReport) -> str | None:
    from mxcensus.enrich import GeoEnricher
    from mxcensus.importers import import_files

    with Store.open(opts.db) as store:
        seen = WatchStore(store).feed_seen(spec.name)
    try:
        days = new_feed_days(spec, seen)
    except OSError as exc:
        now = opts.clock()
        run = new_id("run", now)
        with Store.open(opts.db) as store:
            WatchStore(store).start_run(run, spec.name, "feed", now, None)
        return _fail(
            opts, spec.name, run, [f"feed {spec.watched.feed}: {exc.strerror or exc}"], report
        )
    failure = None
    for day, files in days:
        now = opts.clock()
        run = new_id("run", now)
        with Store.open(opts.db) as store:
            ws = WatchStore(store)
            ws.start_run(run, spec.name, "feed", now, day)
            formats = {feed_format(p, spec) for p, _ in files}
            if len(formats) > 1:
                failure = _fail_in(ws, opts, spec.name, run, [
                    f"feed {spec.watched.feed}: {day}: both Shadowserver and Shodan files; "
                    "give the watch --feed-format"], report)  # fmt: skip
                continue
            enricher = GeoEnricher(spec.geo_db)
            try:
                result = import_files(
                    store, formats.pop(), [p for p, _ in files],
                    name=f"watch {spec.name} {run}", enricher=enricher,
                )  # fmt: skip
            except MxcensusError as exc:
                failure = _fail_in(ws, opts, spec.name, run, [f"feed {day}: {exc}"], report)
                continue
            finally:
                enricher.close()
            _finish(ws, spec, run, result.scan, [], [], [(s, str(p)) for p, s in files],
                    opts, report)  # fmt: skip
    return failure


# -- routing and tickets -----------------------------------------------------------------


def _muted(e: EventRow, contact: Contact | None, mutes: Sequence[Any]) -> bool:
    for m in mutes:
        if m.watch is not None and m.watch != e.watch:
            continue
        if m.what == "host" and e.ip is not None and _host_match(e.ip, m.value):
            return True
        if m.what == "cve" and e.cve is not None and e.cve.upper() == m.value.upper():
            return True
        if m.what == "owner" and contact is not None and contact.name == m.value:
            return True
    return False


def _host_match(ip: str, value: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False


def notify(store: Store, spec: Watch, opts: RunOptions, report: RunReport) -> None:
    """Route the watch's open events and file a ticket per contact whose interval allows."""
    if spec.notification.contacts is None:
        return
    contacts = load_contacts(Path(spec.notification.contacts))
    ws = WatchStore(store)
    now = opts.clock()
    pending = ws.events(watch=spec.name, states=("open", "unrouted"))
    if not pending:
        return
    mutes = ws.mutes(now)
    groups: dict[str, list[EventRow]] = defaultdict(list)
    changes: list[tuple[int, str, str | None]] = []
    for e in pending:
        contact = contacts.route(e.ip, e.asn, [n for n in (e.domain, e.hostname) if n])
        if _muted(e, contact, mutes):
            changes.append((e.id, "muted", contact.name if contact else None))
        elif contact is None:
            if e.state != "unrouted":
                changes.append((e.id, "unrouted", None))
            report.unrouted += 1
        else:
            groups[contact.name].append(e)
    ws.mark_routed(changes, now)
    latest = ws.last_done(spec.name)
    due: list[tuple[Contact, str, list[EventRow]]] = []
    for cname, events in sorted(groups.items()):
        contact = contacts.by_name(cname)
        assert contact is not None
        last = ws.last_ticket(spec.name, cname)
        if last is not None and (now - last).total_seconds() < contact.interval:
            continue  # events accumulate until the interval has passed
        due.append((contact, new_id("MXC", now), events))
    if not due:
        return
    attachments = _attachments(store, latest, due, now)
    for contact, ticket, events in due:
        outgoing = _outgoing(spec, contact, ticket, events, attachments.get(ticket, []), now)
        if opts.dry_run is not None:
            report.dry_run_files.extend(_write_dry_run(opts.dry_run, ticket, outgoing))
            continue
        ws.file_ticket(ticket, spec.name, contact.name, [e.id for e in events], outgoing, now)
        report.tickets.append((ticket, contact.name, len(events)))


def _attachments(
    store: Store, latest: RunRow | None, due: Sequence[tuple[Contact, str, list[EventRow]]],
    now: datetime,
) -> dict[str, list[Attachment]]:  # fmt: skip
    out: dict[str, list[Attachment]] = {}
    wanted: dict[tuple[str, int], set[str]] = defaultdict(set)
    owners = {}
    for contact, ticket, events in due:
        owners[ticket] = contact.name
        if contact.format == "json":
            out[ticket] = [json_attachment(f"{ticket}-events.jsonl", events)]
        elif contact.format == "csv":
            for e in events:
                if e.ip is not None and e.port is not None and e.kind != "gone":
                    wanted[(e.ip, e.port)].add(ticket)
    if wanted and latest is not None and latest.scan is not None:
        from mxcensus.watch.attach import shadowserver_files

        out.update(shadowserver_files(store, ScanId(latest.scan), wanted, owners,
                                      now.date().isoformat()))  # fmt: skip
    return out


def _outgoing(
    spec: Watch, contact: Contact, ticket: str, events: Sequence[EventRow],
    attachments: Sequence[Attachment], now: datetime,
) -> list[Outgoing]:  # fmt: skip
    out = []
    if contact.emails:
        smtp = spec.notification.smtp
        sender = smtp.sender if smtp else "mxcensus@localhost"
        domain = sender.rpartition("@")[2] or "localhost"
        subject, body = render_text(
            language=contact.language, ticket=ticket, watch=spec.name, contact=contact.name,
            interval=contact.interval, events=events, attachments=[a.filename for a in attachments],
        )  # fmt: skip
        message_id = f"<{ticket.lower()}@{domain}>"
        message = email_bytes(
            sender=sender, recipients=contact.emails, subject=subject, body=body, ticket=ticket,
            message_id=message_id, date=now, attachments=attachments,
        )  # fmt: skip
        out.append(Outgoing("email", ", ".join(contact.emails), message_id, message))
    if contact.webhook:
        body = webhook_body(ticket=ticket, watch=spec.name, contact=contact.name, created=now,
                            events=events)  # fmt: skip
        out.append(Outgoing("webhook", contact.webhook, None, body))
    return out


def _write_dry_run(out: Path, ticket: str, outgoing: Sequence[Outgoing]) -> list[Path]:
    from mxcensus.output.files import atomic_file

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--dry-run {out}: cannot create: {exc.strerror}") from exc
    paths = []
    for o in outgoing:
        path = out / f"{ticket}.{'eml' if o.channel == 'email' else 'webhook.json'}"
        with atomic_file(path) as fh:
            head = f"# to: {o.target}\n" if o.channel == "webhook" else ""
            fh.write(head.encode() + o.payload.encode("utf-8"))
        paths.append(path)
    return paths


# -- delivery ----------------------------------------------------------------------------


def deliver(
    store: Store, spec: Watch, opts: RunOptions, report: RunReport, *, backoff: bool = False
) -> None:
    """Send the watch's pending outbox entries (see ``delivery.py`` for the guarantees):
    all of them after a run (the user asked for one), only those whose retry time has
    come with ``backoff`` (the daemon's passes between runs)."""
    ws = WatchStore(store)
    rows = ws.due(opts.clock() if backoff else datetime.max.replace(tzinfo=UTC), spec.name)
    contacts: Contacts | None = None
    if spec.notification.contacts and any(r.channel == "webhook" for r in rows):
        with contextlib.suppress(MxcensusError):
            contacts = load_contacts(Path(spec.notification.contacts))

    def secret(name: str) -> bytes:
        return _secret(contacts, name)

    channels = Channels(
        smtp=spec.notification.smtp, secrets=secret, tries=opts.tries, backoff=opts.backoff,
        webhook_timeout=opts.webhook_timeout,
    )  # fmt: skip
    for row in rows:
        error = _send_with_retries(ws, row, channels, opts)
        if error is None:
            report.sent.append((row.ticket, row.channel, row.target))
        else:
            report.failed.append((row.ticket, row.channel, error))


def _secret(contacts: Contacts | None, name: str) -> bytes:
    contact = contacts.by_name(name) if contacts else None
    if contact is None:
        raise DeliveryError(f"contact {name}: no longer in the contacts file; cannot sign")
    return contact.secret()


def _send_with_retries(
    ws: WatchStore, row: Any, channels: Channels, opts: RunOptions
) -> str | None:
    error = None
    for n in range(channels.tries):
        if n:
            time.sleep(channels.backoff * 2 ** (n - 1))
        ws.attempt(row.ticket, row.channel, retry_at(opts.clock(), row.attempts + n + 1))
        try:
            _send_once(row, channels)
        except (DeliveryError, UsageError) as exc:
            error = str(exc)
            ws.note_error(row.ticket, row.channel, error)
            log.info("%s %s: %s", row.ticket, row.channel, error)
            continue
        if opts.after_send is not None:
            opts.after_send(row.ticket, row.channel)
        ws.mark_sent(row.ticket, row.channel, opts.clock())
        return None
    return error


def _send_once(row: Any, channels: Channels) -> None:
    if row.channel == "email":
        if channels.smtp is None:
            raise DeliveryError(
                f"{row.ticket}: no SMTP server configured for the watch (watch add --smtp)"
            )
        send_email(channels.smtp, row.payload, recipients_of(row.target))
    else:
        send_webhook(row.target, channels.secrets(row.contact), row.payload, row.ticket,
                     channels.webhook_timeout)  # fmt: skip

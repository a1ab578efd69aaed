"""The library behind ``watch add/list/show/remove/run`` and ``events``: each function
opens the store, does one thing and returns typed results for the CLI to render."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mxcensus.errors import MxcensusError, UsageError
from mxcensus.store.db import Store, default_db_path
from mxcensus.store.watches import EventRow, MuteRow, RunRow, WatchStore
from mxcensus.watch.run import RunOptions, RunReport, run_watch, utcnow
from mxcensus.watch.spec import (
    Lookup,
    Notification,
    Scanning,
    Schedule,
    Smtp,
    Watch,
    Watched,
)


@dataclass(frozen=True)
class WatchInput:
    """``watch add``'s options as typed (None: not given)."""

    name: str
    net: list[str] | None = None
    asn: list[int] | None = None
    file: list[str] | None = None
    domain: list[str] | None = None
    web_names: bool = False
    feed: Path | None = None
    feed_format: str | None = None
    asn_db: list[Path] | None = None
    prefix_file: Path | None = None
    resolver: str | None = None
    dns_timeout: float = 5.0
    every: str | None = None
    cron: str | None = None
    contacts: Path | None = None
    smtp: str | None = None
    smtp_security: str = "starttls"
    smtp_user: str | None = None
    smtp_password_file: Path | None = None
    smtp_ca: Path | None = None
    smtp_timeout: float = 30.0
    sender: str = "mxcensus@localhost"
    ports: str | None = None
    probes: str | None = None
    rate: int | None = None
    allow_reserved: bool = False
    exclude: list[str] | None = None
    geo_db: list[Path] | None = None

    def to_watch(self) -> Watch:
        if self.every and self.cron:
            raise UsageError("watch add: give --every or --cron, not both")
        schedule = f"every {self.every}" if self.every else self.cron
        if schedule is not None:
            schedule = Schedule.parse(schedule).text

        def paths(values: Sequence[Path | str] | None) -> tuple[str, ...]:
            return tuple(str(Path(v).resolve()) for v in values or ())

        def path(value: Path | None) -> str | None:
            return str(value.resolve()) if value is not None else None

        smtp = None
        if self.smtp is not None:
            smtp = Smtp(
                server=self.smtp, security=self.smtp_security, user=self.smtp_user,
                password_file=path(self.smtp_password_file), sender=self.sender,
                ca_file=path(self.smtp_ca), timeout=self.smtp_timeout,
            )  # fmt: skip
        return Watch(
            name=self.name,
            watched=Watched(
                networks=tuple(self.net or ()), asns=tuple(self.asn or ()), files=paths(self.file),
                domains=tuple(d.lower().rstrip(".") for d in self.domain or ()),
                web_names=self.web_names, feed=path(self.feed), feed_format=self.feed_format,
            ),
            lookup=Lookup(
                asn_db=paths(self.asn_db), prefix_file=path(self.prefix_file),
                resolver=self.resolver, dns_timeout=self.dns_timeout,
            ),
            schedule=schedule,
            notification=Notification(contacts=path(self.contacts), smtp=smtp),
            scanning=Scanning(
                ports=self.ports, probes=self.probes, rate=self.rate,
                allow_reserved=self.allow_reserved, exclude=tuple(self.exclude or ()),
            ),
            geo_db=paths(self.geo_db),
        )  # fmt: skip


def _path(db: Path | None) -> Path:
    return db if db is not None else default_db_path()


def add_watch(db: Path | None, spec: Watch, *, replace: bool = False) -> Watch:
    spec.check()
    with Store.open(_path(db)) as store:
        WatchStore(store).add_watch(spec.name, spec.to_json(), utcnow(), replace=replace)
    return spec


def remove_watch(db: Path | None, name: str) -> int:
    with Store.open(_path(db)) as store:
        return WatchStore(store).remove_watch(name)


@dataclass(frozen=True, slots=True)
class WatchLine:
    spec: Watch
    last: RunRow | None
    next_due: datetime | None
    open_events: int
    pending: int  # outbox messages not yet delivered


def overview(db: Path | None) -> list[WatchLine]:
    now = utcnow()
    out = []
    with _existing(db) as store:
        ws = WatchStore(store)
        for name, text in ws.watch_specs():
            spec = Watch.from_json(text)
            runs = ws.runs(name, 1)
            due = (Schedule.parse(spec.schedule).next_after(ws.last_started(name), now)
                   if spec.schedule else None)  # fmt: skip
            out.append(WatchLine(
                spec, runs[0] if runs else None, due,
                len(ws.events(watch=name, states=("open", "unrouted"))),
                len(ws.outbox(name, ("pending",))),
            ))  # fmt: skip
    return out


@dataclass(frozen=True, slots=True)
class WatchDetail:
    spec: Watch
    runs: list[RunRow]
    domains: list[tuple[Any, ...]]  # domain, hostname, ip, source, exposed, at risk, products
    events_by_kind: dict[str, int]
    outbox: list[Any]


def detail(db: Path | None, name: str) -> WatchDetail:
    with _existing(db) as store:
        ws = WatchStore(store)
        spec = Watch.from_json(ws.watch_spec(name))
        runs = ws.runs(name, 10)
        last = ws.last_done(name)
        domains = ws.domain_services(last.scan) if last and last.scan else []
        kinds: dict[str, int] = {}
        for e in ws.events(watch=name):
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
        outbox = [o for o in ws.outbox(name) if o.state == "pending"]
    return WatchDetail(spec, runs, domains, kinds, outbox)


def _existing(db: Path | None) -> Store:
    path = _path(db)
    if not path.exists():
        raise UsageError(f"{path}: no such database (mxcensus watch add creates it)")
    return Store.open(path)


def run_many(
    opts: RunOptions, names: Sequence[str]
) -> Iterator[tuple[str, RunReport | MxcensusError]]:
    """Each watch's pass (every watch when ``names`` is empty), failures as values: one
    watch that fails does not stop the others."""
    with _existing(opts.db) as store:
        known = [n for n, _ in WatchStore(store).watch_specs()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"watch run: no watch named {unknown[0]!r} (see mxcensus watch list)")
    if not known:
        raise UsageError("watch run: no watch yet (mxcensus watch add NAME ...)")
    for name in names or known:
        try:
            yield name, run_watch(name, opts)
        except MxcensusError as exc:
            if exc.exit_code == 130:  # interrupted: stop here, resumable
                raise
            yield name, exc


def list_events(
    db: Path | None,
    *,
    watch: str | None = None,
    since: datetime | None = None,
    kinds: Sequence[str] = (),
    states: Sequence[str] = (),
    limit: int | None = None,
) -> list[EventRow]:
    from mxcensus.store.watches import EVENT_STATES
    from mxcensus.watch.events import KINDS

    for k in kinds:
        if k not in KINDS:
            raise UsageError(f"--kind {k!r}: one of {', '.join(KINDS)}")
    for s in states:
        if s not in EVENT_STATES:
            raise UsageError(f"--state {s!r}: one of {', '.join(EVENT_STATES)}")
    with _existing(db) as store:
        ws = WatchStore(store)
        if watch is not None:
            ws.watch_spec(watch)
        return ws.events(watch=watch, since=since, kinds=kinds, states=states, limit=limit)


def ack(db: Path | None, ids: Sequence[int]) -> int:
    with _existing(db) as store:
        return WatchStore(store).set_state(ids, "acked", utcnow())


def mute(
    db: Path | None, what: str, value: str, watch: str | None, until: datetime | None,
    note: str | None,
) -> int:  # fmt: skip
    value = value.strip()
    if what == "host":
        try:
            value = str(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise UsageError(f"--host {value!r}: not an address or CIDR") from None
    elif what == "cve":
        if not re.match(r"^CVE-\d{4}-\d{4,}$", value, re.IGNORECASE):
            raise UsageError(f"--cve {value!r}: not a CVE id (CVE-2021-26855)")
        value = value.upper()
    with _existing(db) as store:
        ws = WatchStore(store)
        if watch is not None:
            ws.watch_spec(watch)
        return ws.add_mute(what, value, watch, until, note, utcnow())


def unmute(db: Path | None, mid: int) -> None:
    with _existing(db) as store:
        WatchStore(store).remove_mute(mid)


def list_mutes(db: Path | None) -> list[MuteRow]:
    with _existing(db) as store:
        return WatchStore(store).mutes()

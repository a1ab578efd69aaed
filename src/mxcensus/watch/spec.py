"""A watch as the user declared it: what to look at, how often, and whom to tell.

A :class:`Watch` is stored as JSON in the ``watches`` table (``to_json``/``from_json``) and
checked when it is added (:meth:`Watch.check`): every CIDR, ASN, domain, file, schedule and
address is validated then, so a run fails only for what can change after (DNS, files, the
network). Durations are ``30s``, ``15m``, ``12h``, ``1d``, ``2w`` (:func:`parse_duration`);
a schedule is ``every DURATION`` or a five-field cron expression (:class:`Schedule`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from mxcensus.bounds import Range
from mxcensus.errors import UsageError
from mxcensus.importers.registry import FEEDS
from mxcensus.targets.parse import parse_spec

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{1,63}$")
ASN = Range(1, 4_294_967_295)
EVERY = Range(60, 366 * 86_400)
"""A watch runs at most once a minute and at least once a year."""
INTERVAL = Range(0, 366 * 86_400)
"""A contact hears at most once per interval; 0: after every run that found something."""
DNS_TIMEOUT = Range(0.1, 60.0, float)
SMTP_TIMEOUT = Range(0.1, 120.0, float)
WEB_NAMES = ("autodiscover", "owa", "mail", "webmail")
"""The usual names of a domain's Exchange/OWA front end, probed with ``--web-names``."""
SMTP_SECURITY = ("starttls", "tls", "none")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_DURATION = re.compile(r"^\s*(\d{1,9})\s*([smhdw])\s*$")


def parse_duration(text: str, option: str, bounds: Range) -> int:
    """``30m``, ``1d`` … as seconds within ``bounds``, else :class:`UsageError`."""
    m = _DURATION.match(text)
    if not m:
        raise UsageError(f"{option} {text!r}: not a duration (e.g. 30m, 12h, 1d, 2w)")
    seconds = int(m[1]) * _UNITS[m[2]]
    if bounds.problem(seconds) is not None:
        raise UsageError(
            f"{option} {text!r}: must be between {_shown(int(bounds.lo))} and "
            f"{_shown(int(bounds.hi))}"
        )
    return seconds


def _shown(seconds: int) -> str:
    for unit, size in (("w", 7 * 86_400), ("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True, slots=True)
class Schedule:
    """``every 1d`` or a cron expression (``0 3 * * *``), evaluated in UTC by croniter.

    The next run follows the last run's start (``next_after``), which the store keeps: a
    daemon restarted, or a run killed, neither skips nor doubles one."""

    text: str

    @classmethod
    def parse(cls, text: str) -> Schedule:
        body = " ".join(text.split())
        if body.startswith("every "):
            parse_duration(body[6:], "--every", EVERY)
            return cls(body)
        from croniter import croniter

        if len(body.split()) != 5 or not croniter.is_valid(body):
            raise UsageError(
                f"--cron {text!r}: not a five-field cron expression (minute hour day month "
                "weekday, e.g. '0 3 * * *')"
            )
        return cls(body)

    @property
    def every(self) -> int | None:
        return parse_duration(self.text[6:], "--every", EVERY) if self.is_every else None

    @property
    def is_every(self) -> bool:
        return self.text.startswith("every ")

    def next_after(self, last: datetime | None, now: datetime) -> datetime:
        """When the next run is due: ``now`` if there was none, else the first time after
        ``last`` (``last`` + the period, or the cron expression's next match)."""
        if last is None:
            return now
        if self.is_every:
            return last + timedelta(seconds=self.every or 0)
        from croniter import croniter

        nxt: datetime = croniter(self.text, last).get_next(datetime)
        return nxt


@dataclass(frozen=True, slots=True)
class Smtp:
    """The user's mail server: ``host:port``, ``starttls`` (required), ``tls`` (implicit)
    or ``none``; a login when ``user`` is set, its password read from ``password_file``
    (or the environment variable ``MXCENSUS_SMTP_PASSWORD``) at send time, never stored.
    The certificate is verified against the system's CAs or ``ca_file``."""

    server: str
    security: str = "starttls"
    user: str | None = None
    password_file: str | None = None
    sender: str = "mxcensus@localhost"
    timeout: float = 30.0
    ca_file: str | None = None  # CA bundle to verify the server's certificate (default: system)

    @property
    def host_port(self) -> tuple[str, int]:
        return split_host_port(self.server, 25, "--smtp")


def split_host_port(text: str, default: int, option: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or ``v6`` as (host, port)."""
    t = text.strip()
    if t.startswith("["):
        host, _, rest = t[1:].partition("]")
        port_text = rest.removeprefix(":") or str(default)
    elif t.count(":") == 1:
        host, _, port_text = t.partition(":")
    else:
        host, port_text = t, str(default)
    if not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise UsageError(f"{option} {text!r}: give HOST or HOST:PORT (port 1-65535)")
    return host, int(port_text)


@dataclass(frozen=True, slots=True)
class Watched:
    """What a watch looks at: addresses to scan, or a feed to import instead."""

    networks: tuple[str, ...] = ()
    """IPs, CIDRs and ranges."""
    asns: tuple[int, ...] = ()
    """Scanned as their prefixes, found through :class:`Lookup`."""
    files: tuple[str, ...] = ()
    """Target lists (absolute paths), read at each run."""
    domains: tuple[str, ...] = ()
    """Domains: their MX hosts' addresses (A/AAAA), with ``web_names`` also those of the
    usual OWA names."""
    web_names: bool = False
    """Also look at :data:`WEB_NAMES` of each domain."""
    feed: str | None = None
    """A directory of Shadowserver CSVs or Shodan downloads, imported instead of scanning."""
    feed_format: str | None = None
    """The feed's format; None: by file name (.csv Shadowserver, else Shodan)."""

    @property
    def scanned(self) -> bool:
        """Whether there is anything to scan (else only a feed)."""
        return bool(self.networks or self.asns or self.files or self.domains)


@dataclass(frozen=True, slots=True)
class Lookup:
    """Where a watch's ASNs find their prefixes and its domains their addresses."""

    asn_db: tuple[str, ...] = ()
    """ASN MMDB files."""
    prefix_file: str | None = None
    """A prefix list (PREFIX ASN a line), instead of or besides ``asn_db``."""
    resolver: str | None = None
    """The DNS server, ``host:port``; None: the system's."""
    dns_timeout: float = 5.0
    """Seconds per DNS query."""


@dataclass(frozen=True, slots=True)
class Notification:
    """Who is told of a watch's events, and through which mail server."""

    contacts: str | None = None
    """The contacts file (YAML or CSV); None: events are stored, nobody is told."""
    smtp: Smtp | None = None
    """The user's mail server; None: contacts are reached by webhook only."""


@dataclass(frozen=True, slots=True)
class Scanning:
    """How a scan watch scans: the options it fixes, named as
    :class:`~mxcensus.engine.request.ScanRequest` names them (None: the scan's default)."""

    ports: str | None = None
    """The ports to scan, as ``--ports`` takes them (``25,465,587``, ``1-1024``)."""
    probes: str | None = None
    """The probes to run, comma-separated."""
    rate: int | None = None
    """New connections per second."""
    allow_reserved: bool = False
    """Whether loopback and private space may be scanned."""
    exclude: tuple[str, ...] = ()
    """CIDRs never to contact."""


_GROUPS: dict[str, type[Any]] = {
    "watched": Watched,
    "lookup": Lookup,
    "notification": Notification,
    "scanning": Scanning,
}
"""The fields of :class:`Watch` that are groups, stored flat (their fields at the top)."""


@dataclass(frozen=True, slots=True)
class Watch:
    """A standing watch list: what it looks at, how names and ASNs are looked up, when it
    runs, whom it tells and how it scans. Stored as one flat JSON object, the groups' fields
    in their place at the top (as the stores written before they were grouped hold it)."""

    name: str
    watched: Watched = Watched()
    lookup: Lookup = Lookup()
    schedule: str | None = None
    """``every DURATION`` or a cron expression (:class:`Schedule`); None: ``watch run`` only."""
    notification: Notification = Notification()
    scanning: Scanning = Scanning()
    geo_db: tuple[str, ...] = ()
    """MMDB files the services found are placed with."""
    extra: dict[str, Any] = field(default_factory=dict)  # room for later settings

    @property
    def kind(self) -> str:
        return "feed" if self.watched.feed is not None else "scan"

    def check(self) -> None:
        """Everything that can be judged now; one :class:`UsageError` line per problem."""
        if not NAME.match(self.name):
            raise UsageError(
                f"watch name {self.name!r}: use 1-64 of a-z 0-9 . _ - (starting with a letter"
                " or digit)"
            )
        w, look, told = self.watched, self.lookup, self.notification
        if w.feed is not None and w.scanned:
            raise UsageError(
                f"watch {self.name}: a feed watch imports what the feed holds; give either "
                "--feed or targets (--net, --asn, --file, --domain), not both"
            )
        if w.feed is None and not w.scanned:
            raise UsageError(
                f"watch {self.name}: nothing to watch (give --net, --asn, --file, --domain "
                "or --feed)"
            )
        for spec in (*w.networks, *self.scanning.exclude):
            if not _is_address_spec(spec):
                raise UsageError(f"watch {self.name}: {spec!r}: not an IP, CIDR or range")
            parse_spec(spec, f"watch {self.name}")
        for asn in w.asns:
            ASN.check(asn, "--asn")
        if w.asns and not (look.asn_db or look.prefix_file):
            raise UsageError(
                f"watch {self.name}: --asn needs --asn-db MMDB or --prefix-file FILE to find "
                "the ASN's prefixes"
            )
        for d in w.domains:
            if not DOMAIN.match(d):
                raise UsageError(f"watch {self.name}: {d!r}: not a domain name")
        for path in (*w.files, *look.asn_db, *self.geo_db, look.prefix_file, told.contacts):
            if path is not None and not Path(path).is_file():
                raise UsageError(f"watch {self.name}: {path}: no such file")
        if w.feed is not None and not Path(w.feed).is_dir():
            raise UsageError(f"watch {self.name}: --feed {w.feed}: no such directory")
        formats = FEEDS
        if w.feed_format is not None and w.feed_format not in formats:
            raise UsageError(f"--feed-format {w.feed_format!r}: one of {', '.join(formats)}")
        if look.resolver is not None:
            host, _ = split_host_port(look.resolver, 53, "--resolver")
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise UsageError(f"--resolver {look.resolver!r}: give the server's IP") from None
        DNS_TIMEOUT.check(look.dns_timeout, "--dns-timeout")
        if self.schedule is not None:
            Schedule.parse(self.schedule)
        smtp = told.smtp
        if smtp is not None:
            split_host_port(smtp.server, 25, "--smtp")
            if smtp.security not in SMTP_SECURITY:
                raise UsageError(
                    f"--smtp-security {smtp.security!r}: one of {', '.join(SMTP_SECURITY)}"
                )
            SMTP_TIMEOUT.check(smtp.timeout, "--smtp-timeout")
            if "@" not in smtp.sender or any(c in smtp.sender for c in "\r\n<>"):
                raise UsageError(f"--sender {smtp.sender!r}: not an e-mail address")
        if told.contacts is not None:
            from mxcensus.watch.contacts import load_contacts

            load_contacts(Path(told.contacts))

    def to_json(self) -> str:
        """The stored form: one flat object, the groups' fields in their place."""
        flat: dict[str, Any] = {}
        for name, value in dataclasses.asdict(self).items():
            if name in _GROUPS:
                flat.update(value)
            else:
                flat[name] = value
        return orjson.dumps(flat).decode()

    @classmethod
    def from_json(cls, text: str) -> Watch:
        """The watch :meth:`to_json` stored (keys it does not know are passed over)."""
        data = orjson.loads(text)
        smtp = data.pop("smtp", None)
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        values["smtp"] = Smtp(**smtp) if smtp else None

        def given(kind: type[Any]) -> dict[str, Any]:
            names = {f.name for f in dataclasses.fields(kind)} - _GROUPS.keys()
            return {k: v for k, v in values.items() if k in names}

        groups = {name: kind(**given(kind)) for name, kind in _GROUPS.items()}
        return cls(**given(cls), **groups)

    def describe(self) -> list[tuple[str, str]]:
        """(label, value) lines for ``watch show``."""
        w, smtp = self.watched, self.notification.smtp
        out = [("kind", self.kind)]
        for label, values in (
            ("networks", w.networks),
            ("asns", tuple(f"AS{a}" for a in w.asns)),
            ("files", w.files),
            ("domains", w.domains),
            ("exclude", self.scanning.exclude),
        ):
            if values:
                out.append((label, ", ".join(values)))
        if w.domains:
            out.append(("web names", ", ".join(WEB_NAMES) if w.web_names else "no"))
            out.append(("resolver", self.lookup.resolver or "system"))
        if w.feed:
            out.append(("feed", f"{w.feed} ({w.feed_format or 'by file name'})"))
        out.append(("schedule", self.schedule or "none (watch run only)"))
        contacts = self.notification.contacts
        out.append(("contacts", contacts or "none (events are stored, nobody is told)"))
        if smtp:
            out.append(("smtp", f"{smtp.server} ({smtp.security}), from {smtp.sender}"))
        return out


def _is_address_spec(text: str) -> bool:
    head = text.strip().partition("/")[0].partition("-")[0]
    try:
        ipaddress.ip_address(head)
    except ValueError:
        return False
    return True

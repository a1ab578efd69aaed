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
class Watch:
    """A standing watch list. ``networks``: IPs, CIDRs, ranges; ``asns``: resolved to
    prefixes through ``asn_db`` (MMDB files) or ``prefix_file``; ``files``: target lists;
    ``domains``: MX (and with ``web_names`` the usual OWA names) to A/AAAA through
    ``resolver`` (``host:port``; default the system's); ``feed``: a directory of
    Shadowserver CSVs or Shodan downloads imported instead of scanning."""

    name: str
    networks: tuple[str, ...] = ()
    asns: tuple[int, ...] = ()
    files: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    web_names: bool = False
    feed: str | None = None
    feed_format: str | None = None  # None: by file name (.csv Shadowserver, else Shodan)
    asn_db: tuple[str, ...] = ()
    prefix_file: str | None = None
    resolver: str | None = None
    dns_timeout: float = 5.0
    schedule: str | None = None
    contacts: str | None = None
    smtp: Smtp | None = None
    ports: str | None = None
    probes: str | None = None
    rate: int | None = None
    allow_reserved: bool = False
    exclude: tuple[str, ...] = ()
    geo_db: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # room for later settings

    @property
    def kind(self) -> str:
        return "feed" if self.feed is not None else "scan"

    def check(self) -> None:
        """Everything that can be judged now; one :class:`UsageError` line per problem."""
        if not NAME.match(self.name):
            raise UsageError(
                f"watch name {self.name!r}: use 1-64 of a-z 0-9 . _ - (starting with a letter"
                " or digit)"
            )
        if self.feed is not None and (self.networks or self.asns or self.files or self.domains):
            raise UsageError(
                f"watch {self.name}: a feed watch imports what the feed holds; give either "
                "--feed or targets (--net, --asn, --file, --domain), not both"
            )
        if self.feed is None and not (self.networks or self.asns or self.files or self.domains):
            raise UsageError(
                f"watch {self.name}: nothing to watch (give --net, --asn, --file, --domain "
                "or --feed)"
            )
        for spec in (*self.networks, *self.exclude):
            if not _is_address_spec(spec):
                raise UsageError(f"watch {self.name}: {spec!r}: not an IP, CIDR or range")
            parse_spec(spec, f"watch {self.name}")
        for asn in self.asns:
            ASN.check(asn, "--asn")
        if self.asns and not (self.asn_db or self.prefix_file):
            raise UsageError(
                f"watch {self.name}: --asn needs --asn-db MMDB or --prefix-file FILE to find "
                "the ASN's prefixes"
            )
        for d in self.domains:
            if not DOMAIN.match(d):
                raise UsageError(f"watch {self.name}: {d!r}: not a domain name")
        for path in (*self.files, *self.asn_db, *self.geo_db, self.prefix_file, self.contacts):
            if path is not None and not Path(path).is_file():
                raise UsageError(f"watch {self.name}: {path}: no such file")
        if self.feed is not None and not Path(self.feed).is_dir():
            raise UsageError(f"watch {self.name}: --feed {self.feed}: no such directory")
        formats = FEEDS
        if self.feed_format is not None and self.feed_format not in formats:
            raise UsageError(f"--feed-format {self.feed_format!r}: one of {', '.join(formats)}")
        if self.resolver is not None:
            host, _ = split_host_port(self.resolver, 53, "--resolver")
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise UsageError(f"--resolver {self.resolver!r}: give the server's IP") from None
        DNS_TIMEOUT.check(self.dns_timeout, "--dns-timeout")
        if self.schedule is not None:
            Schedule.parse(self.schedule)
        if self.smtp is not None:
            split_host_port(self.smtp.server, 25, "--smtp")
            if self.smtp.security not in SMTP_SECURITY:
                raise UsageError(
                    f"--smtp-security {self.smtp.security!r}: one of {', '.join(SMTP_SECURITY)}"
                )
            SMTP_TIMEOUT.check(self.smtp.timeout, "--smtp-timeout")
            if "@" not in self.smtp.sender or any(c in self.smtp.sender for c in "\r\n<>"):
                raise UsageError(f"--sender {self.smtp.sender!r}: not an e-mail address")
        if self.contacts is not None:
            from mxcensus.watch.contacts import load_contacts

            load_contacts(Path(self.contacts))

    def to_json(self) -> str:
        return orjson.dumps(dataclasses.asdict(self)).decode()

    @classmethod
    def from_json(cls, text: str) -> Watch:
        data = orjson.loads(text)
        smtp = data.pop("smtp", None)
        known = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known
        }
        values["smtp"] = Smtp(**smtp) if smtp else None
        return cls(**values)

    def describe(self) -> list[tuple[str, str]]:
        """(label, value) lines for ``watch show``."""
        out = [("kind", self.kind)]
        for label, values in (
            ("networks", self.networks),
            ("asns", tuple(f"AS{a}" for a in self.asns)),
            ("files", self.files),
            ("domains", self.domains),
            ("exclude", self.exclude),
        ):
            if values:
                out.append((label, ", ".join(values)))
        if self.domains:
            out.append(("web names", ", ".join(WEB_NAMES) if self.web_names else "no"))
            out.append(("resolver", self.resolver or "system"))
        if self.feed:
            out.append(("feed", f"{self.feed} ({self.feed_format or 'by file name'})"))
        out.append(("schedule", self.schedule or "none (watch run only)"))
        out.append(("contacts", self.contacts or "none (events are stored, nobody is told)"))
        if self.smtp:
            out.append(("smtp", f"{self.smtp.server} ({self.smtp.security}), from "
                                f"{self.smtp.sender}"))  # fmt: skip
        return out


def _is_address_spec(text: str) -> bool:
    head = text.strip().partition("/")[0].partition("-")[0]
    try:
        ipaddress.ip_address(head)
    except ValueError:
        return False
    return True

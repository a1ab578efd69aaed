"""Who hears about what: the contacts file and the routing of events to owners.

A contacts file is YAML or CSV (by its suffix). YAML::

    fallback: {email: [cert@example.net]}          # events no entry matches
    contacts:
      - name: example-noc                           # default: the first match
        match: [192.0.2.0/24, AS64500, example.org] # CIDRs, ASNs, domains
        email: [noc@example.org]
        webhook: https://hooks.example.org/mx       # JSON POST, HMAC-SHA256 signed
        secret_env: EXAMPLE_HOOK_SECRET             # or secret_file: /etc/...
        language: de                                # en (default) or de
        interval: 1d                                # at most one notification per interval
        format: csv                                 # attachment: csv (Shadowserver), json, none

CSV has the columns ``name, match, email, language, interval, format, webhook,
secret_env, secret_file`` (``match`` and ``email`` separated by ``;``); a row whose match
is ``*`` is the fallback.

Routing (:meth:`Contacts.route`): a domain entry matching the event's domain or hostname
(the longest such domain) wins; else the longest network prefix holding the address; else
an ASN entry; else the fallback; else nobody (the event stays ``unrouted``). Every
problem is one :class:`ContactsError` line naming the file and the line or entry.
"""

from __future__ import annotations

import csv
import ipaddress
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mxcensus.errors import UsageError
from mxcensus.watch.spec import DOMAIN, INTERVAL, parse_duration

LANGUAGES = ("en", "de")
FORMATS = ("csv", "json", "none")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_EMAIL = re.compile(r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,253}$")
_KEYS = {
    "name", "match", "email", "webhook", "secret_env", "secret_file", "language", "interval",
    "format",
}  # fmt: skip


class ContactsError(UsageError):
    """The contacts file is broken: one line naming the file and where."""


@dataclass(frozen=True, slots=True)
class Match:
    """What a contact owns (its ``match``): addresses in ``networks``, services in ``asns``,
    and ``domains`` with their subdomains (see :meth:`Contacts.route` for which wins)."""

    networks: tuple[Network, ...] = ()
    asns: tuple[int, ...] = ()
    domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Contact:
    """An owner: told by mail (``emails``), by ``webhook`` (signed with the key in the
    environment variable ``secret_env`` or the file ``secret_file``) or both, in
    ``language``, at most once per ``interval`` (seconds), with an attachment in ``format``
    (one of :data:`FORMATS`)."""

    name: str
    match: Match
    emails: tuple[str, ...] = ()
    webhook: str | None = None
    secret_env: str | None = None
    secret_file: str | None = None
    language: str = "en"
    interval: int = 86_400
    format: str = "csv"

    def secret(self) -> bytes:
        """The webhook's HMAC key, read when a webhook is sent (never stored)."""
        if self.secret_env:
            value = os.environ.get(self.secret_env)
            if not value:
                raise UsageError(
                    f"contact {self.name}: environment variable {self.secret_env} is not set"
                )
            return value.encode()
        if self.secret_file:
            try:
                return Path(self.secret_file).read_bytes().strip()
            except OSError as exc:
                raise UsageError(
                    f"contact {self.name}: secret_file {self.secret_file}: {exc.strerror}"
                ) from exc
        raise UsageError(f"contact {self.name}: a webhook needs secret_env or secret_file")


@dataclass(frozen=True, slots=True)
class Contacts:
    entries: tuple[Contact, ...]
    fallback: Contact | None
    path: Path

    def route(self, ip: str | None, asn: int | None, names: Iterable[str]) -> Contact | None:
        """The owner of an event at ``ip`` (in ``asn``) whose domain or hostname is among
        ``names``: see the module doc for the order."""
        best: tuple[int, Contact] | None = None
        lowered = [n.lower().rstrip(".") for n in names if n]
        for c in self.entries:
            for d in c.match.domains:
                if any(n == d or n.endswith("." + d) for n in lowered) and (
                    best is None or len(d) > best[0]
                ):
                    best = (len(d), c)
        if best is not None:
            return best[1]
        addr = _address(ip)
        if addr is not None:
            longest: tuple[int, Contact] | None = None
            for c in self.entries:
                for net in c.match.networks:
                    if (
                        addr.version == net.version
                        and addr in net
                        and (longest is None or net.prefixlen > longest[0])
                    ):
                        longest = (net.prefixlen, c)
            if longest is not None:
                return longest[1]
        if asn is not None:
            for c in self.entries:
                if asn in c.match.asns:
                    return c
        return self.fallback

    def by_name(self, name: str) -> Contact | None:
        for c in (*self.entries, *([self.fallback] if self.fallback else [])):
            if c.name == name:
                return c
        return None


def _address(ip: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not ip:
        return None
    try:
        return ipaddress.ip_address(ip)
    except ValueError:
        return None


def load_contacts(path: Path) -> Contacts:
    """Read and check ``path`` (``.yaml``/``.yml`` or ``.csv``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ContactsError(f"{path}: cannot read contacts file: {why}") from exc
    if path.suffix.lower() == ".csv":
        entries, fallback = _from_csv(path, text)
    elif path.suffix.lower() in (".yaml", ".yml"):
        entries, fallback = _from_yaml(path, text)
    else:
        raise ContactsError(f"{path}: a contacts file is .yaml, .yml or .csv")
    names = [c.name for c in entries]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise ContactsError(f"{path}: contact name {dup!r} is used twice")
    return Contacts(tuple(entries), fallback, path)


def _from_yaml(path: Path, text: str) -> tuple[list[Contact], Contact | None]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ContactsError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(doc, dict) or not set(doc) <= {"contacts", "fallback"}:
        raise ContactsError(f"{path}: expected a mapping with 'contacts' and 'fallback'")
    raw = doc.get("contacts") or []
    if not isinstance(raw, list):
        raise ContactsError(f"{path}: 'contacts' must be a list")
    entries = [_contact(item, f"{path}: contacts[{i}]", fallback=False)
               for i, item in enumerate(raw)]  # fmt: skip
    fb = doc.get("fallback")
    fallback = None if fb is None else _contact(fb, f"{path}: fallback", fallback=True)
    return entries, fallback


def _from_csv(path: Path, text: str) -> tuple[list[Contact], Contact | None]:
    reader = csv.DictReader(text.splitlines())
    fields = set(reader.fieldnames or ())
    unknown = fields - _KEYS
    if unknown or "match" not in fields:
        raise ContactsError(
            f"{path}:1: header must name 'match' and may name {', '.join(sorted(_KEYS))}"
            + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else "")
        )
    entries: list[Contact] = []
    fallback = None
    for line, row in enumerate(reader, 2):
        if None in row:
            raise ContactsError(f"{path}:{line}: more cells than the header names")
        item: dict[str, Any] = {k: v for k, v in row.items() if v not in (None, "")}
        for key in ("match", "email"):
            if key in item:
                item[key] = [p for p in re.split(r"[;\s]+", item[key]) if p]
        if item.get("match") == ["*"]:
            del item["match"]
            fallback = _contact(item, f"{path}:{line}", fallback=True)
        else:
            entries.append(_contact(item, f"{path}:{line}", fallback=False))
    return entries, fallback


def _contact(item: object, where: str, *, fallback: bool) -> Contact:
    if not isinstance(item, dict):
        raise ContactsError(f"{where}: expected a mapping")
    unknown = set(item) - _KEYS
    if unknown:
        raise ContactsError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    matches = _strings(item.get("match", []), where, "match")
    if fallback and matches:
        raise ContactsError(f"{where}: the fallback matches everything; it takes no 'match'")
    if not fallback and not matches:
        raise ContactsError(f"{where}: 'match' names no CIDR, ASN or domain")
    networks: list[Network] = []
    asns: list[int] = []
    domains: list[str] = []
    for m in matches:
        kind, value = _match(m, where)
        if kind == "net":
            networks.append(value)
        elif kind == "asn":
            asns.append(value)
        else:
            domains.append(value)
    name = str(item.get("name") or ("fallback" if fallback else matches[0]))
    emails = _strings(item.get("email", []), where, "email")
    for e in emails:
        if not _EMAIL.match(e):
            raise ContactsError(f"{where}: {e!r}: not an e-mail address")
    webhook = item.get("webhook")
    if webhook is not None and (
        not isinstance(webhook, str) or not re.match(r"^https?://[^\s]+$", webhook)
    ):
        raise ContactsError(f"{where}: webhook {webhook!r}: not an http(s) URL")
    if webhook and not (item.get("secret_env") or item.get("secret_file")):
        raise ContactsError(f"{where}: webhook needs secret_env or secret_file (HMAC key)")
    if not emails and not webhook:
        raise ContactsError(f"{where}: contact {name}: give an email or a webhook")
    language = str(item.get("language", "en"))
    if language not in LANGUAGES:
        raise ContactsError(f"{where}: language {language!r}: one of {', '.join(LANGUAGES)}")
    fmt = str(item.get("format", "csv"))
    if fmt not in FORMATS:
        raise ContactsError(f"{where}: format {fmt!r}: one of {', '.join(FORMATS)}")
    try:
        interval = parse_duration(str(item.get("interval", "1d")), "interval", INTERVAL)
    except UsageError as exc:
        raise ContactsError(f"{where}: {exc}") from None
    return Contact(
        name=name,
        match=Match(tuple(networks), tuple(asns), tuple(domains)),
        emails=tuple(emails),
        webhook=webhook,
        secret_env=item.get("secret_env"),
        secret_file=item.get("secret_file"),
        language=language,
        interval=interval,
        format=fmt,
    )


def _strings(value: object, where: str, key: str) -> list[str]:
    if isinstance(value, (str, int)):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        raise ContactsError(f"{where}: {key!r} must be a list of strings")
    return [str(v).strip() for v in value]


def _match(text: str, where: str) -> tuple[str, Any]:
    t = text.strip()
    if re.match(r"^(?i:as)?\d+$", t):
        asn = int(t[2:] if t[:2].lower() == "as" else t)
        if not 1 <= asn <= 4_294_967_295:
            raise ContactsError(f"{where}: {t!r}: not an ASN")
        return "asn", asn
    try:
        return "net", ipaddress.ip_network(t, strict=False)
    except ValueError:
        pass
    d = t.lower().rstrip(".")
    if DOMAIN.match(d):
        return "domain", d
    raise ContactsError(f"{where}: {t!r}: not a CIDR, ASN (AS64500) or domain")

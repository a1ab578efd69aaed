"""From a watch's declarations to addresses: domains through DNS, ASNs through prefixes.

Domains (dnspython): the MX hosts of the domain, by preference — a domain without MX
records is its own mail host (RFC 5321 5.1, "implicit MX"), a null MX (``0 .``) has none —
and with ``web_names`` the usual OWA/Autodiscover names (``autodiscover.D`` …); each
name to its A and AAAA addresses. Every address keeps the name it was found under and how
(:class:`Name`: ``mx:example.org``), which becomes the probe's SNI/Host and the export's
``hostname``/``hostname_source``. A domain that does not resolve is a :class:`Problem`
(the run records it as an event and goes on with the rest), never an exception.

ASNs: every prefix announced by the ASN, read from the user's MMDB (iterating an ASN
database's networks with maxminddb: GeoLite2-ASN, DB-IP ASN, ipinfo) or from a prefix
list (one ``PREFIX ASN`` or ``ASN PREFIX`` per line, ``AS`` optional, ``#`` comments,
commas or blanks between).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mxcensus.errors import UsageError
from mxcensus.watch.spec import WEB_NAMES, split_host_port


@dataclass(frozen=True, slots=True, order=True)
class Name:
    """``ip`` was found as ``hostname`` by ``source`` (``mx:D``, ``autodiscover:D`` …)."""

    ip: str
    hostname: str
    source: str
    domain: str


@dataclass(frozen=True, slots=True)
class Problem:
    """Something a run could not resolve: one line, and the domain or ASN it concerns."""

    subject: str
    message: str


class Resolver:
    """dnspython's stub resolver, at ``nameserver`` (``ip[:port]``) or the system's."""

    def __init__(self, nameserver: str | None = None, timeout: float = 5.0) -> None:
        import dns.resolver

        self.where = nameserver or "the system resolver"
        if nameserver is None:
            self._r = dns.resolver.Resolver(configure=True)
        else:
            host, port = split_host_port(nameserver, 53, "--resolver")
            self._r = dns.resolver.Resolver(configure=False)
            self._r.nameservers = [host]
            self._r.port = port
        self._r.lifetime = timeout
        self._r.timeout = timeout
        self._r.cache = None

    def query(self, name: str, rdtype: str) -> list[str] | None:
        """The answers' text (None: no such name); raises :class:`LookupFailed`."""
        import dns.exception
        import dns.resolver

        try:
            answer = self._r.resolve(name, rdtype, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return None
        except dns.resolver.NoNameservers as exc:
            raise LookupFailed(f"{name} {rdtype}: no server answered ({_first(exc)})") from None
        except dns.exception.Timeout:
            raise LookupFailed(f"{name} {rdtype}: no answer from {self.where} in time") from None
        except dns.exception.DNSException as exc:
            raise LookupFailed(f"{name} {rdtype}: {_first(exc)}") from None
        if answer.rrset is None:
            return []
        return [r.to_text() for r in answer.rrset]


class LookupFailed(Exception):
    pass


def _first(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def resolve_domains(
    domains: Iterable[str], resolver: Resolver, *, web_names: bool = False
) -> tuple[list[Name], list[Problem]]:
    """Every (address, name, source) of ``domains``, sorted, and what did not resolve."""
    names: set[Name] = set()
    problems: list[Problem] = []
    for domain in domains:
        try:
            found = _domain(domain, resolver, web_names)
        except LookupFailed as exc:
            problems.append(Problem(domain, f"domain {domain}: {exc}"))
            continue
        if isinstance(found, Problem):
            problems.append(found)
        else:
            names.update(found)
    return sorted(names), problems


def _domain(domain: str, resolver: Resolver, web_names: bool) -> list[Name] | Problem:
    mx = resolver.query(domain, "MX")
    if mx is None:
        return Problem(domain, f"domain {domain}: no such domain (NXDOMAIN at {resolver.where})")
    hosts: list[tuple[str, str]] = []
    ranked = sorted((_mx(r) for r in mx), key=lambda p: (p[0], p[1]))
    if not ranked:
        hosts.append((domain, f"mx:{domain}"))  # implicit MX: the domain itself
    elif not (len(ranked) == 1 and ranked[0][1] == ""):  # a null MX accepts no mail
        hosts.extend((host, f"mx:{domain}") for _, host in ranked if host)
    if web_names:
        hosts.extend((f"{label}.{domain}", f"{label}:{domain}") for label in WEB_NAMES)
    out: list[Name] = []
    unresolved: list[str] = []
    for host, source in hosts:
        addresses = _addresses(host, resolver)
        if not addresses and source.startswith("mx:"):
            unresolved.append(host)
        out.extend(Name(a, host, source, domain) for a in addresses)
    if not out:
        what = (
            f"its MX host{'s' if len(unresolved) > 1 else ''} {', '.join(unresolved)} "
            "resolve to no address"
            if unresolved
            else "no MX host (null MX)"
        )
        return Problem(domain, f"domain {domain}: {what}")
    return out


def _mx(text: str) -> tuple[int, str]:
    pref, _, host = text.partition(" ")
    return int(pref), host.strip().rstrip(".").lower()


def _addresses(host: str, resolver: Resolver) -> list[str]:
    out: list[str] = []
    for rdtype in ("A", "AAAA"):
        for text in resolver.query(host, rdtype) or []:
            try:
                out.append(str(ipaddress.ip_address(text)))
            except ValueError:
                continue
    return out


# -- ASNs -------------------------------------------------------------------------------

_PREFIX_LINE = re.compile(r"[,\s]+")


def asn_prefixes(
    asns: Iterable[int], *, mmdbs: Iterable[Path] = (), prefix_file: Path | None = None
) -> tuple[list[str], list[Problem]]:
    """The prefixes of ``asns`` (CIDR text, sorted) and the ASNs that have none."""
    found, problems = prefixes_by_asn(asns, mmdbs=mmdbs, prefix_file=prefix_file)
    return sorted({n for nets in found.values() for n in nets}), problems


def prefixes_by_asn(
    asns: Iterable[int], *, mmdbs: Iterable[Path] = (), prefix_file: Path | None = None
) -> tuple[dict[int, list[str]], list[Problem]]:
    """Each of ``asns`` with its prefixes (CIDR text, sorted), from one read of each
    database, and the ASNs that have none."""
    wanted = set(asns)
    found: dict[int, set[str]] = {a: set() for a in wanted}
    for path in mmdbs:
        for asn, net in _mmdb_networks(path):
            if asn in wanted:
                found[asn].add(net)
    if prefix_file is not None:
        for asn, net in _prefix_list(prefix_file):
            if asn in wanted:
                found[asn].add(net)
    problems = [
        Problem(f"AS{a}", f"AS{a}: no prefix in the ASN database or prefix list")
        for a in sorted(wanted)
        if not found[a]
    ]
    return {a: sorted(nets) for a, nets in found.items()}, problems


def _mmdb_networks(path: Path) -> Iterator[tuple[int, str]]:
    import maxminddb

    try:
        reader = maxminddb.open_database(str(path))
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise UsageError(f"--asn-db {path}: not a readable MMDB ({exc})") from exc
    try:
        for network, record in reader:
            if not isinstance(record, dict):
                continue
            raw = record.get("autonomous_system_number", record.get("asn"))
            asn = _asn(raw)
            if asn is not None:
                yield asn, str(network)
    finally:
        reader.close()


def _asn(raw: object) -> int | None:
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        digits = raw.upper().removeprefix("AS")
        return int(digits) if digits.isdigit() else None
    return None


def _prefix_list(path: Path) -> Iterator[tuple[int, str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--prefix-file {path}: cannot read it ({exc})") from exc
    for n, line in enumerate(lines, 1):
        tokens = [t for t in _PREFIX_LINE.split(line.split("#", 1)[0].strip()) if t]
        if not tokens:
            continue
        asn = next((a for a in map(_asn, tokens) if a is not None), None)
        nets = [t for t in tokens if _asn(t) is None]
        if asn is None or len(nets) != 1:
            raise UsageError(f"{path}:{n}: expected one prefix and one ASN ({line.strip()!r})")
        try:
            yield asn, str(ipaddress.ip_network(nets[0], strict=False))
        except ValueError:
            raise UsageError(f"{path}:{n}: {nets[0]!r}: not a prefix") from None

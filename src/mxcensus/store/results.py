"""What the store's reader (``store/queries.py``) returns: typed rows, one class per kind
of result. ``NamedTuple`` rows are tuples too, so writers take them as they come."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from mxcensus.model import ScanId

Scalar = str | int | float | bool | None


class ScanInfo(NamedTuple):
    """One scan or import (``scans list`` shows them)."""

    id: ScanId
    name: str | None
    kind: str  # scan | import
    source: str  # scan, or the import format
    started_at: datetime
    finished_at: datetime | None
    status: str  # running | interrupted | finished | failed
    targets_total: int | None
    readable: bool  # shown to readers (``store.filters.READABLE``)
    services: int | None = None  # the services readers see of it, when counted


class GroupRow(NamedTuple):
    """Counts of one group: hosts (once per group; under their most severe verdict when
    grouped by verdict), services (or service × CVE pairs), vulnerable, potentially
    vulnerable and end-of-support ones."""

    keys: tuple[Scalar, ...]
    hosts: int
    services: int
    vulnerable: int
    potentially: int
    eol: int


class ScanGroupRow(NamedTuple):
    scan: ScanId
    keys: tuple[Scalar, ...]
    hosts: int
    services: int


class PlaceRow(NamedTuple):
    """Hosts of one country or continent, each placed where its address is, counted once
    under its most severe verdict."""

    place: str | None
    hosts: int
    services: int
    vulnerable_hosts: int
    potentially_hosts: int
    eol_hosts: int
    at_risk_hosts: int


class Unjudged(NamedTuple):
    """Exposed services whose verdict is unknown, by why: no product identified, or a
    product identified whose verdicts stay unknown (version hidden, disputed, fixes not
    collected)."""

    unidentified: int
    unidentified_hosts: int
    product_known: int
    product_known_hosts: int


NONE_UNJUDGED = Unjudged(0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class Totals:
    rows: int  # every row of the filter, ports that never connected included
    hosts: int
    services: int  # exposed services
    hosts_by_verdict: Mapping[str, int]  # a host under its most severe verdict
    services_by_verdict: Mapping[str, int]
    places: Mapping[str, Sequence[PlaceRow]]  # "country", "continent" (with ``geo``)
    eol_hosts: int = 0  # hosts with an end-of-support service
    at_risk_hosts: int = 0  # vulnerable, potentially vulnerable or end of support
    kev_services: int = 0  # vulnerable or potentially so to a KEV CVE
    eol_services: int = 0
    unjudged: Unjudged = NONE_UNJUDGED  # exposed services whose verdict is unknown


class EolLine(NamedTuple):
    line: str
    eol_hosts: int
    eol_services: int
    services: int
    unknown: int  # services of the line whose support status is unknown


class CveCount(NamedTuple):
    cve: str
    kev: bool
    vulnerable: int
    potentially: int
    vulnerable_hosts: int
    any_hosts: int  # hosts vulnerable or potentially vulnerable
    judged: int  # services with a verdict on the CVE


class AtRiskService(NamedTuple):
    ip: str
    port: int
    protocol: str
    product: str
    version: str | None
    verdict: str
    eol: bool | None
    cves: str | None  # the CVEs it is vulnerable or potentially vulnerable to
    country: str | None
    asn: int | None
    banner: str | None


class ScanTotal(NamedTuple):
    scan: ScanId
    hosts: int
    services: int
    at_risk_hosts: int


class ChurnCount(NamedTuple):
    category: str
    hosts: int
    at_risk_first: int
    at_risk_last: int


CHURN = ("fixed", "still exposed", "newly at risk", "not at risk", "newly seen", "gone")
"""The categories of a host between two scans (:meth:`Reader.churn`), in this order."""


class ChurnHost(NamedTuple):
    ip: str
    category: str
    first: str | None  # the host's most severe verdict in the first scan (None: absent)
    last: str | None


class FindingRow(NamedTuple):
    """One CVE verdict on one service (of a host: :meth:`Reader.host_findings`)."""

    scan: str
    port: int
    cve: str
    status: str
    kev: bool
    cvss: float | None
    reason: str
    fixed_in: str | None


class Outcome(NamedTuple):
    """How many probed ports of a scan ended one way (ok, refused, timeout …)."""

    scan: str
    outcome: str
    services: int


class EventRow(NamedTuple):
    id: int
    watch: str
    created_at: datetime
    kind: str
    ip: str | None
    port: int | None
    cve: str | None
    summary: str
    state: str


class FlatRow(NamedTuple):
    """One service as the flat exports (CSV) write it; ``cves`` is ``CVE:status;…``."""

    scan: str
    ip: str
    port: int
    protocol: str
    transport: str
    observed_at: str
    outcome: str
    source: str
    hostname: str | None
    vendor: str | None
    product: str
    product_line: str | None
    version: str | None
    precision: str
    release: str | None
    confidence: str | None
    distro: str | None
    verdict: str
    kev: bool
    eol: bool | None
    eol_line: str | None
    eol_date: Any
    cves: str | None
    country: str | None
    continent: str | None
    region: str | None
    asn: int | None
    org: str | None
    city: str | None
    banner: str | None
    hostname_source: str | None  # where ``hostname`` came from (last: columns only append)


FLAT_COLUMNS: tuple[str, ...] = FlatRow._fields


class ServiceKey(NamedTuple):
    """Where a page of services ends: pass it as ``after`` for the next page."""

    scan: str
    ip: str
    port: int
    protocol: str


class ShadowSource(NamedTuple):
    """A service as the Shadowserver-format writers need it: ``severity`` on their scale,
    the CVEs and tags it is at risk by, and (for ``notify``) its owner and report type."""

    owner: str
    report_type: str
    app: str  # Shadowserver's application: exchange, smtp, imap, pop3, http, …
    timestamp: str
    severity: str
    ip: str
    port: int
    protocol: str
    hostname: str | None
    product: str
    eol: bool | None
    asn: int | None
    country: str | None
    region: str | None
    city: str | None
    version: str | None
    banner: str | None
    risky_cves: str | None
    risky_tags: str | None
    org: str | None
    status: str  # the worst verdict (vulnerable, potentially vulnerable, …)
    hostname_source: str | None  # where ``hostname`` came from (the record's field)


class OwnerFile(NamedTuple):
    """One owner's services of one report type (``notify``'s files): counts per severity."""

    owner: str
    report_type: str
    services: int
    hosts: int
    critical: int
    high: int
    medium: int
    org: str | None  # the owner's organisation (per ASN): the first named, by address

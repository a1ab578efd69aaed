"""What the analysis stores for a service, as typed rows.

A service row (:data:`ServiceRow`) names its *profile* — everything that follows from its
identification and assessment: the columns reports group by, the CVE verdicts, that part
of the exported record — and its *location*. Profiles and locations are stored once per
distinct value and scan (schema migration 5), so a census of millions of services holds a
few thousand of each. :class:`AnalysisBatch` is what one write takes; every analysis path
(a scan's, an import's, the reference analysis of :class:`~mxcensus.model.ServiceRecord`\\ s)
fills one and hands it to the one write path, :meth:`DerivedWriter.write
<mxcensus.store.derived.DerivedWriter.write>`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import orjson

from mxcensus.enrich.interface import Geo
from mxcensus.model import (
    Assessment,
    Identification,
    Status,
    conflict_key,
    record_geo,
    record_identity,
)
from mxcensus.store.db import worst_status
from mxcensus.versions import version_key

ServiceRow = tuple[
    int,  # pid: its profile
    int,  # gid: its location
    str,  # ip
    int,  # port
    str,  # protocol
    str,  # transport
    str,  # observed_at: ISO 8601 with its offset (DuckDB casts it on insert)
    str,  # outcome
    str,  # source
    str | None,  # hostname
    str,  # banner: the display form
    str | None,  # merged: the record's "merged" field as JSON text (several observations)
]
"""One service (the columns of :data:`SERVICE_COLUMNS`)."""
SERVICE_COLUMNS = (
    "pid", "gid", "ip", "port", "protocol", "transport", "observed_at", "outcome",
    "source", "hostname", "banner", "merged",
)  # fmt: skip

ProfileRow = tuple[
    str | None,  # vendor
    str,  # product
    str | None,  # product_line
    str | None,  # version
    str | None,  # version_key
    str,  # precision
    str | None,  # release
    str | None,  # confidence
    str | None,  # distro
    list[str],  # evidence
    bool | None,  # eol
    str | None,  # eol_line
    date | None,  # eol_date
    bool,  # kev: a KEV CVE vulnerable or potentially so
    str,  # worst_status
    bytes,  # part: the record's vendor ... remediation, JSON without its braces
]
PROFILE_COLUMNS = (
    "vendor", "product", "product_line", "version", "version_key", "precision",
    "release", "confidence", "distro", "evidence", "eol", "eol_line", "eol_date", "kev",
    "worst_status", "part",
)  # fmt: skip
VerdictRow = tuple[
    str,  # cve
    str,  # status
    bool,  # kev
    bool,  # ransomware
    float | None,  # cvss
    str,  # reason
    str | None,  # fixed_in
    list[str],  # tags
]
VERDICT_COLUMNS = (
    "cve", "status", "kev", "ransomware", "cvss", "reason", "fixed_in", "tags",
)  # fmt: skip
LocationRow = tuple[
    str | None,  # country
    str | None,  # continent
    str | None,  # region
    int | None,  # asn
    str | None,  # org
    str | None,  # city
    str | None,  # geo_source
    bytes,  # part: the record's country ... org, JSON without its braces
]
LOCATION_COLUMNS = (
    "country", "continent", "region", "asn", "org", "city", "geo_source", "part",
)  # fmt: skip

_AT_RISK = (Status.VULNERABLE, Status.POTENTIALLY_VULNERABLE)
MEMO_MAX = 65_536
"""Entries a memo of the analysis holds before it starts afresh (memory stays flat)."""


class Profile:
    """What one (identification, assessment) pair puts into the store; ``stored``: its
    row and verdicts are in the store for this scan's generation."""

    __slots__ = ("pid", "row", "stored", "verdicts")

    def __init__(self, pid: int, ident: Identification, a: Assessment) -> None:
        self.pid = pid
        self.stored = False
        eol = a.eol
        self.row: ProfileRow = (
            ident.vendor or None,
            ident.product,
            a.product_line or None,
            ident.version or None,
            version_key(ident.product, ident.version) if ident.version else None,
            ident.precision.label,
            a.release or None,
            a.confidence or None,
            ident.distro or None,
            [e.field for e in ident.evidence],
            eol.eol,
            eol.line or None,
            eol.date,
            any(f.kev and f.status in _AT_RISK for f in a.findings),
            worst_status(ident, a),
            orjson.dumps(record_identity(ident, a))[1:-1],
        )
        self.verdicts: tuple[VerdictRow, ...] = tuple(
            (
                f.cve,
                str(f.status),
                f.kev,
                f.ransomware,
                f.cvss,
                f.reason,
                f.fixed_in or None,
                list(f.tags),
            )
            for f in a.findings
        )


class Profiles:
    """Profiles by the identity of their (identification, assessment) objects — identify and
    assess hand out shared objects — and, on a miss, by the values a profile reads; numbered
    from ``after`` + 1 (a generation's profiles already stored hold the numbers below)."""

    def __init__(self, after: int = 0) -> None:
        self._by_id: dict[tuple[int, int], tuple[Identification, Assessment, Profile]] = {}
        self._by_value: dict[tuple[object, ...], Profile] = {}
        self._count = after

    def get(self, ident: Identification, a: Assessment) -> Profile:
        hit = self._by_id.get((id(ident), id(a)))
        if hit is not None:
            return hit[2]
        key = (
            ident.vendor,
            ident.product,
            ident.version,
            ident.precision,
            ident.distro,
            tuple(e.field for e in ident.evidence),
            tuple(map(conflict_key, ident.conflicts)),
            a,
        )
        prof = self._by_value.get(key)
        if prof is None:
            if len(self._by_value) >= MEMO_MAX:
                self._by_value.clear()
            self._count += 1
            prof = self._by_value[key] = Profile(self._count, ident, a)
        if len(self._by_id) >= MEMO_MAX:
            self._by_id.clear()
        self._by_id[(id(ident), id(a))] = (ident, a, prof)  # objects kept: ids stay theirs
        return prof


class Location:
    """A location's columns and record part; ``stored`` as for :class:`Profile`."""

    __slots__ = ("gid", "row", "stored")

    def __init__(self, gid: int, geo: Geo | None) -> None:
        g = geo or Geo()
        self.gid = gid
        self.stored = False
        self.row: LocationRow = (
            g.country or None,
            g.continent or None,
            g.region or None,
            g.asn,
            g.org or None,
            g.city or None,
            g.source or None,
            orjson.dumps(record_geo(g.country, g.continent, g.asn, g.org))[1:-1],
        )


class Locations:
    """Locations once per distinct :class:`Geo` (None: not located); numbered as
    :class:`Profiles` are."""

    def __init__(self, after: int = 0) -> None:
        self._by_value: dict[Geo | None, Location] = {}
        self._count = after

    def get(self, geo: Geo | None) -> Location:
        hit = self._by_value.get(geo)
        if hit is not None:
            return hit
        if len(self._by_value) >= MEMO_MAX:
            self._by_value.clear()
        self._count += 1
        out = self._by_value[geo] = Location(self._count, geo)
        return out


@dataclass(slots=True)
class AnalysisBatch:
    """The services of one write and the profiles and locations they use (by id)."""

    rows: list[ServiceRow] = field(default_factory=list)
    profiles: dict[int, Profile] = field(default_factory=dict)
    locations: dict[int, Location] = field(default_factory=dict)

    def clear(self) -> None:
        self.rows = []
        self.profiles = {}
        self.locations = {}

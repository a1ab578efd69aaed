"""What a request asks for: the filter parameters every page, API call and download shares,
as one FastAPI dependency (:func:`filter_params`), turned into a census :class:`Filter`;
and the opaque cursor of a services page."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

import orjson
from fastapi import Query
from pydantic import Field

from mxcensus.errors import UsageError
from mxcensus.model import ScanId
from mxcensus.web.census import Filter, ServiceKey, View, parse_network

Verdict = Literal["vulnerable", "potentially-vulnerable", "unknown", "not-vulnerable", "none"]
Asn = Annotated[int, Field(ge=0, le=4294967295)]
Port = Annotated[int, Field(ge=0, le=65535)]
Text = Annotated[str, Field(max_length=200)]


@dataclass(frozen=True, slots=True)
class Params:
    """The filter as the request gave it (repeated parameters, or commas)."""

    scan: str | None = None
    country: tuple[str, ...] = ()
    continent: tuple[str, ...] = ()
    asn: tuple[int, ...] = ()
    org: tuple[str, ...] = ()
    prefix: tuple[str, ...] = ()
    port: tuple[int, ...] = ()
    protocol: tuple[str, ...] = ()
    product: tuple[str, ...] = ()
    product_line: tuple[str, ...] = ()
    version: tuple[str, ...] = ()
    cve: tuple[str, ...] = ()
    verdict: tuple[str, ...] = ()
    kev: bool | None = None
    eol: bool | None = None
    at_risk: bool | None = None
    seen_from: datetime | None = None
    seen_to: datetime | None = None

    def to_filter(self, view: View, *, scan: str | None = None) -> Filter:
        """The census filter; the scan is the one named (or ``scan``), else the newest
        finished one. Bad values are :class:`UsageError` (answered 400)."""
        ref = scan or self.scan
        sid = view.resolve_scan(ref)
        return Filter(
            scans=(sid,) if sid is not None else (ScanId(""),),
            countries=tuple(c.upper() for c in self.country),
            continents=tuple(c.upper() for c in self.continent),
            asns=self.asn,
            orgs=self.org,
            networks=tuple(parse_network(p) for p in self.prefix),
            ports=self.port,
            protocols=self.protocol,
            products=self.product,
            product_lines=self.product_line,
            versions=self.version,
            cves=tuple(c.upper() for c in self.cve),
            verdicts=self.verdict,
            kev=self.kev,
            eol=self.eol,
            at_risk=self.at_risk,
            seen_from=self.seen_from,
            seen_to=self.seen_to,
        )

    def query(self, **changes: object) -> str:
        """This filter as a query string, with ``changes`` (None or () removes a key)."""
        pairs: list[tuple[str, str]] = []
        for f in fields(self):
            value = changes.get(f.name, getattr(self, f.name))
            if value is None or value == ():
                continue
            values = value if isinstance(value, tuple) else (value,)
            for v in values:
                if isinstance(v, bool):
                    v = "true" if v else "false"
                elif isinstance(v, datetime):
                    v = v.isoformat()
                pairs.append((f.name, str(v)))
        return urlencode(pairs)

    def active(self) -> list[tuple[str, str]]:
        """(name, value) of each criterion given, the scan aside: the page's chips."""
        out = []
        for f in fields(self):
            if f.name == "scan":
                continue
            value = getattr(self, f.name)
            if value is None or value == ():
                continue
            for v in value if isinstance(value, tuple) else (value,):
                out.append((f.name, str(v).lower() if isinstance(v, bool) else str(v)))
        return out


def _split(values: list[str] | None) -> tuple[str, ...]:
    out: list[str] = []
    for v in values or ():
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return tuple(out)


def filter_params(
    scan: Annotated[Text | None, Query(description="Scan id or name (default: newest)")] = None,
    country: Annotated[list[Text] | None, Query(description="ISO country code")] = None,
    continent: Annotated[list[Text] | None, Query(description="Continent code (EU)")] = None,
    asn: Annotated[list[Asn] | None, Query(description="Autonomous system number")] = None,
    org: Annotated[list[Text] | None, Query(description="Organisation")] = None,
    prefix: Annotated[list[Text] | None, Query(description="CIDR or address")] = None,
    port: Annotated[list[Port] | None, Query()] = None,
    protocol: Annotated[list[Text] | None, Query()] = None,
    product: Annotated[list[Text] | None, Query(description="Product id (ms-exchange)")] = None,
    product_line: Annotated[list[Text] | None, Query()] = None,
    version: Annotated[list[Text] | None, Query()] = None,
    cve: Annotated[list[Text] | None, Query()] = None,
    verdict: Annotated[list[Verdict] | None, Query()] = None,
    kev: Annotated[bool | None, Query(description="Vulnerable to a CVE in CISA KEV")] = None,
    eol: Annotated[bool | None, Query(description="End of support")] = None,
    at_risk: Annotated[bool | None, Query()] = None,
    seen_from: Annotated[datetime | None, Query()] = None,
    seen_to: Annotated[datetime | None, Query()] = None,
) -> Params:
    return Params(
        scan=scan or None,
        country=_split(country),
        continent=_split(continent),
        asn=tuple(asn or ()),
        org=tuple(o for o in org or () if o),
        prefix=_split(prefix),
        port=tuple(port or ()),
        protocol=_split(protocol),
        product=_split(product),
        product_line=tuple(p for p in product_line or () if p),
        version=tuple(v for v in version or () if v),
        cve=_split(cve),
        verdict=tuple(verdict or ()),
        kev=kev,
        eol=eol,
        at_risk=at_risk,
        seen_from=seen_from,
        seen_to=seen_to,
    )


FilterParams = Annotated[Params, Query()]


def encode_cursor(key: ServiceKey) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def decode_cursor(text: str) -> ServiceKey:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        scan, ip, port, protocol = orjson.loads(raw)
        if not all(isinstance(v, str) for v in (scan, ip, protocol)) or type(port) is not int:
            raise ValueError
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise UsageError("after: not a cursor this service gave") from None
    return ServiceKey(scan, ip, port, protocol)

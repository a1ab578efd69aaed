"""What a request asks for: the filter parameters every page, API call and download shares,
as one FastAPI dependency (:func:`filter_params`), turned into a census :class:`Filter`;
and the opaque cursor of a services page."""

from __future__ import annotations

import base64
import binascii
import inspect
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Annotated, Literal, get_args, get_origin, get_type_hints
from urllib.parse import urlencode

import orjson
from fastapi import Query
from pydantic import Field
from pydantic.fields import FieldInfo

from mxcensus.errors import UsageError
from mxcensus.model import ScanId
from mxcensus.web.census import Filter, ServiceKey, View, parse_network

Verdict = Literal["vulnerable", "potentially-vulnerable", "unknown", "not-vulnerable", "none"]
Asn = Annotated[int, Field(ge=0, le=4294967295)]
Port = Annotated[int, Field(ge=0, le=65535)]
Text = Annotated[str, Field(max_length=200)]


COMMAS = "commas"
"""In a :class:`Params` field's metadata: its values may also come comma-separated
(``country=DE,FR``); the others are taken whole (an organisation's name may hold a comma)."""


@dataclass(frozen=True, slots=True)
class Params:
    """The filter as the request gave it (repeated parameters, or commas). Each field is a
    query parameter of every page, API call and download, declared once here with its
    description: :func:`filter_params` takes them as FastAPI parameters."""

    scan: Annotated[Text | None, Query(description="Scan id or name (default: newest)")] = None
    country: Annotated[tuple[Text, ...], Query(description="ISO country code"), COMMAS] = ()
    continent: Annotated[tuple[Text, ...], Query(description="Continent code (EU)"), COMMAS] = ()
    asn: Annotated[tuple[Asn, ...], Query(description="Autonomous system number")] = ()
    org: Annotated[tuple[Text, ...], Query(description="Organisation")] = ()
    prefix: Annotated[tuple[Text, ...], Query(description="CIDR or address"), COMMAS] = ()
    port: Annotated[tuple[Port, ...], Query()] = ()
    protocol: Annotated[tuple[Text, ...], Query(), COMMAS] = ()
    product: Annotated[tuple[Text, ...], Query(description="Product id (ms-exchange)"), COMMAS] = ()
    product_line: Annotated[tuple[Text, ...], Query()] = ()
    version: Annotated[tuple[Text, ...], Query()] = ()
    cve: Annotated[tuple[Text, ...], Query(), COMMAS] = ()
    verdict: Annotated[tuple[Verdict, ...], Query()] = ()
    kev: Annotated[bool | None, Query(description="Vulnerable to a CVE in CISA KEV")] = None
    eol: Annotated[bool | None, Query(description="End of support")] = None
    at_risk: Annotated[bool | None, Query()] = None
    seen_from: Annotated[datetime | None, Query()] = None
    seen_to: Annotated[datetime | None, Query()] = None

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


def filter_params(**given: object) -> Params:
    """The :class:`Params` of a request: FastAPI passes each field's parameter (None when
    absent; repeated ones as a list), see :func:`_parameters`."""
    values: dict[str, object] = {}
    for name, value in given.items():
        if value is None or value == "":
            continue
        if isinstance(value, list):
            commas = COMMAS in get_args(_HINTS[name])
            value = _split(value) if commas else tuple(v for v in value if v != "")
        values[name] = value
    return Params(**values)  # type: ignore[arg-type]


def _parameters() -> inspect.Signature:
    """:func:`filter_params`'s signature as FastAPI reads it: each field of :class:`Params`
    with its query metadata, a tuple field as a repeatable parameter (``list[...] | None``)."""
    out = []
    for name, hint in _HINTS.items():
        base, *extras = get_args(hint)
        if get_origin(base) is tuple:
            base = list[get_args(base)[0]] | None  # type: ignore[misc]
        query = next(e for e in extras if isinstance(e, FieldInfo))
        kind = inspect.Parameter.KEYWORD_ONLY
        out.append(inspect.Parameter(name, kind, default=None, annotation=Annotated[base, query]))
    return inspect.Signature(out, return_annotation=Params)


_HINTS = get_type_hints(Params, include_extras=True)
filter_params.__signature__ = _parameters()  # type: ignore[attr-defined]


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

"""Country offline (iptocc), continent and region from the country (a shipped table), ASN,
organisation and city from user-supplied MMDB files (GeoLite2 / DB-IP / ipinfo layouts).

Precedence per field: the source's own record (the hint) > MMDB files in the order given >
iptocc. Lookups are cached per (ip, hint).
"""

from __future__ import annotations

import csv
import importlib.metadata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import iptocc
import maxminddb

from mxcensus.enrich.interface import EnrichError, Geo
from mxcensus.model import Transcript

_CACHE_MAX = 65_536  # ~20 MB; the pipeline asks once per host, imports repeat hosts per port


@dataclass(frozen=True, slots=True)
class CountryInfo:
    continent: str
    m49: str
    region: str


@cache
def countries() -> Mapping[str, CountryInfo]:
    """ISO 3166-1 alpha-2 -> continent and UN M49 sub-region (the shipped countries.csv)."""
    text = resources.files("mxcensus.enrich").joinpath("countries.csv").read_text("utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {r["alpha2"]: CountryInfo(r["continent"], r["m49"], r["region"]) for r in rows}


@dataclass(frozen=True, slots=True)
class _Found:
    country: str = ""
    continent: str = ""
    asn: int | None = None
    org: str = ""
    city: str = ""


class MmdbFile:
    """One MMDB (country, city, ASN or combined): the fields it has for an address."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self._reader = maxminddb.open_database(str(self.path))
        except FileNotFoundError as exc:
            raise EnrichError(f"--geo-db {self.path}: no such file") from exc
        except (maxminddb.InvalidDatabaseError, OSError, ValueError) as exc:
            raise EnrichError(f"--geo-db {self.path}: not a readable MMDB file ({exc})") from exc
        meta = self._reader.metadata()
        self.database_type = str(meta.database_type)
        self.built = datetime.fromtimestamp(int(meta.build_epoch), UTC).date().isoformat()

    def close(self) -> None:
        self._reader.close()

    def get(self, ip: str) -> _Found:
        try:
            rec = self._reader.get(ip)
        except ValueError:  # not an address, or IPv6 in an IPv4-only file
            return _Found()
        if not isinstance(rec, dict):
            return _Found()
        return _parse_record(rec)


def _name(v: Any) -> str:
    if isinstance(v, dict):
        names = v.get("names")
        if isinstance(names, dict):
            return str(names.get("en") or next(iter(names.values()), "") or "")
        return ""
    return v if isinstance(v, str) else ""


def _parse_record(rec: dict[str, Any]) -> _Found:
    country = ""
    c = rec.get("country")
    if isinstance(c, dict):
        country = str(c.get("iso_code") or "")
    elif isinstance(c, str) and len(c) == 2:  # ipinfo
        country = c
    if not country:
        rc = rec.get("registered_country")
        if isinstance(rc, dict):
            country = str(rc.get("iso_code") or "")
        elif isinstance(rec.get("country_code"), str):
            country = rec["country_code"]
    cont = rec.get("continent")
    continent = str(cont.get("code") or "") if isinstance(cont, dict) else ""
    if not continent and isinstance(rec.get("continent_code"), str):
        continent = rec["continent_code"]
    asn: int | None = None
    raw_asn = rec.get("autonomous_system_number", rec.get("asn"))
    if isinstance(raw_asn, int):
        asn = raw_asn
    elif isinstance(raw_asn, str) and raw_asn.upper().removeprefix("AS").isdigit():
        asn = int(raw_asn.upper().removeprefix("AS"))
    org = ""
    for key in ("autonomous_system_organization", "as_name", "organization", "isp"):
        if isinstance(rec.get(key), str) and rec[key]:
            org = rec[key]
            break
    city = _name(rec.get("city"))
    return _Found(country.upper(), continent.upper(), asn, org, city)


class GeoEnricher:
    """The enricher: iptocc always, MMDB files when given, the source's hint first."""

    def __init__(self, mmdb: Sequence[Path | str] = (), *, use_iptocc: bool = True) -> None:
        self.files = [MmdbFile(p) for p in mmdb]
        self.use_iptocc = use_iptocc
        self._cache: dict[tuple[str, Geo | None], Geo] = {}
        self._countries = countries()

    def close(self) -> None:
        for f in self.files:
            f.close()

    def provenance(self) -> dict[str, Any]:
        """Which sources (and their dates) this enricher answers from, for the scan's params."""
        out: dict[str, Any] = {
            "mmdb": [
                {"path": str(f.path.resolve()), "type": f.database_type, "built": f.built}
                for f in self.files
            ]
        }
        if self.use_iptocc:
            out["iptocc"] = importlib.metadata.version("iptocc")
        return out

    def same_everywhere(self, hint: Geo | None) -> bool:
        """Whether :meth:`lookup` gives every address the same answer with this hint: the
        hint names the country and no MMDB file is read (lookup caches it by the hint)."""
        return hint is not None and bool(hint.country) and not self.files

    def lookup(self, ip: str, hint: Geo | Transcript | None = None) -> Geo:
        if isinstance(hint, Transcript):
            hint = hint_of(hint)
        # with the country given and no MMDB file, nothing is looked up for the address:
        # one answer per hint (an import repeats few locations over many addresses)
        key = ("", hint) if hint is not None and hint.country and not self.files else (ip, hint)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        geo = self._lookup(ip, hint)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[key] = geo
        return geo

    def _lookup(self, ip: str, hint: Geo | None) -> Geo:
        country = continent = org = city = ""
        asn: int | None = None
        used: list[str] = []

        def take(source: str, c: str, a: int | None, o: str, ci: str, cont: str = "") -> None:
            nonlocal country, continent, org, city, asn
            gave = False
            if c and not country:
                country, gave = c.upper(), True
                continent = cont
            if a is not None and asn is None:
                asn, gave = a, True
            if o and not org:
                org, gave = o, True
            if ci and not city:
                city, gave = ci, True
            if gave and source not in used:
                used.append(source)

        if hint is not None:
            take(hint.source or "import", hint.country, hint.asn, hint.org, hint.city)
        if self.files and (not country or asn is None or not org or not city):
            for f in self.files:
                found = f.get(ip)
                take("mmdb", found.country, found.asn, found.org, found.city, found.continent)
        if not country and self.use_iptocc:
            cc = iptocc.country_code(ip)
            if cc:
                take("iptocc", cc, None, "", "")
        info = self._countries.get(country)
        region = ""
        if info is not None:
            continent = info.continent
            region = info.region
        return Geo(
            country=country,
            continent=continent,
            region=region,
            asn=asn,
            org=org,
            city=city,
            source="+".join(used),
        )


def hint_from_extra(extra: Iterable[tuple[str, str]], source: str) -> Geo | None:
    """The location an importer recorded under ``geo.*`` keys, as a hint (None if none)."""
    country = org = city = ""
    asn: int | None = None
    for k, v in extra:
        if not k.startswith("geo."):
            continue
        if k == "geo.country" and len(v) == 2 and v.isalpha():
            country = v.upper()
        elif k == "geo.asn" and v.isdigit():
            asn = int(v)
        elif k == "geo.org":
            org = v
        elif k == "geo.city":
            city = v
    if not (country or asn is not None or org or city):
        return None
    return Geo(country=country, asn=asn, org=org, city=city, source=source)


def hint_of(transcript: Transcript) -> Geo | None:
    """What the pipeline passes as ``hint`` for a transcript: its importer's location."""
    if transcript.source == "scan" or not transcript.extra:
        return None
    return hint_from_extra(transcript.extra, transcript.source)

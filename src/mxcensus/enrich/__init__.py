"""Enrichment: country, continent, region, ASN, organisation and city for an address.

``GeoEnricher(mmdb_paths).lookup(ip, hint_of(transcript)) -> Geo``; see interface.py.
"""

from __future__ import annotations

from mxcensus.enrich.geo import GeoEnricher, MmdbFile, countries, hint_from_extra, hint_of
from mxcensus.enrich.interface import Enricher, EnrichError, Geo

__all__ = [
    "EnrichError",
    "Enricher",
    "Geo",
    "GeoEnricher",
    "MmdbFile",
    "countries",
    "hint_from_extra",
    "hint_of",
]

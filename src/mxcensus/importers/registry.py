"""The importers by format name: one line each."""

from __future__ import annotations

from mxcensus.importers.censys import CensysImporter
from mxcensus.importers.interface import Importer
from mxcensus.importers.masscan import MasscanImporter
from mxcensus.importers.nmap_xml import NmapXmlImporter
from mxcensus.importers.shadowserver import ShadowserverImporter
from mxcensus.importers.shodan import ShodanImporter
from mxcensus.importers.zgrab2 import Zgrab2Importer

IMPORTERS: dict[str, Importer] = {
    i.name: i
    for i in (
        ShodanImporter(),
        CensysImporter(),
        Zgrab2Importer(),
        NmapXmlImporter(),
        MasscanImporter(),
        ShadowserverImporter(),
    )
}


def feed_formats() -> dict[str, tuple[str, ...]]:
    """The formats a watch feed may hold (importers declaring ``feed_suffixes``: the file
    name endings that are theirs, ``""`` for any file no other format claims)."""
    return {
        name: suffixes
        for name, imp in IMPORTERS.items()
        if (suffixes := tuple(getattr(imp, "feed_suffixes", ())))
    }


def feed_format_of(filename: str) -> str | None:
    """The feed format a file is by its name (``.gz`` aside), or None when none claims it."""
    name = filename.lower().removesuffix(".gz")
    formats = feed_formats()
    for fmt, suffixes in formats.items():
        if any(s and name.endswith(s) for s in suffixes):
            return fmt
    return next((fmt for fmt, suffixes in formats.items() if "" in suffixes), None)


FEEDS = feed_formats()
"""Feed format -> the file name endings that are its (see :func:`feed_formats`)."""

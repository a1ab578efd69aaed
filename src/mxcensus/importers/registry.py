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


FEEDS: dict[str, tuple[str, ...]] = {
    name: suffixes
    for name, imp in IMPORTERS.items()
    if (suffixes := tuple(getattr(imp, "feed_suffixes", ())))
}
"""The formats a watch feed may hold: importers declaring ``feed_suffixes``, the file name
endings that are theirs (``""``: any file no other format claims)."""


def feed_format_of(filename: str) -> str | None:
    """The feed format a file is by its name (``.gz`` aside), or None when none claims it."""
    name = filename.lower().removesuffix(".gz")
    for fmt, suffixes in FEEDS.items():
        if any(s and name.endswith(s) for s in suffixes):
            return fmt
    return next((fmt for fmt, suffixes in FEEDS.items() if "" in suffixes), None)

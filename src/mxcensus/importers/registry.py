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

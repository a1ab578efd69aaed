"""The lab's simulated geography: each host sits in one of :data:`NETWORKS`, a simulated
network with a country, an ASN and an organisation, spread over six continents.

Hosts are placed in runs of :data:`RUN` consecutive indices (neighbouring addresses share a
network, as a provider's prefix does), each run drawn from ``(seed, run)``: the same host
keeps its network at every epoch and on any ``--base``. ``lab --mmdb FILE`` writes the
placement as an MMDB (:mod:`mxcensus.lab.mmdb`) in the GeoLite2 City + ASN layout, which
``scan``/``reassess``/``import --geo-db FILE`` read like any other: the demo's countries,
continents and owners come through the real enrichment.

ASNs are from the ranges reserved for documentation (RFC 5398) and organisations are
invented: nothing here names a real network.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mxcensus.lab.mmdb import Value, write_mmdb
from mxcensus.lab.population import LabConfig, addresses, span

RUN = 4


@dataclass(frozen=True, slots=True)
class Network:
    asn: int
    org: str
    country: str  # ISO 3166-1 alpha-2
    continent: str  # the country's continent code
    weight: int


NETWORKS: tuple[Network, ...] = (
    Network(64496, "Rheinwerk Hosting (simulated)", "DE", "EU", 14),
    Network(64497, "Nordlicht Telekom (simulated)", "DE", "EU", 6),
    Network(64498, "Loire Datacentres (simulated)", "FR", "EU", 8),
    Network(64499, "Polder Cloud (simulated)", "NL", "EU", 7),
    Network(64500, "Thames Mail Services (simulated)", "GB", "EU", 6),
    Network(64501, "Prairie Broadband (simulated)", "US", "NA", 12),
    Network(64502, "Cascade Compute (simulated)", "US", "NA", 8),
    Network(64503, "Maple Networks (simulated)", "CA", "NA", 4),
    Network(64504, "Ipanema Provedor (simulated)", "BR", "SA", 7),
    Network(64505, "Pampa Datos (simulated)", "AR", "SA", 3),
    Network(64506, "Sakura Link (simulated)", "JP", "AS", 6),
    Network(64507, "Deccan Hosting (simulated)", "IN", "AS", 7),
    Network(64508, "Merlion Cloud (simulated)", "SG", "AS", 4),
    Network(64509, "Savanna Telecom (simulated)", "KE", "AF", 3),
    Network(64510, "Cape Fibre (simulated)", "ZA", "AF", 3),
    Network(64511, "Southern Cross Hosting (simulated)", "AU", "OC", 4),
)


def network_of(seed: int, index: int) -> Network:
    """The network of host ``index`` (the same at every epoch)."""
    rng = random.Random(f"mxcensus-lab-geo:{seed}:{index // RUN}")
    return rng.choices(NETWORKS, weights=[n.weight for n in NETWORKS])[0]


def record(net: Network) -> dict[str, Value]:
    """The MMDB record of a network (GeoLite2 City and ASN fields in one map)."""
    return {
        "continent": {"code": net.continent},
        "country": {"iso_code": net.country},
        "autonomous_system_number": net.asn,
        "autonomous_system_organization": net.org,
    }


def placements(config: LabConfig) -> Iterator[tuple[str, Network]]:
    """(CIDR, network) covering every address the population uses up to its epoch:
    consecutive addresses of one network are summarised into as few CIDRs as possible."""
    where = addresses(config.base, span(config))
    start = 0
    for i in range(1, len(where) + 1):
        if i < len(where) and (
            network_of(config.seed, i) == network_of(config.seed, start)
            and int(ipaddress.IPv4Address(where[i])) == int(ipaddress.IPv4Address(where[i - 1])) + 1
        ):
            continue
        first, last = ipaddress.IPv4Address(where[start]), ipaddress.IPv4Address(where[i - 1])
        net = network_of(config.seed, start)
        for cidr in ipaddress.summarize_address_range(first, last):
            yield str(cidr), net
        start = i


def write_geo_db(config: LabConfig, path: Path) -> None:
    """Write the population's geography to ``path`` as an MMDB, whole or not at all
    (identical for identical configs: the build date is fixed)."""
    write_mmdb(
        path,
        ((cidr, record(net)) for cidr, net in placements(config)),
        database_type="mxcensus-lab-geography",
        description=f"mxcensus lab: simulated networks (seed {config.seed})",
        build_epoch=1_767_225_600,  # 2026-01-01, fixed: identical inputs, identical files
    )

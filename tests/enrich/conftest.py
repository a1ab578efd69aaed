"""Small MMDB files built with mmdb_writer: the layouts of GeoLite2/DB-IP and ipinfo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet


def write_mmdb(path: Path, db_type: str, networks: dict[str, dict[str, Any]]) -> Path:
    writer = MMDBWriter(ip_version=4, database_type=db_type, languages=["en"],
                        description={"en": f"mxcensus test {db_type}"})  # fmt: skip
    for cidr, record in networks.items():
        writer.insert_network(IPSet([cidr]), record)
    writer.to_db_file(str(path))
    return path


def city(cc: str, continent: str, name: str) -> dict[str, Any]:
    return {
        "continent": {"code": continent, "names": {"en": continent}},
        "country": {"iso_code": cc, "names": {"en": cc}},
        "city": {"names": {"en": name}},
    }


@pytest.fixture
def city_db(tmp_path: Path) -> Path:
    return write_mmdb(
        tmp_path / "GeoLite2-City-test.mmdb",
        "GeoLite2-City",
        {
            "192.0.2.0/24": city("JP", "AS", "Tokyo"),
            "198.51.100.0/24": city("AT", "EU", "Vienna"),
        },
    )


@pytest.fixture
def asn_db(tmp_path: Path) -> Path:
    return write_mmdb(
        tmp_path / "GeoLite2-ASN-test.mmdb",
        "GeoLite2-ASN",
        {
            "192.0.2.0/24": {"autonomous_system_number": 64496,
                             "autonomous_system_organization": "Doc Net One"},
            "193.0.0.0/21": {"autonomous_system_number": 3333,
                             "autonomous_system_organization": "RIPE NCC"},
        },
    )  # fmt: skip

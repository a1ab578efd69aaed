"""A watch feed's files go to the importer whose declared file name endings they have."""

from __future__ import annotations

import pytest

from mxcensus.importers.registry import FEEDS, IMPORTERS, feed_format_of


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("2026-12-07-scan_exchange-world-geo.csv", "shadowserver"),
        ("2026-12-07-scan_smtp.CSV.gz", "shadowserver"),
        ("shodan-download.json.gz", "shodan"),
        ("export.jsonl", "shodan"),
        ("daily.dat", "shodan"),  # the catch-all: what no other format claims
    ],
)
def test_a_feed_file_is_read_by_the_format_its_name_says(name: str, fmt: str) -> None:
    assert feed_format_of(name) == fmt


def test_feed_formats_are_declared_by_importers_only() -> None:
    formats = FEEDS
    assert set(formats) <= set(IMPORTERS)
    assert formats["shadowserver"] == (".csv",)
    # exactly one catch-all, or a file could be claimed by two formats
    assert sum("" in s for s in formats.values()) == 1

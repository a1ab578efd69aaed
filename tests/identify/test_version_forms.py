"""The long tail of version forms: every row of ``data/version_forms.csv`` is identified as
expected -- product, the version that decides a verdict (fix pack, hotfix, patch level,
vendor snapshot kept; platform prefixes stripped) and the distribution or vendor build as
``distro``.

The rows were collected by the issue 16 research (164 banners from recog's and nmap's
fingerprint data, rewritten with example names and dates, our own recordings of Debian's
servers, and source files; each row cites its source); ``before_*`` is what mxcensus gave
before this work. ``bench/version_forms.py`` prints the figures.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from mxcensus.identify import identify_field
from mxcensus.vocabulary import PRODUCTS

DATA = Path(__file__).parent / "data" / "version_forms.csv"


def banner_text(escaped: str) -> str:
    """The banner as the server sent it (``\\xHH`` escapes for latin-1 bytes)."""
    return re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), escaped)


def norm(version: str) -> str:
    return version.replace(" ", "").lower()


with DATA.open(newline="", encoding="utf-8") as _fh:
    ROWS = list(csv.DictReader(_fh))


@pytest.mark.parametrize("row", ROWS, ids=[f"{r['protocol']}:{r['source']}" for r in ROWS])
def test_version_form(row: dict[str, str]) -> None:
    ident = identify_field(f"{row['protocol']}.banner", banner_text(row["banner"]))
    assert row["expected_product"] in PRODUCTS
    assert ident.product == row["expected_product"], row["banner"]
    assert norm(ident.version) == norm(row["expected_version"]), row["banner"]
    assert ident.distro == row["expected_distro"], row["banner"]


def test_the_table_is_what_the_research_collected() -> None:
    assert len(ROWS) == 164
    assert {r["protocol"] for r in ROWS} == {"smtp", "imap", "pop3"}

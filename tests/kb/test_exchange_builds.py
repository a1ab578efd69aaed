"""Every Exchange build of the reference lists is in the knowledge base and maps to its
product line, CU/SP and SU/RU."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mxcensus import kb
from mxcensus.assess import assess
from mxcensus.model import Identification, Outcome, Precision, Transcript, Transport

REFERENCE = Path("/work/shared/reference")
DATA = kb.DATA_DIR


def _rows(path: Path) -> list[dict[str, str]]:
    lines = path.read_text().splitlines()
    return list(csv.DictReader(line for line in lines if not line.startswith("#")))


def _files() -> list[Path]:
    # the shipped copies; the reference originals when they exist on this machine
    shipped = [DATA / "exchange-builds.csv", DATA / "exchange-builds-supplement.csv"]
    return shipped


ROWS = [(p.name, r) for p in _files() for r in _rows(p)]


def test_row_counts_match_the_reference_notes() -> None:
    main = _rows(DATA / "exchange-builds.csv")
    supplement = _rows(DATA / "exchange-builds-supplement.csv")
    assert len(main) == 338
    assert len(supplement) == 113
    per_line: dict[str, int] = {}
    for r in main:
        per_line[r["product"]] = per_line.get(r["product"], 0) + 1
    assert per_line == {
        "Exchange Server 2007": 51,
        "Exchange Server 2010": 62,
        "Exchange Server 2013": 42,
        "Exchange Server 2016": 81,
        "Exchange Server 2019": 92,
        "Exchange Server SE": 10,
    }


@pytest.mark.skipif(not REFERENCE.exists(), reason="reference files not on this machine")
@pytest.mark.parametrize("name", ["exchange-builds.csv", "exchange-builds-supplement.csv"])
def test_shipped_copy_holds_every_reference_row(name: str) -> None:
    assert _rows(REFERENCE / name) == _rows(DATA / name)


def test_conflict_notes_are_kept() -> None:
    notes = [r["date_precision"] for r in _rows(DATA / "exchange-builds-supplement.csv")]
    assert sum("CONFLICT" in n for n in notes) >= 6


@pytest.mark.parametrize(("file", "row"), ROWS, ids=[f"{f}:{r['build_short']}" for f, r in ROWS])
def test_build_maps_to_line_cu_and_su(file: str, row: dict[str, str]) -> None:
    build = kb.exchange_build(row["build_short"])
    assert build is not None
    assert build.product_line == row["product"]
    assert build.release == row["release_name"]
    assert f"{build.base} {build.update}".strip().replace("+ ", "") == row["release_name"].replace(
        "+ ", ""
    )
    seen = Transcript(
        ip="127.0.0.1",
        port=443,
        protocol="https",
        transport=Transport.TLS,
        observed_at=datetime(2026, 9, 1, tzinfo=UTC),
        outcome=Outcome.OK,
    )
    a = assess(
        Identification(
            product="ms-exchange", version=row["build_short"], precision=Precision.BUILD4
        ),
        seen,
    )
    assert a.product_line == row["product"]
    assert a.release == row["release_name"]
    assert a.confidence == "high"
    # the long, zero-padded form is the same build
    assert kb.exchange_build(row["build_long"]) == build


def test_cu_and_su_parts() -> None:
    b = kb.exchange_build("15.1.2375.12")
    assert b is not None
    assert (b.product_line, b.base, b.update) == ("Exchange Server 2016", "CU22", "Oct21SU")
    b = kb.exchange_build("14.3.513.0")
    assert b is not None
    assert (b.product_line, b.base, b.update) == ("Exchange Server 2010", "SP3", "RU32")
    b = kb.exchange_build("15.2.2562.17")
    assert b is not None
    assert (b.product_line, b.base, b.update) == ("Exchange Server SE", "RTM", "")

"""One service per endpoint per scan: three Shodan records of 192.0.2.25:25 (Exim 4.92 in
January, 4.96 in March, 4.94 in February) are one service, Exim 4.96 as seen in March, the
others history; whichever path imports them (columnar, record by record, spread over
batches and chunks), reassess, the reference analysis and ``explain`` agree."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from mxcensus.explain import explain
from mxcensus.importers import import_files, run
from mxcensus.model import ScanId
from mxcensus.pipeline import analyze_scan, analyze_scan_reference
from mxcensus.report.render import render_report
from mxcensus.store.db import Store
from tests.importers.test_shodan_columnar import EXIM, POSTFIX, write_lines

ROOT = Path(__file__).resolve().parent.parent
VALIDATOR = Draft202012Validator(json.loads((ROOT / "schema" / "record.schema.json").read_text()))


def exim(version: str, when: str, ip: str = "192.0.2.25") -> dict[str, Any]:
    rec = copy.deepcopy(EXIM)
    rec["data"] = rec["data"].replace("Exim 4.92", f"Exim {version}")
    rec["version"] = version
    rec["timestamp"] = when
    rec["ip_str"] = ip
    rec.pop("ip", None)
    return rec


def postfix(ip: str) -> dict[str, Any]:
    rec = copy.deepcopy(POSTFIX)
    rec["ip_str"] = ip
    rec.pop("ip", None)
    return rec


JAN, FEB, MAR = (
    "2024-01-10T08:00:00.000000",
    "2024-02-10T08:00:00.000000",
    "2024-03-10T08:00:00.000000",
)
LINES = [
    orjson.dumps(r)
    for r in (
        exim("4.92", JAN),
        postfix("198.51.100.7"),
        exim("4.96", MAR),  # the newest: the service
        postfix("198.51.100.8"),
        exim("4.94", FEB),
    )
]
MERGED = {
    "observations": 3,
    "chosen": "newest",
    "others": ["2024-02-10T08:00:00+00:00", "2024-01-10T08:00:00+00:00"],
}


def _records(store: Store, scan: ScanId) -> list[dict[str, Any]]:
    out = []
    for r in store.iter_records(scan):
        VALIDATOR.validate(r)
        out.append(r)
    return out


def _check(store: Store, scan: ScanId) -> list[dict[str, Any]]:
    """The hand-written expectation, whatever wrote the services."""
    records = _records(store, scan)
    assert [(r["ip"], r["port"]) for r in records] == [
        ("192.0.2.25", 25),
        ("198.51.100.7", 587),  # the fixture's Postfix is on the submission port
        ("198.51.100.8", 587),
    ]
    dup = records[0]
    assert (dup["product"], dup["version"]) == ("exim", "4.96")
    assert dup["observed_at"] == "2024-03-10T08:00:00+00:00"
    assert dup["merged"] == MERGED
    assert "merged" not in records[1] and "merged" not in records[2]
    assert store.count("transcripts", scan) == 5  # the history stays
    assert store.count("services", scan) == 3
    return records


@pytest.mark.parametrize(
    ("columnar", "batch", "chunk"),
    [
        (True, 5_000, 64 * 1024 * 1024),  # one chunk: the host's rows together
        (True, 5_000, 3_000),  # a chunk per line or two: the host split over chunks
        (False, 5_000, 0),  # record by record, one batch
        (False, 2, 0),  # record by record, the host split over batches
    ],
)
def test_every_import_path_merges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, columnar: bool, batch: int, chunk: int
) -> None:
    monkeypatch.setattr(run, "BATCH", batch)
    if chunk:
        monkeypatch.setattr(run, "CHUNK_BYTES", chunk)
    src = write_lines(tmp_path / "three.json", LINES)
    with Store.open(tmp_path / "s.duckdb") as store:
        res = import_files(store, "shodan", [src], enricher=None, columnar=columnar)
        assert (res.transcripts, res.services) == (5, 3)
        assert (res.columnar_chunks > 0) == columnar
        records = _check(store, res.scan)
        # reassess and the reference analysis write the same services
        analyze_scan(store, res.scan)
        assert _check(store, res.scan) == records
        analyze_scan_reference(store, res.scan)
        assert _check(store, res.scan) == records


def test_equal_times_keep_the_last_read(tmp_path: Path) -> None:
    lines = [orjson.dumps(exim("4.92", MAR)), orjson.dumps(exim("4.97", MAR))]
    src = write_lines(tmp_path / "tie.json", lines)
    with Store.open(tmp_path / "s.duckdb") as store:
        for columnar in (True, False):
            res = import_files(store, "shodan", [src], enricher=None, columnar=columnar)
            (rec,) = _records(store, res.scan)
            assert rec["version"] == "4.97"
            assert rec["merged"] == {
                "observations": 2,
                "chosen": "newest",
                "others": ["2024-03-10T08:00:00+00:00"],
            }


def test_reports_count_one_service_and_explain_says_so(tmp_path: Path) -> None:
    src = write_lines(tmp_path / "three.json", LINES)
    with Store.open(tmp_path / "s.duckdb") as store:
        scan = import_files(store, "shodan", [src], enricher=None).scan
        report = orjson.loads(render_report(store, scan, "version", "json"))
        text = json.dumps(report)
        assert "4.96" in text and "4.92" not in text and "4.94" not in text
        lines = explain(store, "192.0.2.25:25")
    merged = [line for line in lines if line.strip().startswith("merged:")]
    assert merged == [
        "  merged: 3 observations of 192.0.2.25:25 in this scan; the newest is this service,"
        " the others (2024-02-10T08:00:00+00:00, 2024-01-10T08:00:00+00:00) are history"
    ]
    assert any("Exim 4.96" in line for line in lines)
    assert not any("Exim 4.92" in line or "Exim 4.94" in line for line in lines)

"""The truth agrees with what this project's own scanner sees in the lab.

Scans a small lab with ``mxcensus scan`` (a range excluded, which the lab's counters must show
untouched) and compares every exported record of an open port
with the truth: the outcome class, the product that port shows, and the host's combined
version and precision (the identifier combines the evidence of all ports of a host).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mxcensus.lab.api import Lab
from tests.conftest import RunCli

pytestmark = pytest.mark.slow


def _records(mx: RunCli, db: Path) -> list[dict[str, Any]]:
    res = mx("export", "--format", "jsonl", "--all-outcomes", "--db", str(db))
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def test_scan_of_the_lab_matches_the_truth(mx: RunCli, tmp_path: Path) -> None:
    db = tmp_path / "lab.duckdb"
    # seed 1: these 80 hosts include every hostile kind that ends in its own outcome
    with Lab(size=80, seed=1, hostile_fraction=0.3, tarpit_interval=2.0) as lab:
        first, last = lab.addresses[0], lab.addresses[-1]
        excluded = lab.addresses[40:50]
        res = mx(
            "scan", f"{first}-{last}", "--allow-reserved", "--db", str(db), "-q",
            "--exclude", f"{excluded[0]}-{excluded[-1]}",
            timeout=600,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        truth = lab.truth["hosts"]
        counted = lab.counters()["connections"]
    # the lab saw every host but the excluded ones, and not one packet for those
    assert not set(excluded) & set(counted)
    assert set(lab.addresses) - set(excluded) == set(counted)
    compared = 0
    hostile_outcomes = set()
    for rec in _records(mx, db):
        host = truth[rec["ip"]]
        if rec["ip"] in excluded:
            assert rec["outcome"] == "excluded", rec
            continue
        port = host["ports"].get(str(rec["port"]))
        if port is None:  # a closed port the scanner tried
            assert rec["outcome"] != "ok", rec
            continue
        where = f"{rec['ip']}:{rec['port']} ({host['kind']})"
        assert rec["outcome"] == port["outcome"], where
        if host["hostile"]:
            hostile_outcomes.add(port["outcome"])
        if port["product"] != "unknown":
            assert rec["product"] == port["product"], where
        if port["product"] == host["product"] == rec["product"]:
            assert rec["precision"] == host["precision"], where
            assert (rec["version"] or "") == host["visible_version"], where
        compared += 1
    assert compared > 100
    assert {"timeout", "reset", "closed", "protocol-error", "too-large", "tls-error"} <= (
        hostile_outcomes
    )

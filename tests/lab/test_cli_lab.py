"""``mxcensus lab`` as a user runs it: starts, writes truth, stops by itself."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import RunCli


def test_lab_writes_truth_and_stops_after_duration(mx: RunCli, tmp_path: Path) -> None:
    truth = tmp_path / "truth.json"
    counters = tmp_path / "counters.json"
    res = mx(
        "lab", "--size", "40", "--seed", "3", "--base", "127.65.0.0", "--duration", "1.5",
        "--truth", str(truth), "--counters", str(counters), "--workers", "1",
        timeout=60,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "40 hosts" in res.stderr and "stopped (duration)" in res.stderr
    doc = json.loads(truth.read_text())
    assert doc["seed"] == 3 and len(doc["hosts"]) == 40
    assert next(iter(doc["hosts"])) == "127.65.0.1"
    assert "BEGIN CERTIFICATE" in doc["ca_pem"]
    final = json.loads(counters.read_text())
    assert final["final"] is True and final["total"] == 0


def test_lab_refuses_non_loopback_base(mx: RunCli, tmp_path: Path) -> None:
    truth = tmp_path / "truth.json"
    res = mx("lab", "--base", "192.0.2.0", "--truth", str(truth), "--duration", "1")
    assert res.returncode == 2
    assert "--base" in res.stderr and "loopback" in res.stderr
    assert res.stderr.strip().count("\n") == 0
    assert not truth.exists()


def test_lab_refuses_unknown_port(mx: RunCli) -> None:
    res = mx("lab", "--ports", "25,8080", "--duration", "1")
    assert res.returncode == 2
    assert "8080" in res.stderr


def test_lab_refuses_truth_in_a_missing_directory(mx: RunCli, tmp_path: Path) -> None:
    res = mx("lab", "--base", "auto", "--truth", str(tmp_path / "nope" / "t.json"))
    assert res.returncode == 2
    assert "--truth" in res.stderr and "does not exist" in res.stderr
    assert "Traceback" not in res.stderr

"""The demo tells the whole story in a screen, and every command it suggests works on its
database: two scans (trend), hosts in several countries and networks (notify)."""

from __future__ import annotations

import csv
import shlex
from pathlib import Path

import pytest

from mxcensus.demo import SCANS
from mxcensus.export.notify import INDEX
from mxcensus.store.db import Store
from mxcensus.store.filters import Filter
from tests.conftest import SRC
from tests.demo.conftest import Demo, run_in


def test_prints_a_short_summary(demo: Demo) -> None:
    lines = demo.stdout.splitlines()
    assert len(lines) < 40, demo.stdout
    assert max(len(line) for line in lines) <= 80, demo.stdout
    text = demo.stdout
    assert "30 days later (simulated" in text
    for heading in ("Top risks", f"Since {SCANS[0]} (hosts)", "Next:"):
        assert heading in text
    assert "countries on 6 continents" in text


def test_stores_two_named_scans_with_geography(demo: Demo) -> None:
    with Store.open(demo.db, read_only=True) as store:
        reader = store.reader()
        scans = reader.scans()
        assert [s.name for s in scans] == list(SCANS)
        assert all(s.status == "finished" for s in scans)
        totals = reader.totals(Filter(scans=(scans[1].id,)), geo=True)
    countries = [p for p in totals.places["country"] if p.place]
    continents = {p.place for p in totals.places["continent"]}
    assert len(countries) >= 8
    assert continents >= {"EU", "NA", "SA", "AS", "AF", "OC"}
    assert sum(p.hosts for p in countries) == totals.hosts  # every host placed


def suggested(demo: Demo) -> list[list[str]]:
    tail = demo.stdout.split("Next:", 1)[1]
    return [shlex.split(line)[1:] for line in tail.splitlines() if line.strip()]


def test_suggests_report_trend_explain_notify(demo: Demo) -> None:
    verbs = [cmd[0] for cmd in suggested(demo)]
    assert verbs == ["report", "trend", "explain", "notify", "serve"]


@pytest.mark.parametrize("verb", ["report", "trend", "explain", "notify"])
def test_suggested_command_works(demo: Demo, verb: str) -> None:
    (cmd,) = [c for c in suggested(demo) if c[0] == verb]
    res = run_in(demo.cwd, *cmd)
    assert res.returncode == 0, (cmd, res.stderr)
    if verb == "report":
        html = (demo.cwd / "report.html").read_text()
        assert "<svg" in html
    elif verb == "trend":
        assert SCANS[0] in res.stdout and SCANS[1] in res.stdout
    elif verb == "explain":
        assert "identified:" in res.stdout
        assert "vulnerable" in res.stdout
    else:
        with (demo.cwd / "notices" / INDEX).open(newline="") as fh:
            owners = {row["owner"] for row in csv.DictReader(fh, delimiter="\t")}
        assert len(owners) >= 5, owners
        assert "owners" in res.stdout


def test_a_missing_store_names_the_demo_database_and_mxcensus_db(
    demo: Demo, tmp_path: Path
) -> None:
    nowhere = {"XDG_DATA_HOME": str(tmp_path / "data")}  # no default store
    here = run_in(demo.cwd, "report", env=nowhere)
    assert here.returncode == 2
    assert "--db mxcensus-demo.duckdb" in here.stderr and "MXCENSUS_DB" in here.stderr
    elsewhere = run_in(tmp_path, "trend", env=nowhere)
    assert elsewhere.returncode == 2
    assert "MXCENSUS_DB" in elsewhere.stderr and "mxcensus demo" in elsewhere.stderr
    assert len(elsewhere.stderr.strip().splitlines()) == 1


def test_output_files_are_confirmed_in_one_line(demo: Demo, tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    res = run_in(demo.cwd, "export", "--db", str(demo.db), "--format", "csv", "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    rows = out.read_text().count("\n") - 1
    assert res.stderr == f"mxcensus: wrote {rows:,} records to {out} ({res.stderr.split('(')[-1]}"
    res = run_in(demo.cwd, "report", "--db", str(demo.db), "-o", str(tmp_path / "r.txt"))
    assert res.stderr.startswith("mxcensus: wrote the table report to ")
    assert res.stderr.count("\n") == 1


def test_suggested_serve_answers_on_loopback(demo: Demo) -> None:
    """The suggested ``serve`` starts on the demo's database and answers (on a free port
    here rather than its default 8080), then stops on SIGTERM."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    (cmd,) = [c for c in suggested(demo) if c[0] == "serve"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(SRC), "NO_COLOR": "1"}
    env.pop("MXCENSUS_DB", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mxcensus", *cmd, "--port", str(port)],
        cwd=demo.cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        body = b""
        for _ in range(120):  # at most ~60 s
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/v1/scans", timeout=5
                ) as r:
                    body = r.read()
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.5)
        assert SCANS[0].encode() in body and SCANS[1].encode() in body, proc.poll()
    finally:
        proc.terminate()
        proc.communicate(timeout=30)

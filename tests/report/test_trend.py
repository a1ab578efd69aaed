"""``mxcensus trend`` between the April and November fixture scans, counted by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import RunCli


def trend_json(mx: RunCli, db: Path, *args: str) -> dict[str, Any]:
    res = mx("trend", "--db", str(db), "--format", "json", *args)
    assert res.returncode == 0, res.stderr
    data: dict[str, Any] = json.loads(res.stdout)
    return data


def rows(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return next(s["rows"] for s in doc["sections"] if s["key"] == key)


APR, NOV = "april (2026-04-01)", "november (2026-11-01)"


def test_end_of_support_exchange_fell_by_half(mx: RunCli, fixture_db: Path) -> None:
    doc = trend_json(mx, fixture_db, "--from", "april", "--to", "november", "--by", "product,eol")
    got = {
        (r["product"], r["eol"]): (
            r[f"hosts {APR}"],
            r[f"hosts {NOV}"],
            r["hosts change"],
            r["hosts change %"],
            r[f"services {APR}"],
            r[f"services {NOV}"],
            r["services change %"],
        )
        for r in rows(doc, "changes")
    }
    # April: 192.0.2.1 (2013) and 192.0.2.3 (2010); November: 192.0.2.3 only.
    assert got[("ms-exchange", True)] == (2, 1, -1, -50.0, 3, 1, -66.67)
    assert got[("ms-exchange", False)] == (1, 2, 1, 100.0, 1, 2, 100.0)
    assert got[("exim", False)] == (2, 1, -1, -50.0, 2, 1, -50.0)
    assert got[("postfix", False)] == (1, 2, 1, 100.0, 1, 2, 100.0)
    assert got[("unknown", None)] == (1, 1, 0, 0.0, 1, 1, 0.0)
    assert len(got) == 5
    assert any("denominator is always the first scan's count" in d for d in doc["definitions"])
    words = [r["statement"] for r in rows(doc, "in_words")]
    assert (
        "Hosts with product ms-exchange, end of support yes: fell from 2 to 1 (-50.00% of the "
        "2 in april (2026-04-01)) between april (2026-04-01) and november (2026-11-01)."
    ) in words
    assert (
        "Hosts with product unknown, end of support unknown: stayed at 1 between "
        "april (2026-04-01) and november (2026-11-01)."
    ) in words


def test_host_churn(mx: RunCli, fixture_db: Path) -> None:
    doc = trend_json(mx, fixture_db, "--from", "april", "--to", "november")
    churn = {
        r["category"]: (r["hosts"], r["at risk in the first scan"], r["at risk in the last scan"])
        for r in rows(doc, "churn")
    }
    assert churn == {
        "fixed": (1, 1, 0),  # 192.0.2.1
        "still exposed": (2, 2, 2),  # 192.0.2.2, 192.0.2.3
        "newly at risk": (0, 0, 0),
        "not at risk": (2, 0, 0),  # 198.51.100.2, 203.0.113.6
        "newly seen": (2, 0, 1),  # 192.0.2.50 (at risk), 2001:db8::25
        "gone": (2, 1, 0),  # 198.51.100.1 (was at risk), 203.0.113.5
    }
    scans = {r["name"]: (r["hosts"], r["services"], r["at-risk hosts"]) for r in rows(doc, "scans")}
    assert scans == {"april": (7, 8, 4), "november": (7, 7, 3)}


def test_new_category_has_no_relative_change(mx: RunCli, fixture_db: Path) -> None:
    doc = trend_json(mx, fixture_db, "--by", "continent")
    oc = next(r for r in rows(doc, "changes") if r["continent"] == "OC")
    assert (oc[f"hosts {APR}"], oc[f"hosts {NOV}"], oc["hosts change"]) == (0, 1, 1)
    assert oc["hosts change %"] is None


def test_dates_select_the_window(mx: RunCli, fixture_db: Path) -> None:
    doc = trend_json(mx, fixture_db, "--from", "2026-03-01", "--to", "2026-11-01")
    assert doc["meta"]["scans"] == "april-id, november-id"
    for args in (("--from", "2026-05-01"), ("--to", "2026-10-31"), ("--from", "2027-01-01")):
        res = mx("trend", "--db", str(fixture_db), *args)
        assert res.returncode == 2, args
        assert "at least two finished scans" in res.stderr
    res = mx("trend", "--db", str(fixture_db), "--from", "november", "--to", "april")
    assert res.returncode == 2
    assert "later than" in res.stderr
    res = mx("trend", "--db", str(fixture_db), "--from", "last-tuesday")
    assert res.returncode == 2
    assert "neither a scan id or name" in res.stderr


def test_table_and_html_render(mx: RunCli, fixture_db: Path) -> None:
    res = mx("trend", "--db", str(fixture_db), "--by", "product,eol")
    assert res.returncode == 0, res.stderr
    assert "Host churn" in res.stdout
    assert "-50.00" in res.stdout
    res = mx("trend", "--db", str(fixture_db), "--format", "html")
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("<svg") >= 2

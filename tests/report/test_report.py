"""``mxcensus report`` against counts computed by hand from tests/report/fixture_store.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mxcensus.report.document import Document, Section
from mxcensus.report.fields import parse_by
from mxcensus.report.formats.table import TableFormat
from mxcensus.report.query import build_report
from mxcensus.store.db import Store
from tests.conftest import RunCli


def report_json(mx: RunCli, db: Path, *args: str) -> dict[str, Any]:
    res = mx("report", "--db", str(db), "--format", "json", *args)
    assert res.returncode == 0, res.stderr
    data: dict[str, Any] = json.loads(res.stdout)
    return data


def section(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    for s in doc["sections"]:
        if s["key"] == key:
            rows: list[dict[str, Any]] = s["rows"]
            return rows
    raise AssertionError(key)


def test_by_product_line_hand_counted(mx: RunCli, fixture_db: Path) -> None:
    doc = report_json(mx, fixture_db, "--scan", "april", "--by", "product_line")
    assert doc["meta"]["exposed services"] == 8
    assert doc["meta"]["hosts"] == 7
    assert doc["meta"]["not connected (not counted)"] == 1
    rows = {
        r["product_line"]: (
            r["hosts"],
            r["services"],
            r["vulnerable"],
            r["potentially-vulnerable"],
            r["end-of-support"],
        )
        for r in section(doc, "groups")
    }
    assert rows == {
        "Exchange Server 2013": (1, 2, 1, 0, 2),
        "Exchange Server 2016": (1, 1, 0, 1, 0),
        "Exchange Server 2010": (1, 1, 1, 0, 1),
        "Exim 4": (2, 2, 0, 1, 0),
        "Postfix 3": (1, 1, 0, 0, 0),
        None: (1, 1, 0, 0, 0),
    }
    first = section(doc, "groups")[0]
    assert first["product_line"] == "Exchange Server 2013"
    assert first["% of services"] == 25.0  # 2 of 8
    assert first["% of hosts"] == pytest.approx(14.29)  # 1 of 7


def test_hosts_count_once_under_their_most_severe_verdict(mx: RunCli, fixture_db: Path) -> None:
    doc = report_json(mx, fixture_db, "--scan", "april", "--by", "verdict")
    groups = {r["verdict"]: (r["hosts"], r["services"]) for r in section(doc, "groups")}
    # 192.0.2.1 has a vulnerable and a "none" service: one host, under vulnerable.
    assert groups == {
        "vulnerable": (2, 2),
        "potentially-vulnerable": (2, 2),
        "unknown": (1, 1),
        "not-vulnerable": (1, 1),
        "none": (1, 2),  # 198.51.100.2; 192.0.2.1 counts under vulnerable only
    }
    verdicts = {r["verdict"]: (r["hosts"], r["services"]) for r in section(doc, "verdicts")}
    assert verdicts["none"] == (1, 2)  # 198.51.100.2 alone; 192.0.2.1 counts as vulnerable
    assert sum(h for h, _ in verdicts.values()) == 7
    assert sum(s for _, s in verdicts.values()) == 8


def test_by_cve_counts_service_cve_pairs(mx: RunCli, fixture_db: Path) -> None:
    doc = report_json(mx, fixture_db, "--scan", "april", "--by", "cve,verdict")
    rows = {(r["cve"], r["verdict"]): (r["hosts"], r["services"]) for r in section(doc, "groups")}
    assert rows == {
        ("CVE-2021-26855", "vulnerable"): (2, 2),
        ("CVE-2022-41082", "potentially-vulnerable"): (1, 1),
        ("CVE-2019-10149", "potentially-vulnerable"): (1, 1),
        ("CVE-2019-10149", "not-vulnerable"): (1, 1),
        ("CVE-2020-28017", "potentially-vulnerable"): (1, 1),
    }


def test_by_country_port_and_kev(mx: RunCli, fixture_db: Path) -> None:
    doc = report_json(mx, fixture_db, "--scan", "november", "--by", "continent,kev")
    rows = {(r["continent"], r["kev"]): r["hosts"] for r in section(doc, "groups")}
    # EU: 192.0.2.1 (SE, no KEV risk), .2 (41082 KEV), .3 (26855 KEV), 2001:db8::25
    assert rows == {
        ("EU", True): 2,
        ("EU", False): 2,
        ("NA", False): 1,
        ("SA", False): 1,
        ("OC", True): 1,
    }
    doc = report_json(mx, fixture_db, "--scan", "april", "--by", "port")
    assert {r["port"]: r["services"] for r in section(doc, "groups")} == {443: 3, 25: 4, 110: 1}


def test_full_report_sections(fixture_db: Path) -> None:
    with Store.open(fixture_db, read_only=True) as store:
        doc = build_report(store, store.resolve_scan("april"), parse_by("product"), full=True)
    by_key = {s.key: s for s in doc.sections}
    eol = {r[0]: r[1:5] for r in by_key["eol_by_product_line"].rows}
    assert eol == {
        "Exchange Server 2013": (1, 2, 2, 100.0),
        "Exchange Server 2010": (1, 1, 1, 100.0),
    }
    cves = {r[0]: r[1:6] for r in by_key["cves"].rows}
    assert cves == {
        "CVE-2021-26855": (True, 2, 0, 2, 2),
        "CVE-2019-10149": (True, 0, 1, 0, 1),
        "CVE-2020-28017": (False, 0, 1, 0, 1),
        "CVE-2022-41082": (True, 0, 1, 0, 1),
    }
    continents = {r[0]: r[1:] for r in by_key["by_continent"].rows}
    assert continents == {
        "EU": (3, 4, 2, 1, 2, 3, 100.0),
        "NA": (2, 2, 0, 1, 0, 1, 50.0),
        "AS": (1, 1, 0, 0, 0, 0, 0.0),
        "SA": (1, 1, 0, 0, 0, 0, 0.0),
    }
    countries = {r[0]: (r[1], r[6]) for r in by_key["by_country"].rows}
    assert countries == {"DE": (2, 2), "FR": (1, 1), "US": (2, 1), "JP": (1, 0), "BR": (1, 0)}
    at_risk = [(r[0], r[1]) for r in by_key["at_risk_services"].rows]
    assert at_risk == [
        ("192.0.2.1", 443),
        ("192.0.2.3", 443),
        ("192.0.2.2", 443),
        ("198.51.100.1", 25),
        ("192.0.2.1", 25),
    ]


def test_definitions_printed_with_every_format(mx: RunCli, fixture_db: Path) -> None:
    for fmt in ("table", "json", "html"):
        res = mx("report", "--db", str(fixture_db), "--scan", "april", "--format", fmt)
        assert res.returncode == 0, res.stderr
        assert "most severe verdict" in res.stdout
        assert "exposed services of the scan" in res.stdout


def test_csv_is_the_primary_table(mx: RunCli, fixture_db: Path) -> None:
    res = mx(
        "report", "--db", str(fixture_db), "--scan", "april", "--by", "country", "--format", "csv"
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("country,hosts,services,vulnerable,")
    assert lines[1] == "DE,2,3,2,0,3,37.5,28.57"  # 3 EoL services: both of .1 and .3
    assert len(lines) == 6


def test_bad_usage_is_one_line(mx: RunCli, fixture_db: Path, tmp_path: Path) -> None:
    for args, needle in (
        (("--by", "colour"), "--by 'colour': unknown field"),
        (("--by", "port,port"), "given twice"),
        (("--format", "pdf"), "--format 'pdf'"),
        (("--scan", "nope"), "--scan 'nope': no scan"),
    ):
        res = mx("report", "--db", str(fixture_db), *args)
        assert res.returncode == 2, (args, res.stderr)
        assert needle in res.stderr
        assert res.stderr.strip().count("\n") == 0
        assert "Traceback" not in res.stderr
    res = mx("report", "--db", str(tmp_path / "absent.duckdb"))
    assert res.returncode == 2
    assert "no such database" in res.stderr


def test_output_file_is_written_whole_or_not_at_all(
    mx: RunCli, fixture_db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    res = mx(
        "report", "--db", str(fixture_db), "--scan", "april", "--format", "json", "-o", str(out)
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    assert json.loads(out.read_text())["kind"] == "report"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary left behind
    res = mx("report", "--db", str(fixture_db), "--by", "nope", "-o", str(tmp_path / "x.json"))
    assert res.returncode == 2
    assert not (tmp_path / "x.json").exists()
    res = mx("report", "--db", str(fixture_db), "-o", str(tmp_path / "no" / "dir.txt"))
    assert res.returncode == 2
    assert "does not exist" in res.stderr


def test_terminal_table_shows_escapes_not_ansi() -> None:
    hostile = "\x1b[2J\x1b[31mEvil\x1b]0;title\x07 [bold]markup[/bold]"
    doc = Document(
        kind="report",
        title="t",
        meta=(("org", hostile),),
        definitions=("d",),
        sections=(Section("groups", "g", ("product_line", "hosts"), ((hostile, 1),)),),
    )
    out = TableFormat(width=200, color=False).render(doc).decode()
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "\\x1b[2J" in out
    assert "[bold]markup[/bold]" in out  # shown, not interpreted as rich markup


def test_a_scan_without_services_reports_zeros(mx: RunCli, tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    with Store.open(db) as store:
        sid = store.create_scan(name="empty", kind="scan", source="scan")
        store.finish_scan(sid)
    doc = report_json(mx, db, "--by", "country")
    assert (doc["meta"]["hosts"], doc["meta"]["exposed services"]) == (0, 0)
    assert section(doc, "groups") == []
    assert all(r["hosts"] == 0 and r["% of hosts"] is None for r in section(doc, "verdicts"))
    res = mx("report", "--db", str(db), "--format", "html")
    assert res.returncode == 0, res.stderr
    assert "No rows." in res.stdout


def test_a_long_table_shows_its_top_rows_and_says_how_to_get_the_rest(
    mx: RunCli, tmp_path: Path
) -> None:
    from bench.census import build_census

    db = tmp_path / "census.duckdb"
    build_census(db, 6_000, locations=600)
    res = mx("report", "--db", str(db), "--by", "version,country,asn", "--format", "csv")
    assert res.returncode == 0, res.stderr
    rows = len(res.stdout.splitlines()) - 1
    assert rows > 300
    res = mx("report", "--db", str(db), "--by", "version,country,asn")
    assert res.returncode == 0, res.stderr
    assert f"… and {rows - 100:,} more rows, not shown (the first 100 are)" in res.stdout
    assert "--format csv or --format json writes them all" in res.stdout
    assert len(res.stdout.splitlines()) < 200


def test_json_is_written_as_it_goes_in_orjsons_layout(fixture_db: Path) -> None:
    import orjson

    from mxcensus.report.formats.json import JsonFormat, document_to_dict

    with Store.open(fixture_db, read_only=True) as store:
        for by, full in (("product_line", True), ("cve,verdict", False)):
            doc = build_report(store, store.resolve_scan("april"), parse_by(by), full=full)
            whole = orjson.dumps(document_to_dict(doc), option=orjson.OPT_INDENT_2) + b"\n"
            streamed = JsonFormat().render(doc)
            assert json.loads(streamed) == json.loads(whole)
            assert streamed == whole
        empty = Document(kind="report", title="t", meta=(), definitions=())
        assert json.loads(JsonFormat().render(empty)) == document_to_dict(empty)


def test_services_that_could_not_be_judged_are_counted_visibly(
    mx: RunCli, fixture_db: Path
) -> None:
    doc = report_json(mx, fixture_db, "--scan", "april", "--by", "product")
    rows = {r["why"]: (r["services"], r["hosts"], r["% of services"]) for r in
            section(doc, "unjudged")}  # fmt: skip
    known = "product known, verdict unknown (version hidden, disputed, fixes not collected)"
    assert rows == {"product not identified": (1, 1, 12.5), known: (0, 0, 0.0)}
    for fmt in ("table", "html"):
        res = mx("report", "--db", str(fixture_db), "--scan", "april", "--format", fmt)
        assert res.returncode == 0, res.stderr
        assert "Could not be judged: 1 of 8 exposed services" in res.stdout

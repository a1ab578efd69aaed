"""The JSON API and pages of a service without tokens (the local admin on loopback): counts
identical to ``mxcensus report --format json``, pages through every service, diffs,
hostile text inert, security headers, and the store held by the service."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import orjson
import pytest

from mxcensus.errors import UsageError
from mxcensus.report.render import render_report
from mxcensus.store.db import Store
from mxcensus.web.app import CSP
from mxcensus.web.server import ServeOptions, check_binding
from tests.web.conftest import WEEK1, WEEK2, Running


def report_json(service: Running, scan: str, by: str) -> dict[str, object]:
    cur = Store(service.store.con.cursor(), service.db)
    doc: dict[str, object] = orjson.loads(render_report(cur, scan, by, "json"))
    return doc


def section(doc: dict[str, object], key: str) -> list[dict[str, object]]:
    sections = doc["sections"]
    assert isinstance(sections, list)
    return next(s["rows"] for s in sections if s["key"] == key)


@pytest.mark.parametrize("scan", [WEEK1, WEEK2])
def test_overview_counts_are_the_reports(service: Running, scan: str) -> None:
    with service.client() as http:
        o = http.get("/api/v1/overview", params={"scan": scan}).json()
        agg = http.get(
            "/api/v1/aggregate", params={"scan": scan, "group_by": ["product_line"], "limit": 1000}
        ).json()
        by_verdict = http.get(
            "/api/v1/aggregate", params={"scan": scan, "group_by": ["verdict"]}
        ).json()
    doc = report_json(service, scan, "product_line")
    meta = doc["meta"]
    assert isinstance(meta, dict)
    assert (o["hosts"], o["services"]) == (meta["hosts"], meta["exposed services"])
    assert o["not_connected"] == meta["not connected (not counted)"]
    verdicts = {r["verdict"]: (r["hosts"], r["services"]) for r in section(doc, "verdicts")}
    for name, (hosts, services) in verdicts.items():
        assert o["hosts_by_verdict"][name] == hosts
        assert o["services_by_verdict"][name] == services
    assert o["vulnerable_hosts"] == verdicts["vulnerable"][0]
    groups = {
        r["product_line"]: (r["hosts"], r["services"], r["vulnerable"],
                            r["potentially-vulnerable"], r["end-of-support"])
        for r in section(doc, "groups")
    }  # fmt: skip
    mine = {
        r["keys"]["product_line"]: (r["hosts"], r["services"], r["vulnerable"],
                                    r["potentially_vulnerable"], r["eol"])
        for r in agg["rows"]
    }  # fmt: skip
    assert mine == groups
    by_report = {
        r["verdict"]: r["hosts"] for r in section(report_json(service, scan, "verdict"), "groups")
    }
    assert {r["keys"]["verdict"]: r["hosts"] for r in by_verdict["rows"]} == by_report


def test_cve_aggregate_counts_service_cve_pairs(service: Running) -> None:
    with service.client() as http:
        agg = http.get(
            "/api/v1/aggregate", params={"scan": WEEK1, "group_by": "cve", "limit": 5000}
        ).json()
    rows = section(report_json(service, WEEK1, "cve"), "groups")
    assert {r["keys"]["cve"]: r["services"] for r in agg["rows"]} == {
        r["cve"]: r["services"] for r in rows
    }


def test_services_pages_walk_every_service_once(service: Running) -> None:
    with service.client() as http:
        total = http.get("/api/v1/overview", params={"scan": WEEK1}).json()["services"]
        seen: list[tuple[str, int]] = []
        after = None
        for _ in range(100):  # bounded: 7 per page
            params: dict[str, object] = {"scan": WEEK1, "limit": 7}
            if after:
                params["after"] = after
            page = http.get("/api/v1/services", params=params).json()
            seen += [(s["ip"], s["port"]) for s in page["items"]]
            after = page["next"]
            if after is None:
                break
    assert len(seen) == len(set(seen)) == total
    assert seen == sorted(seen, key=lambda k: (k[0], k[1]))


def test_filters_narrow_the_counts(service: Running) -> None:
    with service.client() as http:
        every = http.get("/api/v1/overview", params={"scan": WEEK1}).json()
        de = http.get("/api/v1/overview", params={"scan": WEEK1, "country": "DE"}).json()
        net = http.get("/api/v1/overview", params={"scan": WEEK1, "prefix": "192.0.2.0/24"}).json()
        asn = http.get("/api/v1/overview", params={"scan": WEEK1, "asn": 3320}).json()
        exch = http.get(
            "/api/v1/services",
            params={
                "scan": WEEK1,
                "product": "ms-exchange",
                "verdict": "vulnerable",
                "limit": 1000,
            },
        ).json()
    assert 0 < de["hosts"] < every["hosts"]
    assert de["hosts"] == net["hosts"] == asn["hosts"]
    assert [c["place"] for c in de["countries"]] == ["DE"]
    assert exch["items"] and all(
        s["product"] == "ms-exchange" and s["verdict"] == "vulnerable" for s in exch["items"]
    )
    assert all(s["name"].startswith("Microsoft Exchange Server ") for s in exch["items"])


def test_bad_filters_are_400_or_422(service: Running) -> None:
    with service.client() as http:
        assert http.get("/api/v1/overview", params={"prefix": "not-a-net"}).status_code == 400
        assert http.get("/api/v1/overview", params={"scan": "nope"}).status_code == 400
        assert http.get("/api/v1/overview", params={"port": 70000}).status_code == 422
        assert http.get("/api/v1/services", params={"after": "garbage"}).status_code == 400
        assert http.get("/services", params={"prefix": "x"}).status_code == 400


def test_diff_matches_hosts_by_address(service: Running) -> None:
    with service.client() as http:
        d = http.get("/api/v1/diff", params={"first": WEEK1, "last": WEEK2}).json()
        gone = http.get(
            "/api/v1/diff", params={"first": WEEK1, "last": WEEK2, "category": "gone"}
        ).json()
        o1 = http.get("/api/v1/overview", params={"scan": WEEK1}).json()
        o2 = http.get("/api/v1/overview", params={"scan": WEEK2}).json()
    counts = {c["category"]: c["hosts"] for c in d["categories"]}
    assert sum(v for k, v in counts.items() if k != "newly seen") == o1["hosts"]
    assert sum(v for k, v in counts.items() if k != "gone") == o2["hosts"]
    assert counts["gone"] == 10 and counts["newly seen"] == 10  # hosts 0-9 left, 80-89 came
    assert len(gone["hosts"]) == 10
    assert counts["fixed"] > 0  # Exchange and Exim patched in week 2


def test_host_page_shows_every_scan_and_the_evidence(service: Running) -> None:
    with service.client() as http:
        h = http.get("/api/v1/hosts/192.0.2.3").json()  # host 10: Exchange, in both weeks
        page = http.get("/hosts/192.0.2.3")
        assert http.get("/api/v1/hosts/192.0.2.250").status_code == 404
        assert http.get("/api/v1/hosts/not-an-ip").status_code == 404
    assert [s["scan"]["name"] for s in h["scans"]] == [WEEK2, WEEK1]
    assert any(line.startswith("  do: ") for line in h["evidence"])
    assert page.status_code == 200 and "Microsoft Exchange Server 2016" in page.text


def test_scans_page_shows_how_probed_ports_ended(service: Running) -> None:
    with service.client() as http:
        page = http.get("/scans").text
        scans = http.get("/api/v1/scans").json()
    assert "how probed ports ended" in page
    # an import stores answered ports only: in each scan every probed port ended "ok"
    assert len(re.findall(r"<td>ok [\d,]+</td>", page)) == len(scans) > 0


def test_cve_page(service: Running) -> None:
    with service.client() as http:
        top = http.get("/api/v1/overview", params={"scan": WEEK1}).json()["cves"][0]["cve"]
        c = http.get(f"/api/v1/cves/{top}", params={"scan": WEEK1}).json()
        assert http.get("/api/v1/cves/CVE-1999-0001").status_code == 404
        assert http.get("/cves/cve-2021-26855").status_code == 200
    assert c["knowledge"] and c["counts"]["judged"] > 0 and c["services"]
    assert c["counts"]["vulnerable"] + c["counts"]["potentially_vulnerable"] >= len(c["services"])


HOSTILE_MARKUP = re.compile(r"<script>window|<img src=x|onerror=\"window|\x1b|\u202e")


@pytest.mark.parametrize(
    "path",
    ["/", "/services?scan=week1", "/hosts/192.0.2.1", "/hosts/198.51.100.2",
     "/services?scan=week1&org=%3Cscript%3Ewindow.__pwned%3D4%3C%2Fscript%3E+%22Org%22+%26+Co",
     "/scans", "/owners/asn/3215"],
)  # fmt: skip
def test_hostile_text_is_escaped_in_pages(service: Running, path: str) -> None:
    with service.client() as http:
        r = http.get(path)
    assert r.status_code == 200
    assert not HOSTILE_MARKUP.search(r.text)
    if path.startswith("/hosts/192.0.2.1"):
        assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in r.text


def test_hostile_text_in_downloads(service: Running) -> None:
    with service.client() as http:
        csv = http.get("/download/csv", params={"scan": WEEK1})
        shadow = http.get("/api/v1/download/shadowserver", params={"scan": WEEK1})
        one = http.get(
            "/api/v1/download/shadowserver", params={"scan": WEEK1, "report": "scan_smtp"}
        )
        bad = http.get(
            "/api/v1/download/shadowserver", params={"scan": WEEK1, "report": "scan_nope"}
        )
        jsonl = http.get("/api/v1/download/jsonl", params={"scan": WEEK1})
    assert csv.status_code == shadow.status_code == one.status_code == jsonl.status_code == 200
    assert 400 <= bad.status_code < 500
    assert "attachment" in csv.headers["content-disposition"]
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(shadow.content)) as zf:
        names = zf.namelist()
        reports = [zf.read(n).decode() for n in names]
    assert names and all(n.endswith(".csv") and "-scan" in n for n in names)
    smtp = next(r for n, r in zip(names, reports, strict=True) if "-scan_smtp-" in n)
    assert one.text == smtp  # the one report is the archive's file of that report
    for text in (csv.text, *reports):
        assert "\x1b" not in text
        assert ",=HYPERLINK" not in text and ',"=HYPERLINK' not in text
    records = [orjson.loads(line) for line in jsonl.text.splitlines()]
    assert len(records) == len({(r["ip"], r["port"]) for r in records}) > 0


def test_parquet_download_streams_a_readable_file(service: Running, tmp_path: object) -> None:
    import io

    import pyarrow.parquet as pq

    with service.client() as http:
        r = http.get("/api/v1/download/parquet", params={"scan": WEEK1})
    table = pq.read_table(io.BytesIO(r.content))
    assert table.num_rows > 0


def test_a_filtered_download_holds_the_filtered_services(service: Running) -> None:
    """A download is the view it is asked from: the filter's services, as many as the
    services pages list, through the export writers."""
    params = {"scan": WEEK1, "country": "DE", "verdict": "vulnerable"}
    with service.client() as http:
        jsonl = http.get("/api/v1/download/jsonl", params=params)
        csv = http.get("/download/csv", params=params)
        listed = http.get("/api/v1/services", params={**params, "limit": 1000}).json()["items"]
    records = [orjson.loads(line) for line in jsonl.text.splitlines()]
    assert {(r["ip"], r["port"]) for r in records} == {(s["ip"], s["port"]) for s in listed}
    assert len(records) > 0 and {r["country"] for r in records} == {"DE"}
    assert len(csv.text.splitlines()) == len(records) + 1  # the header


def test_security_headers_on_every_response(service: Running) -> None:
    with service.client() as http:
        for path in ("/", "/api/v1/overview", "/static/app.js", "/nope", "/api/v1/hosts/x",
                     "/api/v1/openapi.json", "/login"):  # fmt: skip
            r = http.get(path)
            assert r.headers["content-security-policy"] == CSP, path
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "no-referrer"
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
            assert "unsafe-inline" not in r.headers["content-security-policy"]


def test_pages_have_no_inline_script(service: Running) -> None:
    with service.client() as http:
        for path in ("/", "/services", "/scans", "/hosts/192.0.2.3", "/login"):
            text = http.get(path).text
            assert re.findall(r"<script[^>]*>", text) == ['<script src="/static/app.js" defer>']
            assert not re.search(r"\son[a-z]+=", text)
            assert "style=" not in text


def test_without_tokens_only_a_loopback_host_is_answered(service: Running) -> None:
    with service.client() as http:
        assert http.get("/", headers={"Host": "evil.example"}).status_code == 403
        assert http.get("/", headers={"Host": "localhost:1"}).status_code == 200
        r = http.post("/api/v1/reassess", params={"scan": WEEK1},
                      headers={"Origin": "http://evil.example"})  # fmt: skip
        assert r.status_code == 403


def test_binding_beyond_loopback_needs_tokens(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    db, tokens = tmp_path / "x.duckdb", tmp_path / "t.json"
    check_binding(ServeOptions(db=db, host="127.0.0.5"), tokens)
    with pytest.raises(UsageError, match="beyond loopback needs tokens"):
        check_binding(ServeOptions(db=db, host="0.0.0.0"), tokens)
    r = subprocess.run(
        [sys.executable, "-m", "mxcensus", "serve", "--db", str(db), "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "MXCENSUS_DB": ""},
    )  # fmt: skip
    assert r.returncode in (1, 2) and len(r.stderr.strip().splitlines()) == 1


def test_a_command_needing_the_store_names_the_service(service: Running) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "mxcensus", "report", "--db", str(service.db)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 1
    (line,) = r.stderr.strip().splitlines()
    assert "held by `mxcensus serve`" in line and service.url in line and "api/v1/imports" in line
    assert "lock" not in line.lower()

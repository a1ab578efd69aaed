"""``mxcensus export`` and ``notify`` on the hand-built fixture store."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator

from mxcensus.export.notify import safe_token
from mxcensus.export.safe import FORMULA_LEADS, csv_cell
from mxcensus.export.shadowserver import PREFIX, columns_for
from mxcensus.vocabulary import PRODUCTS
from tests.conftest import RunCli
from tests.report.fixture_store import FORMULA_BANNER, XSS_BANNER

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schema" / "record.schema.json"


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def export(mx: RunCli, db: Path, *args: str) -> str:
    res = mx("export", "--db", str(db), *args)
    assert res.returncode == 0, res.stderr
    return res.stdout


NOT_CONNECTED = {"refused", "unreachable", "connect-timeout", "excluded"}


def test_every_jsonl_record_validates(mx: RunCli, fixture_db: Path, validator: Any) -> None:
    for scan, count in (("april", 9), ("november", 7)):
        lines = export(
            mx, fixture_db, "--scan", scan, "--format", "jsonl", "--all-outcomes"
        ).splitlines()
        assert len(lines) == count
        for line in lines:
            record = json.loads(line)
            errors = [e.message for e in validator.iter_errors(record)]
            assert errors == [], (record["ip"], errors)
            assert record["schema"] == 1


def test_services_by_default_every_port_with_all_outcomes(mx: RunCli, fixture_db: Path) -> None:
    every = export(mx, fixture_db, "--scan", "april", "--format", "jsonl", "--all-outcomes")
    records = [json.loads(line) for line in every.splitlines()]
    never = {(r["ip"], r["port"]) for r in records if r["outcome"] in NOT_CONNECTED}
    assert never  # the fixture has a refused port
    text = export(mx, fixture_db, "--scan", "april", "--format", "jsonl")
    services = {(r["ip"], r["port"]) for r in map(json.loads, text.splitlines())}
    assert services == {(r["ip"], r["port"]) for r in records} - never
    rows = list(
        csv.DictReader(io.StringIO(export(mx, fixture_db, "--scan", "april", "--format", "csv")))
    )
    assert {(r["ip"], int(r["port"])) for r in rows} == services


def test_schema_rejects_what_it_should(validator: Any) -> None:
    good = {
        "schema": 1, "scan": "s", "ip": "192.0.2.7", "port": 443, "protocol": "https",
        "transport": "tls", "observed_at": "2026-04-01T06:00:00+00:00", "outcome": "ok",
        "source": "scan", "vendor": None, "product": "ms-exchange", "product_line": None,
        "version": None, "precision": "none", "release": None, "confidence": None,
        "distro": None, "evidence": [], "cves": [], "remediation": [], "country": "DE",
        "eol": {"eol": None, "line": None, "date": None}, "continent": "EU", "asn": None,
        "org": None, "banner": "",
    }  # fmt: skip
    assert list(validator.iter_errors(good)) == []
    for change in (
        {"schema": 2},
        {"ip": "not-an-ip"},
        {"port": 70000},
        {"outcome": "fine"},
        {"cves": [{"id": "CVE-21-1", "status": "vulnerable", "kev": True, "cvss": None,
                   "reason": "", "fixed_in": None}]},
        {"country": "Germany"},
        {"surprise": 1},
    ):  # fmt: skip
        assert list(validator.iter_errors({**good, **change})), change


def test_every_product_id_fits_the_schema() -> None:
    pattern = json.loads(SCHEMA_PATH.read_text())["properties"]["product"]["pattern"]
    import re

    assert all(re.fullmatch(pattern, p) for p in PRODUCTS)


def test_csv_cells_are_inert(mx: RunCli, fixture_db: Path) -> None:
    text = export(mx, fixture_db, "--scan", "april", "--format", "csv", "--all-outcomes")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 9
    by_ip = {(r["ip"], r["port"]): r for r in rows}
    assert by_ip[("198.51.100.1", "25")]["banner"] == "'" + FORMULA_BANNER
    assert by_ip[("192.0.2.2", "443")]["banner"] == XSS_BANNER  # text, CSV is not HTML
    assert "\x1b" not in text
    assert by_ip[("203.0.113.5", "25")]["banner"].startswith("\\x1b[2J")
    for r in rows:
        for v in r.values():
            assert not v.startswith(FORMULA_LEADS), v
    assert by_ip[("198.51.100.1", "25")]["cves"] == (
        "CVE-2019-10149:potentially-vulnerable;CVE-2020-28017:potentially-vulnerable"
    )


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\\tx"),
        ("\r=x", "'\\r=x"),
        ("a=b", "a=b"),
        (-5, "-5"),
        (None, ""),
        (True, "true"),
    ],
)
def test_csv_cell(value: Any, cell: str) -> None:
    assert csv_cell(value) == cell


def test_parquet(mx: RunCli, fixture_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.parquet"
    res = mx("export", "--db", str(fixture_db), "--scan", "april", "--format", "parquet",
             "--all-outcomes", "-o", str(out))  # fmt: skip
    assert res.returncode == 0, res.stderr
    table = pq.read_table(out)
    assert table.num_rows == 9
    rows = {(r["ip"], r["port"]): r for r in table.to_pylist()}
    cves = rows[("198.51.100.1", 25)]["cves"]
    assert [(c["id"], c["status"], c["kev"]) for c in cves] == [
        ("CVE-2019-10149", "potentially-vulnerable", True),
        ("CVE-2020-28017", "potentially-vulnerable", False),
    ]
    assert rows[("192.0.2.1", 443)]["evidence"] == ["http.header.x-owa-version"]
    assert rows[("198.51.100.2", 25)]["cves"] == []


def _shadow_files(mx: RunCli, db: Path, out: Path, *args: str) -> dict[str, list[dict[str, str]]]:
    res = mx("export", "--db", str(db), "--format", "shadowserver", "-o", str(out), *args)
    assert res.returncode == 0, res.stderr
    files: dict[str, list[dict[str, str]]] = {}
    for p in sorted(out.iterdir()):
        text = p.read_text()
        header = next(csv.reader(io.StringIO(text)))
        report = p.name.split("-")[3]
        assert tuple(header) == columns_for(report)  # every column of the report, in order
        files[report] = list(csv.DictReader(io.StringIO(text)))
    return files


def test_shadowserver(mx: RunCli, fixture_db: Path, tmp_path: Path) -> None:
    files = _shadow_files(mx, fixture_db, tmp_path / "ss", "--scan", "april")
    assert sorted(files) == ["scan_exchange", "scan_pop3", "scan_smtp", "scan_smtp_vulnerable"]
    rows = {(r["ip"], r["port"]): r for rows in files.values() for r in rows}
    assert len(rows) == 8  # the refused port is not an exposed service
    ex = rows[("192.0.2.1", "443")]
    assert ex["tag"] == "exchange;cve-2021-26855;proxylogon;eol"
    assert ex["severity"] == "critical"  # vulnerable to a KEV CVE
    assert ex["timestamp"] == "2026-04-01 06:00:00"
    assert (ex["protocol"], ex["asn"], ex["geo"]) == ("tcp", "3320", "DE")
    assert ex["url"] == "/owa/"  # Shadowserver's: a path; the row's host names the server
    assert ex["version"] == "15.0.1497.2"
    exim = rows[("198.51.100.1", "25")]
    assert exim in files["scan_smtp_vulnerable"]
    assert exim["tag"] == "smtp;exim;cve-2019-10149;cve-2020-28017;21nails;potentially-vulnerable"
    assert exim["severity"] == "high"  # potentially vulnerable to a KEV CVE
    assert exim["banner"].startswith("'=")
    assert rows[("192.0.2.2", "443")]["severity"] == "high"
    postfix = rows[("198.51.100.2", "25")]
    assert postfix in files["scan_smtp"]  # nothing known against it: accessible, not vulnerable
    assert (postfix["severity"], postfix["tag"]) == ("info", "smtp;postfix")
    assert rows[("192.0.2.1", "25")]["severity"] == "high"  # end of support alone
    assert rows[("203.0.113.6", "110")]["tag"] == "pop3"


def test_shadowserver_one_report_to_stdout(mx: RunCli, fixture_db: Path) -> None:
    res = mx("export", "--db", str(fixture_db), "--scan", "april", "--format", "shadowserver",
             "--report", "scan_exchange")  # fmt: skip
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert {r["ip"] for r in rows} == {"192.0.2.1", "192.0.2.2", "192.0.2.3"}
    assert "3 scan_exchange" in res.stderr
    for bad in (("--report", "scan_ftp"), ()):
        res = mx("export", "--db", str(fixture_db), "--format", "shadowserver", *bad)
        assert res.returncode == 2 and res.stdout == ""
        assert res.stderr.count("\n") == 1, res.stderr


def test_unknown_scan_and_format_are_clear_errors(
    mx: RunCli, fixture_db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "x.jsonl"
    res = mx(
        "export", "--db", str(fixture_db), "--scan", "nope", "--format", "jsonl", "-o", str(out)
    )
    assert res.returncode == 2
    assert (
        res.stderr.strip()
        == f"mxcensus: error: --scan 'nope': no scan with that id or name in {fixture_db}"
    )
    assert list(tmp_path.iterdir()) == []
    res = mx("export", "--db", str(fixture_db), "--format", "xls")
    assert res.returncode == 2
    assert "--format 'xls': unknown export format" in res.stderr


def test_output_file_replaced_atomically(mx: RunCli, fixture_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.csv"
    out.write_text("old")
    res = mx("export", "--db", str(fixture_db), "--scan", "nope", "--format", "csv", "-o", str(out))
    assert res.returncode == 2
    assert out.read_text() == "old"  # a failed export leaves the old file whole
    res = mx(
        "export", "--db", str(fixture_db), "--scan", "april", "--format", "csv", "-o", str(out)
    )
    assert res.returncode == 0
    assert out.read_text().startswith("scan,ip,port")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_notify_per_asn(mx: RunCli, fixture_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "notices"
    res = mx(
        "notify", "--db", str(fixture_db), "--scan", "april", "--per", "asn", "--out", str(out)
    )
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "2026-04-01-scan_exchange-as12322-asn.csv",
        "2026-04-01-scan_exchange-as3320-asn.csv",
        "2026-04-01-scan_smtp_vulnerable-as3320-asn.csv",
        "2026-04-01-scan_smtp_vulnerable-as7018-asn.csv",
        "index.tsv",  # not *.csv: an IntelMQ File collector on the directory takes the reports
    ]
    index = list(csv.DictReader(io.StringIO((out / "index.tsv").read_text()), delimiter="\t"))
    got = {
        (r["owner"], r["report_type"]): (r["services"], r["hosts"], r["critical"]) for r in index
    }
    assert got == {
        ("as12322", "scan_exchange"): ("1", "1", "0"),
        ("as3320", "scan_exchange"): ("2", "2", "2"),
        ("as3320", "scan_smtp_vulnerable"): ("1", "1", "0"),
        ("as7018", "scan_smtp_vulnerable"): ("1", "1", "0"),
    }
    dt = next(
        csv.reader(io.StringIO((out / "2026-04-01-scan_exchange-as3320-asn.csv").read_text()))
    )
    assert dt == [*PREFIX, "version", "servername", "url"]
    smtp = list(
        csv.DictReader(
            io.StringIO((out / "2026-04-01-scan_smtp_vulnerable-as7018-asn.csv").read_text())
        )
    )
    assert [r["ip"] for r in smtp] == ["198.51.100.1"]  # 198.51.100.2 is not at risk
    assert tuple(smtp[0]) == columns_for("scan_smtp_vulnerable")


def test_notify_per_country_and_prefix(mx: RunCli, fixture_db: Path, tmp_path: Path) -> None:
    res = mx("notify", "--db", str(fixture_db), "--scan", "november", "--per", "prefix",
             "--out", str(tmp_path / "p"))  # fmt: skip
    assert res.returncode == 0, res.stderr
    names = sorted(p.name for p in (tmp_path / "p").iterdir())
    assert names == [
        "2026-11-01-scan_exchange-192_0_2_0_24-prefix.csv",
        "2026-11-01-scan_smtp_vulnerable-192_0_2_0_24-prefix.csv",
        "index.tsv",
    ]
    res = mx("notify", "--db", str(fixture_db), "--scan", "november", "--per", "country",
             "--out", str(tmp_path / "c"))  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "2026-11-01-scan_smtp_vulnerable-au-country.csv" in {
        p.name for p in (tmp_path / "c").iterdir()
    }
    res = mx("notify", "--db", str(fixture_db), "--per", "org", "--out", str(tmp_path / "o"))
    assert res.returncode == 2
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("owner", ["../../etc/passwd", "a/b\\c", "\x00\n", "", "..", "DE-1"])
def test_owner_tokens_are_safe_file_name_parts(owner: str) -> None:
    token = safe_token(owner)
    assert token
    assert all(c.isascii() and (c.isalnum() or c == "_") for c in token)
    assert token not in (".", "..")
    assert "-" not in token


def test_notify_files_import_as_shadowserver_reports(
    mx: RunCli, fixture_db: Path, tmp_path: Path
) -> None:
    """Our files read back through the Shadowserver importer, which follows their schema."""
    from mxcensus.importers import import_files
    from mxcensus.store.db import Store

    out = tmp_path / "notices"
    res = mx(
        "notify", "--db", str(fixture_db), "--scan", "april", "--per", "asn", "--out", str(out)
    )
    assert res.returncode == 0, res.stderr
    files = sorted(out.glob("*.csv"))
    with Store.open(tmp_path / "in.duckdb") as store:
        result = import_files(store, "shadowserver", files, name="roundtrip", analyze=False)
        assert (result.records, result.transcripts, result.malformed) == (5, 5, 0)
        seen = {(t.ip, t.port, t.protocol) for t in store.iter_transcripts(result.scan)}
    assert seen == {
        ("192.0.2.1", 443, "https"),
        ("192.0.2.1", 25, "smtp"),
        ("192.0.2.2", 443, "https"),
        ("192.0.2.3", 443, "https"),
        ("198.51.100.1", 25, "smtp"),
    }

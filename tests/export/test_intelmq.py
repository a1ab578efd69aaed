"""IntelMQ reads every Shadowserver file mxcensus writes (issue 15).

IntelMQ 3.5.0 from PyPI, in a virtualenv of its own (``.venv-intelmq`` in the repository,
made once by :func:`intelmq_python`: IntelMQ imports ``pkg_resources``, so it needs
``setuptools<81``), runs its own Shadowserver parser bot (``intelmq_parse.py``) on the files
``export --format shadowserver`` and ``notify`` write from a lab scan (IPv4: the lab serves
real TLS on loopback) and from an import of IPv6 services, with Shadowserver's published
schema (``fixtures/shadowserver``). The report is detected from each file's name, as a
File or Mail collector makes IntelMQ do. Every file parses with no warning or error, no
value refused, one event per row; the classification is the report's; the CVEs the store
judged the service at risk by are ``product.vulnerabilities``; the TLS columns are the
probe's facts. The lab, the scan and IntelMQ run once for the module.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mxcensus.export.shadowserver import REPORTS
from mxcensus.model import ScanId, Status
from mxcensus.store.db import Store
from tests.conftest import _env

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCHEMA = HERE / "fixtures" / "shadowserver" / "intelmq-subset.json"
SHODAN = REPO / "tests" / "importers" / "fixtures" / "shodan-mail.json"
INTELMQ = ("intelmq==3.5.0", "setuptools<81")
VENV = Path(os.environ.get("MXCENSUS_INTELMQ_VENV", REPO / ".venv-intelmq"))

V4_REPORTS = {
    "scan_exchange", "scan_http", "scan_smtp", "scan_smtp_vulnerable", "scan_imap",
    "scan_imap_vulnerable", "scan_pop3", "scan_pop3_vulnerable",
}  # fmt: skip
V6_REPORTS = {r.replace("scan_", "scan6_") for r in V4_REPORTS}


def _intelmq_venv() -> Path:
    """IntelMQ's virtualenv, made once per checkout (a lock for concurrent test runs; a
    stamp written last, so a half-made one is made again)."""
    stamp = VENV / (".installed-" + "-".join(INTELMQ).replace("<", "lt").replace("=", ""))
    python = VENV / "bin" / "python"
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{VENV}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            shutil.rmtree(VENV, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                 *INTELMQ],
                check=True, timeout=600,
            )  # fmt: skip
            stamp.touch()
    return python


@pytest.fixture(scope="module")
def intelmq_python() -> Path:
    return _intelmq_venv()


def _v6_shodan(path: Path) -> None:
    """Shodan banners of IPv6 hosts: the shared fixture's mail services (Exim with its
    certificate chain, Exchange's SMTP and OWA, Dovecot, Postfix) under 2001:db8:: addresses,
    plus MDaemon IMAP and POP3 (vulnerable), a plain web server, and a TLS service whose
    certificate Shodan summarised without dates (a placeholder date is no expiry)."""
    banners = [json.loads(line) for line in SHODAN.read_text().splitlines() if line.strip()]
    out = []
    for i, b in enumerate(banners):
        if b["port"] == 22:
            continue
        b = {k: v for k, v in b.items() if k != "ip"}
        b["ip_str"] = f"2001:db8::{i + 1:x}"
        out.append(b)
    keep = ("transport", "timestamp", "org", "asn", "location")
    base = {k: v for k, v in banners[4].items() if k in keep}
    summary = {"subject": {"CN": "pop.example.org"}, "issuer": {"CN": "Example CA"}}
    http = "HTTP/1.1 404 Not Found\r\nServer: nginx\r\nContent-Type: text/html\r\n\r\n"
    extra = [
        (143, "* OK mx11.example.com IMAP4rev1 MDaemon 22.0.3 ready\r\n", None),
        (110, "+OK mx11.example.com POP MDaemon 22.0.3 ready <1@mx11.example.com>\r\n", None),
        (80, http, None),
        (
            995,
            "+OK Dovecot ready.\r\n",
            {
                "versions": ["TLSv1.3"],
                "cert": summary,
                "cipher": {"name": "TLS_AES_128_GCM_SHA256"},
            },
        ),
    ]
    for n, (port, data, ssl) in enumerate(extra):
        b = {**base, "ip_str": f"2001:db8:1::{n + 1:x}", "port": port, "data": data}
        if port == 80:
            b["http"] = {"status": 404, "server": "nginx"}
        if ssl is not None:
            b["ssl"] = ssl
        out.append(b)
    path.write_text("".join(json.dumps(b) + "\n" for b in out))


def mx(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mxcensus", *args],
        capture_output=True, text=True, env=_env(), timeout=300, check=False,
    )  # fmt: skip


def _chosen(store: Store) -> tuple[ScanId, ScanId]:
    """The two scans the files are written from: the demo's first (it scans the lab twice,
    at the same addresses: one of them, so that an address names one service) and the
    IPv6 import."""
    scans = store.reader().scans()
    lab = next(s.id for s in scans if s.name != "v6")
    v6 = next(s.id for s in scans if s.name == "v6")
    return lab, v6


def _write(db: Path, scan: str, out: Path) -> list[Path]:
    """export --format shadowserver -o DIR and notify --per prefix of one scan."""
    res = mx("export", "--db", str(db), "--scan", scan, "--format", "shadowserver",
             "-o", str(out / "export"))  # fmt: skip
    assert res.returncode == 0, res.stderr
    res = mx("notify", "--db", str(db), "--scan", scan, "--per", "prefix",
             "--out", str(out / "notify"))  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert (out / "notify" / "index.tsv").is_file()
    files = sorted([*(out / "export").iterdir(), *(out / "notify").glob("*.csv")])
    assert all(f.suffix == ".csv" and f.stat().st_size > 0 for f in files)
    return files


def _attachments(db: Path, out: Path) -> list[Path]:
    """A watch e-mail's CSV attachments (``watch.attach``) naming every service at risk of
    both scans, saved as a Mail Attachment collector would hand them on."""
    from mxcensus.export.shadowserver import shadow_records
    from mxcensus.watch.attach import shadowserver_files

    out.mkdir()
    with Store.open(db, read_only=True) as store:
        for scan in _chosen(store):
            wanted = {
                (r.ip, int(r.values["port"])): {"t1"}
                for r in shadow_records(store, scan, at_risk_only=True)
            }
            sent = shadowserver_files(store, scan, wanted, {"t1": "CERT Example"}, "2026-04-01")
            for a in sent["t1"]:
                (out / a.filename).write_bytes(a.data)
    return sorted(out.iterdir())


@pytest.fixture(scope="module")
def parsed(
    intelmq_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, dict[str, Any]]]:
    """The store, and IntelMQ's result per file written from its two scans."""
    tmp = tmp_path_factory.mktemp("intelmq")
    db = tmp / "lab.duckdb"
    res = mx("demo", "--db", str(db), "--size", "60", "--seed", "1")
    assert res.returncode == 0, res.stderr
    shodan = tmp / "v6.json"
    _v6_shodan(shodan)
    res = mx("import", "shodan", str(shodan), "--db", str(db), "--name", "v6")
    assert res.returncode == 0, res.stderr
    with Store.open(db, read_only=True) as store:
        lab, _ = _chosen(store)
    files = _write(db, lab, tmp / "lab") + _write(db, "v6", tmp / "v6")
    files += _attachments(db, tmp / "mail")
    run = subprocess.run(
        [str(intelmq_python), str(HERE / "intelmq_parse.py"), str(SCHEMA), *map(str, files)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return db, {r["file"]: r for r in json.loads(run.stdout)}


def _report(name: str) -> str:
    return name.split("-")[3]


def test_every_report_type_is_written_and_detected(
    parsed: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    _, results = parsed
    written = {_report(n) for n in results}
    assert V4_REPORTS | V6_REPORTS <= written <= REPORTS
    for name, r in results.items():
        assert r["problems"] == [], name  # no error, no warning: every column is there
        assert r["refused"] == [], name  # no value IntelMQ had to put aside
        assert len(r["events"]) == r["rows"] > 0, name
        assert all(e["feed.name"] == _feed(_report(name)) for e in r["events"]), name


def _schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA.read_text())
    return loaded


def _feed(report: str) -> str:
    name: str = _schema()[report]["feed_name"]
    return name


def test_each_report_is_classified_as_shadowserver_classifies_it(
    parsed: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    schema = _schema()
    for name, r in parsed[1].items():
        report = _report(name)
        want = schema[report]["constant_fields"].get(
            "classification.identifier", "vulnerable-exchange-server"
        )  # Exchange's comes from the tag: never "webshell" from us
        assert {e["classification.identifier"] for e in r["events"]} == {want}, name
        v6 = report.startswith("scan6_")
        assert all((":" in e["source.ip"]) is v6 for e in r["events"]), name


def _at_risk(db: Path) -> dict[tuple[str, int], list[str]]:
    """The CVEs each exposed service is vulnerable or potentially vulnerable to, by (ip,
    port), from the JSONL export's records (the two scans' addresses differ)."""
    from mxcensus.export.formats import export_scan

    want: dict[tuple[str, int], list[str]] = {}
    at_risk = {Status.VULNERABLE, Status.POTENTIALLY_VULNERABLE}
    with Store.open(db, read_only=True) as store:
        for scan in _chosen(store):
            path = db.parent / f"{scan}.jsonl"
            with path.open("wb") as fh:
                export_scan(store, scan, "jsonl", fh)
            for line in path.read_text().splitlines():
                rec = json.loads(line)
                cves = sorted({c["id"].lower() for c in rec["cves"] if c["status"] in at_risk})
                want[(rec["ip"], rec["port"])] = cves
    return want


def test_cves_land_in_product_vulnerabilities(
    parsed: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    db, results = parsed
    want = _at_risk(db)
    seen = 0
    for name, r in results.items():
        for e in r["events"]:
            cves = want[(e["source.ip"], e["source.port"])]
            got = e.get("product.vulnerabilities")
            assert (got.split(";") if got else []) == cves, (name, e["source.ip"])
            seen += bool(cves)
    assert seen > 20


def test_exchange_urls_are_the_owa_path_on_the_host(
    parsed: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    events = [e for n, r in parsed[1].items() if "exchange" in n for e in r["events"]]
    assert events
    for e in events:
        host = e.get("source.reverse_dns") or e["source.ip"]
        # the path the probe asked for (the lab's); Shodan's page after the redirect
        path = "/owa/auth/logon.aspx" if ":" in e["source.ip"] else "/owa/"
        assert e["destination.url"] == f"http://{host}{path}"
        if "source.reverse_dns" in e:  # Shodan named the host: the record says so
            assert e["extra.hostname_source"] == "shodan"


def _transcripts(db: Path) -> Iterator[tuple[str, int, Any]]:
    with Store.open(db, read_only=True) as store:
        for scan in _chosen(store):
            for t in store.iter_transcripts(scan):
                yield t.ip, t.port, t.tls


def test_tls_columns_are_the_probes_facts(
    parsed: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    db, results = parsed
    tls = {(ip, port): t for ip, port, t in _transcripts(db) if t is not None and t.version}
    checked = 0
    for name, r in results.items():
        if "exchange" in name or "http" in name:
            continue
        for e in r["events"]:
            t = tls.get((e["source.ip"], e["source.port"]))
            if t is None:
                assert "extra.handshake" not in e
                continue
            assert e["extra.handshake"] == t.version
            if not t.chain:
                continue
            leaf = t.chain[0]
            assert e["extra.subject_common_name"] in leaf.subject
            if leaf.not_after.year <= 1970:  # a source gave no date: unknown, not expired
                assert "extra.cert_expired" not in e and "extra.cert_expiration_date" not in e
                continue
            assert e["extra.cert_expired"] is False  # the lab's certificates are current
            pairs = e["extra.sha256_fingerprint"].replace(":", "").lower()
            assert pairs == leaf.sha256
            if leaf.key_bits:
                assert e["extra.cert_length"] == leaf.key_bits
                assert e["extra.ssl_version"] == 2
            checked += 1
    assert checked > 20

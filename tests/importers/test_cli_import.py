"""``mxcensus import`` as a user runs it: summary, exit codes, one-line errors."""

from __future__ import annotations

from pathlib import Path

from mxcensus.store.db import Store
from tests.conftest import RunCli
from tests.importers.conftest import fixture
from tests.importers.test_run import thousand


def test_import_prints_a_summary(mx: RunCli, db_path: Path) -> None:
    r = mx("import", "shodan", str(fixture("shodan-mail.json.gz")), "--db", str(db_path),
           "--name", "march")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "imported shodan (1 file" in r.stdout
    assert "transcripts" in r.stdout and " 6\n" in r.stdout
    assert "records/s" in r.stdout
    assert r.stderr == ""  # no progress bar when not a terminal, no warnings
    with Store.open(db_path, read_only=True) as store:
        scan = store.resolve_scan("march")
        assert store.count("transcripts", scan) == 6


def test_malformed_records_are_reported_with_lines(
    mx: RunCli, db_path: Path, tmp_path: Path
) -> None:
    path, bad = thousand("shodan", tmp_path)
    r = mx("import", "shodan", str(path), "--db", str(db_path))
    assert r.returncode == 0, r.stderr
    assert "malformed" in r.stdout
    for line in sorted(bad):
        assert f"{path}:{line}: " in r.stderr


def test_strict_fails_and_writes_nothing(mx: RunCli, db_path: Path, tmp_path: Path) -> None:
    path, bad = thousand("shodan", tmp_path)
    r = mx("import", "shodan", str(path), "--db", str(db_path), "--strict")
    assert r.returncode == 1
    assert r.stderr.startswith(f"mxcensus: error: {path}:{min(bad)}: ")
    assert len(r.stderr.strip().splitlines()) == 1
    with Store.open(db_path, read_only=True) as store:
        assert store.list_scans() == []


def test_errors_are_one_line_and_non_zero(mx: RunCli, db_path: Path, tmp_path: Path) -> None:
    csv = fixture("2021-07-08-scan_smtp_vulnerable-example.csv")
    cases = [
        (("shodan", str(csv)), 1, f"{csv}:1: not shodan JSON lines"),
        (("shodan", str(tmp_path / "nope.json")), 1, "nope.json: no such file"),
        (("nmap-xml", str(fixture("shodan-mail.json"))), 1, "not nmap XML"),
        (("qualys", str(csv)), 2, "unknown format 'qualys'"),
    ]
    for args, code, message in cases:
        r = mx("import", *args, "--db", str(db_path))
        assert r.returncode == code, (args, r.stderr)
        assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
        assert "Traceback" not in r.stderr


def test_bad_geo_db_is_a_usage_error(mx: RunCli, db_path: Path, tmp_path: Path) -> None:
    junk = tmp_path / "x.mmdb"
    junk.write_text("not an mmdb")
    r = mx("import", "shodan", str(fixture("shodan-mail.json")), "--db", str(db_path),
           "--geo-db", str(junk))  # fmt: skip
    assert r.returncode == 2 and "--geo-db" in r.stderr and "not a readable MMDB" in r.stderr


def test_help_names_the_formats_and_options(mx: RunCli) -> None:
    r = mx("import", "--help")
    assert r.returncode == 0
    for word in ("shodan", "nmap-xml", "shadowserver", "--strict", "--geo-db", "--name"):
        assert word in r.stdout

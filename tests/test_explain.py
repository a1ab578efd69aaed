from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mxcensus.errors import UsageError
from mxcensus.explain import parse_target
from mxcensus.model import Outcome, Step, Transcript, Transport
from mxcensus.store.db import Store
from tests.conftest import RunCli
from tests.factories import smtp_transcript

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _store_with(db_path: Path, *transcripts: Transcript) -> str:
    with Store.open(db_path) as store:
        sid = store.create_scan(name="nov", kind="scan", source="scan")
        store.write_transcripts(sid, list(transcripts))
        store.finish_scan(sid)
    return sid


def test_explain_shows_seen_rule_knowledge_and_reason(mx: RunCli, db_path: Path) -> None:
    _store_with(
        db_path,
        smtp_transcript(b"220 mx.example.org ESMTP Exim 4.89 Tue, 13 Aug 2024\r\n", ip="192.0.2.1"),
    )
    res = mx("explain", "192.0.2.1:25", "--db", str(db_path))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "greeting [220]: 220 mx.example.org ESMTP Exim 4.89" in out  # what was seen
    assert "smtp_banner.yaml#" in out  # which rule
    assert "identified: exim 4.89" in out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("CVE-2019-10149"))
    assert "potentially-vulnerable" in line and "4.92" in line  # verdict, reason, fix
    assert "knowledge:" in out and ".yaml:" in out  # which knowledge row (file:line)


def test_explain_exchange_names_the_build_row(mx: RunCli, db_path: Path) -> None:
    t = Transcript(
        ip="192.0.2.2",
        port=443,
        protocol="https",
        transport=Transport.TLS,
        observed_at=NOW,
        outcome=Outcome.OK,
        steps=(Step("GET /owa/", code=200, headers=(("X-OWA-Version", "15.1.2375.7"),)),),
    )
    _store_with(db_path, t)
    res = mx("explain", "192.0.2.2", "--db", str(db_path))
    assert res.returncode == 0, res.stderr
    assert "Exchange Server 2016 CU22" in res.stdout
    assert "15.1.2375.7 < 15.1.2375.37" in res.stdout


def test_reassess_replaces_derived_rows(mx: RunCli, db_path: Path) -> None:
    sid = _store_with(db_path, smtp_transcript(b"220 mx ESMTP Exim 4.91\r\n", ip="192.0.2.1"))
    for _ in range(2):
        res = mx("reassess", "nov", "--db", str(db_path))
        assert res.returncode == 0, res.stderr
        assert f"reassessed scan {sid}: 1 transcripts, 1 services" in res.stdout
    with Store.open(db_path, read_only=True) as store:
        assert store.count("services", store.resolve_scan("nov")) == 1


@pytest.mark.parametrize("bad", ["300.1.2.3", "192.0.2.1:0", "192.0.2.1:x", "mail"])
def test_explain_bad_target(bad: str) -> None:
    with pytest.raises(UsageError, match="explain"):
        parse_target(bad)


def test_explain_unknown_address(mx: RunCli, db_path: Path) -> None:
    _store_with(db_path, smtp_transcript(b"220 mx ESMTP Exim 4.91\r\n", ip="192.0.2.1"))
    res = mx("explain", "192.0.2.99", "--db", str(db_path))
    assert res.returncode == 2
    assert "192.0.2.99" in res.stderr

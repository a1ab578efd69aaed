"""No command prints a raw control or formatting character that could reorder, hide or
forge text (ANSI and C1 escapes, bidi overrides and isolates, zero-width marks, tag
characters): banners, names and organisations come from servers and imported files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mxcensus.model import Outcome, Status, Step, Transcript, Transport
from mxcensus.store.db import Store
from mxcensus.text import UNSAFE
from tests.conftest import RunCli
from tests.report.fixture_store import service

HOSTILE = "\u202egnp.exe\u2066x\u2069 \u200f\u200b\x1b[2J\x9b31m\ufeff\U000e0041\x7f end"


def _layout_only(text: str) -> list[str]:
    return sorted({c for c in UNSAFE.findall(text) if c not in "\r\n"})


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("hostile") / "h.duckdb"
    when = datetime(2026, 4, 1, 6, 0, tzinfo=UTC)
    with Store.open(db) as store:
        for name in ("first", "second"):
            sid = store.create_scan(name=name, kind="scan", source="scan")
            rec = service(sid, when, "192.0.2.1", 25, "exim", "Exim 4", "4.87", False,
                          {"CVE-2019-10149": Status.POTENTIALLY_VULNERABLE}, "DE",
                          banner="220 " + HOSTILE)  # fmt: skip
            store.write_services(sid, [rec])
            store.con.execute(
                "UPDATE service_rows SET org = $o, hostname = $h, version = $v",
                {"o": "Evil " + HOSTILE, "h": "mx" + HOSTILE, "v": "4.87" + HOSTILE},
            )
            greeting = ("220 mx ESMTP Exim 4.87 " + HOSTILE + "\r\n").encode()
            t = Transcript(
                ip="192.0.2.1",
                port=25,
                protocol="smtp",
                transport=Transport.PLAIN,
                observed_at=when,
                outcome=Outcome.OK,
                steps=(Step("greeting", received=greeting, code=220),),
                error="reset after " + HOSTILE,
            )
            store.write_transcripts(sid, [t])
            store.finish_scan(sid)
    return db


TEXT_COMMANDS = [
    ("report", "--format", "table", "--by", "version,country"),
    ("report", "--format", "csv", "--by", "version"),
    ("report", "--format", "html"),
    ("trend", "--format", "table", "--by", "version"),
    ("trend", "--format", "csv", "--by", "version"),
    ("export", "--format", "csv"),
    ("export", "--format", "shadowserver", "--report", "scan_smtp_vulnerable"),
    ("explain", "192.0.2.1"),
]


@pytest.mark.parametrize("args", TEXT_COMMANDS, ids=lambda a: "-".join(a[:3]))
def test_text_outputs_escape_every_unsafe_character(
    mx: RunCli, hostile_db: Path, args: tuple[str, ...]
) -> None:
    res = mx(*args, "--db", str(hostile_db))
    assert res.returncode == 0, res.stderr
    assert _layout_only(res.stdout) == []
    assert "\\u202egnp.exe" in res.stdout or "gnp.exe" not in res.stdout


JSON_COMMANDS = [
    ("report", "--format", "json", "--by", "version"),
    ("trend", "--format", "json", "--by", "version"),
    ("export", "--format", "jsonl"),
]


@pytest.mark.parametrize("args", JSON_COMMANDS, ids=lambda a: "-".join(a[:3]))
def test_json_outputs_carry_them_as_json_escapes(
    mx: RunCli, hostile_db: Path, args: tuple[str, ...]
) -> None:
    res = mx(*args, "--db", str(hostile_db))
    assert res.returncode == 0, res.stderr
    assert _layout_only(res.stdout) == []
    for line in res.stdout.splitlines() if args[0] == "export" else [res.stdout]:
        json.loads(line)  # still JSON
    assert "\\u202egnp.exe" in res.stdout


def test_notify_files_and_identify_escape_them(
    mx: RunCli, hostile_db: Path, tmp_path: Path
) -> None:
    res = mx("notify", "--db", str(hostile_db), "--out", str(tmp_path / "n"))
    assert res.returncode == 0, res.stderr
    res = mx("export", "--db", str(hostile_db), "--format", "shadowserver",
             "-o", str(tmp_path / "s"))  # fmt: skip
    assert res.returncode == 0, res.stderr
    files = [*(tmp_path / "n").iterdir(), *(tmp_path / "s").iterdir()]
    assert len(files) > 2
    for f in files:
        text = f.read_text()
        assert _layout_only(text.replace("\t", "") if f.suffix == ".tsv" else text) == []
    res = mx("identify", "--protocol", "smtp", input="220 mx ESMTP Exim 4.92 " + HOSTILE + "\n")
    assert res.returncode == 0, res.stderr
    assert _layout_only(res.stdout) == []
    assert json.loads(res.stdout)["product"] == "exim"


def test_error_messages_escape_them(mx: RunCli, hostile_db: Path) -> None:
    res = mx("report", "--db", str(hostile_db), "--scan", "x" + HOSTILE)
    assert res.returncode == 2
    assert _layout_only(res.stderr) == []
    assert res.stderr.count("\n") == 1

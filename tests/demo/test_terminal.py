"""Terminal tables of the demo's database at 80 and 120 columns: no header split inside a
word, no line wider than the terminal, numbers right-aligned."""

from __future__ import annotations

import io
import re

import pytest

from mxcensus.report.document import Document
from mxcensus.report.fields import parse_by
from mxcensus.report.formats.table import SHORT, TableFormat, display_name
from mxcensus.report.query import build_report
from mxcensus.report.trend import build_trend, series
from mxcensus.store.db import Store
from tests.demo.conftest import Demo, run_in

RULE = re.compile(r"^─+$")


def documents(demo: Demo) -> list[Document]:
    with Store.open(demo.db, read_only=True) as store:
        reader = store.reader()
        scan = reader.resolve_scan(None)
        docs = [
            build_report(reader, scan, parse_by(by))
            for by in ("product_line", "verdict", "cve", "country", "product_line,version")
        ]
        docs.append(build_trend(reader, series(reader, None, None), parse_by("product_line")))
        # materialise the streamed rows while the store is open
        for d in docs:
            for s in d.sections:
                tuple(s.rows)
    return docs


def render(doc: Document, width: int) -> str:
    buf = io.BytesIO()
    TableFormat(width=width).write(doc, buf)
    return buf.getvalue().decode()


def header_blocks(text: str, titles: set[str]) -> list[list[str]]:
    """The header lines of every table: from below its title down to the rule."""
    lines = text.splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if RULE.match(line.strip()) and line.strip():
            j = i - 1
            while lines[j].strip() not in titles:
                j -= 1
            blocks.append(lines[j + 1 : i])
    return blocks


@pytest.mark.parametrize("width", [80, 120])
def test_no_header_is_split_inside_a_word(demo: Demo, width: int) -> None:
    for doc in documents(demo):
        allowed = {w for s in SHORT.values() for w in s[0].split()}
        for s in doc.sections:
            for name in (*s.columns, *s.headers):
                allowed.update(display_name(name).split())
        text = render(doc, width)
        blocks = header_blocks(text, {s.title for s in doc.sections})
        assert blocks, text
        for block in blocks:
            assert 1 <= len(block) <= 3, block
            for line in block:
                for word in line.split():
                    assert word in allowed, (doc.title, width, word, block)
        assert max(len(line) for line in text.splitlines()) <= width


def test_numbers_are_right_aligned(demo: Demo) -> None:
    res = run_in(demo.cwd, "report", "--db", str(demo.db), columns=80)
    assert res.returncode == 0, res.stderr
    rows = res.stdout.split("────\n", 1)[1].split("\n  ", 1)[0].splitlines()
    ends = {len(r.rstrip()) for r in rows if len(r.split()) > 3}  # not a wrapped name
    assert len(ends) == 1, rows  # every row ends at the last column's right edge


@pytest.mark.parametrize("width", [80, 120])
def test_trend_is_a_compact_before_after_change_table(demo: Demo, width: int) -> None:
    res = run_in(demo.cwd, "trend", "--db", str(demo.db), columns=width)
    assert res.returncode == 0, res.stderr
    changes = res.stdout.split("Change by product line", 1)[1].split("\n\n", 1)[0]
    head = changes.split("\n", 1)[1].split("────", 1)[0]  # below the title (it has dates)
    assert "day-0" in head and "day-30" in head
    assert "2026" not in head  # neither ids nor dates in the headers
    assert "Dovecot" in changes

"""``mxcensus.text``: the one definition of unsafe characters and the one way to show them."""

from __future__ import annotations

import json
import unicodedata

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mxcensus.model import printable
from mxcensus.output.csv import csv_cell
from mxcensus.text import ESCAPES, UNSAFE, UNSAFE_RANGES, escape, json_safe, visible

CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def test_the_ranges_are_exactly_the_unsafe_categories() -> None:
    listed = {o for lo, hi in UNSAFE_RANGES for o in range(lo, hi + 1)}
    want = {o for o in range(0x110000) if unicodedata.category(chr(o)) in CATEGORIES}
    assert listed == want
    assert set(ESCAPES) == want


REORDERING = [
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE: "exe.txt" shown as "txt.exe"
    "\u202a", "\u202b", "\u202c", "\u202d",  # embeddings, pop
    "\u2066", "\u2067", "\u2068", "\u2069",  # isolates
    "\u200e", "\u200f", "\u061c",  # marks
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad",  # zero width, hiding
    "\U000e0041",  # TAG LATIN CAPITAL LETTER A: invisible ASCII
    "\x1b", "\x9b", "\x07", "\x7f", "\x00", "\u2028", "\u2029",
]  # fmt: skip


@pytest.mark.parametrize("ch", REORDERING)
def test_every_reordering_or_hiding_character_is_escaped(ch: str) -> None:
    text = f"admin{ch}gpj.exe"
    for shown in (escape(text), visible(text), csv_cell(text), printable(text.encode())):
        assert ch not in shown
        assert UNSAFE.search(shown) is None
        assert shown.startswith("admin\\") and shown.endswith("gpj.exe")
    assert ch not in json_safe(orjson.dumps({"k": text})).decode()


def test_escapes_read_as_what_they_replace() -> None:
    assert escape("a\u202eb\r\n\t\x1b[31m") == "a\\u202eb\\r\\n\\t\\x1b[31m"
    assert escape("tag\U000e0041") == "tag\\U000e0041"
    assert escape("café — ok ×") == "café — ok ×"  # printable text passes as it is
    assert visible("x" * 300, 10) == "x" * 9 + "…"


@given(st.text())
def test_json_safe_is_the_same_document_and_inert(text: str) -> None:
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return  # orjson refuses lone surrogates before we ever see them
    data = orjson.dumps({"banner": text, "n": 1}, option=orjson.OPT_INDENT_2)
    safe = json_safe(data)
    assert json.loads(safe) == {"banner": text, "n": 1}
    assert UNSAFE.search(safe.decode().replace("\n", "")) is None


def test_json_safe_leaves_clean_documents_alone() -> None:
    for doc in (b'{"a":"plain"}', '{"a":"café — ×"}'.encode(), b'{\n  "a": 1\n}'):
        assert json_safe(doc) is doc

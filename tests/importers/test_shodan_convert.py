"""Shodan's conversion with its memos (step documents per banner text, HTTP heads) gives
the documents the Step-based helpers give, on a memo's first sight, from it, and after it
was cleared; shared documents are never changed by what reads them."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mxcensus.importers import _common as c
from mxcensus.importers import shodan
from mxcensus.serialize import steps_to_list
from tests.importers.conftest import fixture

NOW = datetime(2026, 11, 1, tzinfo=UTC)
RECORDS = [orjson.loads(x) for x in fixture("shodan-mail.json").read_bytes().splitlines() if x]
MAIL_AND_WEB = [r for r in RECORDS if r["port"] != 22]
ODD = list("250- 2\r\n:xHTP/1.\xe9\u20ac\x85\udcb2\udca0")
DATA = st.one_of(
    st.text(alphabet=st.sampled_from(ODD), max_size=60),
    st.sampled_from([r["data"] for r in RECORDS]),
    st.none(),
    st.integers(),
    st.lists(st.sampled_from(["220 a", "\xe9"]), max_size=2),
)  # fmt: skip


def _reference_steps(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps as the Step-based helpers build them (what the importer did before)."""
    raw = c.to_bytes(rec.get("data"))
    family = "http" if isinstance(rec.get("http"), dict) else c.family_of(rec["port"], "")
    if family is None:
        family = c.family_of(0, rec["_shodan"]["module"])
    if family == "smtp":
        return steps_to_list(c.smtp_steps(raw))
    if family in ("imap", "pop3"):
        return steps_to_list(
            c.line_protocol_steps(raw, "capability" if family == "imap" else "capa")
        )
    code, headers, _ = c.http_head(raw)
    http = rec["http"]
    code = http["status"] if isinstance(http.get("status"), int) else code
    loc = http.get("location")
    path = loc.split("?", 1)[0] if isinstance(loc, str) and loc.startswith("/") else "/"
    return steps_to_list((c.http_step(path, code, headers, c.to_bytes(http.get("html"))),))


def _clear() -> None:
    for memo in shodan._STEPS.values():
        memo.clear()
    shodan._HEADS.clear()


@settings(max_examples=200, deadline=None)
@given(data=DATA)
def test_memoised_conversion_equals_the_step_helpers(data: Any) -> None:
    """The same text as an SMTP, IMAP, POP3 and HTTP banner, one after the other."""
    recs = [dict(t, data=data) for t in MAIL_AND_WEB]
    _clear()
    first = [shodan._convert(r, NOW)[0] for r in recs]
    assert [d["steps"] for d in first] == [_reference_steps(r) for r in recs]
    assert [shodan._convert(dict(r), NOW)[0] for r in recs] == first  # from the memos
    _clear()
    assert [shodan._convert(r, NOW)[0] for r in reversed(recs)] == first[::-1]


def test_memos_stay_bounded_and_answer_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shodan, "_MEMO_ENTRIES", 3)
    monkeypatch.setattr(shodan, "_MEMO_CHARS", 2_000)
    monkeypatch.setattr(shodan, "_memo_chars", 0)
    _clear()
    recs = [dict(r, data=f"{r['data']}{i}") for i in range(10) for r in MAIL_AND_WEB]
    want = [steps for r in recs for steps in [_reference_steps(r)]]
    for _ in range(2):
        got = [shodan._convert(r, NOW)[0]["steps"] for r in recs]
        assert got == want
        assert all(len(m) <= 3 for m in (*shodan._STEPS.values(), shodan._HEADS))
        assert shodan._memo_chars <= 2_000 + max(len(r["data"]) for r in recs)


def test_shared_step_documents_survive_the_import(tmp_path: Any) -> None:
    """What the import does with the documents (store them, analyse what it reads back)
    leaves the memo's shared documents as they were."""
    from mxcensus.importers import import_files
    from mxcensus.store.db import Store

    _clear()
    for r in MAIL_AND_WEB:
        shodan._convert(r, NOW)
    before = copy.deepcopy((shodan._STEPS, shodan._HEADS))
    with Store.open(tmp_path / "s.duckdb") as store:
        import_files(store, "shodan", [fixture("shodan-mail.json")])
    assert before == (shodan._STEPS, shodan._HEADS)


def test_no_kept_field_is_one_identify_reads() -> None:
    """The columnar import identifies a banner once for every record carrying it, which is
    only right while no ``extra`` key the Shodan importer writes is a field identify reads
    (``identify_doc`` reads ``extra`` keys that name a ruleset or a banner). Every key
    ``_convert`` writes on the fixture, with every kept field filled, is one of
    ``shodan_columnar.extra_keys()``, and none of those names a field for any protocol."""
    from mxcensus.identify.engine import _extra_field
    from mxcensus.importers.shodan_columnar import extra_keys

    keys = set(extra_keys())
    full = dict(
        RECORDS[2],
        info="i", os="o", devicetype="d", isp="p", org="g",
        _shodan={"module": "https", "id": "x"},
        location={"country_code": "DE", "city": "c", "region_code": "r"},
    )  # fmt: skip
    seen = {
        k for rec in [*MAIL_AND_WEB, full] for d in shodan._convert(rec, NOW) for k, _ in d["extra"]
    }
    assert "shodan.http.title" in seen and "geo.org" in seen
    assert seen <= keys, seen - keys
    for family in ("smtp", "imap", "pop3", "http", ""):
        assert [k for k in keys if _extra_field(k, family) is not None] == []

"""The pieces behind ``mxcensus identify``: escapes, the assess memo, the record shape."""

from __future__ import annotations

import pytest

from mxcensus.assess import assess
from mxcensus.errors import UsageError
from mxcensus.identify import identify_field
from mxcensus.identify.lines import AssessMemo, identifier, identify_lines, unescape
from mxcensus.model import Identification


def test_unescape() -> None:
    assert unescape(r"220-a\r\n220 b") == "220-a\r\n220 b"
    assert unescape(r"tab\there \\r stays \x41\xff") == "tab\there \\r stays A\xff"
    assert unescape("no escapes") == "no escapes"
    assert unescape(r"\q \x4") == r"\q \x4"  # unknown escapes are kept as written


def test_assess_memo_is_keyed_by_object_identity() -> None:
    memo = AssessMemo(limit=2)
    a = identify_field("smtp.banner", "220 mx ESMTP Exim 4.91")
    assert identify_field("smtp.banner", "220 other ESMTP Exim 4.91") is a  # shared object
    first = memo(a)
    assert memo(a) is first
    assert first == assess(a, None)
    twin = Identification(product=a.product, vendor=a.vendor, version="4.96", precision=a.precision)
    assert memo(twin).findings != first.findings
    for v in ("4.80", "4.90", "4.99"):  # past the limit: cleared, still right
        other = Identification(product="exim", version=v, precision=a.precision)
        assert memo(other) == assess(other, None)
    assert memo(a) == first


def test_assess_memo_forgets_when_the_day_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    """End of support is judged as of today: a stream running past midnight UTC must not
    keep the previous day's verdicts."""
    import mxcensus.assess
    import mxcensus.identify.lines as lines

    calls: list[Identification] = []

    def counted(ident: Identification, transcript: object = None) -> object:
        calls.append(ident)
        return assess(ident, None)

    monkeypatch.setattr(mxcensus.assess, "assess", counted)
    monkeypatch.setattr(lines, "_DAY_CHECK", 2)
    day = [20_000]
    monkeypatch.setattr(lines, "_utc_day", lambda: day[0])
    memo = AssessMemo()
    a = identify_field("smtp.banner", "220 mx ESMTP Exim 4.91")
    for _ in range(4):
        memo(a)
    assert len(calls) == 1  # the same day: remembered
    day[0] += 1
    memo(a)
    memo(a)  # the second call looks at the day: a new one, so assessed again
    assert len(calls) == 2
    for _ in range(4):
        memo(a)
    assert len(calls) == 2


def test_identify_lines_keeps_order_and_adds_fields() -> None:
    def extend(ident: Identification, out: dict[str, object]) -> None:
        out["seen"] = ident.product

    out = list(identify_lines(["* OK Dovecot ready.\n", "x\r\n", ""], "imap", extend))
    assert [o["product"] for o in out] == ["dovecot", "unknown", "unknown"]
    assert [o["seen"] for o in out] == ["dovecot", "unknown", "unknown"]
    assert out[1]["banner"] == "x"


def test_identifier_refuses_unknown_protocol() -> None:
    with pytest.raises(UsageError, match="--protocol must be one of"):
        identifier("ftp")

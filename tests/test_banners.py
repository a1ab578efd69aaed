"""The assess memo behind ``mxcensus identify`` (``mxcensus.banners``)."""

from __future__ import annotations

import pytest

from mxcensus.assess import assess
from mxcensus.banners import AssessMemo
from mxcensus.identify import identify_field
from mxcensus.model import Identification


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
    import mxcensus.banners as lines

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

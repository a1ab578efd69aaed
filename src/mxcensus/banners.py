"""``mxcensus identify`` with verdicts: each banner's identification
(:mod:`mxcensus.identify.lines`) and ``assess(ident, None)``, remembered per shared
identification object. It sits above both identify and assess, which do not import each
other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mxcensus.model import Assessment, Identification


def assessment_to_json(a: Assessment) -> dict[str, Any]:
    """The assessment fields of a line's record (the shape of the exported JSONL)."""
    return {
        "product_line": a.product_line or None,
        "release": a.release or None,
        "confidence": a.confidence or None,
        "cves": [f.to_json() for f in a.findings],
        "eol": {
            "eol": a.eol.eol,
            "line": a.eol.line or None,
            "date": a.eol.date.isoformat() if a.eol.date else None,
            "reason": a.eol.reason or None,
        },
        "remediation": list(a.remediation),
    }


def assess_memo(limit: int = 65_536) -> Callable[[Identification], Assessment]:
    """``assess(ident, None)`` remembered per identification object.

    ``identify_field`` hands out one shared (frozen) ``Identification`` per rule and matched
    text, so a stream of banners keeps meeting the same few objects; looking them up by
    identity costs far less than hashing their fields. Every remembered object is kept
    alive (in ``kept``) as long as its entry, so no other object can have its id meanwhile:
    an entry found by ``id(ident)`` is that object's, without comparing. A closure, not an
    object with ``__call__``: calling it is the per-banner cost.

    ``assess(ident, None)`` judges as of today (end of support is a date), so the memo is
    forgotten when the UTC day changes; the day is looked at every :data:`_DAY_CHECK`
    calls, a fraction of a second of banners at the speed they stream.
    """
    from mxcensus.assess import assess  # looked up per memo: tests replace it

    memo: dict[int, Assessment] = {}
    kept: list[Identification] = []
    get = memo.get
    state = [_DAY_CHECK, _utc_day()]  # calls until the next look at the day; the day

    def remembered(ident: Identification) -> Assessment:
        state[0] -= 1
        if not state[0]:
            state[0] = _DAY_CHECK
            day = _utc_day()
            if day != state[1]:
                state[1] = day
                memo.clear()
                kept.clear()
        result = get(id(ident))
        if result is not None:
            return result
        result = assess(ident, None)
        if len(memo) >= limit:
            memo.clear()
            kept.clear()
        memo[id(ident)] = result
        kept.append(ident)
        return result

    return remembered


_DAY_CHECK = 1024


def _utc_day() -> int:
    return int(time.time()) // 86_400


AssessMemo = assess_memo
"""The earlier name of :func:`assess_memo` (``AssessMemo(limit=...)`` still works)."""


def assessment_adder() -> Callable[[Identification, dict[str, Any]], None]:
    """``extend`` for :func:`~mxcensus.identify.lines.identify_lines`: the verdicts of
    ``assess(ident, None)``."""
    memo = assess_memo()

    def add(ident: Identification, out: dict[str, Any]) -> None:
        out.update(assessment_to_json(memo(ident)))

    return add

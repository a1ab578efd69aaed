"""``mxcensus identify``: raw banners, one per line, to one JSON-able dict per line.

A line may write a multi-line greeting with escapes: ``\\r``, ``\\n``, ``\\t``, ``\\\\`` and
``\\xHH`` (one byte). Everything else is taken as written.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from mxcensus.errors import UsageError
from mxcensus.identify.engine import identify_field, identify_http_text
from mxcensus.model import Assessment, Evidence, Identification, printable
from mxcensus.probes import TABLE

PROTOCOLS = tuple(TABLE.families)
"""``--protocol`` values: the protocol families the probes declare (smtp, imap, pop3, http …)."""
_ESCAPE = re.compile(r"\\(?:x([0-9A-Fa-f]{2})|([rnt\\]))")
_SIMPLE = {"r": "\r", "n": "\n", "t": "\t", "\\": "\\"}


def unescape(line: str) -> str:
    """``\\r\\n`` escapes (and ``\\t``, ``\\\\``, ``\\xHH``) to the characters they name."""
    if "\\" not in line:
        return line
    return _ESCAPE.sub(lambda m: chr(int(m[1], 16)) if m[1] else _SIMPLE[m[2]], line)


def identifier(protocol: str) -> Callable[[str], Identification]:
    """The identify function for one kind of banner."""
    spec = TABLE.families.get(protocol)
    if spec is None:
        raise UsageError(f"--protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
    if spec.http:
        return identify_http_text
    field = spec.banner
    return lambda text: identify_field(field, text)


def _evidence(e: Evidence) -> dict[str, Any]:
    return {"field": e.field, "rule": e.rule, "value": e.value}


def ident_to_json(ident: Identification) -> dict[str, Any]:
    return {
        "product": ident.product,
        "vendor": ident.vendor or None,
        "version": ident.version or None,
        "precision": ident.precision.label,
        "cpe": ident.cpe or None,
        "distro": ident.distro or None,
        "reason": ident.reason or None,
        "evidence": [_evidence(e) for e in ident.evidence],
        "conflicts": [_evidence(e) for e in ident.conflicts],
    }


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
    from mxcensus.assess import assess

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
    """``extend`` for :func:`identify_lines`: the verdicts of ``assess(ident, None)``."""
    memo = assess_memo()

    def add(ident: Identification, out: dict[str, Any]) -> None:
        out.update(assessment_to_json(memo(ident)))

    return add


def identify_lines(
    lines: Iterable[str],
    protocol: str,
    extend: Callable[[Identification, dict[str, Any]], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """One dict per input line, in order; ``extend`` may add fields (the assessment)."""
    ident_of = identifier(protocol)
    for raw in lines:
        line = raw[:-1] if raw.endswith("\n") else raw
        line = line[:-1] if line.endswith("\r") else line
        text = unescape(line)
        ident = ident_of(text)
        out = ident_to_json(ident)
        out["banner"] = printable(text.encode("utf-8"))
        if extend is not None:
            extend(ident, out)
        yield out

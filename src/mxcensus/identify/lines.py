"""``mxcensus identify``: raw banners, one per line, to one JSON-able dict per line.

Identification only: the verdicts ``mxcensus identify`` adds come from the layer above,
:mod:`mxcensus.banners` (identify never imports assess).

A line may write a multi-line greeting with escapes: ``\\r``, ``\\n``, ``\\t``, ``\\\\`` and
``\\xHH`` (one byte). Everything else is taken as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from mxcensus.errors import UsageError
from mxcensus.identify.combine import combine
from mxcensus.identify.engine import identify_field, identify_http_text
from mxcensus.model import Evidence, Identification, printable
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
        return identify_http
    field = spec.banner
    return lambda text: identify_field(field, text)


_HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}:")
_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^HTTP/\d"), "http"),
    (re.compile(r"^\* (OK|PREAUTH|BYE)\b", re.IGNORECASE), "imap"),
    (re.compile(r"^\+OK\b"), "pop3"),
    (re.compile(r'^"(IMPLEMENTATION|SIEVE|SASL|STARTTLS|VERSION)"', re.IGNORECASE), "managesieve"),
    (re.compile(r"^\d{3}[ -]"), "smtp"),
    (re.compile(r"^<(!doctype|html|\?xml)", re.IGNORECASE), "http"),
)


def detect_protocol(text: str) -> str:
    """The protocol a banner's shape says (``HTTP/1.1 …``, ``* OK``, ``+OK``,
    ``"IMPLEMENTATION"``, ``220 …``, an HTML page); smtp when nothing matches."""
    for pattern, protocol in _SHAPES:
        if pattern.match(text) and protocol in TABLE.families:
            return protocol
    return "smtp"


def identify_http(text: str) -> Identification:
    """An HTTP response (status line, headers, body) read as one: every header line on
    its own, the body as a body, and paths in either; other HTTP text as before
    (:func:`identify_http_text`)."""
    if not text.startswith("HTTP/"):
        return identify_http_text(text)
    head, sep, body = text.partition("\r\n\r\n")
    if not sep:
        head, _, body = text.partition("\n\n")
    found = [
        identify_field("http.header", line) for line in head.splitlines()[1:] if _HEADER.match(line)
    ]
    found.append(identify_field("http.owa-path", text))
    if body:
        found.append(identify_field("ecp.manifest", body))
        found.append(identify_field("http.body", body))
    return combine(found)


def _evidence(e: Evidence) -> dict[str, Any]:
    return {"field": e.field, "rule": e.rule, "value": e.value}


_SHOWN = ("product", "vendor", "version", "precision", "cpe", "distro", "reason")
"""The identification's fields a line shows, in this order, before its evidence."""


def ident_to_json(ident: Identification) -> dict[str, Any]:
    """One line of ``mxcensus identify``: the fields of :data:`_SHOWN`, an empty text as
    null and the precision by its label; then the evidence and the conflicts."""
    out: dict[str, Any] = {name: getattr(ident, name) or None for name in _SHOWN}
    out["precision"] = ident.precision.label
    out["evidence"] = [_evidence(e) for e in ident.evidence]
    out["conflicts"] = [_evidence(e) for e in ident.conflicts]
    return out


def identify_lines(
    lines: Iterable[str],
    protocol: str | None,
    extend: Callable[[Identification, dict[str, Any]], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """One dict per input line, in order; ``protocol`` None: each line's from its shape
    (:func:`detect_protocol`); ``extend`` may add fields (the assessment,
    :func:`mxcensus.banners.assessment_adder`)."""
    fixed = identifier(protocol) if protocol is not None else None
    for raw in lines:
        line = raw[:-1] if raw.endswith("\n") else raw
        line = line[:-1] if line.endswith("\r") else line
        text = unescape(line)
        shape = protocol or detect_protocol(text)
        ident = (fixed or identifier(shape))(text)
        out = ident_to_json(ident)
        out["protocol"] = shape
        out["banner"] = printable(text.encode("utf-8"))
        if extend is not None:
            extend(ident, out)
        yield out

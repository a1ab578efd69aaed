"""Applying the compiled rules to observed fields and to whole transcripts.

Which step of a transcript feeds which rule field is what its probe declares
(``ProtocolSpec`` in :mod:`mxcensus.probes.interface`, gathered in ``mxcensus.probes.TABLE``).
:func:`identify` (a :class:`Transcript`) and :func:`identify_doc` (its stored JSON form) are
one loop over ``(step name, received, headers, code)``, each fed by its own adapter.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

from mxcensus.errors import UsageError
from mxcensus.identify.combine import combine
from mxcensus.identify.rules import SHAPE_OF, RuleSet, load_rulesets
from mxcensus.model import Identification, Transcript
from mxcensus.probes import TABLE

_HEADER_LINE = re.compile(r"^[A-Za-z0-9-]{1,64}:")


class Reads(NamedTuple):
    """What identify reads of the transcripts of one protocol (from its declaration)."""

    family: str  # "" for a protocol no probe declares
    steps: dict[str, tuple[str, ...]]  # step name -> the rule fields its received text feeds
    http: bool  # every step is an HTTP response (headers, body, status)
    headers: bool  # a step with headers is an HTTP response (protocols no probe declares)
    banner: str  # the field an importer's bare banner (extra banner/greeting/data) feeds


UNDECLARED = Reads("", {}, False, True, "http.body")
"""A protocol no probe declares: steps with headers are read as HTTP responses."""


def _declared() -> dict[str, Reads]:
    out: dict[str, Reads] = {}
    for spec in TABLE.specs:
        steps: dict[str, tuple[str, ...]] = {}
        for f in spec.fields:
            for step in f.steps:
                steps[step] = (*steps.get(step, ()), f.name)
        reads = Reads(spec.family, steps, spec.http, False, spec.banner)
        for service in spec.services:
            out[service.name] = reads
    return out


READS: dict[str, Reads] = _declared()
"""protocol name (lower-case) -> what identify reads of its transcripts"""


def reads_of(protocol: str) -> Reads:
    """What identify reads of a transcript whose protocol is ``protocol`` (any case)."""
    return READS.get(protocol) or READS.get(protocol.lower(), UNDECLARED)


_loaded: dict[str, RuleSet] | None = None
_own: dict[str, Callable[[str], Identification | None]] = {}
"""field -> its ruleset's own matcher, for the fields that are matched as they are."""
_MEMO_MAX = 65_536
"""Entries per memo; a full memo is cleared (each holds its keys' objects alive)."""
_MEMO_CHARS = 16 * 1024 * 1024
"""Characters of text the field memo holds at most, over all fields."""
_no_match: dict[str, Identification] = {}
_field_memo: dict[str, dict[bytes | str, Identification]] = {}
"""field -> text -> :func:`identify_field`'s answer, for the own-matcher fields: a census
sees the same greeting, EHLO reply and capability list on many servers. Bounded by
:data:`_MEMO_MAX` entries per field and :data:`_MEMO_CHARS` characters in all (a body may be
256 KiB); a full memo is cleared."""
_memo_chars = 0


def _remember(
    memo: dict[bytes | str, Identification], text: bytes | str, ident: Identification
) -> None:
    global _memo_chars
    if len(memo) >= _MEMO_MAX or _memo_chars >= _MEMO_CHARS:
        for m in _field_memo.values():
            m.clear()
        _memo_chars = 0
    _memo_chars += len(text)
    memo[text] = ident


def rulesets() -> dict[str, RuleSet]:
    """The packaged rules, compiled once on first use (a broken rule file raises
    RuleError here)."""
    global _loaded
    if _loaded is None:
        sets = load_rulesets()
        for name, ruleset in sets.items():
            if name != "http.header":  # header lines name their field (http.header.<name>)
                if name not in SHAPE_OF:  # shaped fields are remembered by their shape
                    _own[name] = ruleset.own
                _field_memo[name] = {}
                _no_match[name] = _unknown(f"no rule matched the {name}")
        _loaded = sets
    return _loaded


@functools.cache
def _unknown(reason: str) -> Identification:
    return Identification.unknown(reason)


def decode(data: bytes | str) -> str:
    """Server bytes as text for matching: UTF-8 when valid, else latin-1 (never fails)."""
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def identify_field(field: str, text: bytes | str) -> Identification:
    """Identify one observed field (``smtp.banner``, ``imap.banner``, ``pop3.banner``,
    ``smtp.ehlo``, ``http.body``, ``http.owa-path``, ``ecp.manifest``, ``http.header`` with
    ``Name: value`` text, or ``http.header.<name>`` with the header's value)."""
    own = _own.get(field)
    if own is not None:  # the hot path: a field matched as it is
        memo = _field_memo[field]
        hit = memo.get(text)
        if hit is not None:  # the same banner seen before (identify_field is pure)
            return hit
        s = text if text.__class__ is str else decode(text)
        ident = own(s)
        if ident is None:
            ident = _unknown(f"empty {field}") if not s.strip() else _no_match[field]
        _remember(memo, text, ident)
        return ident
    sets = _loaded if _loaded is not None else rulesets()
    s = text if text.__class__ is str else decode(text)
    shape = SHAPE_OF.get(field)
    if shape is not None:
        return _shaped(sets[field], shape(s), s)
    ruleset = sets.get(field)
    evidence_field = field
    if ruleset is None or field == "http.header":
        ruleset, s, evidence_field = _header_field(sets, field, s)
    ident = ruleset.match(s, evidence_field)
    if ident is None:
        if not s.strip():
            return _unknown(f"empty {evidence_field}")
        return _unknown(f"no rule matched the {evidence_field}")
    return ident


def _shaped(ruleset: RuleSet, shaped: str, text: str) -> Identification:
    """:func:`identify_field` of a field whose rules read a canonical form of the text,
    remembered by that form (equal dialogues repeat across a census, host names aside)."""
    field = ruleset.field
    if not shaped:  # not a reply of that kind (a refused EHLO, a blank subject)
        return _unknown(f"empty {field}") if not text.strip() else _no_match[field]
    memo = _field_memo[field]
    hit = memo.get(shaped)
    if hit is not None:
        return hit
    ident = ruleset.own(shaped) or _no_match[field]
    _remember(memo, shaped, ident)
    return ident


def _header_field(sets: dict[str, RuleSet], field: str, s: str) -> tuple[RuleSet, str, str]:
    """``http.header`` (``Name: value``) and ``http.header.<name>`` (the value)."""
    if field.startswith("http.header."):
        name = field[len("http.header.") :]
        return sets["http.header"], f"{name}: {s}", field
    if field == "http.header":
        colon = s.find(":")
        name = s[:colon].strip().lower() if colon > 0 else ""
        return sets[field], s, f"http.header.{name}" if name else field
    known = ", ".join(sorted(sets))
    raise UsageError(f"unknown field {field!r} (known: {known}, http.header.<name>)")


def identify_http_text(text: bytes | str) -> Identification:
    """Identify a piece of HTTP output of unknown kind (a header line, a path, a body)."""
    s = decode(text)
    found = []
    if _HEADER_LINE.match(s):
        found.append(identify_field("http.header", s))
    found.append(identify_field("http.owa-path", s))
    found.append(identify_field("ecp.manifest", s))
    found.append(identify_field("http.body", s))
    return combine(found)


_ported: dict[tuple[int, int], tuple[Identification, Identification]] = {}


def _with_port(ident: Identification, port: int) -> Identification:
    """``ident`` with every evidence's port set, one shared object per (ident, port):
    identify_field returns shared objects, so their ported copies repeat as often."""
    if not ident.is_known or not port:
        return ident
    key = (id(ident), port)
    hit = _ported.get(key)
    if hit is not None:
        return hit[1]
    out = dataclasses.replace(
        ident,
        evidence=tuple(dataclasses.replace(e, port=port) for e in ident.evidence),
        conflicts=tuple(dataclasses.replace(e, port=port) for e in ident.conflicts),
    )
    if len(_ported) >= _MEMO_MAX:
        _ported.clear()
    _ported[key] = (ident, out)  # ident kept alive, so its id is not reused while cached
    return out


_header_lines: dict[str, Identification] = {}
"""``Name: value`` -> ``identify_field("http.header", …)`` (a pure function of the text)."""
_combined: dict[tuple[int, ...], tuple[list[Identification], Identification]] = {}


def combine_shared(found: list[Identification]) -> Identification:
    """``combine(found)``, one shared result per list of the same (shared) objects.

    ``combine`` is pure and reads only the values of its arguments, so the same objects give
    the same result; the memo keeps them alive so that their ids stay theirs."""
    if len(found) == 1 and found[0].is_known:
        return found[0]  # what combine returns for one known identification
    key = tuple(map(id, found))
    hit = _combined.get(key)
    if hit is not None:
        return hit[1]
    out = combine(found)
    if len(_combined) >= _MEMO_MAX:
        _combined.clear()
    _combined[key] = (found, out)
    return out


def _http_parts(
    headers: Iterable[Sequence[str]], body: str, code: int | None
) -> list[Identification]:
    """The identifications of one HTTP response: header lines, redirect Locations, the body
    (``body`` already decoded; empty when none was recorded)."""
    out = []
    for name, value in headers:
        line = f"{name}: {value}"
        ident = _header_lines.get(line)
        if ident is None:  # most header lines repeat across servers (Server, Content-Type)
            ident = identify_field("http.header", line)
            if len(_header_lines) >= _MEMO_MAX:
                _header_lines.clear()
            _header_lines[line] = ident
        out.append(ident)
        if name.lower() == "location":
            out.append(identify_field("http.owa-path", value))
    if body:
        out.append(identify_field("http.owa-path", body))
        out.append(identify_field("http.body", body))
        if code in (None, 200):
            out.append(identify_field("ecp.manifest", body))
    return out


def _extra_field(key: str, banner: str) -> str | None:
    """Which field an importer's extra value is, if any (``banner`` means the protocol's
    bare-banner field, ``banner`` here)."""
    k = key.lower()
    if k in ("banner", "greeting", "data"):
        return banner
    if k.startswith("http.header.") or k in rulesets():
        return k
    return None


_extra_fields: dict[str, dict[str, str | None]] = {}
"""banner field -> extra key -> its field (None: not one), as :func:`_extra_field` says."""


def _finish(
    found: list[Identification], family: str, protocol: str, outcome: str, port: int
) -> Identification:
    if not found:
        if not family:
            return _unknown(f"no rules for protocol {protocol!r}")
        return _unknown(f"nothing recorded to identify ({outcome})")
    return _with_port(combine_shared(found), port)


StepView = tuple[str, Any, Sequence[Sequence[str]], "int | None"]
"""One step as the loop reads it: name, received (bytes, or their stored text), headers,
status code."""

_STEP: Callable[[Any], StepView] = attrgetter("name", "received", "headers", "code")
_STORED_STEP: Callable[[Any], StepView] = itemgetter("name", "received", "headers", "code")


def identify(transcript: Transcript) -> Identification:
    """Identify one service from what its probe (or an importer) recorded. Pure: reads
    the transcript's steps and extra fields, never the network. Never raises for content.

    The result is often an object shared with other services that showed the same things
    (identifications are frozen)."""
    t = transcript
    leaf = t.tls.chain[0] if t.tls is not None and t.tls.chain else None
    return _identify(
        t.protocol,
        map(_STEP, t.steps),
        t.extra,
        decode,
        t.outcome,
        t.port,
        (leaf.subject, leaf.issuer) if leaf is not None else None,
    )


def stored_text(text: str) -> str:
    """Raw bytes in their stored form (latin-1 text, ``serialize``) as :func:`decode` would
    read the bytes: ASCII is the same text; anything else goes through the bytes."""
    return text if text.isascii() else decode(text.encode("latin-1"))


def identify_doc(doc: Mapping[str, Any]) -> Identification:
    """:func:`identify` of the transcript whose stored JSON form (``serialize``) ``doc`` is,
    without building the transcript (the analysis reads thousands per second). Same
    result as ``identify(serialize.transcript_from_dict(doc))``: the tests compare them."""
    steps = map(_STORED_STEP, doc["steps"])
    tls = doc.get("tls")
    chain = tls.get("chain") if tls else None
    leaf = (chain[0]["subject"], chain[0]["issuer"]) if chain else None
    return _identify(
        doc["protocol"],
        steps,
        doc.get("extra"),
        stored_text,
        doc["outcome"],
        int(doc["port"]),
        leaf,
    )


def _identify(
    protocol: str,
    steps: Iterator[StepView],
    extra: Iterable[Sequence[Any]] | None,
    text: Callable[[Any], str],
    outcome: str,
    port: int,
    leaf: tuple[str, str] | None = None,
) -> Identification:
    """The one loop: each step's received text to the fields its protocol's probe declares
    for it (HTTP responses to the HTTP fields), then the importer's extra fields, then the
    leaf certificate's subject and issuer (``leaf``; the issuer only when it is another
    name). ``text`` turns a step's ``received`` into the text the rules read (the adapter's
    half)."""
    family, fields, http, headers_http, banner = READS.get(protocol) or reads_of(protocol)
    field = identify_field
    found: list[Identification] = []
    for name, received, headers, code in steps:
        fnames = fields.get(name)
        if fnames is not None:
            seen = text(received)
            for each in fnames:
                found.append(field(each, seen))
        elif http or (headers_http and headers):
            found.extend(_http_parts(headers, text(received) if received else "", code))
    if extra:
        known = _extra_fields.get(banner)
        if known is None or len(known) >= _MEMO_MAX:
            known = _extra_fields[banner] = {}
        for key, value in extra:
            fname = known.get(key, "")
            if fname == "":
                fname = known[key] = _extra_field(key, banner)
            if fname is not None:
                found.append(field(fname, value if value.__class__ is str else str(value)))
    if leaf is not None:
        found.extend(certificate(*leaf))
    return _finish(found, family, protocol, outcome, port)


def certificate(subject: str, issuer: str) -> list[Identification]:
    """What a leaf certificate's subject and issuer say (the issuer only when it is another
    name than the subject); nothing when they say nothing (most certificates)."""
    found = []
    for cert_field, name in (("tls.subject", subject), ("tls.issuer", issuer)):
        if name and (cert_field == "tls.subject" or name != subject):
            ident = identify_field(cert_field, name)
            if ident.is_known:  # a certificate that says nothing leaves the reasons alone
                found.append(ident)
    return found


def reset_memos() -> None:
    """Forget every remembered answer (tests compare remembered answers with fresh ones)."""
    global _memo_chars
    for memo in _field_memo.values():
        memo.clear()
    _memo_chars = 0
    for m in (_ported, _header_lines, _combined, _extra_fields):
        m.clear()

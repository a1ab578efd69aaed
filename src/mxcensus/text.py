"""Making hostile text safe to show: the one definition of what must never reach a terminal,
a spreadsheet or a page raw, and the one way it is written instead.

Unsafe are the characters that can reorder, hide or forge what a reader sees: every control
(C0, DEL, C1 — ESC starts the ANSI sequences, U+009B is a one-character CSI), the format
characters (bidirectional embeddings, overrides and isolates U+202A–202E and U+2066–2069,
the marks U+200E/F and U+061C, zero-width spaces and joiners U+200B–200D, word joiner and
invisible operators U+2060–2064, U+FEFF, the soft hyphen, the tag characters U+E0020–E007F
that smuggle invisible ASCII …), the line and paragraph separators U+2028/2029 and lone
surrogates. That is exactly the Unicode categories Cc, Cf, Zl, Zp and Cs
(:data:`UNSAFE_RANGES`; a test checks the list against :mod:`unicodedata`), so a string
Python calls printable (:meth:`str.isprintable`) holds none of them.

Each is written as a visible escape: ``\\r \\n \\t``, ``\\xNN`` below U+0100, ``\\uNNNN``,
``\\UNNNNNNNN``. :func:`visible` does it for text shown to people (terminal, CSV, HTML),
:func:`json_safe` for JSON documents, where the escape is JSON's own (``\\u202e``), so a
parser reads back the very same string. Imports nothing of mxcensus: every layer may use it.
"""

from __future__ import annotations

import re

UNSAFE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0000, 0x001F), (0x007F, 0x009F), (0x00AD, 0x00AD), (0x0600, 0x0605),
    (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891),
    (0x08E2, 0x08E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x2028, 0x202E),
    (0x2060, 0x2064), (0x2066, 0x206F), (0xD800, 0xDFFF), (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
)  # fmt: skip
"""Inclusive code point ranges of the categories Cc, Cf, Zl, Zp and Cs (Unicode 14)."""

_NAMED = {0x0D: "\\r", 0x0A: "\\n", 0x09: "\\t"}


def _escape_of(o: int) -> str:
    if o in _NAMED:
        return _NAMED[o]
    if o < 0x100:
        return f"\\x{o:02x}"
    return f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}"


ESCAPES: dict[int, str] = {o: _escape_of(o) for lo, hi in UNSAFE_RANGES for o in range(lo, hi + 1)}
"""Every unsafe code point → its visible escape (a :meth:`str.translate` table)."""

_CLASS = "".join(
    f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" if hi > lo else re.escape(chr(lo))
    for lo, hi in UNSAFE_RANGES
)
UNSAFE = re.compile(f"[{_CLASS}]")
"""One unsafe character (for a search; :func:`visible` does the escaping)."""


def _utf8_pattern() -> re.Pattern[bytes]:
    """The UTF-8 of every unsafe character but C0 and surrogates (which valid UTF-8 never
    holds): one alternative per run of last bytes under a shared lead."""
    leads: dict[bytes, list[int]] = {}
    for lo, hi in UNSAFE_RANGES:
        for o in range(max(lo, 0x7F), hi + 1):
            if not 0xD800 <= o <= 0xDFFF:
                data = chr(o).encode()
                leads.setdefault(data[:-1], []).append(data[-1])
    alternatives = []
    for lead, lasts in leads.items():
        runs: list[list[int]] = []
        for x in sorted(lasts):
            if runs and x == runs[-1][1] + 1:
                runs[-1][1] = x
            else:
                runs.append([x, x])
        cls = b"".join(
            re.escape(bytes([a])) + (b"-" + re.escape(bytes([b])) if b > a else b"")
            for a, b in runs
        )
        alternatives.append(re.escape(lead) + b"[" + cls + b"]")
    return re.compile(b"|".join(alternatives))


_JSON_UNSAFE = _utf8_pattern()
"""What a JSON writer leaves raw of the unsafe characters: all but C0, which JSON escapes
inside strings and which outside them is the document's own layout (newlines, indentation)."""


def escape(text: str) -> str:
    """``text`` with every unsafe character written as its visible escape, whole."""
    if text.isprintable():  # holds no unsafe character: the common case, checked in C
        return text
    return text.translate(ESCAPES)


def visible(text: str, limit: int | None = 200) -> str:
    """:func:`escape`, shortened to ``limit`` characters (the last one ``…``) unless None."""
    out = escape(text)
    return out if limit is None or len(out) <= limit else out[: limit - 1] + "…"


def _json_escape(m: re.Match[bytes]) -> bytes:
    o = ord(m.group(0).decode())
    if o < 0x10000:
        return b"\\u%04x" % o
    o -= 0x10000
    return b"\\u%04x\\u%04x" % (0xD800 + (o >> 10), 0xDC00 + (o & 0x3FF))


def json_safe(data: bytes) -> bytes:
    """A JSON document (UTF-8, as orjson writes it) with every unsafe character inside its
    strings written as JSON's ``\\uXXXX`` escape: the same document to a parser, inert on a
    terminal. orjson escapes C0 already; DEL, C1 and the format characters it writes raw.
    ASCII documents (most records) cost one scan for DEL; others one check that the text is
    printable, and a search only when it is not."""
    if data.isascii():
        return data.replace(b"\x7f", b"\\u007f") if b"\x7f" in data else data
    if data.decode("utf-8", "replace").isprintable():
        return data
    return _JSON_UNSAFE.sub(_json_escape, data)

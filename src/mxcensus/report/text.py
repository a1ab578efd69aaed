"""Making hostile text safe to show: control characters and ANSI escapes become visible."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match[str]) -> str:
    ch = m.group(0)
    named = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}
    if ch in named:
        return named[ch]
    o = ord(ch)
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def visible(text: str, limit: int | None = 200) -> str:
    """``text`` with every control character (C0, C1, DEL, ESC of ANSI sequences, and the
    bidirectional overrides) written as an escape, shortened to ``limit`` characters."""
    out = _CONTROL.sub(_escape, text)
    return out if limit is None or len(out) <= limit else out[: limit - 1] + "…"

"""ManageSieve response framing (RFC 5804 §4): data lines, then a status line.

A response is any number of data lines — each starting with a string: a quoted string
(``"IMPLEMENTATION" "Dovecot Pigeonhole"``) or a literal ``{N}`` / ``{N+}`` whose N raw bytes
follow the line end — and ends with a line starting ``OK``, ``NO`` or ``BYE`` (any case),
optionally followed by a response code in parentheses and a string, which may itself be a
literal. Lines end in CRLF (bare LF accepted). A line that starts with anything else
(``220 …``, ``* OK``, ``HTTP/1.1``, binary) is a :class:`~mxcensus.wire.FramingError` on its
first bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mxcensus.wire import DEFAULT_LIMIT, Framed, FramingError, LiteralLines

_STATUS = (b"OK", b"NO", b"BYE")
_AFTER_STATUS = frozenset(b" (\r\n")
_STRING_START = frozenset(b'"{')


@dataclass(frozen=True, slots=True)
class Response(Framed):
    """One response: ``lines`` the data lines before the status line (each as received,
    literals included), ``status`` ``OK``/``NO``/``BYE`` upper-cased, ``text`` what follows
    the status word on its line (response code, message)."""

    lines: tuple[bytes, ...]
    status: bytes
    text: bytes

    @property
    def ok(self) -> bool:
        return self.status == b"OK"


class ResponseParser(LiteralLines):
    """Incremental ManageSieve response parser holding at most ``limit`` bytes of a response."""

    __slots__ = ("_line", "_lines")

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        super().__init__(limit)
        self._line = 0  # where the current line starts
        self._lines: list[bytes] = []

    def next_response(self) -> Response | None:
        buf = self._buf
        while True:
            kind = _line_kind(buf, self._line)
            end = self._line_end(self._line)
            if end is None:
                return None
            if kind is None:  # cannot happen with a whole line, but never loop on it
                raise FramingError(f"not a ManageSieve response: {bytes(buf[self._line : end])!r}")
            if not kind:
                self._lines.append(bytes(buf[self._line : end]))
                self._line = self._segment = self._searched = end
                continue
            line = bytes(buf[self._line : end])
            raw = bytes(buf[:end])
            del buf[:end]
            self._line = self._segment = self._searched = 0
            lines, self._lines = tuple(self._lines), []
            text = line.rstrip(b"\r\n")[len(kind) :].lstrip(b" ")
            return Response(lines, kind, text, raw=raw)


def _line_kind(buf: bytearray, start: int) -> bytes | None:
    """The status word (``OK``/``NO``/``BYE``) of a status line, ``b""`` for a data line,
    None while too few bytes are there to tell; FramingError for a line that is neither."""
    if start >= len(buf):
        return None
    if buf[start] in _STRING_START:
        return b""
    head = bytes(buf[start : start + 4]).upper()
    for word in _STATUS:
        n = len(word)
        if len(head) <= n:
            if word.startswith(head):
                return None  # "O", "BY", "OK": the next byte decides
        elif head.startswith(word) and head[n] in _AFTER_STATUS:
            return word
    raise FramingError(f"not a ManageSieve response: {bytes(buf[start : start + 24])!r}")


def capabilities(response: Response) -> dict[str, str]:
    """The capabilities a response lists (``{"IMPLEMENTATION": "Dovecot Pigeonhole",
    "STARTTLS": "", …}``): each data line's first string, upper-cased, and its second."""
    out: dict[str, str] = {}
    for line in response.lines:
        words = strings(line)
        if words:
            out.setdefault(words[0].upper(), words[1] if len(words) > 1 else "")
    return out


_QUOTED = re.compile(rb'"((?:[^"\\\r\n]|\\.)*)"')


def strings(line: bytes) -> list[str]:
    """The strings of one data line, in order: quoted strings unescaped, literals as their
    bytes (latin-1 text); anything else on the line (an atom such as ``ACTIVE``) is skipped."""
    out: list[str] = []
    pos = 0
    while pos < len(line):
        c = line[pos]
        if c == 0x22:  # '"'
            m = _QUOTED.match(line, pos)
            if m is None:
                break
            out.append(re.sub(rb"\\(.)", rb"\1", m.group(1)).decode("latin-1"))
            pos = m.end()
        elif c == 0x7B:  # '{'
            m = _LITERAL_AT.match(line, pos)
            if m is None:
                break
            start = m.end()
            out.append(line[start : start + int(m.group(1))].decode("latin-1"))
            pos = start + int(m.group(1))
        else:
            pos += 1
    return out


_LITERAL_AT = re.compile(rb"\{(\d{1,10})\+?\}\r?\n")

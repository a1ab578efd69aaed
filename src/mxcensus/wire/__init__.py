"""Wire framing: protocol messages parsed from bytes, no sockets.

Each module holds an incremental parser for one protocol: ``feed(data)`` appends what the
socket gave, ``next_…()`` returns one complete message or ``None`` when more bytes are
needed. Every parser holds at most ``limit`` bytes of an unfinished message: past that it
raises :class:`TooLarge` carrying the first ``limit`` bytes. Bytes that cannot start a
valid message raise :class:`FramingError` as soon as they are seen (an HTTP server on port
25 fails on its first bytes, not after a timeout). Nothing here interprets what a server
said beyond the framing; the probes (``mxcensus.probes``) run the dialogues.

WireError
├── FramingError   the bytes are not this protocol
└── TooLarge       an unfinished message exceeded the bound
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class WireError(Exception):
    """Root of the framing errors; probes turn them into an ``Outcome``."""


class FramingError(WireError):
    """The bytes received cannot be this protocol."""


class TooLarge(WireError):
    """An unfinished message grew past the parser's bound; ``partial`` is its first bytes."""

    def __init__(self, limit: int, partial: bytes) -> None:
        super().__init__(f"reply larger than {limit} bytes")
        self.limit = limit
        self.partial = partial


DEFAULT_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class Framed:
    """What every parser here returns: a message whose ``raw`` is its exact bytes as
    received (what a probe records of a step). Each protocol's message adds what it is made
    of, positionally; ``raw`` is given by keyword."""

    raw: bytes = field(kw_only=True)


class BufferedParser:
    """What the buffered parsers share: ``feed``, the unfinished bytes (``pending``) and the
    bound on them (``_bound`` raises :class:`TooLarge` past ``limit``)."""

    __slots__ = ("_buf", "_limit")

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._buf = bytearray()
        self._limit = limit

    def feed(self, data: bytes) -> None:
        self._buf += data

    def pending(self) -> bytes:
        return bytes(self._buf[: self._limit])

    def _bound(self, size: int) -> None:
        if size > self._limit:
            raise TooLarge(self._limit, bytes(self._buf[: self._limit]))


_LITERAL = re.compile(rb"\{(\d{1,10})\+?\}\r?$")


class LiteralLines(BufferedParser):
    """A parser of lines that may announce literals, as IMAP and ManageSieve do: a line
    ending in ``{N}`` (or ``{N+}``) is followed by N raw bytes, after which it goes on, up to
    the next line end. :meth:`_line_end` finds where such a line ends."""

    __slots__ = ("_searched", "_segment")

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        super().__init__(limit)
        self._segment = 0  # where the current line's last part starts (after its literals)
        self._searched = 0  # how far a line end was looked for

    def _line_end(self, start: int) -> int | None:
        """The end (after its LF) of the line that starts at ``start``, its literals whole;
        None while bytes are missing (bounded). Whoever takes the line sets ``_segment`` and
        ``_searched`` to where the next one starts."""
        buf = self._buf
        while True:
            segment = max(start, self._segment)
            nl = buf.find(b"\n", max(segment, self._searched))
            if nl < 0:
                self._searched = len(buf)
                self._bound(len(buf))
                return None
            m = _LITERAL.search(buf, segment, nl)
            if m is None:
                return nl + 1
            after = nl + 1 + int(m.group(1))
            self._bound(after)
            if len(buf) < after:
                self._searched = nl  # come back when the literal is complete
                return None
            self._segment = self._searched = after

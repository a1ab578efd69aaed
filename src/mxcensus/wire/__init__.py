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

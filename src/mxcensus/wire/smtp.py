"""SMTP reply framing (RFC 5321 §4.2): ``250-…`` continuation lines, ``250 …`` final line.

Lines end in CRLF; a bare LF is accepted too (some servers send it). A line must start with
three digits followed by ``-``, a space or the line end; anything else is a
:class:`~mxcensus.wire.FramingError` as soon as its first four bytes are seen. A
continuation line with a different code is kept as sent (the reply's code is the last
line's), since grabbing is not judging.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mxcensus.wire import DEFAULT_LIMIT, Framed, FramingError, TooLarge

_DIGITS = frozenset(b"0123456789")
# a complete reply at the start of the buffer: continuation lines, then a final line
_WHOLE_REPLY = re.compile(rb"(?:[0-9]{3}-[^\n]*\n)*[0-9]{3}(?:[ \r][^\n]*)?\n")
_SEPARATORS = frozenset(b" -\r\n")


@dataclass(frozen=True, slots=True)
class Reply(Framed):
    """One complete reply: its code (the last line's) and the exact bytes received.

    ``lines`` (the text of each line without code, separator and line end) is derived from
    ``raw`` when asked for: the probe only needs the code and the bytes.
    """

    code: int

    @property
    def lines(self) -> tuple[bytes, ...]:
        parts = self.raw.split(b"\n")
        parts.pop()  # raw ends in LF
        return tuple(x[4:-1] if x.endswith(b"\r") else x[4:] for x in parts)

    @property
    def text(self) -> bytes:
        return b"\n".join(self.lines)


def _whole(raw: bytes) -> Reply:
    """The reply of ``raw``, a complete reply (every line framed, the last one final)."""
    last = raw.rfind(b"\n", 0, len(raw) - 1) + 1
    return Reply(int(raw[last : last + 3]), raw=raw)


class ReplyParser:
    """Incremental SMTP reply parser holding at most ``limit`` bytes of an unfinished reply.

    The common case — a chunk that holds exactly one whole reply and nothing before it — is
    kept as it came (no copy) and matched once; everything else goes through a buffer and a
    line walker that rejects garbage on its first bytes.
    """

    __slots__ = ("_buf", "_chunk", "_limit", "_pos", "_searched")

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._buf = bytearray()
        self._chunk = b""  # a chunk fed while _buf was empty, not yet looked at
        self._limit = limit
        self._pos = 0  # start of the first incomplete line
        self._searched = 0  # no LF in _buf[_pos:_searched]

    def feed(self, data: bytes) -> None:
        if self._chunk:
            self._buf += self._chunk
            self._chunk = b""
        if self._buf:
            self._buf += data
        else:
            self._chunk = data

    def pending(self) -> bytes:
        """The bytes of the unfinished reply (at most ``limit``)."""
        if self._chunk:
            return self._chunk[: self._limit]
        return bytes(self._buf[: self._limit])

    def next_reply(self) -> Reply | None:
        chunk = self._chunk
        if chunk:
            m = _WHOLE_REPLY.match(chunk)
            if m is not None and m.end() == len(chunk) and len(chunk) <= self._limit:
                self._chunk = b""
                return _whole(chunk)
            self._buf += chunk
            self._chunk = b""
        buf = self._buf
        if not buf:
            return None
        if self._pos == 0:
            m = _WHOLE_REPLY.match(buf)
            if m is not None and m.end() <= self._limit:  # a whole reply is at the start
                end = m.end()
                raw = bytes(buf[:end])
                del buf[:end]
                self._searched = 0
                return _whole(raw)
        while True:
            pos = self._pos
            nl = buf.find(b"\n", max(pos, self._searched))
            _check_start(buf, pos, nl if nl >= 0 else len(buf), complete=nl >= 0)
            if nl < 0:
                self._searched = len(buf)
                if len(buf) > self._limit:
                    raise TooLarge(self._limit, bytes(buf[: self._limit]))
                return None
            line_end = nl - 1 if nl > pos and buf[nl - 1] == 0x0D else nl
            self._pos = self._searched = nl + 1
            if line_end - pos == 3 or buf[pos + 3] != 0x2D:  # final line: no "-"
                code = int(buf[pos : pos + 3])
                raw = bytes(buf[: nl + 1])
                del buf[: nl + 1]
                self._pos = self._searched = 0
                return Reply(code, raw=raw)
            if self._pos > self._limit:
                raise TooLarge(self._limit, bytes(buf[: self._limit]))


def _check_start(buf: bytearray, pos: int, end: int, *, complete: bool) -> None:
    """Raise unless ``buf[pos:end]`` can begin a reply line (``ddd``, then ``-``/space/EOL)."""
    n = end - pos
    if complete and n < 3:
        raise FramingError(f"not an SMTP reply line: {bytes(buf[pos:end])!r}")
    for i in range(min(n, 3)):
        if buf[pos + i] not in _DIGITS:
            raise FramingError(f"not an SMTP reply line: {bytes(buf[pos : pos + 24])!r}")
    if n >= 4 and buf[pos + 3] not in _SEPARATORS:
        raise FramingError(f"not an SMTP reply line: {bytes(buf[pos : pos + 24])!r}")


def ehlo_keywords(reply: Reply) -> tuple[tuple[str, str], ...]:
    """The extensions an EHLO reply advertises: ``(KEYWORD, parameters)`` in order.

    The first line is the server's name and greeting, not a keyword. Keywords are
    upper-cased ASCII; parameters are kept as latin-1 text.
    """
    out = []
    for text in reply.lines[1:]:
        keyword, _, params = text.strip().partition(b" ")
        if keyword:
            out.append((keyword.decode("latin-1").upper(), params.decode("latin-1")))
    return tuple(out)


def has_extension(reply: Reply, keyword: str) -> bool:
    """Whether an EHLO reply advertises ``keyword`` (case-insensitive)."""
    key = keyword.upper().encode("ascii")
    if key not in reply.raw.upper():  # the usual answer, without splitting the lines
        return False
    return any(text.strip().split(b" ", 1)[0].upper() == key for text in reply.lines[1:])

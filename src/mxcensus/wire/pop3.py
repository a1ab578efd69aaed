"""POP3 response framing (RFC 1939, 2449): ``+OK``/``-ERR`` status lines, and multi-line
responses ending in a line holding a single ``.`` (dot-stuffed lines unstuffed).

Whether a response is multi-line depends on the command (CAPA: yes when ``+OK``), so the
caller says it: ``next_response(multiline=True)``. A status line must begin with ``+OK`` or
``-ERR`` (case-insensitive); anything else is a :class:`~mxcensus.wire.FramingError` on its
first bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from mxcensus.wire import DEFAULT_LIMIT, BufferedParser, Framed, FramingError


@dataclass(frozen=True, slots=True)
class Response(Framed):
    """``ok`` for ``+OK``; ``text`` the status line after it; ``lines`` the multi-line body
    (unstuffed, without the final ``.``)."""

    ok: bool
    text: bytes
    lines: tuple[bytes, ...]


class ResponseParser(BufferedParser):
    """Incremental POP3 response parser holding at most ``limit`` bytes of a response."""

    __slots__ = ("_lines", "_pos")

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        super().__init__(limit)
        self._lines: list[bytes] = []  # complete body lines of an unfinished multi-line reply
        self._pos = 0  # where the first unread body line starts (0: status line not read)

    def next_response(self, multiline: bool = False) -> Response | None:
        buf = self._buf
        _check_status(buf)
        nl = buf.find(b"\n")
        if nl < 0:
            self._bound(len(buf))
            return None
        first = _strip(buf[:nl])
        ok = first[:3].upper() == b"+OK"
        text = first[3:].lstrip(b" ") if ok else first[4:].lstrip(b" ")
        end = nl + 1
        if ok and multiline:
            pos = self._pos or end
            while True:
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    self._pos = pos
                    self._bound(len(buf))
                    return None
                line = _strip(buf[pos:nl])
                pos = nl + 1
                self._bound(pos)
                if line == b".":
                    break
                self._lines.append(line[1:] if line.startswith(b".") else line)
            end = pos
        raw = bytes(buf[:end])
        del buf[:end]
        lines, self._lines, self._pos = tuple(self._lines), [], 0
        return Response(ok, text, lines, raw=raw)


def _strip(line: bytearray | bytes) -> bytes:
    return bytes(line[:-1] if line.endswith(b"\r") else line)


def _check_status(buf: bytearray) -> None:
    head = bytes(buf[:4]).upper()
    if not head:
        return
    if b"+OK".startswith(head[:3]) and (len(head) < 4 or head[:3] == b"+OK"):
        return
    if b"-ERR".startswith(head):
        return
    raise FramingError(f"not a POP3 response: {bytes(buf[:24])!r}")

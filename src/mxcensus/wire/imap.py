"""IMAP response framing (RFC 9051 / 3501 §7): untagged ``*``, continuation ``+``, tagged.

A response is one line ending in CRLF (bare LF accepted), unless the line ends with a
literal announcement ``{N}`` (or ``{N+}``): then N raw bytes follow and the response goes on
after them, up to the next line end. A response must start with ``*``, ``+`` or a tag of
atom characters followed by a space; anything else (``HTTP/1.1 …``, binary) is a
:class:`~mxcensus.wire.FramingError` on its first bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mxcensus.wire import Framed, FramingError, LiteralLines

_TAG_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_")
_MAX_TAG = 64
_STATUS = frozenset({b"OK", b"NO", b"BAD", b"PREAUTH", b"BYE"})
_CAP_CODE = re.compile(rb"\[CAPABILITY ([^\]]*)\]", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Response(Framed):
    """One response: ``tag`` is ``b"*"``, ``b"+"`` or the command's tag; ``kind`` is the
    status (``OK``/``NO``/``BAD``/``PREAUTH``/``BYE``) or the untagged data's name
    (``CAPABILITY``), upper-cased; ``text`` what follows it."""

    tag: bytes
    kind: bytes
    text: bytes

    @property
    def untagged(self) -> bool:
        return self.tag == b"*"

    @property
    def is_status(self) -> bool:
        """A status response (``OK``/``NO``/``BAD``/``PREAUTH``/``BYE``), tagged or not."""
        return self.kind in _STATUS


class ResponseParser(LiteralLines):
    """Incremental IMAP response parser holding at most ``limit`` bytes of a response."""

    __slots__ = ()

    def next_response(self) -> Response | None:
        buf = self._buf
        _check_tag(buf)
        end = self._line_end(0)
        if end is None:
            return None
        raw = bytes(buf[:end])
        del buf[:end]
        self._segment = self._searched = 0
        return _response(raw)


def _check_tag(buf: bytearray) -> None:
    """Raise unless ``buf`` can begin a response: ``*``/``+``/tag chars, then a space."""
    if not buf:
        return
    first = buf[0]
    if first in (0x2A, 0x2B):  # "*" "+"
        if len(buf) > 1 and buf[1] not in (0x20, 0x0D, 0x0A):
            raise FramingError(f"not an IMAP response: {bytes(buf[:24])!r}")
        return
    for i in range(min(len(buf), _MAX_TAG + 1)):
        c = buf[i]
        if c == 0x20 and i > 0:
            return
        if c not in _TAG_CHARS:
            raise FramingError(f"not an IMAP response: {bytes(buf[:24])!r}")
    if len(buf) > _MAX_TAG:
        raise FramingError(f"not an IMAP response: {bytes(buf[:24])!r}")


def _response(raw: bytes) -> Response:
    body = raw.rstrip(b"\r\n")
    tag, _, rest = body.partition(b" ")
    word, _, text = rest.partition(b" ")
    kind = word.upper()
    if tag == b"*" and kind.isdigit():  # "* 23 EXISTS"
        number = word
        word, _, text = text.partition(b" ")
        kind, text = word.upper(), number + (b" " + text if text else b"")
    if tag == b"+":
        return Response(tag, b"", rest, raw=raw)
    return Response(tag, kind, text, raw=raw)


def capabilities(response: Response) -> tuple[str, ...]:
    """Capabilities named by a ``* CAPABILITY …`` response or a ``[CAPABILITY …]`` code in
    a status response (greetings and tagged OKs carry them), upper-cased, in order."""
    if response.kind == b"CAPABILITY":
        words = response.text
    else:
        m = _CAP_CODE.search(response.text)
        if m is None:
            return ()
        words = m.group(1)
    return tuple(w.decode("latin-1").upper() for w in words.split())

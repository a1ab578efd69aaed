"""POP3 response framing: status lines, multi-line CAPA, dot-stuffing, bounds, garbage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mxcensus.wire import FramingError, TooLarge
from mxcensus.wire.pop3 import ResponseParser

CAPA = b"+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nSTLS\r\nSASL PLAIN\r\nIMPLEMENTATION Dovecot\r\n.\r\n"


def test_status_lines() -> None:
    p = ResponseParser()
    p.feed(b"+OK Dovecot (Debian) ready.\r\n-ERR [AUTH] no\r\n")
    ok = p.next_response()
    assert ok is not None and ok.ok and ok.text == b"Dovecot (Debian) ready."
    err = p.next_response(multiline=True)  # -ERR is never multi-line
    assert err is not None and not err.ok and err.text == b"[AUTH] no"
    assert p.next_response() is None


def test_multiline_capa_with_dot_stuffing() -> None:
    p = ResponseParser()
    p.feed(CAPA + b"+OK\r\n..dotted\r\n.\r\n")
    capa = p.next_response(multiline=True)
    assert capa is not None and capa.raw == CAPA
    assert capa.lines == (
        b"CAPA",
        b"TOP",
        b"UIDL",
        b"STLS",
        b"SASL PLAIN",
        b"IMPLEMENTATION Dovecot",
    )
    dotted = p.next_response(multiline=True)
    assert dotted is not None and dotted.lines == (b".dotted",)


@given(st.lists(st.integers(min_value=1, max_value=20), min_size=1, max_size=30))
def test_any_chunking(cuts: list[int]) -> None:
    data = b"+OK hello\r\n" + CAPA
    p = ResponseParser()
    got = []
    pos = i = 0
    while pos < len(data):
        n = cuts[i % len(cuts)]
        i += 1
        p.feed(data[pos : pos + n])
        pos += n
        while (r := p.next_response(multiline=bool(got))) is not None:
            got.append(r)
    assert [r.raw for r in got] == [b"+OK hello\r\n", CAPA]


@pytest.mark.parametrize("data", [b"HTTP/1.1 200 OK\r\n", b"220 smtp\r\n", b"+NO\r\n", b"\xff\xfb"])
def test_garbage_is_a_framing_error(data: bytes) -> None:
    p = ResponseParser()
    p.feed(data)
    with pytest.raises(FramingError):
        p.next_response()


def test_bound_on_endless_capa() -> None:
    p = ResponseParser(limit=200)
    p.feed(b"+OK\r\n" + b"X-LINE\r\n" * 100)
    with pytest.raises(TooLarge) as info:
        p.next_response(multiline=True)
    assert len(info.value.partial) == 200


_ALPHABET = b"+OK-ERR.\r\n x"


@given(
    st.binary(max_size=80).map(lambda b: bytes(_ALPHABET[x % len(_ALPHABET)] for x in b)),
    st.booleans(),
)
def test_whole_and_bytewise_parsing_agree_on_any_input(data: bytes, multiline: bool) -> None:
    def outcome(chunks: list[bytes]) -> list[object]:
        p = ResponseParser(48)
        out: list[object] = []
        try:
            for chunk in chunks:
                p.feed(chunk)
                while (r := p.next_response(multiline)) is not None:
                    out.append(r)
        except (FramingError, TooLarge) as exc:
            out.append(type(exc))
        return out

    assert outcome([data]) == outcome([data[i : i + 1] for i in range(len(data))])

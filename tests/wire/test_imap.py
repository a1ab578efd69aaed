"""IMAP response framing: untagged/tagged/continuation, literals, chunks, bounds, garbage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mxcensus.wire import FramingError, TooLarge
from mxcensus.wire.imap import Response, ResponseParser, capabilities

DOVECOT = (
    b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS "
    b"LOGINDISABLED] Dovecot (Debian) ready.\r\n"
)
CAPA = (
    b"* CAPABILITY IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED\r\na1 OK CAPABILITY completed.\r\n"
)


def responses(data: bytes, limit: int = 65536) -> list[Response]:
    p = ResponseParser(limit)
    p.feed(data)
    out = []
    while (r := p.next_response()) is not None:
        out.append(r)
    return out


def test_greeting_with_capability_code() -> None:
    [g] = responses(DOVECOT)
    assert g.untagged and g.kind == b"OK" and g.is_status
    assert g.raw == DOVECOT
    assert capabilities(g)[:2] == ("IMAP4REV1", "SASL-IR")
    assert "STARTTLS" in capabilities(g)


def test_untagged_capability_then_tagged_ok() -> None:
    caps, done = responses(CAPA)
    assert caps.kind == b"CAPABILITY" and not caps.is_status and done.is_status
    assert capabilities(caps) == ("IMAP4REV1", "STARTTLS", "AUTH=GSSAPI", "LOGINDISABLED")
    assert (done.tag, done.kind, done.text) == (b"a1", b"OK", b"CAPABILITY completed.")
    assert capabilities(done) == ()


def test_numbered_untagged_data_and_continuation() -> None:
    exists, cont = responses(b"* 23 EXISTS\r\n+ go ahead\r\n")
    assert (exists.kind, exists.text) == (b"EXISTS", b"23")
    assert (cont.tag, cont.text) == (b"+", b"go ahead")


def test_literal_spans_line_ends() -> None:
    data = b'* ID ("name" {9}\r\nDove\r\ncot "version" "2.3")\r\na1 OK done\r\n'
    first, second = responses(data)
    assert first.kind == b"ID"
    assert first.raw == b'* ID ("name" {9}\r\nDove\r\ncot "version" "2.3")\r\n'
    assert second.tag == b"a1"


@given(st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=40))
def test_any_chunking_gives_the_same_responses(cuts: list[int]) -> None:
    data = DOVECOT + b'* ID ("x" {5}\r\nab\r\nc)\r\n' + CAPA
    whole = responses(data)
    p = ResponseParser()
    got = []
    pos = i = 0
    while pos < len(data):
        n = cuts[i % len(cuts)]
        i += 1
        p.feed(data[pos : pos + n])
        pos += n
        while (r := p.next_response()) is not None:
            got.append(r)
    assert got == whole
    assert len(got) == 4


@pytest.mark.parametrize(
    "data", [b"HTTP/1.1 400 Bad Request\r\n", b"\x16\x03\x01\x02", b"*garbage\r\n", b"A" * 80]
)
def test_garbage_is_a_framing_error(data: bytes) -> None:
    p = ResponseParser()
    p.feed(data)
    with pytest.raises(FramingError):
        p.next_response()


def test_bounds_on_lines_and_literals() -> None:
    p = ResponseParser(limit=100)
    p.feed(b"* OK " + b"x" * 200)
    with pytest.raises(TooLarge) as info:
        p.next_response()
    assert len(info.value.partial) == 100
    p = ResponseParser(limit=100)
    p.feed(b"* ID {10000000}\r\n")  # announces 10 MB: refused before it arrives
    with pytest.raises(TooLarge):
        p.next_response()


def _outcome(chunks: list[bytes], limit: int) -> list[object]:
    p = ResponseParser(limit)
    out: list[object] = []
    try:
        for chunk in chunks:
            p.feed(chunk)
            while (r := p.next_response()) is not None:
                out.append(r)
    except (FramingError, TooLarge) as exc:
        out.append(type(exc))
    return out


_ALPHABET = b"* a1OK{3}+\r\n xB"


@given(st.binary(max_size=80).map(lambda b: bytes(_ALPHABET[x % len(_ALPHABET)] for x in b)))
def test_whole_and_bytewise_parsing_agree_on_any_input(data: bytes) -> None:
    assert _outcome([data], 48) == _outcome([data[i : i + 1] for i in range(len(data))], 48)

"""ManageSieve response framing: capability lines, status lines, literals, chunks, bounds,
garbage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mxcensus.wire import FramingError, TooLarge
from mxcensus.wire.managesieve import Response, ResponseParser, capabilities, strings

# as Debian 12's Dovecot 2.3.19.1 with Pigeonhole greets
DOVECOT = (
    b'"IMPLEMENTATION" "Dovecot (Debian) Pigeonhole"\r\n'
    b'"SIEVE" "fileinto reject envelope encoded-character vacation subaddress '
    b"comparator-i;ascii-numeric relational regex imap4flags copy include variables body "
    b'enotify environment mailbox date index ihave duplicate mime foreverypart extracttext"\r\n'
    b'"NOTIFY" "mailto"\r\n"SASL" ""\r\n"STARTTLS"\r\n"VERSION" "1.0"\r\n'
    b'OK "Dovecot (Debian) ready."\r\n'
)


def responses(data: bytes, limit: int = 65536) -> list[Response]:
    p = ResponseParser(limit)
    p.feed(data)
    out = []
    while (r := p.next_response()) is not None:
        out.append(r)
    return out


def test_dovecot_greeting() -> None:
    [g] = responses(DOVECOT)
    assert g.ok and g.status == b"OK" and g.text == b'"Dovecot (Debian) ready."'
    assert g.raw == DOVECOT and len(g.lines) == 6
    caps = capabilities(g)
    assert caps["IMPLEMENTATION"] == "Dovecot (Debian) Pigeonhole"
    assert caps["STARTTLS"] == "" and caps["SASL"] == "" and caps["VERSION"] == "1.0"
    assert list(caps)[:2] == ["IMPLEMENTATION", "SIEVE"]


def test_bare_ok_lower_case_status_and_response_codes() -> None:
    cyrus, bye, no = responses(
        b'"IMPLEMENTATION" "Cyrus timsieved v2.4.17"\r\nOK\r\n'
        b'bye "Too many connections"\r\n'
        b'No (NONEXISTENT) "Script does not exist."\n'
    )
    assert (cyrus.status, cyrus.text, cyrus.lines) == (
        b"OK",
        b"",
        (b'"IMPLEMENTATION" "Cyrus timsieved v2.4.17"\r\n',),
    )
    assert (bye.status, bye.text, bye.lines, bye.ok) == (
        b"BYE",
        b'"Too many connections"',
        (),
        False,
    )
    assert (no.status, no.text) == (b"NO", b'(NONEXISTENT) "Script does not exist."')


def test_literals_in_data_and_status_lines() -> None:
    data = b'{11}\r\nline\r\nbreak "x"\r\n"A" {4+}\r\nOK\r\n\r\nNO {4}\r\nwhy!\r\n'
    [r] = responses(data)
    assert r.lines == (b'{11}\r\nline\r\nbreak "x"\r\n', b'"A" {4+}\r\nOK\r\n\r\n')
    assert (r.status, r.text) == (b"NO", b"{4}\r\nwhy!")
    assert strings(r.lines[0]) == ["line\r\nbreak", "x"]
    assert strings(r.lines[1]) == ["A", "OK\r\n"]  # the literal's bytes, not a status line
    assert strings(b'"a \\"q\\" \\\\ b" ACTIVE\r\n') == ['a "q" \\ b']


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_any_chunking_gives_the_same_responses(size: int) -> None:
    data = DOVECOT + b'{5}\r\nab\ncd "v"\r\nOK "Capability completed."\r\nOK\r\n'
    p = ResponseParser()
    got = []
    for i in range(0, len(data), size):
        p.feed(data[i : i + size])
        while (r := p.next_response()) is not None:
            got.append(r)
    assert got == responses(data)
    assert [r.raw for r in got] == [DOVECOT, data[len(DOVECOT) : -4], b"OK\r\n"]


@pytest.mark.parametrize(
    "first",
    [b"220 mx ESMTP\r\n", b"* OK Dovecot ready.\r\n", b"+OK\r\n", b"HTTP/1.1 200 OK\r\n",
     b"\r\n", b"OKAY\r\n", b"\x16\x03\x01"],
)  # fmt: skip
def test_not_managesieve_fails_on_the_first_bytes(first: bytes) -> None:
    p = ResponseParser()
    p.feed(first[:4])
    with pytest.raises(FramingError):
        p.next_response()


def test_a_status_word_cut_short_waits_for_more() -> None:
    p = ResponseParser()
    for part in (b"B", b"Y", b"E"):
        p.feed(part)
        assert p.next_response() is None
    p.feed(b"\r\n")
    r = p.next_response()
    assert r is not None and r.status == b"BYE"


def test_bounds() -> None:
    p = ResponseParser(limit=100)
    p.feed(b'"X" "' + b"y" * 200)
    with pytest.raises(TooLarge) as err:
        p.next_response()
    assert err.value.partial == b'"X" "' + b"y" * 95
    p = ResponseParser(limit=100)
    p.feed(b'"X" {999999}\r\n')  # a literal announced past the bound fails at once
    with pytest.raises(TooLarge):
        p.next_response()
    many = b'"X" "y"\r\n' * 20  # many short lines add up
    p = ResponseParser(limit=100)
    p.feed(many)
    with pytest.raises(TooLarge):
        p.next_response()


@given(st.binary(max_size=300))
def test_random_bytes_never_raise_anything_else(data: bytes) -> None:
    p = ResponseParser(limit=256)
    try:
        p.feed(data)
        while p.next_response() is not None:
            pass
    except (FramingError, TooLarge):
        pass

"""SMTP reply framing: multi-line replies, partial chunks, bounds, garbage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mxcensus.wire import FramingError, TooLarge
from mxcensus.wire.smtp import Reply, ReplyParser, ehlo_keywords, has_extension

EXCHANGE_EHLO = (
    b"250-mail.example.org Hello [192.0.2.1]\r\n"
    b"250-SIZE 37748736\r\n"
    b"250-PIPELINING\r\n"
    b"250-DSN\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n"
    b"250-STARTTLS\r\n"
    b"250-X-ANONYMOUSTLS\r\n"
    b"250-AUTH NTLM\r\n"
    b"250-X-EXPS GSSAPI NTLM\r\n"
    b"250-8BITMIME\r\n"
    b"250-BINARYMIME\r\n"
    b"250-CHUNKING\r\n"
    b"250 XRDST\r\n"
)


def replies(data: bytes, limit: int = 65536) -> list[Reply]:
    p = ReplyParser(limit)
    p.feed(data)
    out = []
    while (r := p.next_reply()) is not None:
        out.append(r)
    return out


def test_single_line_reply() -> None:
    [r] = replies(b"220 mx.example.org ESMTP Exim 4.96 Mon, 23 Nov 2026\r\n")
    assert r.code == 220
    assert r.lines == (b"mx.example.org ESMTP Exim 4.96 Mon, 23 Nov 2026",)


def test_multi_line_reply_keeps_exact_bytes() -> None:
    data = b"220-mx.example.org ESMTP\r\n220-no UCE\r\n220 welcome\r\n"
    [r] = replies(data)
    assert r.code == 220
    assert r.lines == (b"mx.example.org ESMTP", b"no UCE", b"welcome")
    assert r.raw == data
    assert r.text == b"mx.example.org ESMTP\nno UCE\nwelcome"


def test_code_only_lines_and_bare_lf() -> None:
    [a, b] = replies(b"250\r\n221 bye\n")
    assert (a.code, a.lines) == (250, (b"",))
    assert (b.code, b.lines, b.raw) == (221, (b"bye",), b"221 bye\n")


def test_code_is_the_last_lines_whole_or_bytewise() -> None:
    data = b"250-first\r\n251 last\r\n"
    [whole] = replies(data)
    p = ReplyParser()
    for i in range(len(data) - 1):
        p.feed(data[i : i + 1])
        assert p.next_reply() is None
    p.feed(data[-1:])
    bytewise = p.next_reply()
    assert whole == bytewise
    assert bytewise is not None and bytewise.code == 251 and bytewise.raw == data


def test_two_replies_in_one_chunk_and_leftover() -> None:
    p = ReplyParser()
    p.feed(b"250 ok\r\n221 by")
    first = p.next_reply()
    assert first is not None and first.code == 250
    assert p.next_reply() is None
    assert p.pending() == b"221 by"
    p.feed(b"e\r\n")
    second = p.next_reply()
    assert second is not None and second.lines == (b"bye",)


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=60))
def test_any_chunking_gives_the_same_replies(cuts: list[int]) -> None:
    data = b"220-first\r\n220 second\r\n" + EXCHANGE_EHLO + b"221 2.0.0 Bye\r\n"
    whole = replies(data)
    p = ReplyParser()
    got = []
    pos = 0
    i = 0
    while pos < len(data):
        step = cuts[i % len(cuts)]
        i += 1
        p.feed(data[pos : pos + step])
        pos += step
        while (r := p.next_reply()) is not None:
            got.append(r)
    assert got == whole
    assert [r.code for r in got] == [220, 250, 221]


def test_ehlo_keywords() -> None:
    [r] = replies(EXCHANGE_EHLO)
    kw = ehlo_keywords(r)
    assert kw[0] == ("SIZE", "37748736")
    assert ("AUTH", "NTLM") in kw
    assert ("X-EXPS", "GSSAPI NTLM") in kw
    assert has_extension(r, "starttls")
    assert not has_extension(r, "SMTPUTF8")
    [single] = replies(b"250 mx.example.org\r\n")
    assert ehlo_keywords(single) == ()


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 400 Bad Request\r\n",
        b"SSH-2.0-OpenSSH_9.2\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00",
        b"22",  # incomplete is fine ...
    ],
)
def test_garbage_is_a_framing_error_on_its_first_bytes(data: bytes) -> None:
    p = ReplyParser()
    p.feed(data)
    if data == b"22":
        assert p.next_reply() is None
        p.feed(b"\r\n")  # ... but a complete line shorter than a code is not
    with pytest.raises(FramingError):
        p.next_reply()


def test_garbage_in_a_continuation_line() -> None:
    p = ReplyParser()
    p.feed(b"250-mx\r\n<html>\r\n")
    with pytest.raises(FramingError):
        p.next_reply()


def test_bound_on_a_line_without_end() -> None:
    p = ReplyParser(limit=1000)
    p.feed(b"220 " + b"A" * 900)
    assert p.next_reply() is None
    p.feed(b"A" * 200)
    with pytest.raises(TooLarge) as info:
        p.next_reply()
    assert info.value.partial == (b"220 " + b"A" * 2000)[:1000]


def test_bound_on_many_continuation_lines() -> None:
    p = ReplyParser(limit=1000)
    p.feed(b"250-x\r\n" * 200)
    with pytest.raises(TooLarge) as info:
        p.next_reply()
    assert len(info.value.partial) == 1000


def test_html_and_ansi_are_kept_raw() -> None:
    data = b"220 <script>alert(1)</script> \x1b[31mred\x1b[0m\r\n"
    [r] = replies(data)
    assert r.raw == data


def _outcome(chunks: list[bytes], limit: int) -> list[object]:
    p = ReplyParser(limit)
    out: list[object] = []
    try:
        for chunk in chunks:
            p.feed(chunk)
            while (r := p.next_reply()) is not None:
                out.append(r)
    except (FramingError, TooLarge) as exc:
        out.append(type(exc))
    return out


@given(st.binary(max_size=80).map(lambda b: bytes(b"0123456789 -\r\nA"[x % 15] for x in b)))
def test_whole_and_bytewise_parsing_agree_on_any_input(data: bytes) -> None:
    # feeding everything at once takes the fast path; one byte at a time the line walker
    whole = _outcome([data], 40)
    bytewise = _outcome([data[i : i + 1] for i in range(len(data))], 40)
    assert whole == bytewise

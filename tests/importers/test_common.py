"""The shaping every importer shares: service names, reply splitting, times, addresses."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mxcensus.importers import _common as c
from mxcensus.model import Transport

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "replies"),
    [
        (b"220 a\r\n250-b\r\n250 c\r\n", [b"220 a\r\n", b"250-b\r\n250 c\r\n"]),
        (b"220-x\r\n220 y\r\n", [b"220-x\r\n220 y\r\n"]),
        (b"220\r\n250-a\r\n250-b\r\n", [b"220\r\n", b"250-a\r\n250-b\r\n"]),  # cut short
        (b"no code at all", [b"no code at all"]),
        (b"2200 not a code\r\n220 ok", [b"2200 not a code\r\n220 ok"]),
    ],
)
def test_split_replies(data: bytes, replies: list[bytes]) -> None:
    assert c.split_replies(data) == replies


def test_smtp_steps_names_like_the_probe() -> None:
    steps = c.smtp_steps(b"220 mx ESMTP\r\n250-mx\r\n250 STARTTLS\r\n214 help\r\n")
    assert [(s.name, s.code) for s in steps] == [("greeting", 220), ("ehlo", 250), ("help", 214)]


@pytest.mark.parametrize(
    ("port", "name", "tls", "protocol"),
    [
        (25, "", None, "smtp"), (587, "smtp", None, "submission"), (465, "", None, "smtps"),
        (2525, "smtp", True, "smtps"), (143, "", None, "imap"), (993, "imap-ssl", None, "imaps"),
        (110, "pop3", None, "pop3"), (995, "", None, "pop3s"), (80, "", None, "http"),
        (8443, "http", None, "https"), (8080, "https-simple-new", None, "https"),
    ],
)  # fmt: skip
def test_protocol_names(port: int, name: str, tls: bool | None, protocol: str) -> None:
    family = c.family_of(port, name)
    assert family is not None
    assert c.protocol_of(family, port, tls=tls, name=name) == protocol


def test_not_mail_ports_have_no_family() -> None:
    assert c.family_of(22) is None and c.family_of(3389, "ms-wbt-server") is None
    assert c.transport_of("smtp", starttls=True) is Transport.STARTTLS
    assert c.transport_of("imaps") is Transport.TLS


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("2024-03-05T11:22:33.456789", "2024-03-05T11:22:33.456789+00:00"),  # naive is UTC
        ("2024-03-05T11:22:33Z", "2024-03-05T11:22:33+00:00"),
        ("2024-03-05T11:22:33+01:00", "2024-03-05T10:22:33+00:00"),
        ("2024-03-05T11:22:40.123456789Z", "2024-03-05T11:22:40.123456+00:00"),  # Go's ns
        ("2021-07-08 11:58:42", "2021-07-08T11:58:42+00:00"),
        ("1709637753", "2024-03-05T11:22:33+00:00"),
        (1709637753, "2024-03-05T11:22:33+00:00"),
        (None, "2026-01-01T00:00:00+00:00"),
    ],
)
def test_parse_time(value: object, iso: str) -> None:
    assert c.parse_time(value, NOW).isoformat() == iso


def test_parse_time_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        c.parse_time("yesterday", NOW)


def test_addresses_are_canonical() -> None:
    assert c.address("2001:DB8:0:0::1") == "2001:db8::1"
    assert c.address(" 192.0.2.1 ") == "192.0.2.1"
    for bad in ("mail.example.com", "999.1.1.1", "=1+1", "", "1.2.3.4\x00", "01.2.3.4"):
        with pytest.raises(ValueError, match="not an IP address"):
            c.address(bad)


def test_http_head_keeps_header_order() -> None:
    code, headers, rest = c.http_head(b"HTTP/1.1 302 Found\r\nB: 2\r\nA: 1\r\n\r\nbody")
    assert code == 302 and headers == (("B", "2"), ("A", "1")) and rest == b"body"


_REPLY_END = re.compile(rb"^\d{3}(?![-\d])[^\n]*(?:\n|\Z)", re.M)  # the definition, as a regex


@given(st.lists(st.sampled_from([b"2", b"5", b"0", b"-", b" ", b"\n", b"\r", b"x", b"\xff",
                                 b"250", b"220-", b"250 ", b"\r\n"]), max_size=30))  # fmt: skip
def test_split_replies_matches_its_regex_definition(parts: list[bytes]) -> None:
    data = b"".join(parts)
    want: list[bytes] = []
    start = 0
    for m in _REPLY_END.finditer(data):
        want.append(data[start : m.end()])
        start = m.end()
    if start < len(data):
        want.append(data[start:])
    assert c.split_replies(data) == want


# Text that trips str methods where bytes methods differ: digits and white space beyond
# ASCII (superscripts, NEL, NBSP, \x1c-\x1f), UTF-8 that is not latin-1, and lone surrogates
# (what surrogateescape turns back into the bytes).
_PIECES = [
    "220", "250", "214", "2\xb2\xb3", "\xb9\xb2\xb3 x", "-", " ", "\n", "\r\n", "\r", "x",
    "\xe9", "\u20ac", "\x85", "\xa0", "\x1c", "\x1f", "\x0b", "\udcff", ":", "HTTP/", "1.1",
    " 200 ", "\x1c200", "OK", "\udcb2", "\udcb3", "\udcb9", "\udc85", "\udca0", "Server",
    "Location: /owa/", "\n\n", "* OK ", "+OK",
]  # fmt: skip
_TEXTS = st.lists(st.sampled_from(_PIECES), max_size=40).map("".join)
_B = "\udcb2\udcb3\udcb9"  # the bytes b"\xb2\xb3\xb9" (superscript digits as latin-1)
_ODD = [
    f"{_B} x", f"220 a\r\n{_B} b\r\n", "* OK\n\udca0\udc85", f"HTTP/1.1 {_B} OK",
    "HTTP/1.1\udc85200 OK\r\n\udca0X\udc85: \udca0v\r\n\r\n", "220 a\r\n250 b\r\n214 c\r\n550 d",
    "* OK\n\xa0", "+OK\r\n\x1c\x85\x1f", "HTTP/1.1\x1c200 OK\r\nA: b\r\n\r\n",
    "HTTP/1.1 301 x\r\n\x85Server\x1c: \xa0v\xe9\x1f\r\n\x1c: z\r\n\r\nbody", "\udcff\xe9\u20ac",
]  # fmt: skip
_LONG = [
    "220 " + "a" * (c.MAX_REPLY + 5), "250 \xe9" * (c.MAX_REPLY // 4),
    "* OK\r\n" + "C" * (c.MAX_REPLY + 1), "x" * (c.MAX_BODY + 3),
]  # fmt: skip


def _docs_ref(steps: tuple[object, ...]) -> list[dict[str, object]]:
    from mxcensus.serialize import steps_to_list

    return steps_to_list(steps)  # type: ignore[arg-type]


def _check_text_docs(value: str) -> None:
    raw = c.to_bytes(value)
    text = c.stored_text(value)
    assert text == raw.decode("latin-1")
    assert c.smtp_step_docs_text(text) == _docs_ref(c.smtp_steps(raw)) == c.smtp_step_docs(raw)
    for name in ("capability", "capa"):
        want = _docs_ref(c.line_protocol_steps(raw, name))
        assert c.line_protocol_step_docs_text(text, name) == want
    code, headers, _ = c.http_head(raw)
    got_code, got_headers = c.http_head_text(text)
    assert (got_code, got_headers) == (code, [list(h) for h in headers])
    want = _docs_ref((c.http_step("/owa/", code, headers, raw),))
    assert [c.http_step_doc_text("/owa/", got_code, got_headers, text)] == want


@settings(max_examples=400, deadline=None)
@given(_TEXTS)
def test_step_docs_from_text_equal_those_from_bytes(value: str) -> None:
    """The stored-text helpers (shodan's hot path) give the documents the Step-based
    helpers give through serialize, for any text a JSON source may hold."""
    _check_text_docs(value)


@pytest.mark.parametrize("value", _ODD + _LONG)
def test_step_docs_from_text_truncate_like_bytes(value: str) -> None:
    _check_text_docs(value)


def test_stored_text_of_other_json_values() -> None:
    for value in (None, 25, 2.5, True, ["a", "\xe9"], {"k": "v"}, "", "\xe9\udcff"):
        assert c.stored_text(value) == c.to_bytes(value).decode("latin-1")


@pytest.mark.parametrize(
    "value",
    [["a", "b"], ("a",), [], ["a", 1, None, True, 2.5], [["x"], {"k": 1}], ["\xe9" * 700] * 2,
     "s", "", None, {}, True, 3, 2.5],
)  # fmt: skip
def test_text_of_lists_of_strings_or_anything(value: object) -> None:
    if isinstance(value, list | tuple):
        want = ",".join(str(v) for v in value)[: c.MAX_EXTRA]
    elif value is None or isinstance(value, dict):
        want = ""
    elif isinstance(value, bool):
        want = "true" if value else "false"
    else:
        want = str(value)[: c.MAX_EXTRA]
    assert c.text_of(value) == want

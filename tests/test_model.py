from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mxcensus.model import bytes_to_text, printable, printable_stored, text_to_bytes


def test_printable_escapes_every_control_and_keeps_text() -> None:
    raw = b"220 mx \x1b[31mred\x1b[0m\r\n\x00\x7f\t\xc2\x9b caf\xc3\xa9 \xff"
    assert printable(raw) == "220 mx \\x1b[31mred\\x1b[0m\\r\\n\\x00\\x7f\\t\\x9b café \\xff"


def test_printable_is_bounded_and_says_so() -> None:
    assert printable(b"x" * 10, limit=4) == "xxxx…"
    assert printable(b"x" * 4, limit=4) == "xxxx"


@given(st.binary(max_size=600))
def test_printable_never_lets_a_control_character_through(data: bytes) -> None:
    out = printable(data)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in out)


@given(st.binary(max_size=300))
def test_storage_text_roundtrips_bytes(data: bytes) -> None:
    assert text_to_bytes(bytes_to_text(data)) == data


_ASCII_BITS = [b"a", b"\r", b"\n", b"\t", b"\x00", b"\x0b", b"\x1b", b"\x1f", b"\x7f", b"\\"]


@given(
    st.one_of(st.binary(max_size=40), st.lists(st.sampled_from(_ASCII_BITS)).map(b"".join)),
    st.sampled_from([4, 16, 512]),
)
def test_printable_stored_is_printable_of_the_bytes(data: bytes, limit: int) -> None:
    # controls, CR/LF and text, ASCII (the fast path) or not, cut inside or not
    assert printable_stored(bytes_to_text(data), limit) == printable(data, limit)

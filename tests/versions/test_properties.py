"""version_key is monotone with compare (osv.dev's coarse_version test, in spirit), for every
scheme, on structured versions and on arbitrary hostile text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mxcensus.versions import SCHEMES, compare, scheme_for, version_key

_num = st.integers(min_value=0, max_value=10**6).map(str)
_sep = st.sampled_from([".", "_", "-", ""])
_tail = st.sampled_from(
    ["", "_RC1", "_RC3", "rc2", "-beta1", "p1", "c", " #2", " Ubuntu", "-20231225"]
)
structured = st.builds(
    lambda parts, seps, tail: (
        "".join(p + s for p, s in zip(parts, seps, strict=False))[:-1] + parts[-1] + tail
        if len(parts) > 1
        else parts[0] + tail
    ),
    st.lists(_num, min_size=1, max_size=5),
    st.lists(_sep, min_size=5, max_size=5),
    _tail,
)
anything = st.one_of(structured, st.text(max_size=30))
schemes = st.sampled_from(sorted(SCHEMES))


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


@settings(max_examples=600, deadline=None)
@given(schemes, anything, anything)
def test_key_is_monotone_with_compare(name: str, a: str, b: str) -> None:
    s = SCHEMES[name]
    ka, kb = s.version_key(a), s.version_key(b)
    assert _sign(s.compare(a, b)) == _sign((ka > kb) - (ka < kb))


@settings(max_examples=300, deadline=None)
@given(schemes, anything, anything, anything)
def test_compare_is_a_total_order(name: str, a: str, b: str, c: str) -> None:
    s = SCHEMES[name]
    assert s.compare(a, a) == 0
    assert s.compare(a, b) == -s.compare(b, a)
    if s.compare(a, b) <= 0 and s.compare(b, c) <= 0:
        assert s.compare(a, c) <= 0


def test_products_map_to_their_scheme() -> None:
    assert scheme_for("exim").name == "exim"
    assert scheme_for("ms-exchange").name == "exchange"
    assert scheme_for("zimbra").name == "zimbra"
    assert scheme_for("smartermail").name == "smartermail"
    assert compare("exim", "4.100", "4.99") == 1
    assert version_key("exim", "4.89_1") == version_key("exim", "4.89.1")


def test_hostile_input_is_unparsable_not_a_crash() -> None:
    for text in ("9" * 5000, "\x00\x1b[31m4.96", "4." + "9" * 40, "=cmd|' /C calc'!A0"):
        for s in SCHEMES.values():
            s.sort_key(text)
            low = next(v for v in ("0.0.1", "0.0.1000") if s.parses(v))  # SmarterMail: a build
            assert s.version_key(text) < s.version_key(low) or s.parses(text)

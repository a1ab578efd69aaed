"""One range type for every number a user can type: the message names the option, the
value as typed (bounded, escaped) and the allowed range."""

from __future__ import annotations

import pytest

from mxcensus.bounds import Range
from mxcensus.errors import UsageError


def test_range_messages() -> None:
    rate = Range(1, 10)
    with pytest.raises(UsageError, match=r"^--rate 0: must be at least 1 \(allowed: 1 to 10\)$"):
        rate.parse("0", "--rate")
    with pytest.raises(UsageError, match=r"^--rate 11: must be at most 10 "):
        rate.parse("11", "--rate")
    with pytest.raises(UsageError, match=r"^--rate 1e9: must be an integer "):
        rate.parse("1e9", "--rate")
    with pytest.raises(UsageError, match=r"^--rate 9{40}\.\.\.: must be at most 10 "):
        rate.parse("9" * 5000, "--rate")  # longer than Python converts
    share = Range(0.0, 1.0, float)
    assert share.parse("0.25", "--f") == 0.25
    for bad in ("inf", "nan", "-0.1", "1.5"):
        with pytest.raises(UsageError, match=r"\(allowed: 0 to 1\)$"):
            share.parse(bad, "--f")


def test_check_refuses_what_comes_from_elsewhere() -> None:
    Range(1, 10).check(10, "--x")
    with pytest.raises(UsageError, match=r"^--x 11: must be at most 10"):
        Range(1, 10).check(11, "--x")
    with pytest.raises(UsageError, match=r"^--x '\\u202e': must be an integer"):
        Range(1, 10).parse("\u202e", "--x")

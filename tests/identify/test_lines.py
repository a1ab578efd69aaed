"""The pieces behind ``mxcensus identify``: escapes, the record shape (the assess memo:
tests/test_banners.py)."""

from __future__ import annotations

import pytest

from mxcensus.errors import UsageError
from mxcensus.identify.lines import identifier, identify_lines, unescape
from mxcensus.model import Identification


def test_unescape() -> None:
    assert unescape(r"220-a\r\n220 b") == "220-a\r\n220 b"
    assert unescape(r"tab\there \\r stays \x41\xff") == "tab\there \\r stays A\xff"
    assert unescape("no escapes") == "no escapes"
    assert unescape(r"\q \x4") == r"\q \x4"  # unknown escapes are kept as written


def test_identify_lines_keeps_order_and_adds_fields() -> None:
    def extend(ident: Identification, out: dict[str, object]) -> None:
        out["seen"] = ident.product

    out = list(identify_lines(["* OK Dovecot ready.\n", "x\r\n", ""], "imap", extend))
    assert [o["product"] for o in out] == ["dovecot", "unknown", "unknown"]
    assert [o["seen"] for o in out] == ["dovecot", "unknown", "unknown"]
    assert out[1]["banner"] == "x"


def test_identifier_refuses_unknown_protocol() -> None:
    with pytest.raises(UsageError, match="--protocol must be one of"):
        identifier("ftp")

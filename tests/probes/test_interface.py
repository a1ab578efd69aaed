"""ProbeConfig refuses values that would put a second command or header on the wire."""

from __future__ import annotations

import pytest

from mxcensus.errors import UsageError
from mxcensus.probes.interface import ProbeConfig


@pytest.mark.parametrize(
    "name", ["mxcensus.invalid", "scanner.cert.example", "[192.0.2.1]", "[IPv6:2001:db8::1]", "a"]
)
def test_valid_ehlo_names(name: str) -> None:
    assert ProbeConfig(ehlo_name=name).ehlo_name == name


@pytest.mark.parametrize(
    "name", ["", "x\r\nMAIL FROM:<a@b>", "scan ner", "-x.example", "x.example.", "ünï.example"]
)
def test_ehlo_name_that_could_inject_is_refused(name: str) -> None:
    with pytest.raises(UsageError, match="EHLO name"):
        ProbeConfig(ehlo_name=name)


@pytest.mark.parametrize("ua", ["", "x\r\nX-Injected: 1", "tab\there"])
def test_user_agent_must_be_printable(ua: str) -> None:
    with pytest.raises(UsageError, match="User-Agent"):
        ProbeConfig(user_agent=ua)


def test_timeouts_and_bounds_must_make_sense() -> None:
    with pytest.raises(UsageError, match="total timeout"):
        ProbeConfig(total_timeout=0)
    with pytest.raises(UsageError, match="max reply bytes"):
        ProbeConfig(max_reply_bytes=0)

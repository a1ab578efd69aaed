"""masscan/ZMap output (``importers/masscan.py``): the transcripts a live probe would have
produced, and what the analysis makes of them, with the values written by hand from the
fixtures."""

from __future__ import annotations

import pytest

from mxcensus.model import Outcome
from mxcensus.store.db import Store
from tests.importers.conftest import analysed, fixture, imported


@pytest.mark.parametrize("name", ["masscan.json", "masscan.txt"])
def test_masscan_open_ports_and_banners_merge(store: Store, name: str) -> None:
    ts = imported(store, "masscan", fixture(name))
    exim = ts["192.0.2.25", 25]
    assert exim.outcome is Outcome.OK
    (greeting,) = exim.steps  # the open record and its banner record became one transcript
    assert greeting.name == "greeting" and greeting.received.startswith(b"220 mail.example.net")
    assert all(port not in (22, 3389) for _, port in ts)
    if name == "masscan.txt":
        pop = ts["192.0.2.31", 110]
        assert pop.steps[0].received == b"+OK Dovecot ready.\r\n"  # \x0d\x0a unescaped
        assert ts["198.51.100.120", 443].steps == ()  # open, no banner
    else:
        assert ts["192.0.2.26", 993].protocol == "imaps"


def test_masscan_fixture_analysed(store: Store) -> None:
    """The fixture's services as the analysis identifies and judges them, written out by hand:
    four open ports, RDP skipped; two banner lines merged into their open ports."""
    counts, services = analysed(store, "masscan", fixture("masscan.txt"))
    assert counts == (4, 3, 1, 0, 3)  # records, transcripts, skipped, malformed, services
    assert services == [
        ("192.0.2.25", 25, "smtp", "ok", "exim", "4.96", "version", "potentially-vulnerable"),
        ("192.0.2.31", 110, "pop3", "ok", "dovecot", None, "product", "unknown"),
        ("198.51.100.120", 443, "https", "ok", "unknown", None, "none", "unknown"),
    ]

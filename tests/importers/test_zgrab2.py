"""ZGrab2 results (``importers/zgrab2.py``): the transcripts a live probe would have produced,
and what the analysis makes of them, with the values written by hand from the fixtures."""

from __future__ import annotations

from mxcensus.model import Outcome, Transport
from mxcensus.store.db import Store
from tests.importers.conftest import analysed, fixture, imported


def test_zgrab2_results_keep_status_and_partial_data(store: Store) -> None:
    ts = imported(store, "zgrab2", fixture("zgrab2-mail.json"))
    exim = ts["192.0.2.25", 25]
    assert [s.name for s in exim.steps] == ["greeting", "ehlo", "starttls"]
    assert exim.transport is Transport.STARTTLS
    assert exim.tls is not None and exim.tls.version == "TLSv1.2"
    assert exim.tls.cipher == "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
    assert exim.tls.chain[0].subject == "CN=vm,O=Exim Developers,C=UK"
    assert exim.observed_at.isoformat() == "2024-03-05T10:22:33+00:00"  # +01:00 -> UTC
    slow = ts["192.0.2.26", 25]
    assert slow.outcome is Outcome.TIMEOUT and "i/o timeout" in slow.error
    assert slow.steps[0].received.startswith(b"220-mx2")  # what came before the failure
    assert ts["192.0.2.27", 25].outcome is Outcome.REFUSED
    assert ts["192.0.2.30", 143].transport is Transport.STARTTLS
    assert ts["192.0.2.31", 110].protocol == "pop3"  # "pop3" is a module name, not port 3
    assert ts["192.0.2.50", 587].protocol == "submission"  # port from module "smtp-587"
    owa = ts["198.51.100.120", 443]
    assert owa.protocol == "https" and owa.steps[0].name == "GET /owa/auth/logon.aspx"
    assert ("X-Owa-Version", "15.1.2507.39") in owa.steps[0].headers
    assert ("request-id", "9d3e") in owa.steps[0].headers


def test_zgrab2_fixture_analysed(store: Store) -> None:
    """The fixture's services as the analysis identifies and judges them, written out by hand:
    a failed grab is a service with its outcome, identified as unknown."""
    counts, services = analysed(store, "zgrab2", fixture("zgrab2-mail.json"))
    assert counts == (7, 7, 0, 0, 7)  # records, transcripts, skipped, malformed, services
    assert services == [
        ("192.0.2.25", 25, "smtp", "ok", "exim", "4.94.2", "version", "potentially-vulnerable"),
        ("192.0.2.26", 25, "smtp", "timeout", "unknown", None, "none", "unknown"),
        ("192.0.2.27", 25, "smtp", "refused", "unknown", None, "none", "unknown"),
        ("192.0.2.30", 143, "imap", "ok", "dovecot", None, "product", "unknown"),
        ("192.0.2.31", 110, "pop3", "ok", "dovecot", None, "product", "unknown"),
        ("192.0.2.50", 587, "submission", "ok", "postfix", None, "product", "unknown"),
        (
            "198.51.100.120",
            443,
            "https",
            "ok",
            "ms-exchange",
            "15.1.2507.39",
            "build4",
            "vulnerable",
        ),
    ]

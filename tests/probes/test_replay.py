"""Probes against replayed server dialogues (no sockets): the connector seam."""

from __future__ import annotations

import asyncio

from mxcensus.model import Outcome, Transport
from mxcensus.probes.imap import ImapProbe
from mxcensus.probes.interface import Endpoint, ProbeConfig
from mxcensus.probes.pop3 import Pop3Probe
from mxcensus.probes.smtp import SmtpProbe
from tests.probes.replay import REPLAY_TLS, ReplayConnector, load

EP = Endpoint("127.0.0.1", 25)


def test_exim_dialogue_replays_exactly() -> None:
    conn = ReplayConnector("exim-4.96-smtp-25.txt")
    t = asyncio.run(SmtpProbe(conn).run(EP, ProbeConfig()))
    assert conn.mismatches == []
    assert t.outcome is Outcome.OK
    assert t.transport is Transport.STARTTLS
    names = ["greeting", "ehlo", "starttls", "ehlo-tls", "help", "quit"]
    assert [s.name for s in t.steps] == names
    assert t.tls == REPLAY_TLS
    script = load("exim-4.96-smtp-25.txt")
    sent = b"".join(data for kind, data in script if kind == "C")
    assert b"".join(s.sent for s in t.steps) == sent  # nothing more, nothing less


def test_silence_after_starttls_keeps_what_came_before() -> None:
    conn = ReplayConnector("exchange-2016-smtp-25.txt")
    t = asyncio.run(SmtpProbe(conn).run(EP, ProbeConfig()))
    assert conn.mismatches == []
    assert t.outcome is Outcome.TIMEOUT
    assert [s.name for s in t.steps] == ["greeting", "ehlo", "starttls"]
    g = t.step("greeting")
    assert g is not None and b"Microsoft ESMTP MAIL Service" in g.received
    ehlo = t.step("ehlo")
    assert ehlo is not None and ehlo.received.endswith(b"250 XRDST\r\n")


def test_dovecot_imap_dialogue() -> None:
    conn = ReplayConnector("dovecot-2.3.19-imap-143.txt")
    t = asyncio.run(ImapProbe(conn).run(Endpoint("127.0.0.1", 143), ProbeConfig()))
    assert conn.mismatches == []
    assert t.outcome is Outcome.OK, t.error
    assert t.protocol == "imap" and t.transport is Transport.STARTTLS
    assert [s.name for s in t.steps] == [
        "greeting",
        "capability",
        "starttls",
        "capability-tls",
        "id",
        "logout",
    ]
    cap = t.step("capability-tls")
    assert cap is not None and b"AUTH=PLAIN" in cap.received


def test_dovecot_pop3_dialogue() -> None:
    conn = ReplayConnector("dovecot-2.3.19-pop3-110.txt")
    t = asyncio.run(Pop3Probe(conn).run(Endpoint("127.0.0.1", 110), ProbeConfig()))
    assert conn.mismatches == []
    assert t.outcome is Outcome.OK, t.error
    assert t.protocol == "pop3" and t.transport is Transport.STARTTLS
    assert [s.name for s in t.steps] == ["greeting", "capa", "starttls", "capa-tls", "quit"]

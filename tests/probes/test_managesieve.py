"""The ManageSieve probe against replayed dialogues (Debian's Dovecot as recorded, Cyrus
timsieved's older behaviour) and small in-test servers: the steps, what is sent (never
AUTHENTICATE), and one outcome each."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mxcensus.identify import identify
from mxcensus.model import Outcome, Precision, Transport
from mxcensus.probes.interface import Endpoint, ProbeConfig
from mxcensus.probes.managesieve import ManageSieveProbe
from tests.probes import hostile
from tests.probes.hostile import run, serve
from tests.probes.replay import REPLAY_TLS, ReplayConnector, load

EP = Endpoint("127.0.0.1", 4190)
FAST = ProbeConfig(greeting_timeout=1.0, read_timeout=1.0, total_timeout=3.0)
CYRUS = (
    'S: "IMPLEMENTATION" "Cyrus timsieved v2.4.17-Debian-2.4.17+caldav~beta9-3"\n'
    'S: "SASL" "PLAIN"\n'
    'S: "SIEVE" "comparator-i;ascii-numeric fileinto reject vacation imapflags notify"\n'
    'S: "STARTTLS"\n'
    "S: OK\n"
)


def _script(tmp_path: Path, text: str) -> ReplayConnector:
    path = tmp_path / "dialogue.txt"
    path.write_text(text)
    return ReplayConnector(str(path))  # an absolute name: replay.HERE / name is the path


def test_debian_dovecot_dialogue_replays_exactly() -> None:
    conn = ReplayConnector("dovecot-2.3.19-managesieve-4190.txt")
    t = asyncio.run(ManageSieveProbe(conn).run(EP, ProbeConfig()))
    assert conn.mismatches == []
    assert t.outcome is Outcome.OK, t.error
    assert t.protocol == "managesieve" and t.transport is Transport.STARTTLS
    assert [s.name for s in t.steps] == ["greeting", "starttls", "capability-tls", "logout"]
    assert t.tls == REPLAY_TLS
    sent = b"".join(d for kind, d in load("dovecot-2.3.19-managesieve-4190.txt") if kind == "C")
    assert b"".join(s.sent for s in t.steps) == sent == b"STARTTLS\r\nCAPABILITY\r\nLOGOUT\r\n"
    cap = t.step("capability-tls")
    assert cap is not None and cap.received.endswith(b'OK "TLS negotiation successful."\r\n')
    logout = t.step("logout")  # the answer to CAPABILITY came first, then the LOGOUT reply
    assert logout is not None and logout.received.startswith(b'"IMPLEMENTATION"')
    assert logout.received.endswith(b'OK "Logout completed."\r\n')
    ident = identify(t)
    assert (ident.product, ident.precision, ident.distro) == (
        "dovecot",
        Precision.PRODUCT,
        "debian",
    )


def test_a_server_that_does_not_resend_its_capabilities_after_tls(tmp_path: Path) -> None:
    """Before RFC 5804 the client asked again: the probe's CAPABILITY gets the answer, and
    nothing waits for capabilities that never come."""
    conn = _script(
        tmp_path,
        CYRUS + "C: STARTTLS\nS: OK\nTLS\nC: CAPABILITY\n"
        'S: "IMPLEMENTATION" "Cyrus timsieved v2.4.17-Debian-2.4.17+caldav~beta9-3"\n'
        'S: "SASL" "PLAIN"\nS: OK\nC: LOGOUT\nS: OK "Logout Complete"\n',
    )
    t = asyncio.run(ManageSieveProbe(conn).run(EP, FAST))
    assert conn.mismatches == []
    assert t.outcome is Outcome.OK, t.error
    assert [s.name for s in t.steps] == ["greeting", "starttls", "capability-tls", "logout"]
    logout = t.step("logout")
    assert logout is not None and logout.received == b'OK "Logout Complete"\r\n'
    ident = identify(t)
    assert (ident.product, ident.version, ident.precision, ident.distro) == (
        "cyrus",
        "2.4.17",
        Precision.VERSION,
        "debian",
    )


def test_no_starttls_offered_means_greeting_then_logout(tmp_path: Path) -> None:
    conn = _script(
        tmp_path,
        'S: "IMPLEMENTATION" "Cyrus timsieved"\nS: "SASL" "PLAIN"\nS: OK\n'
        'C: LOGOUT\nS: OK "Logout Complete"\n',
    )
    t = asyncio.run(ManageSieveProbe(conn).run(EP, FAST))
    assert conn.mismatches == []
    assert t.outcome is Outcome.OK and t.transport is Transport.PLAIN
    assert [s.name for s in t.steps] == ["greeting", "logout"]
    assert identify(t).product == "cyrus"


def test_starttls_refused_goes_on_in_plain_text(tmp_path: Path) -> None:
    conn = _script(tmp_path, CYRUS + 'C: STARTTLS\nS: NO "TLS unavailable"\nC: LOGOUT\nS: OK\n')
    t = asyncio.run(ManageSieveProbe(conn).run(EP, FAST))
    assert conn.mismatches == []
    assert t.outcome is Outcome.OK and t.transport is Transport.PLAIN
    assert [s.name for s in t.steps] == ["greeting", "starttls", "logout"]


def test_bye_greeting_ends_there(tmp_path: Path) -> None:
    conn = _script(tmp_path, 'S: BYE "Too many connections"\n')
    t = asyncio.run(ManageSieveProbe(conn).run(EP, FAST))
    assert conn.mismatches == []
    assert t.outcome is Outcome.OK
    assert [s.name for s in t.steps] == ["greeting"]
    assert t.steps[0].received == b'BYE "Too many connections"\r\n'


def test_implicit_tls_greets_inside_tls(tmp_path: Path) -> None:
    conn = _script(tmp_path, 'TLS\nS: "IMPLEMENTATION" "x"\nS: OK\nC: LOGOUT\nS: OK\n')
    t = asyncio.run(ManageSieveProbe(conn).run(Endpoint("127.0.0.1", 4190, tls=True), FAST))
    assert conn.mismatches == []
    assert t.outcome is Outcome.OK and t.transport is Transport.TLS
    assert [s.name for s in t.steps] == ["greeting", "logout"]


def test_hanging_up_on_logout_is_no_failure(tmp_path: Path) -> None:
    conn = _script(tmp_path, 'S: "IMPLEMENTATION" "x"\nS: OK\nC: LOGOUT\n')
    t = asyncio.run(ManageSieveProbe(conn).run(EP, FAST))
    assert t.outcome is Outcome.OK
    assert [s.name for s in t.steps] == ["greeting", "logout"]


def test_an_smtp_server_on_4190_is_a_protocol_error_on_its_first_bytes() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mx.example.org ESMTP Postfix\r\n")
        await writer.drain()
        await asyncio.sleep(5)  # a framing error must not wait for this

    async def go() -> object:
        async with serve(handler) as port:
            return await ManageSieveProbe().run(Endpoint("127.0.0.1", port), FAST)

    t = run(go())
    assert t.outcome is Outcome.PROTOCOL_ERROR, t.error
    assert t.steps[0].received == b"220 mx.example.org ESMTP Postfix\r\n"
    assert t.duration_ms < 900


def test_a_capability_flood_after_logout_is_bounded() -> None:
    """A server that answers LOGOUT with capability responses without end: too large."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b'"IMPLEMENTATION" "x"\r\nOK\r\n')
        assert await hostile.read_command(reader) == b"LOGOUT\r\n"
        for _ in range(400):
            writer.write(b'"X" "' + b"y" * 300 + b'"\r\nOK\r\n')
            await writer.drain()

    config = ProbeConfig(greeting_timeout=2.0, read_timeout=2.0, total_timeout=5.0)

    async def go() -> object:
        async with serve(handler) as port:
            return await ManageSieveProbe().run(Endpoint("127.0.0.1", port), config)

    t = run(go())
    assert t.outcome is Outcome.TOO_LARGE, t.error
    assert [s.name for s in t.steps] == ["greeting", "logout"]
    assert len(t.steps[1].received) <= config.max_reply_bytes


@pytest.mark.parametrize("port", [4190, 2000])
def test_the_protocol_name_and_transport_follow_the_declaration(port: int) -> None:
    conn = ReplayConnector("dovecot-2.3.19-managesieve-4190.txt")
    t = asyncio.run(ManageSieveProbe(conn).run(Endpoint("127.0.0.1", port), ProbeConfig()))
    assert t.protocol == "managesieve" and t.transport is Transport.STARTTLS

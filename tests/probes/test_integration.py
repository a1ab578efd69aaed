"""The probes against real Debian servers started on loopback (Exim 4.96, Dovecot 2.3 with
its Pigeonhole ManageSieve)."""

from __future__ import annotations

import pytest

from mxcensus.identify import identify
from mxcensus.model import Outcome, Precision, Transcript, Transport
from mxcensus.probes import probe_for
from mxcensus.probes.interface import Endpoint, ProbeConfig
from mxcensus.serialize import dumps, loads
from tests.probes.hostile import run
from tests.servers import RunningServer

pytestmark = pytest.mark.integration

CONFIG = ProbeConfig(ehlo_name="scanner.mxcensus.test.invalid")


def probe(server: RunningServer, service: str, well_known: int) -> Transcript:
    chosen = probe_for(well_known)
    assert chosen is not None
    p, implicit = chosen
    ep = Endpoint(
        server.address, server.ports[service], hostname=server.cert.common_name, tls=implicit
    )
    return run(p.run(ep, CONFIG))


def assert_cert(t: Transcript, server: RunningServer) -> None:
    assert t.tls is not None
    assert t.tls.version in ("TLSv1.2", "TLSv1.3")
    assert t.tls.cipher
    leaf = t.tls.chain[0]
    assert f"CN={server.cert.common_name}" in leaf.subject
    assert leaf.sans == server.cert.sans
    assert leaf.sha256 == server.cert.sha256
    assert leaf.serial == format(server.cert.serial, "x")
    assert leaf.self_signed


@pytest.mark.parametrize(("service", "port"), [("smtp", 25), ("submission", 587)])
def test_exim_plain_then_starttls(exim: RunningServer, service: str, port: int) -> None:
    t = probe(exim, service, port)
    assert t.outcome is Outcome.OK, (t.error, exim.log())
    assert t.transport is Transport.STARTTLS
    names = ["greeting", "ehlo", "starttls", "ehlo-tls", "help", "quit"]
    assert [s.name for s in t.steps] == names
    greeting = t.step("greeting")
    assert greeting is not None and greeting.code == 220
    assert b"ESMTP Exim 4.96" in greeting.received
    ehlo = t.step("ehlo")
    assert ehlo is not None and b"250-STARTTLS" in ehlo.received
    assert b"Hello scanner.mxcensus.test.invalid" in ehlo.received
    ehlo_tls = t.step("ehlo-tls")
    assert ehlo_tls is not None and b"STARTTLS" not in ehlo_tls.received
    help_ = t.step("help")  # inside TLS Exim's list drops STARTTLS
    assert help_ is not None and help_.received == (
        b"214-Commands supported:\r\n214 AUTH HELO EHLO MAIL RCPT DATA BDAT NOOP QUIT RSET HELP\r\n"
    )
    quit_ = t.step("quit")
    assert quit_ is not None and quit_.code == 221
    assert_cert(t, exim)


def test_exim_implicit_tls_on_465(exim: RunningServer) -> None:
    t = probe(exim, "smtps", 465)
    assert t.outcome is Outcome.OK, (t.error, exim.log())
    assert t.protocol == "smtps" and t.transport is Transport.TLS
    assert [s.name for s in t.steps] == ["greeting", "ehlo", "help", "quit"]
    greeting = t.step("greeting")
    assert greeting is not None and b"ESMTP Exim 4.96" in greeting.received
    assert_cert(t, exim)


def test_exim_log_shows_no_mail_command_and_no_tls_error(exim: RunningServer) -> None:
    # the test Exim rejects and logs MAIL, RCPT and VRFY ("rejected MAIL <…>"), and logs
    # TLS sessions that end badly and unknown commands; a polite probe leaves no such line
    before = len(exim.log().splitlines())
    for service, port in (("smtp", 25), ("submission", 587), ("smtps", 465)):
        assert probe(exim, service, port).outcome is Outcome.OK
    new = "\n".join(exim.log().splitlines()[before:])
    for word in ("rejected", "MAIL", "RCPT", "VRFY", "EXPN", "AUTH", "TLS error", "unrecognized"):
        assert word not in new, new


def test_dovecot_imap_starttls(dovecot: RunningServer) -> None:
    t = probe(dovecot, "imap", 143)
    assert t.outcome is Outcome.OK, (t.error, dovecot.log())
    assert t.transport is Transport.STARTTLS
    assert [s.name for s in t.steps] == [
        "greeting",
        "capability",
        "starttls",
        "capability-tls",
        "id",
        "logout",
    ]
    greeting = t.step("greeting")
    assert greeting is not None and b"Dovecot (Debian) ready" in greeting.received
    id_ = t.step("id")  # asked because CAPABILITY lists ID
    assert id_ is not None and id_.received == b'* ID ("name" "Dovecot")\r\na5 OK ID completed.\r\n'
    cap = t.step("capability")
    assert cap is not None and b" STARTTLS" in cap.received
    assert_cert(t, dovecot)


def test_dovecot_imaps(dovecot: RunningServer) -> None:
    t = probe(dovecot, "imaps", 993)
    assert t.outcome is Outcome.OK, (t.error, dovecot.log())
    assert t.protocol == "imaps" and t.transport is Transport.TLS
    assert [s.name for s in t.steps] == ["greeting", "capability", "id", "logout"]
    assert_cert(t, dovecot)


def test_dovecot_pop3_stls(dovecot: RunningServer) -> None:
    t = probe(dovecot, "pop3", 110)
    assert t.outcome is Outcome.OK, (t.error, dovecot.log())
    assert t.transport is Transport.STARTTLS
    assert [s.name for s in t.steps] == ["greeting", "capa", "starttls", "capa-tls", "quit"]
    greeting = t.step("greeting")
    assert greeting is not None and greeting.received == b"+OK Dovecot (Debian) ready.\r\n"
    capa = t.step("capa")
    assert capa is not None and b"\r\nSTLS\r\n" in capa.received
    assert_cert(t, dovecot)


def test_dovecot_pop3s(dovecot: RunningServer) -> None:
    t = probe(dovecot, "pop3s", 995)
    assert t.outcome is Outcome.OK, (t.error, dovecot.log())
    assert t.protocol == "pop3s" and t.transport is Transport.TLS
    assert [s.name for s in t.steps] == ["greeting", "capa", "quit"]
    assert_cert(t, dovecot)


def test_real_transcripts_survive_serialization(exim: RunningServer) -> None:
    t = probe(exim, "smtp", 25)
    assert t.outcome is Outcome.OK
    assert loads(dumps(t)) == t


def test_dovecot_managesieve_starttls(dovecot: RunningServer) -> None:
    if "managesieve" not in dovecot.ports:
        pytest.skip("dovecot-managesieved is not installed (scripts/system-deps.sh installs it)")
    t = probe(dovecot, "managesieve", 4190)
    assert t.outcome is Outcome.OK, (t.error, dovecot.log())
    assert t.protocol == "managesieve" and t.transport is Transport.STARTTLS
    assert [s.name for s in t.steps] == ["greeting", "starttls", "capability-tls", "logout"]
    greeting = t.step("greeting")
    assert greeting is not None
    assert greeting.received.startswith(b'"IMPLEMENTATION" "Dovecot (Debian) Pigeonhole"\r\n')
    assert b'\r\n"STARTTLS"\r\n' in greeting.received
    assert greeting.received.endswith(b'OK "Dovecot (Debian) ready."\r\n')
    cap = t.step("capability-tls")  # sent unasked after the handshake (RFC 5804)
    assert cap is not None and b"STARTTLS" not in cap.received
    assert cap.received.endswith(b'OK "TLS negotiation successful."\r\n')
    logout = t.step("logout")  # the answer to our CAPABILITY, then the LOGOUT reply
    assert logout is not None
    assert logout.received.endswith(b'OK "Capability completed."\r\nOK "Logout completed."\r\n')
    assert [s.sent for s in t.steps] == [b"", b"STARTTLS\r\n", b"CAPABILITY\r\n", b"LOGOUT\r\n"]
    assert_cert(t, dovecot)
    ident = identify(t)
    assert (ident.product, ident.precision, ident.version, ident.distro) == (
        "dovecot",
        Precision.PRODUCT,
        "",
        "debian",
    )
    assert [e.field for e in ident.evidence] == ["managesieve.banner"]
    assert all(e.port == dovecot.ports["managesieve"] for e in ident.evidence)

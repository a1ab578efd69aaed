"""The SMTP probe against scripted and hostile servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import tracemalloc
from pathlib import Path

import pytest

from mxcensus.model import Outcome, Transcript, Transport
from mxcensus.probes.interface import Endpoint, ProbeConfig
from mxcensus.probes.smtp import SmtpProbe
from tests.certs import make_cert
from tests.probes import hostile
from tests.probes.hostile import run, serve

FAST = ProbeConfig(connect_timeout=2.0, greeting_timeout=1.0, read_timeout=1.0, total_timeout=3.0)


async def probe(handler: hostile.Handler, config: ProbeConfig = FAST, **kw: object) -> Transcript:
    async with serve(handler, **kw) as port:  # type: ignore[arg-type]
        return await SmtpProbe().run(Endpoint("127.0.0.1", port), config)


def names(t: Transcript) -> list[str]:
    return [s.name for s in t.steps]


def test_plain_dialogue_multi_line_greeting_and_politeness() -> None:
    log: list[bytes] = []
    greeting = b"220-mx.test ESMTP Postfix (Debian/GNU)\r\n220 no UCE\r\n"
    t = run(probe(hostile.smtp_server(greeting=greeting, log=log)))
    assert t.outcome is Outcome.OK, t.error
    assert t.transport is Transport.PLAIN
    assert t.protocol == "smtp"
    assert names(t) == ["greeting", "ehlo", "help", "quit"]
    g = t.step("greeting")
    assert g is not None and g.received == greeting and g.code == 220
    # EHLO, one HELP, QUIT: nothing that authenticates, sends mail or is unknown to a server
    assert log == [b"EHLO mxcensus.invalid\r\n", b"HELP\r\n", b"QUIT\r\n"]
    help_ = t.step("help")
    assert help_ is not None and help_.code == 500  # any answer will do
    assert t.tls is None


def test_ehlo_name_comes_from_the_config() -> None:
    log: list[bytes] = []
    config = ProbeConfig(ehlo_name="scanner.cert.example", total_timeout=3.0)
    t = run(probe(hostile.smtp_server(log=log), config))
    assert t.outcome is Outcome.OK
    assert log[0] == b"EHLO scanner.cert.example\r\n"


def test_helo_fallback_when_ehlo_is_refused() -> None:
    handler = hostile.smtp_server(ehlo=b"502 5.5.2 EHLO not implemented\r\n")
    t = run(probe(handler))
    assert t.outcome is Outcome.OK
    assert names(t) == ["greeting", "ehlo", "helo", "help", "quit"]
    ehlo = t.step("ehlo")
    assert ehlo is not None and ehlo.code == 502


def test_rejecting_greeting_ends_with_quit() -> None:
    t = run(probe(hostile.smtp_server(greeting=b"554 5.7.1 no service for you\r\n")))
    assert t.outcome is Outcome.OK
    assert names(t) == ["greeting", "quit"]


def test_starttls_upgrade_records_tls_facts(tmp_path: Path) -> None:
    cert = make_cert(tmp_path, "smtp.test.invalid", ("smtp.test.invalid", "127.0.0.1"))
    ctx = hostile.server_tls_context(str(cert.cert), str(cert.key))
    t = run(probe(hostile.starttls_smtp_server(ctx)))
    assert t.outcome is Outcome.OK, t.error
    assert t.transport is Transport.STARTTLS
    assert names(t) == ["greeting", "ehlo", "starttls", "ehlo-tls", "help", "quit"]
    ehlo_tls = t.step("ehlo-tls")
    assert ehlo_tls is not None and b"tls.test secure" in ehlo_tls.received
    assert t.tls is not None and t.tls.version.startswith("TLSv1")
    [leaf] = t.tls.chain
    assert "CN=smtp.test.invalid" in leaf.subject
    assert leaf.sans == ("smtp.test.invalid", "127.0.0.1")
    assert leaf.self_signed
    assert leaf.sha256 == cert.sha256
    assert leaf.serial == format(cert.serial, "x")


def test_implicit_tls_with_sni(tmp_path: Path) -> None:
    cert = make_cert(tmp_path, "smtps.test.invalid")
    ctx = hostile.server_tls_context(str(cert.cert), str(cert.key))
    seen: list[str | None] = []
    ctx.sni_callback = lambda sock, name, c: seen.append(name)  # type: ignore[assignment,misc]

    async def go() -> Transcript:
        async with serve(hostile.smtp_server(), ssl_context=ctx) as port:
            ep = Endpoint("127.0.0.1", port, hostname="smtps.test.invalid", tls=True)
            return await SmtpProbe().run(ep, FAST)

    t = run(go())
    assert t.outcome is Outcome.OK, t.error
    assert t.transport is Transport.TLS
    assert t.protocol == "smtps"
    assert names(t) == ["greeting", "ehlo", "help", "quit"]
    assert seen == ["smtps.test.invalid"]
    assert t.tls is not None and "CN=smtps.test.invalid" in t.tls.chain[0].subject


def test_broken_tls_after_starttls_keeps_greeting_and_ehlo() -> None:
    t = run(probe(hostile.starttls_smtp_server(None, after_220=b"this is not TLS\r\n" * 20)))
    assert t.outcome is Outcome.TLS_ERROR, t.error
    assert t.transport is Transport.STARTTLS
    assert names(t) == ["greeting", "ehlo", "starttls"]
    ehlo = t.step("ehlo")
    assert ehlo is not None and b"STARTTLS" in ehlo.received


def test_silent_server_times_out_waiting_for_the_greeting() -> None:
    t = run(probe(hostile.silent))
    assert t.outcome is Outcome.TIMEOUT
    assert names(t) == ["greeting"]
    assert t.steps[0].received == b""


def test_tarpit_ends_at_the_total_timeout() -> None:
    # one byte every 0.3 s never trips the 1 s read timeout; only the total deadline ends it
    config = ProbeConfig(greeting_timeout=1.0, read_timeout=1.0, total_timeout=2.0)
    t = run(probe(hostile.tarpit(b"220 " + b"x" * 1000 + b"\r\n", 0.3), config))
    assert t.outcome is Outcome.TIMEOUT
    g = t.step("greeting")
    assert g is not None and g.received.startswith(b"220 x")
    assert len(g.received) < 100


def test_refused() -> None:
    t = run(SmtpProbe().run(Endpoint("127.0.0.1", hostile.free_port()), FAST))
    assert t.outcome is Outcome.REFUSED
    assert t.steps == ()


def test_reset_after_greeting_keeps_the_greeting() -> None:
    t = run(probe(hostile.reset_after(b"220 mx.test ESMTP\r\n")))
    assert t.outcome is Outcome.RESET, (t.outcome, t.error)
    assert names(t) == ["greeting", "ehlo"]
    assert t.steps[0].code == 220


def test_closed_after_greeting() -> None:
    t = run(probe(hostile.send_then_close(b"220 mx.test ESMTP\r\n")))
    assert t.outcome is Outcome.CLOSED
    assert names(t) == ["greeting", "ehlo"]


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\n\r\n<html></html>",
        b"\x00\xff\xfe\x16\x03garbage\x80\x81",
        b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
    ],
)
def test_not_smtp_is_a_protocol_error_with_the_bytes_kept(data: bytes) -> None:
    t = run(probe(hostile.send_then_close(data)))
    assert t.outcome is Outcome.PROTOCOL_ERROR, (t.outcome, t.error)
    g = t.step("greeting")
    assert g is not None and data.startswith(g.received) and g.received


def test_html_and_ansi_banner_is_kept_raw() -> None:
    banner = b"220 <h1>mx</h1><script>alert(1)</script> \x1b[2J\x1b[31mESMTP\r\n"
    t = run(probe(hostile.smtp_server(greeting=banner)))
    assert t.outcome is Outcome.OK
    g = t.step("greeting")
    assert g is not None and g.received == banner


def test_ten_megabyte_banner_is_cut_at_the_bound_with_bounded_memory() -> None:
    config = ProbeConfig(
        greeting_timeout=5.0, read_timeout=5.0, total_timeout=20.0, max_reply_bytes=64 * 1024
    )
    tracemalloc.start()
    try:
        t = run(probe(hostile.giant(b"220 ", 10 * 1024 * 1024), config))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert t.outcome is Outcome.TOO_LARGE
    g = t.step("greeting")
    assert g is not None and g.truncated
    assert len(g.received) == config.max_reply_bytes
    assert g.received.startswith(b"220 AAAA")
    assert peak < 4 * 1024 * 1024, peak  # a tenth of what reading it all would take


def test_starttls_refused_stays_plain_and_ends_ok() -> None:
    handler = hostile.smtp_server(
        ehlo=b"250-mx.test\r\n250 STARTTLS\r\n",
        answers={b"STARTTLS": b"454 4.7.0 TLS not available due to local problem\r\n"},
    )
    t = run(probe(handler))
    assert t.outcome is Outcome.OK
    assert t.transport is Transport.PLAIN
    assert names(t) == ["greeting", "ehlo", "starttls", "help", "quit"]
    assert t.tls is None


def test_greet_pause_server_is_waited_for() -> None:
    # a greet-pause server speaks only after a delay; the greeting timeout covers it
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(1.0)  # longer than the read timeout below
        await hostile.smtp_server()(reader, writer)

    t = run(probe(handler, ProbeConfig(greeting_timeout=3.0, read_timeout=0.5, total_timeout=5)))
    assert t.outcome is Outcome.OK, t.error


def test_default_greeting_timeout_allows_greet_pause() -> None:
    assert ProbeConfig().greeting_timeout >= 6


def test_silent_tls_handshake_after_starttls_times_out_with_steps_kept() -> None:
    t = run(probe(hostile.starttls_smtp_server(None, after_220=b"")))
    assert t.outcome is Outcome.TIMEOUT, (t.outcome, t.error)
    assert t.transport is Transport.STARTTLS
    assert names(t) == ["greeting", "ehlo", "starttls"]


def test_closed_without_a_word() -> None:
    t = run(probe(hostile.send_then_close(b"")))
    assert t.outcome is Outcome.CLOSED
    assert names(t) == ["greeting"] and t.steps[0].received == b""


def test_postscreen_style_pause_inside_a_multi_line_greeting() -> None:
    # Postfix postscreen sends "220-", waits, then "220 ": the whole greeting gets the
    # greeting timeout, not the shorter read timeout
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220-mx.test ESMTP Postfix\r\n")
        await writer.drain()
        await asyncio.sleep(1.0)
        await hostile.smtp_server(greeting=b"220 mx.test ESMTP Postfix\r\n")(reader, writer)

    config = ProbeConfig(greeting_timeout=3.0, read_timeout=0.5, total_timeout=5)
    t = run(probe(handler, config))
    assert t.outcome is Outcome.OK, t.error
    g = t.step("greeting")
    assert g is not None
    assert g.received == b"220-mx.test ESMTP Postfix\r\n220 mx.test ESMTP Postfix\r\n"


def test_greet_pause_longer_than_the_connect_timeout() -> None:
    # the connection's one timer is first armed for the connect deadline; when it fires
    # during the greeting wait it must sleep again until the greeting deadline
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.8)
        await hostile.smtp_server()(reader, writer)

    config = ProbeConfig(
        connect_timeout=0.2, greeting_timeout=3.0, read_timeout=0.5, total_timeout=5
    )
    t = run(probe(handler, config))
    assert t.outcome is Outcome.OK, t.error
    assert names(t) == ["greeting", "ehlo", "help", "quit"]


def test_silence_after_a_prompt_greeting_times_out_on_the_read_deadline() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mx.test ESMTP\r\n")
        await writer.drain()
        await asyncio.sleep(3600)

    config = ProbeConfig(
        connect_timeout=0.2, greeting_timeout=3.0, read_timeout=0.5, total_timeout=3600
    )
    # were the read deadline lost, only the test timeout would end this
    t = run(probe(handler, config))
    assert t.outcome is Outcome.TIMEOUT, (t.outcome, t.error)
    assert names(t) == ["greeting", "ehlo"]


def test_connect_that_never_completes_is_a_connect_timeout() -> None:
    # a listener whose accept queue is full drops further SYNs: connect() hangs
    async def main() -> Transcript:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(0)
            port = listener.getsockname()[1]
            fillers = []
            try:
                for _ in range(4):
                    s = socket.socket()
                    s.setblocking(False)
                    fillers.append(s)
                    s.connect_ex(("127.0.0.1", port))  # EINPROGRESS
                await asyncio.sleep(0.2)
                config = ProbeConfig(connect_timeout=0.5, total_timeout=5)
                return await SmtpProbe().run(Endpoint("127.0.0.1", port), config)
            finally:
                for s in fillers:
                    s.close()

    t = run(main())
    assert t.outcome is Outcome.CONNECT_TIMEOUT, (t.outcome, t.error)
    assert t.steps == ()


@pytest.mark.parametrize(
    ("after_help", "outcome"),
    [("close", Outcome.OK), ("silence", Outcome.OK), ("reset", Outcome.OK)],
)
def test_a_server_that_hangs_up_on_help_ends_the_dialogue_complete(
    after_help: str, outcome: Outcome
) -> None:
    """HELP is a courtesy: a server that closes, resets or stays silent instead of answering
    it ends the dialogue there, with the greeting and EHLO kept and no QUIT sent."""
    log: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mx.test ESMTP\r\n")
        await writer.drain()
        for _ in range(5):
            line = await hostile.read_command(reader)
            log.append(line)
            if line.startswith(b"HELP"):
                if after_help == "silence":
                    await asyncio.sleep(3600)
                if after_help == "reset":
                    writer.transport.abort()
                writer.close()
                return
            writer.write(b"250-mx.test\r\n250 PIPELINING\r\n")
            await writer.drain()

    t = run(probe(handler))
    assert t.outcome is outcome, (t.outcome, t.error)
    assert names(t) == ["greeting", "ehlo", "help"]
    assert log == [b"EHLO mxcensus.invalid\r\n", b"HELP\r\n"]

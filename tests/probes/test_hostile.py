"""Every line probe against the same hostile servers: one outcome each, never a raise."""

from __future__ import annotations

import asyncio

import pytest

from mxcensus.model import Outcome, Transcript
from mxcensus.probes import PROBES
from mxcensus.probes.interface import Endpoint, ProbeConfig
from tests.probes import hostile
from tests.probes.hostile import run, serve

FAST = ProbeConfig(greeting_timeout=1.0, read_timeout=1.0, total_timeout=3.0)
LINE_PROBES = ["smtp", "imap", "pop3", "managesieve"]


async def probe(name: str, handler: hostile.Handler, config: ProbeConfig = FAST) -> Transcript:
    async with serve(handler) as port:
        return await PROBES[name].run(Endpoint("127.0.0.1", port, tls=False), config)


@pytest.mark.parametrize("name", LINE_PROBES)
def test_silent(name: str) -> None:
    t = run(probe(name, hostile.silent))
    assert t.outcome is Outcome.TIMEOUT
    assert [s.name for s in t.steps] == ["greeting"]


@pytest.mark.parametrize("name", LINE_PROBES)
def test_refused(name: str) -> None:
    t = run(PROBES[name].run(Endpoint("127.0.0.1", hostile.free_port()), FAST))
    assert t.outcome is Outcome.REFUSED and t.steps == ()


@pytest.mark.parametrize("name", LINE_PROBES)
def test_http_server_is_a_protocol_error(name: str) -> None:
    data = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
    t = run(probe(name, hostile.send_then_close(data)))
    assert t.outcome is Outcome.PROTOCOL_ERROR, (t.outcome, t.error)
    assert t.steps[0].received.startswith(b"HTTP/1.1")


@pytest.mark.parametrize("name", LINE_PROBES)
def test_binary_garbage_is_a_protocol_error(name: str) -> None:
    t = run(probe(name, hostile.send_then_close(bytes(range(256)) * 4)))
    assert t.outcome is Outcome.PROTOCOL_ERROR, (t.outcome, t.error)


@pytest.mark.parametrize(
    ("name", "prefix"),
    [("smtp", b"220 "), ("imap", b"* OK "), ("pop3", b"+OK "), ("managesieve", b'"SIEVE" "')],
)
def test_giant_banner_is_too_large(name: str, prefix: bytes) -> None:
    config = ProbeConfig(greeting_timeout=5.0, read_timeout=5.0, total_timeout=20.0)
    t = run(probe(name, hostile.giant(prefix, 10 * 1024 * 1024), config))
    assert t.outcome is Outcome.TOO_LARGE
    g = t.steps[0]
    assert g.truncated and len(g.received) == config.max_reply_bytes
    assert g.received.startswith(prefix)


@pytest.mark.parametrize(
    ("name", "banner"),
    [
        ("smtp", b"220 x\r\n"),
        ("imap", b"* OK x\r\n"),
        ("pop3", b"+OK x\r\n"),
        ("managesieve", b'"STARTTLS"\r\nOK\r\n'),
    ],
)
def test_reset_after_greeting(name: str, banner: bytes) -> None:
    t = run(probe(name, hostile.reset_after(banner)))
    assert t.outcome is Outcome.RESET, (t.outcome, t.error)
    assert t.steps[0].received == banner
    assert len(t.steps) == 2


@pytest.mark.parametrize(
    ("name", "banner"),
    [("smtp", b"220 "), ("imap", b"* OK "), ("pop3", b"+OK "), ("managesieve", b'"SASL" "')],
)
def test_tarpit_ends_at_the_total_timeout(name: str, banner: bytes) -> None:
    config = ProbeConfig(greeting_timeout=1.0, read_timeout=1.0, total_timeout=2.0)
    t = run(probe(name, hostile.tarpit(banner + b"y" * 500 + b"\r\n", 0.3), config))
    assert t.outcome is Outcome.TIMEOUT
    assert 0 < len(t.steps[0].received) < 100


def test_imap_tagged_greeting_is_a_protocol_error() -> None:
    t = run(probe("imap", hostile.send_then_close(b"a1 OK hello\r\n")))
    assert t.outcome is Outcome.PROTOCOL_ERROR


def test_imap_bye_greeting_ends_politely() -> None:
    t = run(probe("imap", hostile.send_then_close(b"* BYE too many connections\r\n")))
    assert t.outcome is Outcome.OK
    assert [s.name for s in t.steps] == ["greeting"]


def test_pop3_err_greeting_then_quit() -> None:
    log: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"-ERR [SYS/TEMP] overloaded\r\n")
        log.append(await reader.readline())
        writer.write(b"+OK bye\r\n")
        await writer.drain()

    t = run(probe("pop3", handler))
    assert t.outcome is Outcome.OK
    assert [s.name for s in t.steps] == ["greeting", "quit"]
    assert log == [b"QUIT\r\n"]


def test_imap_broken_tls_after_starttls_keeps_the_capabilities() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n")
        assert (await reader.readline()).startswith(b"a1 CAPABILITY")
        writer.write(b"* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK done\r\n")
        assert (await reader.readline()).startswith(b"a2 STARTTLS")
        writer.write(b"a2 OK Begin TLS\r\n")
        await reader.read(1)
        writer.write(b"* BYE not really TLS\r\n")
        await writer.drain()

    t = run(probe("imap", handler))
    assert t.outcome is Outcome.TLS_ERROR, (t.outcome, t.error)
    assert [s.name for s in t.steps] == ["greeting", "capability", "starttls"]


@pytest.mark.parametrize("name", [*LINE_PROBES, "owa"])
def test_cancelled_probe_closes_its_connection(name: str) -> None:
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client closes (an HTTP request is read through)
        closed.set()

    async def go() -> None:
        async with serve(handler) as port:
            task = asyncio.create_task(
                PROBES[name].run(Endpoint("127.0.0.1", port, tls=False), FAST)
            )
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.wait_for(closed.wait(), 5)

    run(go())

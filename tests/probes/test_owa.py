"""The OWA probe against in-test HTTP(S) servers shaped like Exchange front ends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mxcensus.model import Outcome, Transcript, Transport
from mxcensus.probes.interface import Endpoint, ProbeConfig
from mxcensus.probes.owa import PATHS, REDIRECT_STEP, OwaProbe
from tests.certs import make_cert
from tests.probes import hostile
from tests.probes.hostile import run, serve

FAST = ProbeConfig(greeting_timeout=1.0, read_timeout=1.0, total_timeout=5.0)
ECP = PATHS[2]
LOGON = (
    b"<!DOCTYPE html><html><head><title>Outlook</title>"
    b'<link rel="shortcut icon" href="/owa/auth/15.1.2375/themes/resources/favicon.ico">'
    b"</head><body>sign in</body></html>"
)
MANIFEST = (
    b'<?xml version="1.0" encoding="utf-8"?><asmv1:assembly><assemblyIdentity '
    b'name="microsoft.exchange.ediscovery.exporttool.application" version="15.1.2375.7" />'
    b"</asmv1:assembly>"
)


def response(status: bytes, headers: list[bytes], body: bytes, close: bool = False) -> bytes:
    head = [b"HTTP/1.1 " + status, *headers, b"Content-Length: %d" % len(body)]
    if close:
        head.append(b"Connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def exchange_site(
    requests: list[tuple[bytes, dict[bytes, bytes]]],
    connections: list[int],
    *,
    close: bool = False,
    location: bytes = b"https://mail.contoso.example:PORT/owa/auth/logon.aspx?url=x&reason=0",
) -> hostile.Handler:
    """An Exchange-like site: /owa/ redirects, logon.aspx carries the build, ECP a manifest.
    ``PORT`` in ``location`` becomes the server's own port."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        port = writer.get_extra_info("sockname")[1]
        here = location.replace(b"PORT", str(port).encode())
        for _ in range(10):
            head = await reader.readuntil(b"\r\n\r\n")
            line, *rest = head.split(b"\r\n")
            fields = dict(h.split(b": ", 1) for h in rest if h)
            target = line.split(b" ")[1]
            requests.append((target, fields))
            path = target.split(b"?")[0]
            if path == b"/owa/":
                out = response(b"302 Found", [b"Location: " + here], b"", close)
            elif path == b"/owa/auth/logon.aspx":
                out = response(
                    b"200 OK",
                    [
                        b"Cache-Control: no-cache",
                        b"X-OWA-Version: 15.1.2375.7",
                        b"X-FEServer: EX01",
                    ],
                    LOGON,
                    close,
                )
            elif path == ECP.encode():
                out = response(
                    b"200 OK", [b"Content-Type: application/x-ms-application"], MANIFEST, close
                )
            else:
                out = response(
                    b"401 Unauthorized",
                    [
                        b"WWW-Authenticate: Negotiate",
                        b"WWW-Authenticate: NTLM",
                        b"X-Powered-By: ASP.NET",
                    ],
                    b"",
                    close,
                )
            writer.write(out)
            await writer.drain()
            if close:
                return

    return handler


def names(t: Transcript) -> list[str]:
    return [s.name for s in t.steps]


def test_https_exchange_front_end(tmp_path: Path) -> None:
    cert = make_cert(tmp_path, "mail.contoso.example")
    ctx = hostile.server_tls_context(str(cert.cert), str(cert.key))
    requests: list[tuple[bytes, dict[bytes, bytes]]] = []
    connections: list[int] = []
    config = ProbeConfig(user_agent="mxcensus-test/1 (+https://cert.example/scan)", total_timeout=5)

    async def go() -> Transcript:
        async with serve(exchange_site(requests, connections), ssl_context=ctx) as port:
            ep = Endpoint("127.0.0.1", port, hostname="mail.contoso.example", tls=True)
            return await OwaProbe().run(ep, config)

    t = run(go())
    assert t.outcome is Outcome.OK, t.error
    assert t.protocol == "https" and t.transport is Transport.TLS
    assert names(t) == ["GET /owa/", REDIRECT_STEP, *("GET " + p for p in PATHS[1:])]
    assert [s.code for s in t.steps] == [302, 200, 200, 200, 401, 401]
    logon = t.step("GET /owa/auth/logon.aspx")
    assert logon is not None and logon.received == LOGON
    assert logon.headers[:3] == (
        ("Cache-Control", "no-cache"),
        ("X-OWA-Version", "15.1.2375.7"),
        ("X-FEServer", "EX01"),
    )
    ews = t.step("GET /EWS/Exchange.asmx")
    assert ews is not None
    assert [v for k, v in ews.headers if k == "WWW-Authenticate"] == ["Negotiate", "NTLM"]
    ecp = t.step("GET " + ECP)
    assert ecp is not None and b'version="15.1.2375.7"' in ecp.received
    assert requests[1][0] == b"/owa/auth/logon.aspx?url=x&reason=0"
    assert all(r[1][b"User-Agent"] == config.user_agent.encode() for r in requests)
    assert {r[1][b"Host"] for r in requests} == {b"mail.contoso.example:%d" % t.port}
    assert connections == [1]  # keep-alive: one connection for all six requests
    assert t.tls is not None and "CN=mail.contoso.example" in t.tls.chain[0].subject


def test_plain_http_reconnects_when_the_server_closes() -> None:
    requests: list[tuple[bytes, dict[bytes, bytes]]] = []
    connections: list[int] = []

    async def go() -> Transcript:
        handler = exchange_site(requests, connections, close=True, location=b"/owa/auth/logon.aspx")
        async with serve(handler) as port:
            return await OwaProbe().run(Endpoint("127.0.0.1", port, tls=False), FAST)

    t = run(go())
    assert t.outcome is Outcome.OK, t.error
    assert t.protocol == "http" and t.transport is Transport.PLAIN
    assert len(t.steps) == 6 and len(connections) == 6
    assert requests[0][1][b"Host"] == b"127.0.0.1:%d" % t.port


def test_redirect_to_another_port_or_scheme_is_not_followed() -> None:
    requests: list[tuple[bytes, dict[bytes, bytes]]] = []

    async def go() -> Transcript:
        handler = exchange_site(requests, [], location=b"https://mail.contoso.example/owa/")
        async with serve(handler) as port:
            return await OwaProbe().run(Endpoint("127.0.0.1", port, tls=False), FAST)

    t = run(go())
    assert t.outcome is Outcome.OK
    assert REDIRECT_STEP not in names(t)
    assert len(requests) == len(PATHS)


def test_body_is_bounded_not_rejected() -> None:
    big = b"<html>" + b"x" * 100_000

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(10):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(response(b"200 OK", [], big))
            await writer.drain()

    async def go() -> Transcript:
        async with serve(handler) as port:
            config = ProbeConfig(max_body_bytes=1000, total_timeout=5)
            return await OwaProbe().run(Endpoint("127.0.0.1", port, tls=False), config)

    t = run(go())
    assert t.outcome is Outcome.OK, t.error
    assert all(s.truncated and s.received == big[:1000] for s in t.steps)


@pytest.mark.parametrize(
    ("data", "outcome"),
    [
        (b"220 mx.test ESMTP Exim 4.96\r\n", Outcome.PROTOCOL_ERROR),
        (b"\x15\x03\x03\x00\x02\x02\x46", Outcome.PROTOCOL_ERROR),
        (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000, Outcome.TOO_LARGE),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", Outcome.CLOSED),
        (b"", Outcome.CLOSED),
    ],
)
def test_broken_http(data: bytes, outcome: Outcome) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(data)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def go() -> Transcript:
        async with serve(handler) as port:
            return await OwaProbe().run(Endpoint("127.0.0.1", port, tls=False), FAST)

    t = run(go())
    assert t.outcome is outcome, (t.outcome, t.error)
    assert names(t) == ["GET /owa/"]
    step = t.steps[0]
    if step.code is None:  # no response head: the raw bytes are kept, bounded
        assert data.startswith(step.received)
        assert len(step.received) <= FAST.max_reply_bytes
        assert step.truncated == (len(data) > FAST.max_reply_bytes)


def test_silent_and_refused() -> None:
    async def go() -> Transcript:
        async with serve(hostile.silent) as port:
            return await OwaProbe().run(Endpoint("127.0.0.1", port, tls=False), FAST)

    assert run(go()).outcome is Outcome.TIMEOUT
    t = run(OwaProbe().run(Endpoint("127.0.0.1", hostile.free_port(), tls=True), FAST))
    assert t.outcome is Outcome.REFUSED


def test_tls_garbage_on_443_is_a_tls_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()

    async def go() -> Transcript:
        async with serve(handler) as port:
            return await OwaProbe().run(Endpoint("127.0.0.1", port, tls=True), FAST)

    t = run(go())
    assert t.outcome is Outcome.TLS_ERROR, (t.outcome, t.error)
    assert t.steps == ()

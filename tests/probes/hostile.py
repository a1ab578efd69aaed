"""In-test servers on 127.0.0.1 ephemeral ports, each a small asyncio handler.

``serve(handler)`` runs a handler per connection in the test's own event loop and cancels
whatever is still running when the block ends. The handlers below are the misbehaving
servers a scanner meets: silent, tarpit, reset, garbage, giant banner, broken TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a test coroutine on a fresh loop (uvloop, as the engine does)."""
    import uvloop

    return uvloop.run(coro)


@contextlib.asynccontextmanager
async def serve(
    handler: Handler, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[int]:
    tasks: set[asyncio.Task[None]] = set()

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)  # type: ignore[arg-type]
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            return  # the test is over
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0, ssl=ssl_context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def read_command(reader: asyncio.StreamReader) -> bytes:
    return await reader.readline()


def smtp_server(
    greeting: bytes = b"220 mx.test ESMTP ready\r\n",
    ehlo: bytes = b"250-mx.test\r\n250 PIPELINING\r\n",
    answers: dict[bytes, bytes] | None = None,
    log: list[bytes] | None = None,
) -> Handler:
    """A scripted SMTP server: the greeting, then one answer per command verb."""
    table = {b"EHLO": ehlo, b"QUIT": b"221 bye\r\n", b"HELO": b"250 mx.test\r\n"}
    table.update(answers or {})

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        await writer.drain()
        for _ in range(20):
            line = await read_command(reader)
            if not line:
                return
            if log is not None:
                log.append(line)
            verb = line.split(b" ", 1)[0].strip().upper()
            writer.write(table.get(verb, b"500 unrecognized command\r\n"))
            await writer.drain()
            if verb == b"QUIT":
                return

    return handler


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)


def tarpit(data: bytes, interval: float) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for i in range(len(data)):
            writer.write(data[i : i + 1])
            await writer.drain()
            await asyncio.sleep(interval)
        await asyncio.sleep(3600)

    return handler


def reset_after(data: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        await asyncio.sleep(0.05)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    return handler


def send_then_close(data: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        writer.close()

    return handler


def giant(prefix: bytes, total: int, chunk: bytes = b"A" * 65536) -> Handler:
    """``prefix`` then ``total`` bytes without a line end, written a chunk at a time."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(prefix)
        sent = 0
        while sent < total:
            writer.write(chunk)
            sent += len(chunk)
            await writer.drain()
        await asyncio.sleep(3600)

    return handler


def server_tls_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def starttls_smtp_server(ctx: ssl.SSLContext | None, *, after_220: bytes = b"") -> Handler:
    """An SMTP server offering STARTTLS: with ``ctx`` it really upgrades; otherwise it
    sends ``after_220`` (garbage) where the TLS handshake should be."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 tls.test ESMTP\r\n")
        tls = False
        for _ in range(20):
            line = await reader.readline()
            if not line:
                return
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb == b"EHLO":
                ext = b"" if tls else b"250-STARTTLS\r\n"
                name = b"tls.test secure" if tls else b"tls.test"
                writer.write(b"250-" + name + b"\r\n" + ext + b"250 8BITMIME\r\n")
            elif verb == b"STARTTLS":
                writer.write(b"220 go ahead\r\n")
                await writer.drain()
                if ctx is None:
                    await reader.read(1)  # the client's handshake has begun
                    writer.write(after_220)
                    await writer.drain()
                    await asyncio.sleep(3600)
                await writer.start_tls(ctx)
                tls = True
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                return
            else:
                writer.write(b"500 no\r\n")
            await writer.drain()

    return handler

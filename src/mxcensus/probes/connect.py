"""The I/O seam of the probes: a :class:`Connector` opens a :class:`Stream`.

Probes never touch sockets themselves: they ask a connector for a stream, read what the
server sent with a deadline, write commands and upgrade to TLS. The default
:class:`AsyncioConnector` runs on whatever loop is current (uvloop in the engine) with
``loop.create_connection`` and a small buffering protocol, and ``loop.start_tls`` for both
STARTTLS and implicit TLS (the TCP connection is made first, so a refused port and a failed
handshake stay distinct). Tests can pass a connector that replays a recorded dialogue.

Deadlines are absolute ``loop.time()`` values, so one total deadline bounds a whole
dialogue however the server trickles its bytes. A stream signals:

- ``read()`` returning ``b""``: the server closed the connection;
- :class:`ConnectTimeout`, :class:`ReadTimeout`: a deadline passed;
- :class:`TlsFailure`: the handshake failed;
- ``OSError`` (``ConnectionRefusedError``, ``ConnectionResetError`` …): from the system.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Protocol

from mxcensus.model import TlsInfo
from mxcensus.probes.tls import tls_facts

_HIGH_WATER = 64 * 1024  # pause reading past this many unread bytes: memory stays bounded


class ConnectTimeout(Exception):
    """The TCP connection was not established before its deadline."""


class ReadTimeout(Exception):
    """The server sent nothing (or did not finish a handshake) before the deadline."""


class TlsFailure(Exception):
    """The TLS handshake failed."""


class Stream(Protocol):
    async def read(self, deadline: float) -> bytes:
        """Bytes the server sent (at least one), or ``b""`` once it closed."""
        ...

    def write(self, data: bytes) -> None: ...

    async def start_tls(
        self, context: ssl.SSLContext, server_hostname: str | None, deadline: float
    ) -> TlsInfo:
        """Upgrade to TLS (no verification) and return the session's facts."""
        ...

    def close(self) -> None: ...


class Connector(Protocol):
    async def connect(self, ip: str, port: int, deadline: float) -> Stream: ...


class _Buffer(asyncio.Protocol):
    """Collects received bytes; wakes one waiting reader; pauses the socket when full."""

    __slots__ = ("buf", "eof", "exc", "paused", "transport", "waiter")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future[None] | None = None
        self.eof = False
        self.exc: BaseException | None = None
        self.paused = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.exc = exc
        self._wake()

    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)


def _expire(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_exception(ReadTimeout("no data before the deadline"))


class AsyncioStream:
    """A :class:`Stream` over an asyncio transport."""

    __slots__ = ("_loop", "_proto", "_tls", "_transport")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, transport: asyncio.Transport, proto: _Buffer
    ) -> None:
        self._loop = loop
        self._transport = transport
        self._proto = proto
        self._tls = False

    async def read(self, deadline: float) -> bytes:
        p = self._proto
        if not p.buf and not p.eof:
            fut: asyncio.Future[None] = self._loop.create_future()
            p.waiter = fut
            handle = self._loop.call_at(deadline, _expire, fut)
            try:
                await fut
            finally:
                handle.cancel()
                p.waiter = None
        if p.buf:
            data = bytes(p.buf)
            p.buf.clear()
            if p.paused:
                p.paused = False
                self._transport.resume_reading()
            return data
        if p.exc is not None:
            raise p.exc
        return b""

    def write(self, data: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(data)

    async def start_tls(
        self, context: ssl.SSLContext, server_hostname: str | None, deadline: float
    ) -> TlsInfo:
        loop = self._loop
        p = self._proto
        p.buf.clear()  # bytes sent before the handshake must not be taken for TLS data
        remaining = max(deadline - loop.time(), 0.001)
        try:
            async with asyncio.timeout_at(deadline):
                transport = await loop.start_tls(
                    self._transport,
                    p,
                    context,
                    server_hostname=server_hostname or None,
                    ssl_handshake_timeout=remaining + 1.0,
                )
        except TimeoutError as exc:
            self._transport.abort()
            raise ReadTimeout("TLS handshake did not finish before the deadline") from exc
        except (ssl.SSLError, OSError, EOFError) as exc:
            self._transport.abort()
            raise TlsFailure(str(exc) or type(exc).__name__) from exc
        if transport is None:
            raise TlsFailure("the connection closed during the TLS handshake")
        self._transport = transport
        p.transport = transport
        p.eof = False
        self._tls = True
        return tls_facts(transport.get_extra_info("ssl_object"))

    def close(self) -> None:
        if self._tls:
            self._transport.abort()  # no close_notify wait: the dialogue is over
        else:
            self._transport.close()


class AsyncioConnector:
    """The default connector: ``loop.create_connection`` on the running loop."""

    async def connect(self, ip: str, port: int, deadline: float) -> Stream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(deadline):
                transport, proto = await loop.create_connection(_Buffer, ip, port)
        except TimeoutError as exc:
            raise ConnectTimeout(f"no connection to {ip}:{port} before the deadline") from exc
        return AsyncioStream(loop, transport, proto)


DEFAULT_CONNECTOR = AsyncioConnector()

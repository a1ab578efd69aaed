"""The I/O seam of the probes: a :class:`Connector` opens a :class:`Stream`.

Probes never touch sockets themselves: they ask a connector for a stream, read what the
server sent with a deadline, write commands and upgrade to TLS. The default
:class:`AsyncioConnector` runs on whatever loop is current (uvloop in the engine) with
``loop.create_connection`` (numeric addresses: no resolver) and a lean protocol, and
``loop.start_tls`` for both STARTTLS and implicit TLS (the TCP connection is made first, so
a refused port and a failed handshake stay distinct). Tests can pass a connector that
replays a recorded dialogue.

The default stream is built for the per-session CPU of a scan: ``read()`` is a plain future
that ``data_received`` resolves with the bytes themselves (no coroutine, copy or extra
buffer when the reader is already waiting), and one deadline timer per connection, re-armed
lazily, serves the connect and every read instead of an ``asyncio.timeout`` or a timer per
read.

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
from collections.abc import Awaitable
from typing import Protocol

from mxcensus.model import TlsInfo
from mxcensus.probes.tls import tls_facts

_HIGH_WATER = 64 * 1024  # pause reading past this many unread bytes: memory stays bounded
_SLACK = 0.001  # a timer firing this close to its deadline counts as expired


class ConnectTimeout(Exception):
    """The TCP connection was not established before its deadline."""


class ReadTimeout(Exception):
    """The server sent nothing (or did not finish a handshake) before the deadline."""


class TlsFailure(Exception):
    """The TLS handshake failed."""


class Stream(Protocol):
    def read(self, deadline: float) -> Awaitable[bytes]:
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
    """Hands received bytes to the waiting reader's future, or keeps them until the next
    read; pauses the socket when too much is kept.

    It also keeps the connection's one deadline timer: a wait sets ``deadline`` and the
    timer is only re-armed when the new deadline is earlier than the armed one; a timer
    that fires before the current deadline sleeps again. The successive waits of a
    dialogue (connect, greeting, each reply) usually cost one ``call_at`` in all.
    """

    __slots__ = (
        "chunks",
        "deadline",
        "eof",
        "exc",
        "loop",
        "paused",
        "size",
        "task",
        "timed_out",
        "timer",
        "timer_at",
        "transport",
        "waiter",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.chunks: list[bytes] = []
        self.size = 0  # bytes in chunks
        self.waiter: asyncio.Future[bytes] | None = None
        self.eof = False
        self.exc: BaseException | None = None
        self.paused = False
        self.transport: asyncio.Transport | None = None
        self.deadline = 0.0  # of the current wait
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.task: asyncio.Task[object] | None = None  # cancelled if connecting times out
        self.timed_out = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        w = self.waiter
        if w is not None:
            self.waiter = None
            if not w.done():  # else the reader was cancelled: keep the bytes
                w.set_result(data)
                return
        self.chunks.append(data)
        self.size += len(data)
        if self.size > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.eof = True
        self._end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.exc = exc
        self._end()

    def _end(self) -> None:
        w = self.waiter
        if w is not None:
            self.waiter = None
            if not w.done():
                if self.exc is not None:
                    w.set_exception(self.exc)
                else:
                    w.set_result(b"")

    def arm(self, deadline: float) -> None:
        """Make the current wait end at ``deadline``."""
        self.deadline = deadline
        timer = self.timer
        if timer is None or self.timer_at > deadline:
            if timer is not None:
                timer.cancel()
            self.timer = self.loop.call_at(deadline, self._on_timer)
            self.timer_at = deadline

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _on_timer(self) -> None:
        self.timer = None
        if self.deadline - self.loop.time() > _SLACK:  # the wait moved on: sleep again
            self.timer = self.loop.call_at(self.deadline, self._on_timer)
            self.timer_at = self.deadline
            return
        if self.task is not None:  # still connecting
            self.timed_out = True
            self.task.cancel()
        w = self.waiter
        if w is not None:
            self.waiter = None
            if not w.done():
                w.set_exception(ReadTimeout("no data before the deadline"))


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

    def read(self, deadline: float) -> Awaitable[bytes]:
        # a plain future, resolved by the protocol with the bytes themselves
        p = self._proto
        fut: asyncio.Future[bytes] = self._loop.create_future()
        chunks = p.chunks
        if chunks:
            fut.set_result(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            chunks.clear()
            p.size = 0
            if p.paused:
                p.paused = False
                self._transport.resume_reading()
        elif not p.eof:
            p.waiter = fut
            p.arm(deadline)
        elif p.exc is not None:
            fut.set_exception(p.exc)
        else:
            fut.set_result(b"")
        return fut

    def write(self, data: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(data)

    async def start_tls(
        self, context: ssl.SSLContext, server_hostname: str | None, deadline: float
    ) -> TlsInfo:
        loop = self._loop
        p = self._proto
        p.chunks.clear()  # bytes sent before the handshake must not be taken for TLS data
        p.size = 0
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
        self._proto.disarm()
        if self._tls:
            self._transport.abort()  # no close_notify wait: the dialogue is over
        else:
            self._transport.close()


class AsyncioConnector:
    """The default connector: ``loop.create_connection`` on the running loop."""

    async def connect(self, ip: str, port: int, deadline: float) -> Stream:
        # ``ip`` is numeric, so no resolver runs; the deadline is the protocol's timer (which
        # then serves the reads too) rather than an ``asyncio.timeout`` of its own
        loop = asyncio.get_running_loop()
        proto = _Buffer(loop)
        task = proto.task = asyncio.current_task(loop)
        proto.arm(deadline)
        try:
            transport, _ = await loop.create_connection(lambda: proto, ip, port)
        except asyncio.CancelledError:
            proto.disarm()
            if proto.timed_out and task is not None and task.uncancel() == 0:
                raise ConnectTimeout(f"no connection to {ip}:{port} before the deadline") from None
            raise
        except BaseException:
            proto.disarm()
            raise
        finally:
            proto.task = None
        return AsyncioStream(loop, transport, proto)


DEFAULT_CONNECTOR = AsyncioConnector()

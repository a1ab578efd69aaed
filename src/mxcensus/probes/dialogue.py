"""What the line-protocol probes share: one connection, its deadlines, its steps, and the
mapping of every failure to exactly one :class:`~mxcensus.model.Outcome`.

A probe drives a :class:`Dialogue`: ``open()``, then ``exchange()`` per step (write a command,
read until the framer returns a message), ``start_tls()``, and finally ``transcript()``. Any
failure raises :class:`Ended` carrying its outcome; the step that failed is recorded with the
bytes received so far (bounded), so what was gathered before a failure is kept. Nothing the
server does makes a probe raise.

Deadlines: connecting has ``connect_timeout``; the greeting ``greeting_timeout`` (greet-pause
servers wait several seconds); every later read ``read_timeout``; and all of it together
``total_timeout`` — a tarpit that trickles one byte at a time ends there.
"""

from __future__ import annotations

import asyncio
import errno
import ssl
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from mxcensus.model import Outcome, Step, TlsInfo, Transcript, Transport
from mxcensus.probes.connect import (
    DEFAULT_CONNECTOR,
    Connector,
    ConnectTimeout,
    ReadTimeout,
    Stream,
    TlsFailure,
)
from mxcensus.probes.interface import Endpoint, ProbeConfig, ProtocolSpec
from mxcensus.probes.tls import shared_context
from mxcensus.wire import Framed, FramingError, TooLarge

M = TypeVar("M")

_UNREACHABLE = frozenset(
    {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN, errno.EADDRNOTAVAIL}
)


class Ended(Exception):
    """The dialogue cannot go on; ``outcome`` says why."""

    def __init__(self, outcome: Outcome, error: str) -> None:
        super().__init__(error)
        self.outcome = outcome
        self.error = error


class Closed(Exception):
    """The server closed the connection in the middle of a reply."""


def classify(exc: BaseException, *, connecting: bool = False) -> tuple[Outcome, str]:
    """The outcome for an exception raised while talking to a server."""
    if isinstance(exc, Ended):
        return exc.outcome, exc.error
    if isinstance(exc, ConnectTimeout):
        return Outcome.CONNECT_TIMEOUT, str(exc)
    if isinstance(exc, ReadTimeout):
        return Outcome.TIMEOUT, str(exc)
    if isinstance(exc, TimeoutError):
        return (Outcome.CONNECT_TIMEOUT if connecting else Outcome.TIMEOUT), "timed out"
    if isinstance(exc, TooLarge):
        return Outcome.TOO_LARGE, str(exc)
    if isinstance(exc, FramingError):
        return Outcome.PROTOCOL_ERROR, str(exc)
    if isinstance(exc, TlsFailure | ssl.SSLError):
        return Outcome.TLS_ERROR, str(exc)
    if isinstance(exc, Closed):
        return Outcome.CLOSED, str(exc) or "the server closed the connection"
    if isinstance(exc, ConnectionRefusedError):
        return Outcome.REFUSED, "connection refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return Outcome.RESET, str(exc) or "connection reset"
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE:
        return Outcome.UNREACHABLE, exc.strerror or str(exc)
    return Outcome.ERROR, f"{type(exc).__name__}: {exc}"


class Dialogue:
    """One connection to one endpoint and the steps exchanged over it."""

    __slots__ = (
        "config",
        "endpoint",
        "loop",
        "protocol",
        "started",
        "steps",
        "stream",
        "t0",
        "tls",
        "total_deadline",
        "transport",
    )

    def __init__(self, endpoint: Endpoint, config: ProbeConfig, protocol: str) -> None:
        self.endpoint = endpoint
        self.config = config
        self.protocol = protocol
        self.loop = asyncio.get_running_loop()
        self.t0 = self.loop.time()
        self.started = datetime.now(UTC)
        self.total_deadline = self.t0 + config.total_timeout
        self.steps: list[Step] = []
        self.tls: TlsInfo | None = None
        self.transport = Transport.PLAIN
        self.stream: Stream | None = None

    def deadline(self, timeout: float) -> float:
        return min(self.loop.time() + timeout, self.total_deadline)

    async def open(self, connector: Connector, *, implicit_tls: ssl.SSLContext | None) -> None:
        try:
            self.stream = await connector.connect(
                self.endpoint.ip,
                self.endpoint.port,
                self.deadline(self.config.connect_timeout),
            )
        except Exception as exc:  # noqa: BLE001 -- every failure becomes the outcome
            raise Ended(*classify(exc, connecting=True)) from None
        if implicit_tls is not None:
            self.transport = Transport.TLS
            await self.start_tls(implicit_tls)

    async def start_tls(self, context: ssl.SSLContext) -> None:
        assert self.stream is not None
        try:
            self.tls = await self.stream.start_tls(
                context, self.endpoint.hostname or None, self.deadline(self.config.read_timeout)
            )
        except Exception as exc:  # noqa: BLE001 -- every failure becomes the outcome
            outcome, error = classify(exc)
            if outcome in (Outcome.RESET, Outcome.CLOSED, Outcome.PROTOCOL_ERROR, Outcome.ERROR):
                outcome = Outcome.TLS_ERROR
            raise Ended(outcome, error) from None

    async def exchange(
        self,
        name: str,
        sent: bytes,
        feed: Callable[[bytes], None],
        take: Callable[[], M | None],
        raw: Callable[[M], bytes],
        *,
        timeout: float | None = None,
        code: Callable[[M], int | None] | None = None,
    ) -> M:
        """Send ``sent`` (if any), then read until ``take()`` returns a message.

        The message's step is recorded (``raw(message)`` as received). On failure the step
        records the bytes read so far, at most ``max_reply_bytes`` of them.
        """
        stream = self.stream
        assert stream is not None
        limit = self.config.max_reply_bytes
        chunks: list[bytes] = []  # what this step read, kept for a failure's partial result
        size = 0
        try:
            if sent:
                stream.write(sent)
            message = take()  # bytes left over from an earlier read
            if message is None:
                read_timeout = timeout or self.config.read_timeout
                loop, total = self.loop, self.total_deadline
                while message is None:
                    data = await stream.read(min(loop.time() + read_timeout, total))
                    if not data:
                        raise Closed("the server closed the connection")
                    if size < limit:
                        chunks.append(data)
                    size += len(data)
                    feed(data)
                    message = take()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 -- every failure becomes the outcome
            outcome, error = classify(exc)
            if isinstance(exc, TooLarge):
                got, truncated = exc.partial, True
            else:
                got, truncated = b"".join(chunks)[:limit], size > limit
            self.steps.append(Step(name, sent=sent, received=got, truncated=truncated))
            raise Ended(outcome, error) from None
        self.steps.append(Step(name, sent, raw(message), code(message) if code else None))
        return message

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None

    def transcript(self, outcome: Outcome, error: str = "") -> Transcript:
        self.close()
        return Transcript(
            ip=self.endpoint.ip,
            port=self.endpoint.port,
            protocol=self.protocol,
            transport=self.transport,
            observed_at=self.started,
            outcome=outcome,
            steps=tuple(self.steps),
            tls=self.tls,
            error=error,
            duration_ms=int((self.loop.time() - self.t0) * 1000),
            hostname=self.endpoint.hostname,
        )


F = TypeVar("F", bound=Framed)


def joined(messages: Sequence[Framed]) -> bytes:
    """The bytes of ``messages`` as received (a step's ``raw`` for several messages)."""
    return b"".join(m.raw for m in messages)


def gather(
    next_message: Callable[[], F | None], last: Callable[[F], bool], limit: int
) -> Callable[[], tuple[F, ...] | None]:
    """A ``take`` that gathers messages up to the first one ``last`` accepts, at most
    ``limit`` bytes of them in all (``TooLarge`` beyond, with what came)."""
    got: list[F] = []
    size = 0

    def take() -> tuple[F, ...] | None:
        nonlocal size
        while (m := next_message()) is not None:
            got.append(m)
            size += len(m.raw)
            if size > limit:
                raise TooLarge(limit, joined(got)[:limit])
            if last(m):
                return tuple(got)
        return None

    return take


Talk = Callable[["Dialogue", ProbeConfig], Awaitable[None]]

_FAREWELL_TOLERATED = frozenset({Outcome.CLOSED, Outcome.RESET, Outcome.TIMEOUT})
"""After QUIT/LOGOUT the dialogue is complete whatever the server does with the connection."""


class DeclaredProbe:
    """What every probe of the registry shares: its ``name``, its protocol ``spec``, the
    default ``ports`` that follow from it, and the connector seam."""

    name: str
    """The registry key: the spec's family unless the probe names itself (``owa``)."""
    spec: ProtocolSpec

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "spec" in vars(cls) and "name" not in vars(cls):
            cls.name = cls.spec.family

    def __init__(self, connector: Connector | None = None) -> None:
        self.connector = connector or DEFAULT_CONNECTOR

    @property
    def ports(self) -> tuple[int, ...]:
        return self.spec.default_ports


class LineProbe(DeclaredProbe):
    """What the line-protocol probes share: :meth:`run`, which opens the session as the
    protocol declares the port (TLS from the first byte or not; the endpoint may say
    otherwise), names it as the declaration does, and runs ``_talk``."""

    async def run(self, endpoint: Endpoint, config: ProbeConfig) -> Transcript:
        spec = self.spec
        tls = endpoint.tls if endpoint.tls is not None else bool(spec.tls_on(endpoint.port))
        d = Dialogue(endpoint, config, spec.protocol(endpoint.port, tls))
        return await converse(d, self.connector, config, self._talk, implicit_tls=tls)

    async def _talk(self, d: Dialogue, config: ProbeConfig) -> None:
        raise NotImplementedError


async def polite(
    d: Dialogue,
    name: str,
    sent: bytes,
    feed: Callable[[bytes], None],
    take: Callable[[], M | None],
    raw: Callable[[M], bytes],
    *,
    code: Callable[[M], int | None] | None = None,
) -> M | None:
    """A harmless exchange the server may end instead of answering: one more question
    before the farewell (SMTP HELP, IMAP ID) or the farewell itself (QUIT, LOGOUT). Its
    reply, or None when the server hung up, reset or stayed silent instead -- then the
    dialogue is over and complete (the step keeps what arrived; the probe does not fail,
    and no farewell follows a question so ended)."""
    try:
        return await d.exchange(name, sent, feed, take, raw, code=code)
    except Ended as end:
        if end.outcome not in _FAREWELL_TOLERATED:
            raise
        return None


async def converse(
    d: Dialogue, connector: Connector, config: ProbeConfig, talk: Talk, *, implicit_tls: bool
) -> Transcript:
    """The life of one line-protocol session: connect (TLS from the first byte when
    ``implicit_tls``), run ``talk``, and end in exactly one outcome. A cancel from the engine
    releases the socket and propagates."""
    try:
        await d.open(connector, implicit_tls=shared_context() if implicit_tls else None)
        await talk(d, config)
    except Ended as end:
        return d.transcript(end.outcome, end.error)
    except BaseException:
        d.close()
        raise
    return d.transcript(Outcome.OK)

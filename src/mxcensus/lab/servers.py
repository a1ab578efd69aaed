"""The lab's servers: asyncio protocols that replay the specs of :mod:`mxcensus.lab.model`.

One listening socket per (address, port); one small :class:`asyncio.Protocol` per
connection, no streams, so that a worker on uvloop serves tens of thousands of short SMTP
sessions per second. TLS is real TLS: the loop's own for implicit-TLS ports,
:meth:`asyncio.loop.start_tls` after STARTTLS/STLS. Connections are counted in the protocol
factory, which runs on every TCP accept, so one whose handshake fails counts too.

Line dialogues (SMTP, IMAP, POP3, ManageSieve) share :class:`_LineSession`; HTTP is framed
by h11.
Hostile behaviours are their own small protocols.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import cast

import h11

from mxcensus.errors import MxcensusError
from mxcensus.lab.model import Handler, Host, HttpResponse, Service
from mxcensus.lab.tlsgen import TlsMaterial

log = logging.getLogger(__name__)

MAX_LINE = 4096
GIANT_CHUNK = b"A" * 65536


class LabError(MxcensusError):
    """The lab cannot start or run (an address in use, a worker that died, …)."""


@dataclass(slots=True)
class Env:
    """What every session of one worker shares."""

    loop: asyncio.AbstractEventLoop
    ssl_ctx: ssl.SSLContext | None
    counts: list[int] = field(default_factory=list)
    live: set[_Session] = field(default_factory=set)
    tarpit_interval: float = 2.0
    session_cap: float = 120.0  # a session is cut after this long, whatever it does
    hostile_cap: float = 300.0
    ehlo_cache: dict[tuple[int, bool], tuple[str, bytes]] = field(default_factory=dict)


class _Session(asyncio.Protocol):
    __slots__ = (
        "_t", "buf", "deadline", "done", "env", "greeted", "next_at", "pending", "slot",
        "stash", "svc", "task", "tls", "upgrading",
    )  # fmt: skip
    long_lived = False  # tarpits and silent hosts are cut later than dialogues

    def __init__(self, env: Env, svc: Service, slot: int) -> None:
        # one flat initialiser for every kind of session: this runs once per connection
        self.env = env
        self.svc = svc
        self.slot = slot
        self.done = False
        self.tls = svc.implicit_tls
        self.upgrading = False
        self.stash = b""
        self.task: asyncio.Task[None] | None = None
        self.deadline = 0.0
        self.buf = b""
        self.greeted = True
        self.next_at = 0.0
        self.pending: list[asyncio.TimerHandle] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._t = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        env = self.env
        env.live.add(self)
        # enforced by LabServers' sweeper
        self.deadline = env.loop.time() + (env.hostile_cap if self.long_lived else env.session_cap)
        self.ready()

    def connection_lost(self, exc: Exception | None) -> None:
        self.done = True
        self.env.live.discard(self)
        self.stop()

    def expire(self) -> None:
        self.abort()

    def abort(self) -> None:
        if not self.done:
            self._t.abort()

    def close(self) -> None:
        if not self.done:
            self._t.close()

    def write(self, data: bytes) -> None:
        if not self.done and not self._t.is_closing():
            self._t.write(data)

    def ready(self) -> None:
        """The connection is usable (after the TLS handshake for implicit TLS)."""

    def data_received(self, data: bytes) -> None:
        if self.upgrading:
            if self.svc.broken_starttls:  # the ClientHello: answer with noise
                self.write(self.svc.noise)
                self.close()
            else:  # decrypted data that arrived before the handshake task resumed
                self.stash += data
            return
        self.on_data(data)

    def on_data(self, data: bytes) -> None:
        """Bytes from the client (decrypted when TLS is up)."""

    def stop(self) -> None:
        """The connection is gone; cancel timers."""

    def tls_ready(self) -> None:
        """The handshake after STARTTLS/STLS is done (ManageSieve speaks first again)."""

    # -- TLS ------------------------------------------------------------------------------

    def upgrade(self) -> None:
        self.upgrading = True
        self._t.pause_reading()  # no byte of the ClientHello may reach the plain protocol
        self.task = self.env.loop.create_task(self._handshake())

    async def _handshake(self) -> None:
        ctx = self.env.ssl_ctx
        if ctx is None:
            self.abort()
            return
        try:
            new = await self.env.loop.start_tls(
                self._t, self, ctx, server_side=True, ssl_handshake_timeout=15.0
            )
        except (OSError, ssl.SSLError, TimeoutError, RuntimeError) as exc:
            log.debug("TLS handshake failed: %s", exc)
            self.abort()
            return
        if new is None or self.done:
            return
        self._t = new
        self.tls = True
        self.upgrading = False
        self.tls_ready()
        if self.stash:
            data, self.stash = self.stash, b""
            self.on_data(data)


class _LineSession(_Session):
    """A line-oriented dialogue: greeting, then one reply per command line."""

    __slots__ = ()

    def later(self, handle: asyncio.TimerHandle) -> None:
        if self.pending is None:
            self.pending = []
        self.pending.append(handle)

    def ready(self) -> None:
        if self.svc.greet_delay:
            self.greeted = False
            self.later(self.env.loop.call_later(self.svc.greet_delay, self._greet))
            return
        self.send(self.svc.greeting)

    def _greet(self) -> None:
        self.greeted = True
        self.send(self.svc.greeting)

    def send(self, data: bytes) -> None:
        """Write a reply; slow hosts send its lines ``line_delay`` seconds apart."""
        delay = self.svc.line_delay
        if not delay:
            self.write(data)
            return
        loop = self.env.loop
        now = loop.time()
        at = max(now, self.next_at)
        for line in data.splitlines(keepends=True):
            at += delay
            self.later(loop.call_at(at, self.write, line))
        self.next_at = at

    def send_then_close(self, data: bytes) -> None:
        self.send(data)
        if self.svc.line_delay:
            self.later(self.env.loop.call_at(self.next_at + 0.01, self.close))
        else:
            self.close()

    def stop(self) -> None:
        if self.pending:
            for handle in self.pending:
                handle.cancel()
            self.pending = None

    def on_data(self, data: bytes) -> None:
        if not self.greeted:  # spoke before the greeting: Exim drops such clients
            self.greeted = True
            self.send_then_close(b"554 SMTP synchronization error\r\n")
            return
        buf = self.buf + data
        if b"\n" not in buf:
            if len(buf) > MAX_LINE:
                self.buf = b""
                self.send_then_close(self.too_long())
            else:
                self.buf = buf
            return
        *lines, self.buf = buf.split(b"\n")
        for line in lines:
            if self.done or self.upgrading or self._t.is_closing():
                break
            self.command(line.rstrip(b"\r"))

    def command(self, line: bytes) -> None:
        raise NotImplementedError

    def too_long(self) -> bytes:
        raise NotImplementedError

    def start_tls_in_band(self) -> None:
        self.buf = b""  # nothing sent before the handshake may be kept (STARTTLS injection)
        if self.svc.broken_starttls:
            self.upgrading = True  # the next bytes (a ClientHello) get noise
            return
        self.upgrade()


def _arg(line: bytes, skip: int) -> str:
    text = line[skip:].strip()[:64].decode("latin-1")
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else "?" for c in text)


class SmtpSession(_LineSession):
    __slots__ = ()

    def too_long(self) -> bytes:
        return b"500 5.5.2 Line too long\r\n"

    def command(self, line: bytes) -> None:
        d = self.svc.smtp
        assert d is not None
        verb = line[:8].upper()
        if verb.startswith((b"EHLO", b"HELO")):
            arg = _arg(line, 4) or "unknown"
            ip = ""
            if "{ip}" in d.ehlo_hello or "{ip}" in d.helo:
                peer = self._t.get_extra_info("peername")
                ip = peer[0] if peer else ""
            if verb.startswith(b"HELO"):
                self.send(d.helo.format(arg=arg, ip=ip).encode("latin-1") + b"\r\n")
                return
            offer = self.svc.starttls and not self.tls
            cache = self.env.ehlo_cache
            key = (id(d), offer)
            cached = cache.get(key)
            if cached is None:
                ext = [e for e in d.extensions if e != "STARTTLS" or offer]
                tail = "".join(
                    f"250{' ' if i == len(ext) - 1 else '-'}{text}\r\n"
                    for i, text in enumerate(ext)
                )
                cached = cache[key] = ("250-" + d.ehlo_hello + "\r\n", tail.encode("latin-1"))
            hello, tail_bytes = cached
            self.send(hello.format(arg=arg, ip=ip).encode("latin-1") + tail_bytes)
        elif verb.startswith(b"QUIT"):
            self.send_then_close(d.quit_reply.encode() + b"\r\n")
        elif verb == b"STARTTLS":
            if self.svc.starttls and not self.tls:
                self.send(d.starttls_reply.encode() + b"\r\n")
                self.start_tls_in_band()
            else:
                self.send(b"503 5.5.1 STARTTLS not available\r\n")
        elif verb.startswith((b"NOOP", b"RSET")):
            self.send(b"250 2.0.0 OK\r\n")
        elif verb.startswith(b"HELP"):
            self.send((d.help or d.unknown).encode() + b"\r\n")
        elif verb.startswith((b"MAIL", b"RCPT", b"DATA", b"AUTH", b"VRFY", b"EXPN", b"BDAT")):
            self.send(d.not_accepted.encode() + b"\r\n")
        else:
            self.send(d.unknown.encode() + b"\r\n")


class ImapSession(_LineSession):
    __slots__ = ()

    def too_long(self) -> bytes:
        return b"* BYE Too long command line\r\n"

    def command(self, line: bytes) -> None:
        parts = line.split(None, 2)
        if len(parts) < 2:
            self.send(b"* BAD Error in IMAP command received by server.\r\n")
            return
        tag, verb = parts[0], parts[1].upper()
        offer = self.svc.starttls and not self.tls
        if verb == b"CAPABILITY":
            caps = list(self.svc.capabilities)
            if offer:
                caps = [c for c in caps if not c.startswith("AUTH=")]
                caps += ["STARTTLS", "LOGINDISABLED"]
            self.send(
                b"* CAPABILITY "
                + " ".join(caps).encode()
                + b"\r\n"
                + tag
                + b" "
                + self.svc.texts.capability_ok.encode()
                + b"\r\n"
            )
        elif verb == b"STARTTLS":
            if offer:
                self.send(tag + b" OK Begin TLS negotiation now.\r\n")
                self.start_tls_in_band()
            else:
                self.send(tag + b" BAD STARTTLS not available.\r\n")
        elif verb == b"LOGOUT":
            text = self.svc.texts.logout.replace("{tag}", tag.decode("latin-1"))
            self.send_then_close(text.encode("latin-1") + b"\r\n")
        elif verb == b"NOOP":
            self.send(tag + b" OK NOOP completed.\r\n")
        elif verb == b"ID":
            reply = self.svc.texts.id_reply.encode()
            self.send(reply + b"\r\n" + tag + b" OK ID completed.\r\n")
        elif verb in (b"LOGIN", b"AUTHENTICATE"):
            self.send(tag + b" NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
        else:
            self.send(tag + b" BAD Error in IMAP command received by server.\r\n")


class Pop3Session(_LineSession):
    __slots__ = ()

    def too_long(self) -> bytes:
        return b"-ERR Input line too long.\r\n"

    def command(self, line: bytes) -> None:
        verb = line[:4].upper()
        offer = self.svc.starttls and not self.tls
        if verb == b"CAPA":
            caps = list(self.svc.capabilities)
            if offer:
                caps.append("STLS")
            self.send(b"+OK\r\n" + "".join(c + "\r\n" for c in caps).encode() + b".\r\n")
        elif verb == b"STLS":
            if offer:
                self.send(b"+OK Begin TLS negotiation now.\r\n")
                self.start_tls_in_band()
            else:
                self.send(b"-ERR TLS not available.\r\n")
        elif verb == b"QUIT":
            self.send_then_close(self.svc.texts.pop3_quit.encode() + b"\r\n")
        elif verb in (b"NOOP", b"USER"):
            self.send(b"+OK\r\n")
        elif verb in (b"PASS", b"APOP", b"AUTH"):
            self.send(b"-ERR [AUTH] Authentication failed.\r\n")
        else:
            self.send(b"-ERR Unknown command.\r\n")


class ManageSieveSession(_LineSession):
    """RFC 5804 as Dovecot's Pigeonhole answers: capabilities again, unasked, after TLS."""

    __slots__ = ()

    def too_long(self) -> bytes:
        return b'BYE "Command line too long."\r\n'

    def capability_lines(self) -> bytes:
        caps = list(self.svc.capabilities)
        if self.svc.starttls and not self.tls:  # listed before VERSION, as Pigeonhole does
            at = next((i for i, c in enumerate(caps) if c.startswith('"VERSION"')), len(caps))
            caps.insert(at, '"STARTTLS"')
        return "".join(c + "\r\n" for c in caps).encode()

    def tls_ready(self) -> None:
        self.send(self.capability_lines() + b'OK "TLS negotiation successful."\r\n')

    def command(self, line: bytes) -> None:
        verb = line.split(None, 1)[0].upper() if line.strip() else b""
        if verb == b"CAPABILITY":
            self.send(self.capability_lines() + b'OK "Capability completed."\r\n')
        elif verb == b"STARTTLS":
            if self.svc.starttls and not self.tls:
                self.send(b'OK "Begin TLS negotiation now."\r\n')
                self.start_tls_in_band()
            else:
                self.send(b'NO "TLS is not available."\r\n')
        elif verb == b"LOGOUT":
            self.send_then_close(b'OK "Logout completed."\r\n')
        elif verb == b"NOOP":
            self.send(b'OK "NOOP Completed"\r\n')
        elif verb in (b"AUTHENTICATE", b"UNAUTHENTICATE"):
            self.send(b'NO "Authentication failed."\r\n')
        else:
            self.send(b'NO "Unknown command."\r\n')


class HttpSession(_Session):
    __slots__ = ("conn", "routes")

    def __init__(self, env: Env, svc: Service, slot: int) -> None:
        super().__init__(env, svc, slot)
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=16 * 1024)

    def on_data(self, data: bytes) -> None:
        self.conn.receive_data(data)
        while not self.done:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError:
                self._bad_request()
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                if event is h11.PAUSED and self.conn.our_state is h11.DONE:
                    if self.conn.their_state is h11.DONE:
                        self.conn.start_next_cycle()
                        continue
                    if self.conn.their_state is h11.MUST_CLOSE:
                        self.close()
                break
            if isinstance(event, h11.Request):
                self._respond(event)
            elif isinstance(event, h11.ConnectionClosed):
                self.close()
                return
            if self.conn.our_state is h11.MUST_CLOSE:
                self.close()
                return
            if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
                self.conn.start_next_cycle()

    def _respond(self, request: h11.Request) -> None:
        site = self.svc.http
        assert site is not None
        path = request.target.split(b"?", 1)[0].decode("latin-1").lower()
        response = site.fallback
        for route, candidate in site.routes:
            if route == path:
                response = candidate
                break
        body = b"" if request.method == b"HEAD" else response.body
        self._send(response, body)

    def _send(self, response: HttpResponse, body: bytes) -> None:
        headers = [(k, v) for k, v in response.headers]
        headers.append(("Content-Length", str(len(response.body))))
        out = self.conn.send(h11.Response(status_code=response.status, headers=headers))
        out = (out or b"") + (self.conn.send(h11.Data(data=body)) or b"") if body else out
        end = self.conn.send(h11.EndOfMessage())
        self.write((out or b"") + (end or b""))

    def _bad_request(self) -> None:
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            try:
                bad = HttpResponse(400, (("Content-Type", "text/html"),), b"Bad Request\n")
                self._send(bad, bad.body)
            except h11.LocalProtocolError as exc:
                log.debug("cannot answer a bad request: %s", exc)
        self.close()


# -- hostile behaviours --------------------------------------------------------------------


class TarpitSession(_Session):
    """The greeting, one byte every ``tarpit_interval`` seconds."""

    __slots__ = ("handle", "pos")
    long_lived = True

    def ready(self) -> None:
        self.pos = 0
        self.handle = self.env.loop.call_later(self.env.tarpit_interval, self._tick)

    def _tick(self) -> None:
        greeting = self.svc.greeting
        self.write(greeting[self.pos : self.pos + 1])
        self.pos += 1
        if self.pos < len(greeting) and not self.done:
            self.handle = self.env.loop.call_later(self.env.tarpit_interval, self._tick)

    def stop(self) -> None:
        handle = getattr(self, "handle", None)
        if handle is not None:
            handle.cancel()


class SilentSession(_Session):
    __slots__ = ()
    long_lived = True


class ResetSession(_Session):
    """Accept, then RST: SO_LINGER with a zero timeout makes close() send a reset."""

    __slots__ = ()

    def ready(self) -> None:
        sock = self._t.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.abort()


class DropSession(_Session):
    __slots__ = ()

    def ready(self) -> None:
        self.close()


class GarbageSession(_Session):
    __slots__ = ()

    def ready(self) -> None:
        self.write(self.svc.noise)


class BrokenTlsSession(_Session):
    """An implicit-TLS port that answers the ClientHello with noise, then closes."""

    __slots__ = ()

    def on_data(self, data: bytes) -> None:
        self.write(self.svc.noise)
        self.close()


class GiantSession(_Session):
    """A greeting of ``giant_size`` bytes with no line end, streamed under flow control."""

    __slots__ = ("paused", "sent")

    def ready(self) -> None:
        self.paused = False
        self.sent = 0
        self.write(self.svc.greeting)
        self.sent = len(self.svc.greeting)
        self._pump()

    def _pump(self) -> None:
        size = self.svc.giant_size
        while not self.paused and not self.done and self.sent < size:
            chunk = GIANT_CHUNK[: min(len(GIANT_CHUNK), size - self.sent)]
            self.write(chunk)
            self.sent += len(chunk)
        if self.sent >= size:
            self.close()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._pump()


SESSIONS: dict[Handler, type[_Session]] = {
    Handler.SMTP: SmtpSession,
    Handler.IMAP: ImapSession,
    Handler.POP3: Pop3Session,
    Handler.HTTP: HttpSession,
    Handler.MANAGESIEVE: ManageSieveSession,
    Handler.TARPIT: TarpitSession,
    Handler.SILENT: SilentSession,
    Handler.RESET: ResetSession,
    Handler.DROP: DropSession,
    Handler.GARBAGE: GarbageSession,
    Handler.GIANT: GiantSession,
    Handler.BROKEN_TLS: BrokenTlsSession,
}


class LabServers:
    """The listeners of a set of hosts in the running event loop.

    ``async with LabServers(hosts, tls) as servers:`` binds one socket per (address, port);
    :meth:`counters` gives accepted connections per (address, port).
    """

    def __init__(
        self,
        hosts: Iterable[Host],
        tls: TlsMaterial | None,
        *,
        tarpit_interval: float = 2.0,
        session_cap: float = 120.0,
        backlog: int = 1024,
    ) -> None:
        self.hosts = list(hosts)
        self.tls = tls
        self.tarpit_interval = tarpit_interval
        self.session_cap = session_cap
        self.backlog = backlog
        self.slots: list[tuple[str, int]] = []
        self.servers: list[asyncio.AbstractServer] = []
        self.env: Env | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    def _sweep(self) -> None:
        """Cut sessions past their cap; one timer for all instead of one per connection."""
        env = self.env
        if env is None:
            return
        now = env.loop.time()
        for session in [s for s in env.live if s.deadline < now]:
            session.expire()
        self._sweeper = env.loop.call_later(1.0, self._sweep)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        ctx = self.tls.server_context() if self.tls is not None else None
        env = Env(loop, ctx, tarpit_interval=self.tarpit_interval, session_cap=self.session_cap)
        self.env = env
        try:
            for host in self.hosts:
                for svc in host.services:
                    sock = _listen_socket(host.address, svc.port)
                    slot = len(self.slots)
                    self.slots.append((host.address, svc.port))
                    env.counts.append(0)
                    factory = _factory(SESSIONS[svc.handler], env, svc, slot)
                    tls = svc.implicit_tls and svc.handler is not Handler.BROKEN_TLS
                    server = await loop.create_server(
                        factory,
                        sock=sock,
                        backlog=self.backlog,
                        ssl=ctx if tls else None,
                        ssl_handshake_timeout=15.0 if tls else None,
                    )
                    self.servers.append(server)
        except BaseException:
            await self.close()
            raise
        self._sweeper = loop.call_later(1.0, self._sweep)

    def counters(self) -> dict[tuple[str, int], int]:
        counts = self.env.counts if self.env else []
        return {slot: n for slot, n in zip(self.slots, counts, strict=True) if n}

    @property
    def sockets(self) -> int:
        return len(self.servers)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for server in self.servers:
            server.close()
        if self.env is not None:
            for session in list(self.env.live):
                session.abort()
        for server in self.servers:
            await server.wait_closed()
        self.servers.clear()

    async def __aenter__(self) -> LabServers:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _factory(cls: type[_Session], env: Env, svc: Service, slot: int) -> Callable[[], _Session]:
    """The protocol factory of one listener: called on every TCP accept, before any TLS
    handshake, so it is where connections are counted."""
    counts = env.counts

    def accepted() -> _Session:
        counts[slot] += 1
        return cls(env, svc, slot)

    return accepted


def _listen_socket(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setblocking(False)
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        raise LabError(f"lab: cannot listen on {address}:{port}: {exc.strerror or exc}") from exc
    return sock

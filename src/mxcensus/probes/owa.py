"""The OWA probe: what an Exchange web front end shows to an anonymous client.

HTTPS on 443 (implicit TLS), or plain HTTP on 80 (the engine adds 80 when
``ProbeConfig.http`` is set). HTTP/1.1 framing is h11's (sans-IO); this file only moves
bytes and keeps what came back. One ``GET`` per path, in order, each a step named
``GET <path>``:

1. ``GET /owa/`` — and, when it redirects (301/302/303/307/308) to the same scheme and port,
   one more step ``GET /owa/ redirect`` for the ``Location`` (on the same address: the probe
   never contacts another host);
2. ``GET /owa/auth/logon.aspx``;
3. ``GET /ecp/Current/exporttool/microsoft.exchange.ediscovery.exporttool.application``;
4. ``GET /EWS/Exchange.asmx``;
5. ``GET /`` — the web root, where other webmail front ends (Zimbra, SmarterMail, Kerio,
   Roundcube …) show themselves.

Each step keeps the status (``code``), the raw headers in the order received (original
case) and the body up to ``max_body_bytes`` (``truncated`` when cut). When no response
head could be parsed (an SMTP banner on 443, garbage, a head past ``max_reply_bytes``) the
step keeps the raw bytes received instead, at most ``max_reply_bytes`` of them. Titles, versions and
builds are read later by identify. The connection is kept alive when the server allows it,
reopened otherwise. Every request carries ``Host`` (``endpoint.hostname`` or the address)
and the scanner's ``User-Agent`` from the config.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import h11

from mxcensus.model import Outcome, Step, Transcript
from mxcensus.probes.connect import Connector
from mxcensus.probes.dialogue import Closed, DeclaredProbe, Dialogue, Ended, classify
from mxcensus.probes.interface import Cut, Endpoint, ProbeConfig, ProtocolSpec, RuleField, Service
from mxcensus.probes.tls import shared_context
from mxcensus.wire import FramingError, TooLarge

PATHS = (
    "/owa/",
    "/owa/auth/logon.aspx",
    "/ecp/Current/exporttool/microsoft.exchange.ediscovery.exporttool.application",
    "/EWS/Exchange.asmx",
    "/",
)
REDIRECT_STEP = "GET /owa/ redirect"
SPEC = ProtocolSpec(
    family="http",
    services=(
        Service(
            "http",
            (80,),
            default=False,  # only with ProbeConfig.http (--http) or -p 80
            aliases=("http-simple-new", "http-proxy", "http-alt", "exchange", "owa", "title"),
            seen_on=(8080, 81),
        ),
        Service(
            "https",
            (443,),
            implicit_tls=True,
            aliases=("https-simple-new", "https-alt", "ssl/http"),
            seen_on=(8443, 444),
        ),
    ),
    fields=(  # every step is one HTTP response (http=True): these read its parts
        RuleField("http.header", "http_header.yaml"),
        RuleField("http.body", "http_body.yaml", max_text=262_144),
        RuleField("http.owa-path", "owa_path.yaml"),
        RuleField("ecp.manifest", "ecp_manifest.yaml", max_text=262_144),
    ),
    banner="http.body",
    cut=Cut.HTTP,
    http=True,
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HTTP_PREFIX = b"HTTP/"


def _context() -> ssl.SSLContext:
    return shared_context(("http/1.1",))


def _host_header(endpoint: Endpoint, tls: bool) -> str:
    host = endpoint.hostname or (f"[{endpoint.ip}]" if ":" in endpoint.ip else endpoint.ip)
    default = 443 if tls else 80
    return host if endpoint.port == default else f"{host}:{endpoint.port}"


class _Exchange:
    """One HTTP/1.1 connection's state across requests (h11 plus the Dialogue's stream)."""

    def __init__(self, d: Dialogue, connector: Connector, tls: bool) -> None:
        self.d = d
        self.connector = connector
        self.tls = tls
        self.conn: h11.Connection | None = None

    async def get(self, name: str, target: str, host: str) -> Step:
        d, config = self.d, self.d.config
        if self.conn is None:
            d.close()
            await d.open(self.connector, implicit_tls=_context() if self.tls else None)
            self.conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=config.max_reply_bytes)
        conn = self.conn
        sent = conn.send(_request(target, host, config.user_agent))
        sent += conn.send(h11.EndOfMessage())
        status: int | None = None
        headers: tuple[tuple[str, str], ...] = ()
        body = bytearray()
        truncated = False
        head = bytearray()  # raw bytes before a response head parsed, kept if none does
        eof = False
        try:
            assert d.stream is not None
            d.stream.write(sent)
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await d.stream.read(d.deadline(config.read_timeout))
                    eof = not data
                    if status is None:
                        room = config.max_reply_bytes - len(head)
                        truncated = truncated or len(data) > room
                        head += data[: max(room, 0)]
                        n = min(len(head), len(_HTTP_PREFIX))
                        if head[:n] != _HTTP_PREFIX[:n]:  # refuse non-HTTP on its first bytes
                            raise FramingError(f"not an HTTP response: {bytes(head[:24])!r}")
                    conn.receive_data(data)
                elif isinstance(event, h11.Response):
                    status = event.status_code
                    truncated = False
                    headers = tuple(
                        (k.decode("latin-1"), v.decode("latin-1"))
                        for k, v in event.headers.raw_items()
                    )
                elif isinstance(event, h11.Data):
                    room = config.max_body_bytes - len(body)
                    body += event.data[:room]
                    if len(event.data) > room:
                        truncated = True
                        break
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise Closed("the server closed the connection")
                # InformationalResponse (1xx): keep reading
        except Exception as exc:  # noqa: BLE001 -- every failure becomes the outcome
            self.conn = None
            outcome, error = _classify_http(exc, eof=eof)
            d.steps.append(
                Step(
                    name,
                    sent=sent,
                    received=bytes(body) if status is not None else bytes(head),
                    code=status,
                    headers=headers,
                    truncated=truncated,
                )
            )
            raise Ended(outcome, error) from None
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        else:
            self.conn = None  # truncated, or the server will close: reconnect next time
        step = Step(
            name, sent=sent, received=bytes(body), code=status, headers=headers, truncated=truncated
        )
        d.steps.append(step)
        return step


def _request(target: str, host: str, user_agent: str) -> h11.Request:
    return h11.Request(
        method="GET",
        target=target.encode("ascii", "replace"),
        headers=[
            ("Host", host),
            ("User-Agent", user_agent),
            ("Accept", "*/*"),
            ("Connection", "keep-alive"),
        ],
    )


def _classify_http(exc: Exception, *, eof: bool) -> tuple[Outcome, str]:
    if isinstance(exc, h11.RemoteProtocolError):
        if exc.error_status_hint == 431:
            return Outcome.TOO_LARGE, f"response head larger than the bound: {exc}"
        if eof:
            return Outcome.CLOSED, f"the server closed the connection: {exc}"
        return Outcome.PROTOCOL_ERROR, str(exc)
    if isinstance(exc, h11.LocalProtocolError):
        return Outcome.ERROR, f"LocalProtocolError: {exc}"
    if isinstance(exc, TooLarge):
        return Outcome.TOO_LARGE, str(exc)
    return classify(exc)


def _same_origin_target(location: str, tls: bool, port: int) -> str | None:
    """The path to request for a redirect, or ``None`` when it leaves this scheme/port."""
    try:
        url = urlsplit(location.strip())
        url_port = url.port
    except ValueError:
        return None
    if url.scheme or url.netloc:
        scheme = "https" if tls else "http"
        if url.scheme and url.scheme.lower() != scheme:
            return None
        if (url_port or (443 if tls else 80)) != port:
            return None
    path = url.path or "/"
    if not path.startswith("/"):
        path = "/owa/" + path
    target = path + ("?" + url.query if url.query else "")
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in target):
        return None
    return target


class OwaProbe(DeclaredProbe):
    name: str = "owa"
    spec: ProtocolSpec = SPEC

    async def run(self, endpoint: Endpoint, config: ProbeConfig) -> Transcript:
        known = SPEC.tls_on(endpoint.port)  # any other port: HTTPS
        tls = endpoint.tls if endpoint.tls is not None else known is None or known
        d = Dialogue(endpoint, config, SPEC.protocol(endpoint.port, tls))
        x = _Exchange(d, self.connector, tls)
        host = _host_header(endpoint, tls)
        try:
            for path in PATHS:
                step = await x.get("GET " + path, path, host)
                if path == "/owa/" and step.code in _REDIRECTS:
                    location = next((v for k, v in step.headers if k.lower() == "location"), "")
                    target = _same_origin_target(location, tls, endpoint.port)
                    if target is not None:
                        await x.get(REDIRECT_STEP, target, host)
        except Ended as end:
            return d.transcript(end.outcome, end.error)
        except BaseException:  # cancelled by the engine: release the socket, then go
            d.close()
            raise
        return d.transcript(Outcome.OK)

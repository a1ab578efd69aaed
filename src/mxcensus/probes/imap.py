"""The IMAP probe: greeting and capabilities, never a login.

Ports: 143 plain, then STARTTLS when offered; 993 implicit TLS (imaps). Steps, in order:

1. ``greeting`` — the untagged ``* OK`` (or ``PREAUTH``/``BYE``) greeting;
2. ``capability`` — ``a1 CAPABILITY``, every response up to the tagged one;
3. ``starttls`` — ``a2 STARTTLS`` when advertised and not TLS yet, then the handshake;
4. ``capability-tls`` — ``a3 CAPABILITY`` inside TLS;
5. ``id`` — ``a5 ID NIL`` (RFC 2971, what mail clients send before login) when the last
   capability list offers ID: some servers name themselves and their version there; one that
   hangs up or stays silent instead ends the dialogue, complete;
6. ``logout`` — ``a4 LOGOUT``; a server that hangs up instead does not fail the probe.

A ``BYE`` greeting ends the dialogue there (the server refused us; the banner is kept).
"""

from __future__ import annotations

from collections.abc import Callable

from mxcensus.model import Transport
from mxcensus.probes.dialogue import Dialogue, LineProbe, gather, joined, polite
from mxcensus.probes.interface import Cut, ProbeConfig, ProtocolSpec, RuleField, Service
from mxcensus.probes.tls import shared_context
from mxcensus.wire import FramingError
from mxcensus.wire.imap import Response, ResponseParser, capabilities

SPEC = ProtocolSpec(
    family="imap",
    services=(
        Service("imap", (143,), aliases=("imap4",)),
        Service("imaps", (993,), implicit_tls=True, aliases=("imap-ssl", "imap4-ssl")),
    ),
    fields=(
        RuleField(
            "imap.banner", "imap_banner.yaml", steps=("greeting", "banner", "capability", "capa")
        ),
        RuleField(
            "imap.capability",
            "imap_capability.yaml",
            steps=("capability", "capability-tls"),
            infers=True,
        ),
        RuleField("imap.id", "imap_id.yaml", steps=("id",), infers=True),
        RuleField("imap.logout", "imap_logout.yaml", steps=("logout",), infers=True),
    ),
    banner="imap.banner",
    cut=Cut.FIRST_LINE,
    then="capability",
)

Responses = tuple[Response, ...]
Exchange = tuple[
    bytes, Callable[[bytes], None], Callable[[], Responses | None], Callable[[Responses], bytes]
]
"""The arguments of :meth:`Dialogue.exchange` after the step's name: sent, feed, take, raw."""


def _tagged(parser: ResponseParser, tag: bytes, command: bytes, limit: int) -> Exchange:
    """What an exchange of the command ``command`` under ``tag`` sends, feeds, takes (every
    response up to the one tagged ``tag``, bounded in total) and records."""
    take = gather(parser.next_response, lambda r: r.tag == tag, limit)
    return tag + b" " + command + b"\r\n", parser.feed, take, joined


def _greeting(parser: ResponseParser) -> Callable[[], Responses | None]:
    def take() -> Responses | None:
        r = parser.next_response()
        if r is None:
            return None
        if not r.untagged:
            raise FramingError(f"not an IMAP greeting: {r.raw[:24]!r}")
        return (r,)

    return take


class ImapProbe(LineProbe):
    spec: ProtocolSpec = SPEC

    async def _talk(self, d: Dialogue, config: ProbeConfig) -> None:
        limit = config.max_reply_bytes
        parser = ResponseParser(limit)
        [greeting] = await d.exchange(
            "greeting", b"", parser.feed, _greeting(parser), joined, timeout=config.greeting_timeout
        )
        if greeting.kind == b"BYE":
            return
        caps = await d.exchange("capability", *_tagged(parser, b"a1", b"CAPABILITY", limit))
        offered = {c for r in (greeting, *caps) for c in capabilities(r)}
        if greeting.kind == b"OK" and d.transport is Transport.PLAIN and "STARTTLS" in offered:
            reply = await d.exchange("starttls", *_tagged(parser, b"a2", b"STARTTLS", limit))
            if reply[-1].kind == b"OK":
                d.transport = Transport.STARTTLS
                await d.start_tls(shared_context())
                parser = ResponseParser(limit)
                caps = await d.exchange(
                    "capability-tls", *_tagged(parser, b"a3", b"CAPABILITY", limit)
                )
                offered = {c for r in caps for c in capabilities(r)}
        if "ID" in offered:
            id_nil = _tagged(parser, b"a5", b"ID NIL", limit)
            if await polite(d, "id", *id_nil) is None:
                return
        await polite(d, "logout", *_tagged(parser, b"a4", b"LOGOUT", limit))

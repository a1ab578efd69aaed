"""The ManageSieve probe (RFC 5804): the capabilities a Sieve script server greets with,
never a login.

Port 4190, plain, then STARTTLS when offered (a server may also run TLS from the first
byte: ``Endpoint.tls``). Steps, in order:

1. ``greeting`` — the capability lines (``"IMPLEMENTATION" "Dovecot Pigeonhole"``,
   ``"SIEVE" "…"``, ``"STARTTLS"``, ``"VERSION" "1.0"`` …) up to the ``OK`` line;
2. ``starttls`` — ``STARTTLS`` when the greeting lists it and the session is not TLS yet,
   then the handshake;
3. ``capability-tls`` — ``CAPABILITY`` inside TLS. RFC 5804 servers also send their
   capabilities unasked after the handshake, older ones do not: the first response is
   kept here, and a second one, if any, arrives before the LOGOUT reply;
4. ``logout`` — ``LOGOUT``, read up to the first response without capability lines; a
   server that hangs up instead does not fail the probe.

Never AUTHENTICATE. A ``BYE`` greeting ends the dialogue there (the capabilities are kept).
"""

from __future__ import annotations

from collections.abc import Callable

from mxcensus.model import Transport
from mxcensus.probes.dialogue import Dialogue, LineProbe, gather, joined, polite
from mxcensus.probes.interface import Cut, ProbeConfig, ProtocolSpec, RuleField, Service
from mxcensus.probes.tls import shared_context
from mxcensus.wire.managesieve import Response, ResponseParser, capabilities

SPEC = ProtocolSpec(
    family="managesieve",
    services=(Service("managesieve", (4190,), aliases=("sieve",)),),
    fields=(RuleField("managesieve.banner", "managesieve_banner.yaml", steps=("greeting",)),),
    banner="managesieve.banner",
    cut=Cut.WHOLE,
)

Responses = tuple[Response, ...]


def _raw(response: Response) -> bytes:
    return response.raw


def _logout_reply(parser: ResponseParser, limit: int) -> Callable[[], Responses | None]:
    """A ``take`` that gathers responses up to the first one without data lines (the LOGOUT
    reply; a capability response sent unasked after STARTTLS may come first), bounded."""
    return gather(parser.next_response, lambda r: not r.lines, limit)


class ManageSieveProbe(LineProbe):
    spec: ProtocolSpec = SPEC

    async def _talk(self, d: Dialogue, config: ProbeConfig) -> None:
        limit = config.max_reply_bytes
        parser = ResponseParser(limit)
        take = parser.next_response
        greeting = await d.exchange(
            "greeting", b"", parser.feed, take, _raw, timeout=config.greeting_timeout
        )
        if greeting.status == b"BYE":
            return
        if greeting.ok and d.transport is Transport.PLAIN and "STARTTLS" in capabilities(greeting):
            reply = await d.exchange("starttls", b"STARTTLS\r\n", parser.feed, take, _raw)
            if reply.ok:
                d.transport = Transport.STARTTLS
                await d.start_tls(shared_context())
                parser = ResponseParser(limit)  # nothing sent before the handshake is kept
                take = parser.next_response
                await d.exchange("capability-tls", b"CAPABILITY\r\n", parser.feed, take, _raw)
        await polite(d, "logout", b"LOGOUT\r\n", parser.feed, _logout_reply(parser, limit), joined)

"""The POP3 probe: greeting and capabilities, never a login.

Ports: 110 plain, then STLS when offered; 995 implicit TLS (pop3s). Steps, in order:

1. ``greeting`` — the ``+OK`` (or ``-ERR``) greeting line;
2. ``capa`` — ``CAPA``, multi-line when ``+OK``;
3. ``starttls`` — ``STLS`` when CAPA listed it and the session is not TLS yet, then the
   handshake;
4. ``capa-tls`` — ``CAPA`` inside TLS;
5. ``quit`` — ``QUIT``; a server that hangs up instead does not fail the probe.

A ``-ERR`` greeting ends the dialogue with QUIT.
"""

from __future__ import annotations

from collections.abc import Callable

from mxcensus.model import Transport
from mxcensus.probes.dialogue import Dialogue, LineProbe, polite
from mxcensus.probes.interface import Cut, ProbeConfig, ProtocolSpec, RuleField, Service
from mxcensus.probes.tls import shared_context
from mxcensus.wire.pop3 import Response, ResponseParser

SPEC = ProtocolSpec(
    family="pop3",
    services=(
        Service("pop3", (110,), aliases=("pop",)),
        Service("pop3s", (995,), implicit_tls=True, aliases=("pop3-ssl",)),
    ),
    fields=(
        RuleField(
            "pop3.banner", "pop3_banner.yaml", steps=("greeting", "banner", "capability", "capa")
        ),
        RuleField("pop3.capa", "pop3_capa.yaml", steps=("capa", "capa-tls"), infers=True),
    ),
    banner="pop3.banner",
    cut=Cut.FIRST_LINE,
    then="capa",
)


def _raw(r: Response) -> bytes:
    return r.raw


def _take(parser: ResponseParser, multiline: bool) -> Callable[[], Response | None]:
    return lambda: parser.next_response(multiline)


def _offers_stls(capa: Response) -> bool:
    return capa.ok and any(line.split(b" ", 1)[0].upper() == b"STLS" for line in capa.lines)


class Pop3Probe(LineProbe):
    spec: ProtocolSpec = SPEC

    async def _talk(self, d: Dialogue, config: ProbeConfig) -> None:
        parser = ResponseParser(config.max_reply_bytes)
        greeting = await d.exchange(
            "greeting",
            b"",
            parser.feed,
            _take(parser, False),
            _raw,
            timeout=config.greeting_timeout,
        )
        if greeting.ok:
            capa = await d.exchange("capa", b"CAPA\r\n", parser.feed, _take(parser, True), _raw)
            if d.transport is Transport.PLAIN and _offers_stls(capa):
                reply = await d.exchange(
                    "starttls", b"STLS\r\n", parser.feed, _take(parser, False), _raw
                )
                if reply.ok:
                    d.transport = Transport.STARTTLS
                    await d.start_tls(shared_context())
                    parser = ResponseParser(config.max_reply_bytes)
                    await d.exchange(
                        "capa-tls", b"CAPA\r\n", parser.feed, _take(parser, True), _raw
                    )
        await polite(d, "quit", b"QUIT\r\n", parser.feed, _take(parser, False), _raw)

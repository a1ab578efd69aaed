"""The SMTP probe: what a mail server says to a polite client that never sends mail.

Ports: 25 plain, then STARTTLS when offered; 587 the same (submission); 465 implicit TLS
(smtps); any other port is treated like 25. Steps, in order:

1. ``greeting`` — the (possibly multi-line) 220 banner, waited for ``greeting_timeout``;
2. ``ehlo`` — ``EHLO <config.ehlo_name>``; if refused, ``helo`` — ``HELO <name>``;
3. ``starttls`` — only when EHLO advertised STARTTLS and the session is not TLS yet;
   on 220 the TLS handshake follows and its facts go to ``Transcript.tls``;
4. ``ehlo-tls`` — EHLO again inside TLS;
5. ``help`` — ``HELP`` once, in the session's last state (inside TLS after STARTTLS): an
   RFC 5321 command every server accepts; many answer in words of their own, some with their
   version (identify's ``smtp.help`` field). Any reply code is fine (Postfix answers 500); a
   server that hangs up or stays silent instead ends the dialogue there, complete;
6. ``quit`` — ``QUIT``; a server that hangs up instead of answering does not fail the probe.

Never AUTH, MAIL, RCPT, VRFY or EXPN, and never an unknown command (Exim counts them and
drops the session after three). A greeting other than 220 ends the dialogue with QUIT (the
banner is what we came for).
"""

from __future__ import annotations

from mxcensus.model import Transport
from mxcensus.probes.dialogue import Dialogue, LineProbe, polite
from mxcensus.probes.interface import Cut, ProbeConfig, ProtocolSpec, RuleField, Service
from mxcensus.probes.tls import shared_context
from mxcensus.wire.smtp import Reply, ReplyParser, has_extension

SPEC = ProtocolSpec(
    family="smtp",
    services=(
        Service("smtp", (25,), aliases=("esmtp",), seen_on=(2525, 26)),
        Service("smtps", (465,), implicit_tls=True, aliases=("smtp-ssl",)),
        Service("submission", (587,)),
    ),
    fields=(
        RuleField("smtp.banner", "smtp_banner.yaml", steps=("greeting", "banner")),
        RuleField(
            "smtp.ehlo",
            "smtp_ehlo.yaml",
            steps=("ehlo", "ehlo-tls", "helo", "helo-tls"),
            infers=True,
        ),
        RuleField(
            "smtp.ehlo-shape",
            "smtp_ehlo_shape.yaml",
            steps=("ehlo", "ehlo-tls"),
            shape="ehlo",
            infers=True,
        ),
        RuleField("smtp.help", "smtp_help.yaml", steps=("help",), infers=True),
        RuleField("smtp.quit", "smtp_quit.yaml", steps=("quit",), infers=True),
    ),
    banner="smtp.banner",
    cut=Cut.REPLIES,
)


def _raw(reply: Reply) -> bytes:
    return reply.raw


def _code(reply: Reply) -> int:
    return reply.code


class SmtpProbe(LineProbe):
    spec: ProtocolSpec = SPEC

    async def _talk(self, d: Dialogue, config: ProbeConfig) -> None:
        parser = ReplyParser(config.max_reply_bytes)
        feed, take = parser.feed, parser.next_reply
        greeting = await d.exchange(
            "greeting", b"", feed, take, _raw, timeout=config.greeting_timeout, code=_code
        )
        if greeting.code == 220:
            name = config.ehlo_name.encode("ascii", "replace")
            ehlo = await d.exchange("ehlo", b"EHLO " + name + b"\r\n", feed, take, _raw, code=_code)
            if ehlo.code // 100 != 2:
                await d.exchange("helo", b"HELO " + name + b"\r\n", feed, take, _raw, code=_code)
            elif d.transport is Transport.PLAIN and has_extension(ehlo, "STARTTLS"):
                reply = await d.exchange("starttls", b"STARTTLS\r\n", feed, take, _raw, code=_code)
                if reply.code == 220:
                    d.transport = Transport.STARTTLS
                    await d.start_tls(shared_context())
                    parser = ReplyParser(config.max_reply_bytes)
                    feed, take = parser.feed, parser.next_reply
                    await d.exchange(
                        "ehlo-tls", b"EHLO " + name + b"\r\n", feed, take, _raw, code=_code
                    )
            if await polite(d, "help", b"HELP\r\n", feed, take, _raw, code=_code) is None:
                return
        await polite(d, "quit", b"QUIT\r\n", feed, take, _raw, code=_code)

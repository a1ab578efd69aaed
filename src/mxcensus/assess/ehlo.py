"""What an SMTP EHLO reply shows about configuration: the few keywords verdicts depend on.

Used only to annotate configuration-dependent verdicts (CHUNKING/PIPELINING for SMTP
smuggling, AUTH EXTERNAL/SPA for the 2023 ZDI bugs, STARTTLS). What this scanner was offered
is not proof of what other clients are offered, so it never turns a verdict into
not-vulnerable. Every host's EHLO differs (it names the host and the client), so the reply is
reduced to a tiny set of facts first; verdicts are cached per set, not per reply.
"""

from __future__ import annotations

import re
from functools import lru_cache

from mxcensus.model import Transcript, Transport

EHLO_STEPS = ("ehlo", "ehlo-tls")  # the probe step names whose replies are read
READ_LIMIT = 16384  # an EHLO reply longer than this is hostile; the rest is ignored

Facts = frozenset[str]
"""Keywords seen ("CHUNKING"), AUTH mechanisms as "AUTH:EXTERNAL", and "TLS" when TLS is
offered (STARTTLS advertised or implicit TLS)."""


_LINE = re.compile(rb"^250[- ](?:(PIPELINING|CHUNKING|STARTTLS)(?=\s|$)|AUTH[ =]([^\r\n]*))", re.M)


def parse_ehlo(replies: tuple[bytes, ...], implicit_tls: bool) -> Facts:
    found: set[str] = set()
    for data in replies:
        for keyword, auth in _LINE.findall(data[:READ_LIMIT].upper()):  # one pass in C
            if keyword:
                found.add(keyword.decode())
            else:
                found.update("AUTH:" + m.decode("ascii", "replace") for m in auth.split()[:32])
    if implicit_tls or "STARTTLS" in found:
        found.add("TLS")
    return frozenset(found)


def _tail(reply: bytes) -> bytes:
    # the first line names the host and the client ("250-mx Hello scanner [ip]"); the rest
    # is the same for every server with the same configuration, so it caches well
    cut = reply.find(b"\n", 0, READ_LIMIT)
    return reply[cut + 1 : READ_LIMIT] if cut != -1 else b""


@lru_cache(maxsize=4096)
def _facts(first: bytes, second: bytes, implicit_tls: bool) -> Facts:
    return parse_ehlo((first, second), implicit_tls)


def ehlo_facts(transcript: Transcript | None) -> Facts | None:
    """The EHLO facts of an SMTP transcript, or ``None`` when no EHLO reply was recorded."""
    if transcript is None:
        return None
    first = second = b""
    for s in transcript.steps:  # a plain loop: this runs once per service
        name = s.name
        if name == "ehlo":
            first = s.received
        elif name == "ehlo-tls":
            second = s.received
    if not first and not second:
        return None
    return _facts(_tail(first), _tail(second), transcript.transport is Transport.TLS)

"""What an SMTP EHLO reply shows about configuration: keywords and AUTH mechanisms.

Used only to annotate configuration-dependent verdicts (CHUNKING/PIPELINING for SMTP
smuggling, AUTH EXTERNAL/SPA for the 2023 ZDI bugs). What this scanner was offered is not
proof of what other clients are offered, so it never turns a verdict into not-vulnerable.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from mxcensus.model import Transcript, Transport

EHLO_STEPS = ("ehlo", "ehlo-tls")  # the probe step names whose replies are read


@dataclass(frozen=True, slots=True)
class EhloFacts:
    keywords: frozenset[str]
    auth: frozenset[str]
    tls: bool  # STARTTLS advertised, or the service speaks TLS from the first byte


@lru_cache(maxsize=4096)
def parse_ehlo(replies: tuple[bytes, ...], implicit_tls: bool) -> EhloFacts:
    keywords: set[str] = set()
    auth: set[str] = set()
    for data in replies:
        for raw in data[:65536].split(b"\n"):
            line = raw.strip()
            if len(line) < 4 or line[:3] != b"250" or line[3:4] not in (b"-", b" "):
                continue
            words = line[4:].decode("ascii", "replace").upper().split()
            if not words:
                continue
            key, params = words[0], words[1:]
            if key.startswith("AUTH="):  # old form: AUTH=LOGIN PLAIN
                params = [key[5:], *params]
                key = "AUTH"
            keywords.add(key)
            if key == "AUTH":
                auth.update(params)
    # the first line of the reply is the greeting-ish "250-host Hello", not a keyword;
    # a host name is never one of the keywords we look for, so it may stay in the set
    return EhloFacts(
        keywords=frozenset(keywords),
        auth=frozenset(auth),
        tls=implicit_tls or "STARTTLS" in keywords,
    )


def ehlo_facts(transcript: Transcript | None) -> EhloFacts | None:
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
    return parse_ehlo((first, second), transcript.transport is Transport.TLS)

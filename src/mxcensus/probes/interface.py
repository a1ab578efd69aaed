"""The probe contract: one protocol dialogue against one service, returning a Transcript.

A probe never interprets what it sees (identify does that later) and never raises for
anything the server does: every failure becomes the transcript's single ``Outcome`` and the
steps gathered before it are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from mxcensus.errors import UsageError
from mxcensus.model import Transcript

# RFC 5321 Domain (letters, digits, hyphens, dots) or address-literal ("[192.0.2.1]")
_EHLO_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253}[A-Za-z0-9])?|\[[0-9A-Fa-f:.IPv6]+\]")


@dataclass(frozen=True, slots=True)
class ProbeConfig:
    """Politeness and bounds shared by all probes."""

    ehlo_name: str = "mxcensus.invalid"
    user_agent: str = "mxcensus/0.1 (+https://github.com/mxcensus/mxcensus; research scanner)"
    connect_timeout: float = 5.0
    greeting_timeout: float = 8.0  # at least 6 s: servers with greet-pause exist
    read_timeout: float = 8.0
    total_timeout: float = 30.0
    max_reply_bytes: int = 64 * 1024  # per reply; a larger reply ends in Outcome.TOO_LARGE
    max_body_bytes: int = 256 * 1024  # HTTP bodies are truncated, not rejected
    http: bool = False  # owa: also try plain HTTP on 80

    def __post_init__(self) -> None:
        # what goes on the wire must not smuggle a second command or header line
        if not _EHLO_NAME.fullmatch(self.ehlo_name):
            raise UsageError(
                f"EHLO name {self.ehlo_name!r}: use a domain name or an address literal"
            )
        if not self.user_agent or any(not (" " <= c <= "~") for c in self.user_agent):
            raise UsageError(f"User-Agent {self.user_agent!r}: printable ASCII only")
        for name in ("connect_timeout", "greeting_timeout", "read_timeout", "total_timeout"):
            if not getattr(self, name) > 0:
                raise UsageError(f"{name.replace('_', ' ')} must be positive")
        if self.max_reply_bytes < 1 or self.max_body_bytes < 0:
            raise UsageError("max reply bytes must be positive, max body bytes not negative")


@dataclass(frozen=True, slots=True)
class Endpoint:
    ip: str
    port: int
    hostname: str = ""  # SNI / Host header when known
    tls: bool | None = None  # implicit TLS; None: decided by the port (465, 993, 995, 443)


class Probe(Protocol):
    name: str  # registry key: "smtp", "imap", "pop3", "owa"
    ports: tuple[int, ...]  # default ports

    async def run(self, endpoint: Endpoint, config: ProbeConfig) -> Transcript: ...

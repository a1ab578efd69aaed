"""The probe contract: one protocol dialogue against one service, returning a Transcript.

A probe never interprets what it sees (identify does that later) and never raises for
anything the server does: every failure becomes the transcript's single ``Outcome`` and the
steps gathered before it are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mxcensus.model import Transcript


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

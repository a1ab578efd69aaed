"""The probe contract: one protocol dialogue against one service, returning a Transcript.

A probe never interprets what it sees (identify does that later) and never raises for
anything the server does: every failure becomes the transcript's single ``Outcome`` and the
steps gathered before it are kept.

Each probe also declares its protocol (:class:`ProtocolSpec`): the names its transcripts
carry, the ports and TLS of each, the names other scanners give them, which of its steps
feed which rule field, and how an importer cuts a recorded banner into those steps. Every
table of ports, families and protocol names elsewhere (the engine's port table, identify,
the importers, the Shadowserver export, the lab) is derived from these declarations
(:mod:`mxcensus.probes.table`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
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
    tls: bool | None = None  # implicit TLS; None: as the protocol declares the port


@dataclass(frozen=True, slots=True)
class Service:
    """One protocol name a probe's transcripts carry (``Transcript.protocol``).

    ``ports`` are its well-known ports: the engine runs the probe there, with TLS from the
    first byte when ``implicit_tls``; ``default`` says whether a scan without ``-p`` visits
    them. ``aliases`` are the names other scanners give it (nmap's service names, Shodan's
    modules …) and ``seen_on`` other ports where imports meet it (never scanned unasked)."""

    name: str
    ports: tuple[int, ...] = ()
    implicit_tls: bool = False
    default: bool = True
    aliases: tuple[str, ...] = ()
    seen_on: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleField:
    """An observed field with its rule file (``identify/rules/<file>``): ``steps`` are the
    probe's steps whose received text it reads (a step may feed several fields); ``max_text``
    the longest text its rules look at (the rest is ignored); ``shape`` names the canonical
    form the rules read instead of the text as received (``mxcensus.identify.shapes``: the
    EHLO reply without host names, addresses and sizes), "" for the text itself; ``infers``
    says that its rules infer a product from how the server behaves (a keyword order, a
    wording, a default certificate) rather than read a statement: at equal precision such
    evidence ranks below a banner (``mxcensus.identify.combine``)."""

    name: str  # "smtp.banner"
    file: str  # "smtp_banner.yaml"
    steps: tuple[str, ...] = ()
    max_text: int = 8192
    shape: str = ""
    infers: bool = False


class Cut(StrEnum):
    """How an importer cuts a banner another scanner recorded into this protocol's steps."""

    REPLIES = "replies"  # SMTP replies: greeting, then ehlo, help, reply-N
    FIRST_LINE = "first-line"  # the greeting line, then the rest as the step ``then``
    WHOLE = "whole"  # the whole text is the greeting
    HTTP = "http"  # an HTTP response head (status, headers), then the body


@dataclass(frozen=True, slots=True)
class ProtocolSpec:
    """What a probe declares about its protocol.

    ``family`` names the protocol as the rule fields and reports do (``smtp``, ``http``);
    ``services`` its protocol names (in order: the first plain one is the default name);
    ``fields`` the rule fields its steps feed. ``http``: every step is an HTTP response
    whose headers, body and status feed the fields (the steps are named by their request).
    ``banner`` is the field a bare banner feeds (an importer's ``banner``/``data`` extra,
    ``mxcensus identify --protocol``); ``cut`` and ``then`` how an importer makes steps."""

    family: str
    services: tuple[Service, ...]
    fields: tuple[RuleField, ...]
    banner: str
    cut: Cut
    then: str = ""
    http: bool = False

    def tls_on(self, port: int) -> bool | None:
        """Whether TLS starts on the first byte at a well-known ``port`` (None: not one)."""
        for service in self.services:
            if port in service.ports:
                return service.implicit_tls
        return None

    def protocol(self, port: int, implicit_tls: bool) -> str:
        """The protocol name of a service on ``port``: the implicit-TLS name when TLS is
        implicit (the plain default when the protocol has none), else the plain service
        that lists the port, else the first plain service."""
        plain = [s for s in self.services if not s.implicit_tls]
        if implicit_tls:
            tls = next((s for s in self.services if s.implicit_tls), None)
            if tls is not None:
                return tls.name
        for s in plain:
            if port in s.ports or port in s.seen_on:
                return s.name
        return plain[0].name if plain else self.services[0].name

    @property
    def default_ports(self) -> tuple[int, ...]:
        """The ports a scan without ``-p`` visits, in declaration order."""
        return tuple(p for s in self.services if s.default for p in s.ports)


class Probe(Protocol):
    name: str  # registry key: "smtp", "imap", "pop3", "owa"
    spec: ProtocolSpec  # its protocol (see ProtocolSpec)

    @property
    def ports(self) -> tuple[int, ...]:
        """Its default ports (a probe of the registry: its spec's ``default_ports``)."""
        ...

    async def run(self, endpoint: Endpoint, config: ProbeConfig) -> Transcript: ...

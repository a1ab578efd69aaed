"""The lab's records: what each simulated host serves and what a correct scanner should see.

A :class:`Host` is one loopback address with its :class:`Service`\\ s. Everything a server
sends is decided here, when the population is generated from the seed, so the ground truth
(:meth:`Host.truth`) names the exact bytes; the servers in :mod:`mxcensus.lab.servers` only
replay these specs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any


class Handler(StrEnum):
    """How a port behaves. The first five speak their protocol; the rest are hostile."""

    SMTP = "smtp"
    IMAP = "imap"
    POP3 = "pop3"
    HTTP = "http"
    MANAGESIEVE = "managesieve"
    TARPIT = "tarpit"  # the greeting trickles out one byte every few seconds
    SILENT = "silent"  # accepts and says nothing
    RESET = "reset"  # accepts, then RST (SO_LINGER 0)
    DROP = "drop"  # accepts, then closes cleanly before any greeting
    GARBAGE = "garbage"  # binary noise ending in CRLF instead of a greeting
    GIANT = "giant"  # a 10 MB greeting without CRLF, streamed
    BROKEN_TLS = "broken-tls"  # implicit-TLS port that answers the ClientHello with noise


HOSTILE_KINDS: tuple[str, ...] = (
    "tarpit",
    "silent",
    "reset",
    "drop",
    "garbage",
    "giant",
    "slow-multiline",
    "broken-starttls",
    "broken-tls",
    "html-banner",
    "ansi-banner",
    "csv-banner",
    "greet-pause",  # a real Exim that waits 5 s before its banner: outcome ok
)


@dataclass(frozen=True, slots=True)
class SmtpDialect:
    """Reply texts of one MTA. ``ehlo_hello`` is formatted with ``{arg}`` and ``{ip}``."""

    ehlo_hello: str
    extensions: tuple[str, ...]  # without STARTTLS; it is added when offered
    helo: str
    starttls_reply: str
    quit_reply: str
    not_accepted: str = "502 5.5.1 Command not implemented"
    unknown: str = "500 5.5.2 Error: command not recognized"
    help: str = ""  # the reply to HELP (lines joined by CRLF); "" answers as ``unknown``


@dataclass(frozen=True, slots=True)
class LineTexts:
    """Reply wordings of an IMAP or POP3 server besides its greeting (``{tag}`` is the
    command's tag). The defaults name no product; a product that answers in words of its own
    gets them (Dovecot's, recorded from Debian's)."""

    capability_ok: str = "OK Pre-login capabilities listed."
    id_reply: str = "* ID NIL"
    logout: str = "* BYE Logging out\r\n{tag} OK LOGOUT completed."
    pop3_quit: str = "+OK Logging out."


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class HttpSite:
    """Responses by lower-cased path (without query); ``fallback`` for any other path."""

    routes: tuple[tuple[str, HttpResponse], ...]
    fallback: HttpResponse


@dataclass(frozen=True, slots=True)
class Service:
    port: int
    protocol: str  # smtp, submission, smtps, imap, imaps, pop3, pop3s, http, https, managesieve
    handler: Handler
    implicit_tls: bool = False
    starttls: bool = False  # STARTTLS / STLS offered in-band
    greeting: bytes = b""  # exactly what is sent first (all lines, CRLFs included)
    # what a correct identifier can know from this port alone
    product: str = "unknown"
    vendor: str = ""
    version: str = ""
    precision: str = "none"
    outcome: str = "ok"  # expected outcome class of a correct, bounded client
    smtp: SmtpDialect | None = None
    capabilities: tuple[
        str, ...
    ] = ()  # IMAP CAPABILITY, POP3 CAPA or ManageSieve lines (no STARTTLS)
    http: HttpSite | None = None
    line_delay: float = 0.0  # seconds between lines of multi-line replies (slow hosts)
    greet_delay: float = 0.0  # seconds before the greeting (Exim's greet pause)
    broken_starttls: bool = False  # noise instead of a TLS handshake after STARTTLS
    noise: bytes = b""  # garbage / broken-tls payload
    giant_size: int = 0
    evidence: tuple[str, ...] = ()  # which observed fields carry the version
    note: str = ""
    texts: LineTexts = field(default_factory=LineTexts)  # IMAP / POP3 replies
    hidden: bool = False  # the greeting was customised: it names no product

    @property
    def tls(self) -> str:
        if self.implicit_tls:
            return "implicit"
        return "starttls" if self.starttls else "none"

    def truth(self) -> dict[str, Any]:
        banner: str
        if self.handler is Handler.GIANT:
            banner = self.greeting[:64].decode("latin-1")
        else:
            banner = self.greeting.decode("latin-1")
        out: dict[str, Any] = {
            "protocol": self.protocol,
            "handler": str(self.handler),
            "tls": self.tls,
            "product": self.product,
            "vendor": self.vendor,
            "version": self.version,
            "precision": self.precision,
            "outcome": self.outcome,
            "banner": banner,
        }
        if self.handler is Handler.GIANT:
            out["banner_bytes"] = self.giant_size
            out["banner_truncated"] = True
        if self.greet_delay:
            out["greet_delay"] = self.greet_delay
        if self.http is not None:
            out["http"] = {
                "routes": {path: r.status for path, r in self.http.routes},
                "other_paths": self.http.fallback.status,
            }
        if self.evidence:
            out["evidence"] = list(self.evidence)
        if self.note:
            out["note"] = self.note
        if self.hidden:
            out["hidden"] = True
        return out


_NOT_TRUTH = ("address", "services")


@dataclass(frozen=True, slots=True)
class Host:
    index: int
    address: str
    hostname: str
    kind: str  # exim, postfix, exchange, … or hostile:<kind>
    # the truth about the host as a whole
    product: str
    vendor: str
    version: str  # what it really runs ("" when the product has no version here)
    visible_version: str  # what a correct identifier can know, all ports combined
    precision: str  # of visible_version, all ports combined
    product_line: str = ""
    release: str = ""
    distro: str = ""
    exposure: str = ""  # Exchange: smtp-only, owa-path, x-owa-version, ecp-manifest
    hostile: str = ""
    services: tuple[Service, ...] = field(default=())

    def truth(self) -> dict[str, Any]:
        """Every field but the address (the key a host is listed under) and the services,
        which follow as ``ports``: each port's own truth."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_TRUTH}
        out["ports"] = {str(s.port): s.truth() for s in self.services}
        return out

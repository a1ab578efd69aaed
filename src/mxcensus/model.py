"""The records that flow through the pipeline.

targets -> engine -> probes -> :class:`Transcript` -> identify -> :class:`Identification`
-> assess -> :class:`Finding` / :class:`EolStatus` -> :class:`ServiceRecord` (exported).

Every record is a frozen dataclass. Raw bytes a server sent are kept as ``bytes``; the
JSON/DuckDB edge stores them as latin-1 text, which maps every byte to one code point and
back without loss (:func:`bytes_to_text` / :func:`text_to_bytes`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import IntEnum, StrEnum
from typing import Any, NewType

from mxcensus.text import ESCAPES

ScanId = NewType("ScanId", str)

SCHEMA_VERSION = 1
"""Version of the exported JSONL record (``schema`` field)."""


class Outcome(StrEnum):
    """How a probe of one service ended. Closed set: every transcript has exactly one."""

    OK = "ok"  # the dialogue ran to its end
    REFUSED = "refused"  # connection refused (RST to SYN)
    UNREACHABLE = "unreachable"  # no route / host unreachable
    CONNECT_TIMEOUT = "connect-timeout"  # no answer to the connection attempt in time
    TIMEOUT = "timeout"  # connected, but the server stopped answering in time (tarpit, silent)
    CLOSED = "closed"  # the server closed the connection before the dialogue ended
    RESET = "reset"  # the server reset an established connection
    TLS_ERROR = "tls-error"  # the TLS handshake failed (implicit TLS or after STARTTLS)
    PROTOCOL_ERROR = "protocol-error"  # the server spoke, but not the protocol we asked for
    TOO_LARGE = "too-large"  # a reply exceeded the read bound
    EXCLUDED = "excluded"  # never contacted: the address is on the blocklist
    ERROR = "error"  # anything else; the transcript's ``error`` says what


class Transport(StrEnum):
    PLAIN = "plain"
    STARTTLS = "starttls"  # upgraded in-band; the transcript holds both halves
    TLS = "tls"  # implicit TLS from the first byte


@dataclass(frozen=True, slots=True)
class Step:
    """One exchange of the dialogue: what we sent and what came back, unparsed.

    ``name`` says which step it is (``greeting``, ``ehlo``, ``starttls``, ``ehlo-tls``,
    ``capability``, ``GET /owa/`` …). For HTTP, ``code`` is the status, ``headers`` the
    response headers in the order received and ``received`` the (bounded) body. For line
    protocols ``code`` is the reply code when there is one.
    """

    name: str
    sent: bytes = b""
    received: bytes = b""
    code: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class Certificate:
    subject: str
    issuer: str
    sans: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    serial: str  # hex
    sha256: str  # hex fingerprint of the DER
    self_signed: bool
    # read from the DER at probe time; empty/0 where a source did not give them (imports)
    key_algorithm: str = ""  # "rsaEncryption", "id-ecPublicKey" (OpenSSL's names)
    key_bits: int = 0
    signature_algorithm: str = ""  # "sha256WithRSAEncryption"
    x509_version: int | None = None  # the version field: 2 for v3
    sha1: str = ""  # hex fingerprint of the DER


@dataclass(frozen=True, slots=True)
class TlsInfo:
    """The TLS session a probe established, or one an import reports."""

    version: str  # "TLSv1.3"; "" when not known
    cipher: str  # the suite's name as the source gives it (a scan: OpenSSL's); "" when not known
    chain: tuple[Certificate, ...] = ()  # as the server sent it, leaf first, never verified


@dataclass(frozen=True, slots=True)
class Transcript:
    """What one probe of one service saw. Produced by probes and importers alike."""

    ip: str
    port: int
    protocol: str  # smtp, submission, smtps, imap, imaps, pop3, pop3s, http, https
    transport: Transport
    observed_at: datetime
    outcome: Outcome
    steps: tuple[Step, ...] = ()
    tls: TlsInfo | None = None
    error: str = ""
    duration_ms: int = 0
    hostname: str = ""
    source: str = "scan"  # scan, shodan, censys, zgrab2, nmap-xml, masscan, shadowserver
    extra: tuple[tuple[str, str], ...] = ()  # importer's own fields kept as evidence

    def step(self, name: str) -> Step | None:
        for s in self.steps:
            if s.name == name:
                return s
        return None


class Precision(IntEnum):
    """How much of the version the evidence pins down."""

    NONE = 0
    PRODUCT = 1  # "Postfix", no version
    MAJOR = 2  # "Exchange Server 2016"
    VERSION = 3  # "4.96", "15.1.2375" for non-Exchange products
    BUILD3 = 4  # Exchange major.minor.build: the CU
    BUILD4 = 5  # Exchange full build: CU and SU

    @property
    def label(self) -> str:
        return _PRECISION_LABELS[self]

    @classmethod
    def from_label(cls, label: str) -> Precision:
        for p, text in _PRECISION_LABELS.items():
            if text == label:
                return p
        raise ValueError(f"unknown precision {label!r}")


_PRECISION_LABELS = {
    Precision.NONE: "none",
    Precision.PRODUCT: "product",
    Precision.MAJOR: "major",
    Precision.VERSION: "version",
    Precision.BUILD3: "build3",
    Precision.BUILD4: "build4",
}


@dataclass(frozen=True, slots=True)
class Evidence:
    """One observation that supports an identification."""

    field: str  # e.g. "smtp.banner", "http.header.x-owa-version", "ecp.manifest"
    rule: str  # rule id, "file#id"
    value: str  # the matched text, shortened
    port: int = 0
    product: str = ""  # what this observation alone says: product, version, precision
    version: str = ""
    precision: Precision = Precision.NONE
    confidence: str = ""  # what it is worth alone (the rule's, or as its precision says)


@dataclass(frozen=True, slots=True)
class Identification:
    """What software a service (or host) runs, and how we know."""

    product: str  # from the closed vocabulary, "unknown" when nothing matched
    vendor: str = ""
    version: str = ""
    precision: Precision = Precision.NONE
    cpe: str = ""
    distro: str = ""  # a packaging hint seen in the evidence ("debian", "ubuntu")
    evidence: tuple[Evidence, ...] = ()
    conflicts: tuple[Evidence, ...] = ()  # evidence that disagreed and lost
    reason: str = ""  # for unknown: why; for a known product: a rule's note (IIS vs Exchange)
    confidence: str = ""  # high / medium / low; "" means as the precision says (CONFIDENCE)

    @classmethod
    def unknown(cls, reason: str) -> Identification:
        return cls(product="unknown", reason=reason)

    @property
    def is_known(self) -> bool:
        return self.product != "unknown"


CONFIDENCE_LEVELS = ("low", "medium", "high")
"""How sure an identification is, least first."""

CONFIDENCE: dict[Precision, str] = {
    Precision.BUILD4: "high",
    Precision.BUILD3: "medium",
    Precision.VERSION: "medium",
    Precision.MAJOR: "low",
    Precision.PRODUCT: "low",
}
"""The confidence of a statement by its precision, when nothing says otherwise: a full
build is high, a version medium, a product alone low."""


def confidence_of(ident: Identification) -> str:
    """``ident.confidence``, or what its precision says when it has none of its own."""
    return ident.confidence or CONFIDENCE.get(ident.precision, "")


class Status(StrEnum):
    """A CVE verdict. The members are listed most severe first, and that order is the one
    definition of severity (:attr:`severity`; the store's SQL is derived from it).
    ``unknown`` ranks above ``not-vulnerable``: a service we could not judge must never hide
    behind one we judged safe."""

    VULNERABLE = "vulnerable"
    POTENTIALLY_VULNERABLE = "potentially-vulnerable"
    UNKNOWN = "unknown"
    NOT_VULNERABLE = "not-vulnerable"

    @property
    def severity(self) -> int:
        """4 for vulnerable … 1 for not-vulnerable; 0 is :data:`NO_FINDINGS`."""
        return _SEVERITY[self]

    @classmethod
    def worst(cls, statuses: Iterable[Status]) -> Status:
        """The most severe of ``statuses`` (at least one)."""
        return max(statuses, key=_SEVERITY.__getitem__)


_SEVERITY: dict[Status, int] = {s: len(Status) - i for i, s in enumerate(Status)}

NO_FINDINGS = "none"
"""A service's verdict (``worst_status``) when its product is known and no CVE in our
knowledge concerns it; ranks below every :class:`Status` (severity 0)."""

VERDICTS: tuple[str, ...] = (*(s.value for s in Status), NO_FINDINGS)
"""Every value of a service's verdict, most severe first."""

NOT_CONNECTED: frozenset[Outcome] = frozenset(
    {Outcome.REFUSED, Outcome.UNREACHABLE, Outcome.CONNECT_TIMEOUT, Outcome.EXCLUDED}
)
"""Outcomes of a port that never accepted a connection: such a row is not an exposed
service, and no report, export of exposed services or count includes it."""


@dataclass(frozen=True, slots=True)
class Finding:
    """The verdict for one service and one CVE, always with its reason."""

    cve: str
    status: Status
    reason: str
    fixed_in: str = ""
    kev: bool = False
    kev_date: date | None = None
    ransomware: bool = False
    cvss: float | None = None
    tags: tuple[str, ...] = ()  # short names used in Shadowserver-style tags ("21nails")

    def to_json(self) -> dict[str, Any]:
        """The finding as it appears in ``cves`` of the exported record."""
        return {
            "id": self.cve,
            "status": self.status.value,
            "kev": self.kev,
            "cvss": self.cvss,
            "reason": self.reason,
            "fixed_in": self.fixed_in or None,
        }


@dataclass(frozen=True, slots=True)
class EolStatus:
    eol: bool | None  # None: cannot tell
    line: str = ""
    date: date | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Assessment:
    product_line: str = ""  # "Exchange Server 2016", "Exim 4"
    release: str = ""  # "CU22 Oct21SU"
    confidence: str = ""  # high / medium / low
    findings: tuple[Finding, ...] = ()
    eol: EolStatus = field(default_factory=lambda: EolStatus(eol=None))
    remediation: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Merged:
    """One endpoint (ip:port) observed several times in one scan (an import holding two
    crawls of it): one service, the newest observation, and the others kept as history
    in the scan's transcripts."""

    others: tuple[datetime, ...]  # when the observations not chosen were made, newest first

    @property
    def observations(self) -> int:
        return len(self.others) + 1

    def to_json(self) -> dict[str, Any]:
        """The record's ``merged`` field."""
        return {
            "observations": self.observations,
            "chosen": "newest",
            "others": [t.astimezone(UTC).isoformat() for t in self.others],
        }


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    """One exported record per service: the shape of DESIGN.md's JSONL."""

    scan: str
    transcript: Transcript
    identification: Identification
    assessment: Assessment
    country: str = ""
    continent: str = ""
    region: str = ""
    asn: int | None = None
    org: str = ""
    city: str = ""
    geo_source: str = ""
    banner: str = ""
    merged: Merged | None = None  # several observations of the endpoint: the newest won

    def to_json(self) -> dict[str, Any]:
        t = self.transcript
        named = (
            {"hostname": t.hostname, "hostname_source": hostname_source(t.source)}
            if t.hostname
            else {}
        )
        out = {
            "schema": SCHEMA_VERSION,
            "scan": self.scan,
            "ip": t.ip,
            "port": t.port,
            "protocol": t.protocol,
            "transport": t.transport.value,
            "observed_at": t.observed_at.astimezone(UTC).isoformat(),  # as stored
            "outcome": t.outcome.value,
            "source": t.source,
            **named,
            **record_identity(self.identification, self.assessment),
            **record_geo(self.country, self.continent, self.asn, self.org),
            "banner": self.banner,
        }
        if self.merged is not None:
            out["merged"] = self.merged.to_json()
        return out


def hostname_source(source: str) -> str:
    """Where a service's hostname came from when nothing more precise is stored (a watched
    domain's MX is, in ``scan_names``): ``target`` for a name the user gave a scan,
    else the import format that named it (``shodan``)."""
    return "target" if source == "scan" else source


def record_identity(ident: Identification, a: Assessment) -> dict[str, Any]:
    """The part of the exported record that follows from what a service runs and its verdicts
    (``vendor`` … ``remediation``, in the record's key order); the analysis serialises it once
    per distinct (identification, assessment) pair."""
    return {
        "vendor": ident.vendor or None,
        "product": ident.product,
        "product_line": a.product_line or None,
        "version": ident.version or None,
        "precision": ident.precision.label,
        "release": a.release or None,
        "confidence": a.confidence or None,
        "distro": ident.distro or None,
        "evidence": [e.field for e in ident.evidence],
        "conflicts": [conflict_json(e) for e in ident.conflicts],
        "verdict": verdict_of(ident, a),
        "cves": [f.to_json() for f in a.findings],
        "eol": {
            "eol": a.eol.eol,
            "line": a.eol.line or None,
            "date": a.eol.date.isoformat() if a.eol.date else None,
        },
        "remediation": list(a.remediation),
    }


def conflict_key(e: Evidence) -> tuple[str, str, str, str, str]:
    """What of a conflict the exported record shows (:func:`conflict_json`), as a key."""
    return (e.field, e.rule, e.value, e.product, e.version)


def conflict_json(e: Evidence) -> dict[str, Any]:
    """One piece of evidence that disagreed with the identification, as the record shows it:
    the field, the rule, the text it matched and what that text alone says."""
    return {
        "field": e.field,
        "rule": e.rule,
        "value": e.value,
        "product": e.product or None,
        "version": e.version or None,
    }


_STATUS_RANK = {"vulnerable": 4, "potentially-vulnerable": 3, "unknown": 2, "not-vulnerable": 1}


def verdict_of(ident: Identification, a: Assessment) -> str:
    """A service's verdict: its most severe CVE status; ``unknown`` when its product is
    unknown (it could not be judged); ``none`` for a known product with no CVE known."""
    if not a.findings:
        return "unknown" if not ident.is_known else "none"
    return max((f.status.value for f in a.findings), key=_STATUS_RANK.__getitem__)


def record_geo(country: str, continent: str, asn: int | None, org: str) -> dict[str, Any]:
    """The location part of the exported record (``country`` … ``org``)."""
    return {
        "country": country or None,
        "continent": continent or None,
        "asn": asn,
        "org": org or None,
    }


def bytes_to_text(data: bytes) -> str:
    """Lossless bytes -> str for JSON/SQL storage (one code point per byte)."""
    return data.decode("latin-1")


def text_to_bytes(text: str) -> bytes:
    return text.encode("latin-1")


def printable(data: bytes, limit: int = 512) -> str:
    """A display form of raw server bytes: UTF-8 where valid, control bytes escaped, bounded.

    Used for banners in reports and exports; never for identification input. Every
    character :mod:`mxcensus.text` calls unsafe (C0 and C1 controls and DEL as ``\\xNN``, CR,
    LF, TAB as ``\\r \\n \\t``, bidirectional and zero-width format characters as
    ``\\uNNNN``) is escaped, so no terminal escape sequence or reordering survives.
    """
    text = data[:limit].decode("utf-8", errors="backslashreplace").translate(ESCAPES)
    return text + ("…" if len(data) > limit else "")


def printable_stored(text: str, limit: int = 512) -> str:
    """:func:`printable` of raw bytes in their stored form (latin-1 text, one code point per
    byte): ASCII needs no round trip through bytes."""
    if not text.isascii():
        return printable(text_to_bytes(text), limit)
    cut = text[:limit]
    if "\r" in cut or "\n" in cut:  # most banners: CR LF their only controls
        plain = cut.replace("\r", "\\r").replace("\n", "\\n")
        cut = plain if _OTHER_CONTROL.search(plain) is None else cut.translate(ESCAPES)
    else:
        cut = cut.translate(ESCAPES)
    return cut + ("…" if len(text) > limit else "")


_OTHER_CONTROL = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]")
"""The ASCII controls :data:`ESCAPES` escapes other than CR and LF."""

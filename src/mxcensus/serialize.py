"""Transcripts to and from plain JSON-able dicts, losslessly (the store and fixtures use it)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NotRequired, TypedDict

import orjson

from mxcensus.model import (
    Certificate,
    Outcome,
    Step,
    TlsInfo,
    Transcript,
    Transport,
    bytes_to_text,
    text_to_bytes,
)


class StepDoc(TypedDict):
    """A :class:`Step` as stored (bytes as latin-1 text)."""

    name: str
    sent: str
    received: str
    code: int | None
    headers: list[list[str]]  # [name, value] pairs, in order
    truncated: bool


class ServiceDoc(TypedDict):
    """Which service was seen, when, how the session went and what was said: the part of a
    stored transcript that ``assess`` reads (the analysis builds one from staged columns
    too)."""

    ip: str
    port: int
    protocol: str
    transport: str
    observed_at: str  # ISO 8601 with its offset
    outcome: str
    steps: list[StepDoc]


class TranscriptDoc(ServiceDoc):
    """A :class:`Transcript` as stored: the JSON form the store keeps and importers write
    directly (:func:`transcript_to_dict`); the keys older rows may lack are optional."""

    tls: dict[str, Any] | None
    error: NotRequired[str]
    duration_ms: NotRequired[int]
    hostname: NotRequired[str]
    source: NotRequired[str]
    extra: NotRequired[list[list[str]]]  # [key, value] pairs, in order


def cert_to_dict(c: Certificate) -> dict[str, Any]:
    return {
        "subject": c.subject,
        "issuer": c.issuer,
        "sans": list(c.sans),
        "not_before": c.not_before.isoformat(),
        "not_after": c.not_after.isoformat(),
        "serial": c.serial,
        "sha256": c.sha256,
        "self_signed": c.self_signed,
        "key_algorithm": c.key_algorithm,
        "key_bits": c.key_bits,
        "signature_algorithm": c.signature_algorithm,
        "x509_version": c.x509_version,
        "sha1": c.sha1,
    }


def _cert_from_dict(d: dict[str, Any]) -> Certificate:
    return Certificate(
        subject=d["subject"],
        issuer=d["issuer"],
        sans=tuple(d["sans"]),
        not_before=datetime.fromisoformat(d["not_before"]),
        not_after=datetime.fromisoformat(d["not_after"]),
        serial=d["serial"],
        sha256=d["sha256"],
        self_signed=bool(d["self_signed"]),
        key_algorithm=d.get("key_algorithm", ""),
        key_bits=int(d.get("key_bits", 0)),
        signature_algorithm=d.get("signature_algorithm", ""),
        x509_version=d.get("x509_version"),
        sha1=d.get("sha1", ""),
    )


def tls_to_dict(t: TlsInfo | None) -> dict[str, Any] | None:
    if t is None:
        return None
    return {"version": t.version, "cipher": t.cipher, "chain": [cert_to_dict(c) for c in t.chain]}


def tls_from_dict(d: dict[str, Any] | None) -> TlsInfo | None:
    if d is None:
        return None
    return TlsInfo(
        version=d["version"],
        cipher=d["cipher"],
        chain=tuple(_cert_from_dict(c) for c in d["chain"]),
    )


def steps_to_list(steps: tuple[Step, ...]) -> list[StepDoc]:
    return [
        {
            "name": s.name,
            "sent": bytes_to_text(s.sent),
            "received": bytes_to_text(s.received),
            "code": s.code,
            "headers": [list(h) for h in s.headers],
            "truncated": s.truncated,
        }
        for s in steps
    ]


def steps_from_list(items: list[dict[str, Any]]) -> tuple[Step, ...]:
    return tuple(
        Step(
            name=i["name"],
            sent=text_to_bytes(i["sent"]),
            received=text_to_bytes(i["received"]),
            code=i["code"],
            headers=tuple((str(k), str(v)) for k, v in i["headers"]),
            truncated=bool(i["truncated"]),
        )
        for i in items
    )


def transcript_to_dict(t: Transcript) -> TranscriptDoc:
    return {
        "ip": t.ip,
        "port": t.port,
        "protocol": t.protocol,
        "transport": t.transport.value,
        "observed_at": t.observed_at.isoformat(),
        "outcome": t.outcome.value,
        "steps": steps_to_list(t.steps),
        "tls": tls_to_dict(t.tls),
        "error": t.error,
        "duration_ms": t.duration_ms,
        "hostname": t.hostname,
        "source": t.source,
        "extra": [list(kv) for kv in t.extra],
    }


def transcript_from_dict(d: Mapping[str, Any]) -> Transcript:
    return Transcript(
        ip=d["ip"],
        port=int(d["port"]),
        protocol=d["protocol"],
        transport=Transport(d["transport"]),
        observed_at=datetime.fromisoformat(d["observed_at"]),
        outcome=Outcome(d["outcome"]),
        steps=steps_from_list(d["steps"]),
        tls=tls_from_dict(d["tls"]),
        error=d.get("error", ""),
        duration_ms=int(d.get("duration_ms", 0)),
        hostname=d.get("hostname", ""),
        source=d.get("source", "scan"),
        extra=tuple((str(k), str(v)) for k, v in d.get("extra", [])),
    )


def dumps(t: Transcript) -> bytes:
    return orjson.dumps(transcript_to_dict(t))


def loads(data: bytes | str) -> Transcript:
    return transcript_from_dict(orjson.loads(data))


TranscriptRow = tuple[str, int, str, str, datetime, str, str, str]
"""ip, port, protocol, transport, observed_at, outcome, source, the transcript as JSON: one
row of the store's ``transcripts`` table, built by the scan workers (which never import the
store: DuckDB and pyarrow stay out of them)."""


def transcript_row(t: Transcript) -> TranscriptRow:
    return (
        t.ip,
        t.port,
        t.protocol,
        t.transport.value,
        t.observed_at,
        t.outcome.value,
        t.source,
        orjson.dumps(transcript_to_dict(t)).decode(),
    )

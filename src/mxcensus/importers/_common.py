"""Helpers every importer shares: service naming, timestamps, banners into steps, TLS facts.

Nothing here interprets software or versions; it only puts what a source recorded into the
shape a live probe would have produced.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, BinaryIO

from mxcensus.model import Certificate, Step, TlsInfo, Transport
from mxcensus.probes import TABLE
from mxcensus.probes.interface import Cut
from mxcensus.serialize import cert_to_dict, steps_from_list

MAX_REPLY = 64 * 1024  # like ProbeConfig.max_reply_bytes: longer banners are truncated
MAX_BODY = 256 * 1024  # like ProbeConfig.max_body_bytes
MAX_EXTRA = 1024  # one kept field of the source, at most
MAX_LINE = 64 * 1024 * 1024  # one input line (one record) at most


def family_of(port: int, name: str = "") -> str | None:
    """The protocol family (smtp, imap, pop3, http …) of a service another scanner named
    ``name`` on ``port``, as the probes declare them (``mxcensus.probes.TABLE``), or None."""
    return TABLE.family_of(port, name)


def protocol_of(family: str, port: int, *, tls: bool | None = None, name: str = "") -> str:
    """The probe-style protocol name: smtp/submission/smtps, imap/imaps, pop3/pop3s, http/s …"""
    return TABLE.protocol_of(family, port, tls=tls, name=name)


def transport_of(protocol: str, *, starttls: bool = False) -> Transport:
    if protocol in TABLE.tls_protocols:
        return Transport.TLS
    return Transport.STARTTLS if starttls else Transport.PLAIN


def default_port(family: str) -> int:
    """The port a record of ``family`` that names none was most likely taken on."""
    return TABLE.default_port(family)


def is_http(family: str) -> bool:
    return TABLE.families[family].http


def epoch(seconds: float) -> datetime:
    """The UTC time ``seconds`` after 1970; ValueError when no datetime holds it (the
    platform's OverflowError and OSError for a huge or NaN value included)."""
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"timestamp {seconds!r} out of range") from exc


def parse_time(value: Any, default: datetime) -> datetime:
    """ISO 8601 (with or without zone; naive means UTC), 'YYYY-MM-DD HH:MM:SS' or epoch.
    Raises ValueError only."""
    if value is None or value == "":
        return default
    if isinstance(value, int | float) and not isinstance(value, bool):
        return epoch(float(value))
    text = str(value).strip()
    if text.isdigit():
        return epoch(int(text))
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        dt = None
    if dt is not None:
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    try:
        dt = datetime.fromisoformat(text.replace(" UTC", "").replace("Z", "+00:00"))
    except ValueError:
        # zgrab2 writes Go's "2006-01-02T15:04:05.999999999-07:00": too many fraction digits
        m = re.match(r"^(.*?\.\d{6})\d*(.*)$", text)
        if not m:
            raise
        dt = datetime.fromisoformat((m.group(1) + m.group(2)).replace("Z", "+00:00"))
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def to_bytes(value: Any) -> bytes:
    """Text a JSON source gave us back into the bytes the server sent (UTF-8, lossless enough)."""
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", errors="surrogateescape")


def step(name: str, received: bytes, *, code: int | None = None, sent: bytes = b"",
         headers: tuple[tuple[str, str], ...] = (), limit: int = MAX_REPLY) -> Step:  # fmt: skip
    if len(received) > limit:
        return Step(name, sent, received[:limit], code, headers, True)
    return Step(name, sent, received, code, headers, False)


def reply_code(data: bytes) -> int | None:
    if len(data) >= 3 and data[:3].isdigit():
        return int(data[:3])
    return None


_REPLY = re.compile(rb"(?:[^\n]*\n)*?\d{3}(?![-\d])[^\n]*(?:\n|\Z)")
"""One reply from a line start: any lines, up to the first "250 x"/"250" line (not "250-")."""


def split_replies(data: bytes) -> list[bytes]:
    """Split concatenated SMTP replies ("220-a\\r\\n220 b\\r\\n250-c\\r\\n250 d") into replies.

    A reply ends at a line whose fourth byte is not '-'. Lines without a code are kept with
    the reply they follow. (One anchored match per reply: scanning every line start with a
    multiline pattern was twice as slow.)
    """
    replies: list[bytes] = []
    pos = 0
    size = len(data)
    match = _REPLY.match
    while pos < size:
        m = match(data, pos)
        if m is None:
            replies.append(data[pos:])
            break
        replies.append(m.group())
        pos = m.end()
    return replies


StepParts = tuple[str, bytes, int | None, bytes]
"""name, received, code, sent: one step before it becomes a Step or a stored document."""


def smtp_parts(data: bytes, ehlo_sent: bytes = b"") -> list[StepParts]:
    """A recorded SMTP exchange (greeting, then usually the EHLO reply) as probe steps."""
    if not data:
        return []
    replies = split_replies(data)
    first = replies[0]
    parts: list[StepParts] = [("greeting", first, reply_code(first), b"")]
    have_ehlo = False
    for r in replies[1:]:
        code = reply_code(r)
        if code == 250 and not have_ehlo:
            have_ehlo = True
            parts.append(("ehlo", r, code, ehlo_sent))
        elif code == 214:
            parts.append(("help", r, code, b""))
        else:
            parts.append((f"reply-{len(parts)}", r, code, b""))
    return parts


def smtp_steps(data: bytes, ehlo_sent: bytes = b"") -> tuple[Step, ...]:
    return tuple(step(n, r, code=c, sent=s) for n, r, c, s in smtp_parts(data, ehlo_sent))


def line_protocol_parts(data: bytes, next_name: str) -> list[StepParts]:
    """IMAP/POP3: the first line is the greeting, the rest (if any) the CAPABILITY/CAPA reply."""
    if not data:
        return []
    first, sep, rest = data.partition(b"\n")
    parts: list[StepParts] = [("greeting", first + sep, None, b"")]
    if rest.strip():
        parts.append((next_name, rest, None, b""))
    return parts


def line_protocol_steps(data: bytes, next_name: str) -> tuple[Step, ...]:
    return tuple(step(n, r, code=c, sent=s) for n, r, c, s in line_protocol_parts(data, next_name))


def banner_steps(family: str, data: bytes) -> tuple[Step, ...]:
    """A banner another scanner recorded, cut into the steps its probe would have recorded,
    as the protocol declares (SMTP replies, a greeting line and its capabilities, the whole
    greeting); an HTTP response head becomes one response step."""
    if TABLE.families[family].cut is Cut.HTTP:
        code, headers, body = http_head(data)
        return (http_step("/", code, headers, body),) if data else ()
    return steps_from_list(banner_step_docs_text(family, data.decode("latin-1")))


# -- stored documents -------------------------------------------------------------------
# An importer may build the store's JSON form of a transcript (serialize.transcript_to_dict)
# directly: building frozen dataclasses only to serialise them again was most of the import's
# cost. serialize.transcript_from_dict turns such a document into the Transcript.


def step_doc(
    name: str,
    received: bytes,
    code: int | None = None,
    sent: bytes = b"",
    headers: list[list[str]] | None = None,
    limit: int = MAX_REPLY,
) -> dict[str, Any]:
    """serialize.steps_to_list's form of :func:`step`."""
    truncated = len(received) > limit
    return {
        "name": name,
        "sent": sent.decode("latin-1"),
        "received": (received[:limit] if truncated else received).decode("latin-1"),
        "code": code,
        "headers": headers or [],
        "truncated": truncated,
    }


def smtp_step_docs(data: bytes) -> list[dict[str, Any]]:
    """``step_docs(smtp_parts(data))`` in one pass: :func:`smtp_step_docs_text` of the
    bytes' stored form (latin-1 text, one code point per byte)."""
    return smtp_step_docs_text(data.decode("latin-1"))


# The same, from the stored text itself: the store keeps bytes as latin-1 text (one code
# point per byte), so splitting that text is splitting the bytes, provided nothing treats a
# code point above 0x7F as a digit or as white space (hence re.ASCII, _WS, _is_code). A
# JSON source's ASCII text is its own stored form: no encode, no decode, no copy.

_WS = " \t\n\r\x0b\x0c"
"""What ``bytes.strip()`` strips (``str.strip()`` also strips \\x1c-\\x1f, \\x85, \\xa0)."""
_REPLY_TEXT = re.compile(_REPLY.pattern.decode("ascii"), re.ASCII)


def stored_text(value: Any) -> str:
    """``to_bytes(value)`` in its stored form (latin-1 text), without the bytes for ASCII
    text (what JSON sources nearly always hold)."""
    if type(value) is str and value.isascii():
        return value
    return to_bytes(value).decode("latin-1")


def _is_code(s: str) -> bool:
    return len(s) == 3 and s.isascii() and s.isdigit()


def smtp_step_docs_text(text: str) -> list[dict[str, Any]]:
    """:func:`smtp_step_docs` of the bytes whose stored form ``text`` is."""
    if not text:
        return []
    docs: list[dict[str, Any]] = []
    have_ehlo = False
    pos = 0
    size = len(text)
    match = _REPLY_TEXT.match
    while pos < size:  # split_replies, inline
        m = match(text, pos)
        if m is None:
            r = text[pos:]
            pos = size
        else:
            r = m.group()
            pos = m.end()
        head = r[:3]
        code = int(head) if _is_code(head) else None
        if not docs:
            name = "greeting"
        elif code == 250 and not have_ehlo:
            have_ehlo = True
            name = "ehlo"
        elif code == 214:
            name = "help"
        else:
            name = f"reply-{len(docs)}"
        truncated = len(r) > MAX_REPLY
        docs.append(
            {
                "name": name,
                "sent": "",
                "received": r[:MAX_REPLY] if truncated else r,
                "code": code,
                "headers": [],
                "truncated": truncated,
            }
        )
    return docs


def banner_step_docs_text(family: str, text: str) -> list[dict[str, Any]]:
    """:func:`banner_steps` in the stored form, of the bytes whose stored form ``text`` is
    (not for HTTP: its importers build the response's step from the record's fields)."""
    spec = TABLE.families[family]
    if spec.cut is Cut.REPLIES:
        return smtp_step_docs_text(text)
    if spec.cut is Cut.FIRST_LINE:
        return line_protocol_step_docs_text(text, spec.then)
    if spec.cut is Cut.HTTP:
        raise ValueError(f"{family}: an HTTP response is not a banner")
    head = text[:3]
    return [_text_step_doc("greeting", text, int(head) if _is_code(head) else None)] if text else []


def line_protocol_step_docs_text(text: str, next_name: str) -> list[dict[str, Any]]:
    """``step_docs(line_protocol_parts(bytes, next_name))`` of the bytes whose stored form
    ``text`` is."""
    if not text:
        return []
    first, sep, rest = text.partition("\n")
    out = [_text_step_doc("greeting", first + sep)]
    if rest.strip(_WS):
        out.append(_text_step_doc(next_name, rest))
    return out


def _text_step_doc(name: str, received: str, code: int | None = None,
                   headers: list[list[str]] | None = None,
                   limit: int = MAX_REPLY) -> dict[str, Any]:  # fmt: skip
    truncated = len(received) > limit
    return {
        "name": name,
        "sent": "",
        "received": received[:limit] if truncated else received,
        "code": code,
        "headers": headers or [],
        "truncated": truncated,
    }


def http_head_text(raw: str) -> tuple[int | None, list[list[str]]]:
    """:func:`http_head` of the bytes whose stored form ``raw`` is: the status code and the
    headers, in a step document's form (the rest after the head is not needed here)."""
    head = raw.replace("\r\n", "\n").partition("\n\n")[0]
    lines = head.split("\n")
    code: int | None = None
    start = 0
    if lines and lines[0].startswith("HTTP/"):
        parts = lines[0].encode("latin-1").split(None, 2)  # bytes' idea of white space
        if len(parts) >= 2 and parts[1].isdigit():
            code = int(parts[1])
        start = 1
    headers: list[list[str]] = []
    for line in lines[start:]:
        name, colon, value = line.partition(":")
        if colon:
            name = name.strip(_WS)
            if name:
                value = value.strip(_WS)
                if not value.isascii():
                    value = value.encode("latin-1").decode("utf-8", "replace")
                headers.append([name, value])
    return code, headers


def http_step_doc_text(path: str, code: int | None, headers: list[list[str]],
                       body: str) -> dict[str, Any]:  # fmt: skip
    """:func:`http_step_doc` with the body in its stored form (``headers`` is kept as given)."""
    return _text_step_doc(f"GET {path}", body, code, headers, MAX_BODY)


def step_docs(parts: list[StepParts]) -> list[dict[str, Any]]:
    return [step_doc(n, r, c, s) for n, r, c, s in parts]


def http_step_doc(path: str, code: int | None, headers: tuple[tuple[str, str], ...],
                  body: bytes) -> dict[str, Any]:  # fmt: skip
    return step_doc(f"GET {path}", body, code, b"", [list(h) for h in headers], MAX_BODY)


def http_head(raw: bytes) -> tuple[int | None, tuple[tuple[str, str], ...], bytes]:
    """Status code, headers in order, and whatever follows the header block of a recorded
    response head ("HTTP/1.1 200 OK\\r\\nServer: x\\r\\n\\r\\n")."""
    head, _, rest = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    lines = head.split(b"\n")
    code: int | None = None
    start = 0
    if lines and lines[0].startswith(b"HTTP/"):
        parts = lines[0].split(None, 2)
        if len(parts) >= 2 and parts[1].isdigit():
            code = int(parts[1])
        start = 1
    headers: list[tuple[str, str]] = []
    for line in lines[start:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip():
            headers.append(
                (name.strip().decode("latin-1"), value.strip().decode("utf-8", "replace"))
            )
    return code, tuple(headers), rest


def http_step(path: str, code: int | None, headers: tuple[tuple[str, str], ...],
              body: bytes) -> Step:  # fmt: skip
    return step(f"GET {path}", body, code=code, headers=headers, limit=MAX_BODY)


def keep(extra: list[tuple[str, str]], key: str, value: Any) -> None:
    """Keep one of the source's fields as evidence (scalars and short lists, bounded)."""
    if type(value) is str:
        if value:
            extra.append((key, value if len(value) <= MAX_EXTRA else value[:MAX_EXTRA]))
        return
    if value is None or value == [] or value == {} or value == ():
        return
    if isinstance(value, list | tuple):
        text = ",".join(str(v) for v in value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    extra.append((key, text[:MAX_EXTRA]))


def address(value: str) -> str:
    """The address in its canonical text form; ValueError when it is not an IP address.

    inet_pton/inet_ntop (C) rather than ``ipaddress``: this runs once per record."""
    if type(value) is not str:
        raise ValueError(f"not an IP address: {value!r}")
    v = value.strip()
    try:
        return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, v))
    except (OSError, ValueError):  # ValueError: an embedded NUL
        pass
    try:
        return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, v))
    except (OSError, ValueError):
        raise ValueError(f"not an IP address: {value[:60]!r}") from None


def text_of(value: Any) -> str:
    """A source's field as bounded evidence text; "" for nothing (None, empty, a mapping)."""
    t = type(value)
    if t is str:
        return value if len(value) <= MAX_EXTRA else value[:MAX_EXTRA]  # type: ignore[no-any-return]
    if value is None or t is dict:
        return ""
    if t is bool:
        return "true" if value else "false"
    if t is list or t is tuple:
        try:
            return ",".join(value)[:MAX_EXTRA]  # a list of strings, as a rule
        except TypeError:
            return ",".join(str(v) for v in value)[:MAX_EXTRA]
    return str(value)[:MAX_EXTRA]


def parse_asn(value: Any) -> int | None:
    if type(value) is int:
        return value if 0 < value < 2**32 else None
    if value is None or value == "":
        return None
    text = str(value).strip().upper().removeprefix("AS")
    if text.isdigit() and 0 < int(text) < 2**32:
        return int(text)
    return None


# -- TLS ------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def cert_from_pem(pem: str | bytes) -> Certificate | None:
    """Parse one PEM certificate with ``cryptography``; None if it does not parse. Cached:
    intermediates and shared certificates recur across many records."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    try:
        cert = x509.load_pem_x509_certificate(data)
        try:
            ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            sans = tuple(str(v) for v in ext.value.get_values_for_type(x509.DNSName))
        except x509.ExtensionNotFound:
            sans = ()
        subject = cert.subject.rfc4514_string()
        issuer = cert.issuer.rfc4514_string()
        return Certificate(
            subject=subject,
            issuer=issuer,
            sans=sans,
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            serial=format(cert.serial_number, "x"),
            sha256=cert.fingerprint(hashes.SHA256()).hex(),
            self_signed=subject == issuer,
        )
    except ValueError:
        return None


def cert_from_der_b64(raw: str) -> Certificate | None:
    import base64
    import binascii

    try:
        der = base64.b64decode(raw, validate=False)
    except (binascii.Error, ValueError):
        return None
    body = base64.encodebytes(der).decode("ascii")
    return cert_from_pem(f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n")


def name_string(parts: Any) -> str:
    """A subject/issuer given as a mapping ({"CN": "x", "O": "y"}) as an RFC 4514-ish string."""
    if isinstance(parts, dict):
        return ",".join(f"{k}={_first(v)}" for k, v in parts.items() if v not in (None, ""))
    if isinstance(parts, str):
        return parts
    return ""


def _first(v: Any) -> str:
    if isinstance(v, list):
        return str(v[0]) if v else ""
    return str(v)


def cert_from_fields(
    *,
    subject: str,
    issuer: str,
    not_before: datetime | None,
    not_after: datetime | None,
    serial: str = "",
    sha256: str = "",
    sans: tuple[str, ...] = (),
) -> Certificate:
    """A certificate known only by the fields a source summarised (no DER to parse)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return Certificate(
        subject=subject,
        issuer=issuer,
        sans=sans,
        not_before=not_before or epoch,
        not_after=not_after or epoch,
        serial=serial.lower(),
        sha256=sha256.lower().replace(":", ""),
        self_signed=bool(subject) and subject == issuer,
    )


@lru_cache(maxsize=4096)
def cert_doc_from_pem(pem: str) -> dict[str, Any] | None:
    """serialize's form of :func:`cert_from_pem` (cached: shared, never to be mutated)."""
    cert = cert_from_pem(pem)
    return None if cert is None else cert_to_dict(cert)


def cert_doc_from_fields(*, subject: str, issuer: str, not_before: datetime | None,
                         not_after: datetime | None, serial: str = "", sha256: str = "",
                         sans: tuple[str, ...] = ()) -> dict[str, Any]:  # fmt: skip
    """serialize's form of :func:`cert_from_fields`."""
    return {
        "subject": subject,
        "issuer": issuer,
        "sans": list(sans),
        "not_before": (not_before or _EPOCH).isoformat(),
        "not_after": (not_after or _EPOCH).isoformat(),
        "serial": serial.lower(),
        "sha256": sha256.lower().replace(":", ""),
        "self_signed": bool(subject) and subject == issuer,
    }


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def tls_info(version: str, cipher: str, chain: tuple[Certificate, ...]) -> TlsInfo:
    return TlsInfo(version=version or "", cipher=cipher or "", chain=chain)


# -- reading lines --------------------------------------------------------------------


def iter_lines(stream: BinaryIO, start: int = 0) -> Iterator[tuple[int, bytes | None]]:
    """(line_no, line) for every line; ``None`` for a line longer than :data:`MAX_LINE`,
    whose rest is skipped without holding it in memory. ``start``: the lines before
    ``stream`` (a later chunk of a file)."""
    n = start
    readline = stream.readline
    while True:
        line = readline(MAX_LINE)
        if not line:
            return
        n += 1
        if len(line) >= MAX_LINE and not line.endswith(b"\n"):
            skip_rest_of_line(stream)
            yield n, None
            continue
        yield n, line


def skip_rest_of_line(stream: BinaryIO) -> None:
    """Read past the end of a line longer than :data:`MAX_LINE` without holding it."""
    while True:
        more = stream.readline(MAX_LINE)
        if not more or more.endswith(b"\n"):
            return

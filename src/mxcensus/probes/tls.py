"""TLS facts of one session: protocol version, cipher and the certificate chain.

Certificates are never verified: a scanner must see self-signed, expired and mismatched
certificates as they are. The chain is read with ``SSLObject.get_unverified_chain()`` where
Python has it publicly (3.13+); on 3.10–3.12 the same method exists on the private
``_ssl._SSLSocket`` behind ``SSLObject._sslobj`` and is used when present; failing both, only
the leaf (``getpeercert(binary_form=True)``) is recorded. On this project's Python 3.11 the
private method gives the whole chain the server sent. Parsing is done with ``cryptography``;
a certificate it cannot parse is skipped, never raised.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import ssl
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mxcensus.model import Certificate, TlsInfo
from mxcensus.probes.interface import RuleField

if TYPE_CHECKING:
    from cryptography import x509

log = logging.getLogger(__name__)

FIELDS = (
    RuleField("tls.subject", "tls_subject.yaml", max_text=1024, shape="dn", infers=True),
    RuleField("tls.issuer", "tls_issuer.yaml", max_text=1024, shape="dn", infers=True),
)
"""The rule fields every TLS session feeds, whatever the protocol: the leaf certificate's
subject and issuer (RFC 4514 text), where a product ships a default certificate."""

_ENCODING_DER = 2  # _ssl.ENCODING_DER


def client_context(alpn: tuple[str, ...] = ()) -> ssl.SSLContext:
    """A client context that accepts anything a server offers and verifies nothing.

    The floor is the lowest protocol and security level OpenSSL allows, so old servers
    (TLS 1.0, small DH groups) still complete a handshake and are seen as they are.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:  # an OpenSSL without security levels
        ctx.set_ciphers("ALL")
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


@functools.cache
def shared_context(alpn: tuple[str, ...] = ()) -> ssl.SSLContext:
    """One :func:`client_context` per process and ALPN list (contexts are costly to build)."""
    return client_context(alpn)


def tls_facts(sslobj: ssl.SSLObject | ssl.SSLSocket | None) -> TlsInfo:
    """The version, cipher and parsed chain of an established TLS session."""
    if sslobj is None:
        return TlsInfo(version="", cipher="")
    cipher = sslobj.cipher()
    return TlsInfo(
        version=sslobj.version() or "",
        cipher=cipher[0] if cipher else "",
        chain=tuple(_parse_all(peer_chain_der(sslobj))),
    )


def peer_chain_der(sslobj: ssl.SSLObject | ssl.SSLSocket) -> list[bytes]:
    """DER of each certificate the peer sent, leaf first (see the module docstring)."""
    getter = getattr(sslobj, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(getattr(sslobj, "_sslobj", None), "get_unverified_chain", None)
    if getter is not None:
        chain = getter()
        if chain:
            return [c if isinstance(c, bytes) else c.public_bytes(_ENCODING_DER) for c in chain]
    leaf = sslobj.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def _parse_all(ders: Iterable[bytes]) -> Iterable[Certificate]:
    for der in ders:
        try:
            yield parse_certificate(der)
        except ValueError as exc:
            log.debug("unparsable certificate: %s", exc)


@functools.lru_cache(maxsize=4096)
def parse_certificate(der: bytes) -> Certificate:
    """One certificate's facts; raises ``ValueError`` if ``cryptography`` cannot parse it.

    Cached by DER: the same leaf is seen on every TLS port of a host and the same
    intermediates on millions of hosts, and parsing (names, the self-signature check)
    costs about a millisecond. ``cryptography`` is imported on the first certificate: a
    plaintext scan's workers never load it (it is a sixth of a worker's start).
    """
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        sans = tuple(str(v) for v in ext.value.get_values_for_type(x509.DNSName)) + tuple(
            str(v) for v in ext.value.get_values_for_type(x509.IPAddress)
        )
    except (x509.ExtensionNotFound, ValueError):
        sans = ()
    subject = _name(cert, "subject")
    issuer = _name(cert, "issuer")
    return Certificate(
        subject=subject,
        issuer=issuer,
        sans=sans,
        not_before=_utc(cert, "not_valid_before"),
        not_after=_utc(cert, "not_valid_after"),
        serial=format(cert.serial_number, "x"),
        sha256=hashlib.sha256(der).hexdigest(),
        self_signed=_self_signed(cert),
        key_algorithm=_oid_name(cert, "public_key_algorithm_oid"),
        key_bits=_key_bits(cert),
        signature_algorithm=_oid_name(cert, "signature_algorithm_oid"),
        x509_version=cert.version.value,
        sha1=hashlib.sha1(der, usedforsecurity=False).hexdigest(),
    )


def _name(cert: x509.Certificate, which: str) -> str:
    try:
        name: x509.Name = getattr(cert, which)
        return name.rfc4514_string()
    except ValueError:
        return ""


def _oid_name(cert: x509.Certificate, which: str) -> str:
    """OpenSSL's short name of an algorithm (``rsaEncryption``), else its dotted OID."""
    try:
        oid = getattr(cert, which)
    except ValueError:
        return ""
    name = getattr(oid, "_name", "")  # cryptography's name table: no public accessor
    return name if isinstance(name, str) and name and name != "Unknown OID" else oid.dotted_string


def _key_bits(cert: x509.Certificate) -> int:
    """The public key's size in bits (RSA, DSA, EC), 0 where it has none or is unreadable."""
    try:
        size = getattr(cert.public_key(), "key_size", 0)
    except (ValueError, TypeError):
        return 0
    return size if isinstance(size, int) else 0


def _utc(cert: x509.Certificate, which: str) -> datetime:
    value: datetime = getattr(cert, which + "_utc")
    return value.astimezone(UTC)


def _self_signed(cert: x509.Certificate) -> bool:
    """Issuer equals subject and the certificate's own key verifies its signature."""
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True

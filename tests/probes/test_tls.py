"""TLS facts: certificate parsing with cryptography, and the whole chain from a live session."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from mxcensus.model import Outcome, Transcript
from mxcensus.probes.interface import Endpoint, ProbeConfig
from mxcensus.probes.smtp import SmtpProbe
from mxcensus.probes.tls import client_context, parse_certificate, tls_facts
from tests.certs import make_cert, make_chain
from tests.probes import hostile
from tests.probes.hostile import run, serve


def _der(path: Path) -> bytes:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return cert.public_bytes(serialization.Encoding.DER)


def test_parse_self_signed_certificate(tmp_path: Path) -> None:
    cert = make_cert(tmp_path, "mx.example.test", ("mx.example.test", "192.0.2.25"))
    c = parse_certificate(_der(cert.cert))
    assert c.subject == "O=mxcensus tests,CN=mx.example.test"
    assert c.issuer == c.subject
    assert c.sans == ("mx.example.test", "192.0.2.25")
    assert c.self_signed
    assert c.serial == format(cert.serial, "x")
    assert c.sha256 == cert.sha256
    assert c.not_before.tzinfo is not None and c.not_before < datetime.now(UTC) < c.not_after
    # what Shadowserver's certificate columns carry, read from the same DER
    assert (c.key_algorithm, c.key_bits) == ("id-ecPublicKey", 256)
    assert c.signature_algorithm == "ecdsa-with-SHA256"
    assert c.x509_version == 2  # v3
    assert c.sha1 == hashlib.sha1(_der(cert.cert)).hexdigest()


def test_rsa_key_facts() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rsa.example.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    c = parse_certificate(cert.public_bytes(serialization.Encoding.DER))
    assert (c.key_algorithm, c.key_bits) == ("rsaEncryption", 2048)
    assert c.signature_algorithm == "sha256WithRSAEncryption"


def test_garbage_der_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_certificate(b"\x30\x03\x02\x01\x00")


def test_no_session_gives_empty_facts() -> None:
    facts = tls_facts(None)
    assert facts.version == "" and facts.chain == ()


def test_client_context_verifies_nothing() -> None:
    ctx = client_context()
    assert ctx.verify_mode.name == "CERT_NONE"
    assert not ctx.check_hostname


def test_whole_chain_is_recorded_leaf_first(tmp_path: Path) -> None:
    chain = make_chain(tmp_path, "mx.chain.test")
    ctx = hostile.server_tls_context(str(chain.chain), str(chain.key))

    async def go() -> Transcript:
        async with serve(hostile.smtp_server(), ssl_context=ctx) as port:
            return await SmtpProbe().run(Endpoint("127.0.0.1", port, tls=True), ProbeConfig())

    t = run(go())
    assert t.outcome is Outcome.OK, t.error
    assert t.tls is not None
    leaf, ca = t.tls.chain  # 3.11: through the private _sslobj.get_unverified_chain
    assert leaf.sha256 == chain.leaf_sha256 and not leaf.self_signed
    assert leaf.issuer == "CN=mxcensus test CA"
    assert ca.sha256 == chain.ca_sha256 and ca.self_signed

"""Dialogue fingerprints against Debian's real servers, started here on loopback.

Exim 4.96 and Postfix 3.7.11 with a customised greeting (``smtp_banner`` /
``smtpd_banner`` = "<host> ESMTP Mail Service ready"), Exim making its own certificate, and
Dovecot 2.3.19.1 with a customised ``login_greeting``: the probes record the rest of the
dialogue, and the dialogue rules name each product from it -- precision product, confidence
low, evidence naming the fields that matched and no banner among them. Each reply is matched
by the rule whose examples were taken from these daemons, so the examples stay true to them.
A scan of the three, exported, gives every CVE of each product as "version hidden".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mxcensus import kb
from mxcensus.identify import identify, identify_field
from mxcensus.model import Outcome, Precision, Transcript
from mxcensus.probes import TABLE, probe_for
from mxcensus.probes.interface import Endpoint, ProbeConfig
from tests.conftest import RunCli
from tests.probes.hostile import run
from tests.servers import (
    RunningServer,
    dovecot_server,
    exim_server,
    postfix_server,
)

pytestmark = pytest.mark.integration

CUSTOM = "ESMTP Mail Service ready"
CONFIG = ProbeConfig(ehlo_name="scanner.mxcensus.test.invalid")
DIALOGUE = {name for name, f in TABLE.fields.items() if f.infers}
"""The fields whose rules infer the product from behaviour, as the probes declare them."""


@pytest.fixture(scope="module")
def exim_custom() -> Iterator[RunningServer]:
    with exim_server(banner=f"$smtp_active_hostname {CUSTOM}") as server:
        yield server


@pytest.fixture(scope="module")
def exim_own_certificate() -> Iterator[RunningServer]:
    with exim_server(banner="$smtp_active_hostname", own_certificate=True) as server:
        yield server


@pytest.fixture(scope="module")
def postfix_custom() -> Iterator[RunningServer]:
    with postfix_server(banner=f"$myhostname {CUSTOM}") as server:
        yield server


@pytest.fixture(scope="module")
def dovecot_custom() -> Iterator[RunningServer]:
    with dovecot_server(greeting="Mail Service ready.") as server:
        yield server


def probe(server: RunningServer, service: str, well_known: int) -> Transcript:
    chosen = probe_for(well_known)
    assert chosen is not None
    p, implicit = chosen
    ep = Endpoint(server.address, server.ports[service], tls=implicit)
    t = run(p.run(ep, CONFIG))
    assert t.outcome is Outcome.OK, (t.error, server.log())
    return t


def rules_of(t: Transcript, field: str, *steps: str) -> list[str]:
    out = []
    for name in steps:
        step = t.step(name)
        assert step is not None, name
        ident = identify_field(field, step.received)
        out.append(ident.evidence[0].rule if ident.is_known else "")
    return out


def assert_from_dialogue(t: Transcript, product: str) -> None:
    greeting = t.step("greeting")
    assert greeting is not None and b"Mail Service ready" in greeting.received
    ident = identify(t)
    assert ident.product == product
    assert ident.precision is Precision.PRODUCT and ident.version == ""
    assert ident.confidence == "low"
    fields = {e.field for e in ident.evidence}
    assert fields and fields <= DIALOGUE, fields
    assert ident.conflicts == ()


@pytest.mark.parametrize(("service", "port"), [("smtp", 25), ("submission", 587), ("smtps", 465)])
def test_exim_with_a_customised_greeting(
    exim_custom: RunningServer, service: str, port: int
) -> None:
    t = probe(exim_custom, service, port)
    assert_from_dialogue(t, "exim")
    ehlo = "ehlo-tls" if t.step("ehlo-tls") else "ehlo"
    assert rules_of(t, "smtp.ehlo-shape", "ehlo", ehlo) == ["smtp_ehlo_shape.yaml#exim"] * 2
    assert rules_of(t, "smtp.help", "help") == ["smtp_help.yaml#exim"]
    assert rules_of(t, "smtp.quit", "quit") == ["smtp_quit.yaml#exim"]
    assert {e.field for e in identify(t).evidence} >= {"smtp.ehlo-shape", "smtp.help"}


def test_exim_makes_its_own_certificate(exim_own_certificate: RunningServer) -> None:
    t = probe(exim_own_certificate, "smtp", 25)
    assert t.tls is not None
    assert "O=Exim Developers" in t.tls.chain[0].subject
    ident = identify(t)
    assert ident.product == "exim"
    assert "tls.subject" in {e.field for e in ident.evidence}
    banner = t.step("greeting")
    assert banner is not None and b"Exim" not in banner.received


@pytest.mark.parametrize(("service", "port"), [("smtp", 25), ("submission", 587), ("smtps", 465)])
def test_postfix_with_a_customised_greeting(
    postfix_custom: RunningServer, service: str, port: int
) -> None:
    t = probe(postfix_custom, service, port)
    assert_from_dialogue(t, "postfix")
    ehlo = "ehlo-tls" if t.step("ehlo-tls") else "ehlo"
    assert rules_of(t, "smtp.ehlo-shape", ehlo) == ["smtp_ehlo_shape.yaml#postfix"]
    # Postfix has no HELP: it answers as to an unknown command, 500 since 3.7
    assert rules_of(t, "smtp.help", "help") == ["smtp_help.yaml#postfix-3-7-or-later"]


def test_postfix_default_greeting_and_dialogue_agree() -> None:
    with postfix_server() as server:
        t = probe(server, "smtp", 25)
    ident = identify(t)
    assert (ident.product, ident.precision) == ("postfix", Precision.PRODUCT)
    fields = {e.field for e in ident.evidence}
    assert {"smtp.banner", "smtp.ehlo-shape", "smtp.help"} <= fields
    assert ident.conflicts == ()


@pytest.mark.parametrize(("service", "port"), [("imap", 143), ("imaps", 993)])
def test_dovecot_imap_with_a_customised_greeting(
    dovecot_custom: RunningServer, service: str, port: int
) -> None:
    t = probe(dovecot_custom, service, port)
    assert_from_dialogue(t, "dovecot")
    cap = "capability-tls" if t.step("capability-tls") else "capability"
    assert rules_of(t, "imap.capability", cap) == ["imap_capability.yaml#dovecot"]
    assert rules_of(t, "imap.id", "id") == ["imap_id.yaml#dovecot"]
    assert rules_of(t, "imap.logout", "logout") == ["imap_logout.yaml#dovecot"]


@pytest.mark.parametrize(("service", "port"), [("pop3", 110), ("pop3s", 995)])
def test_dovecot_pop3_with_a_customised_greeting(
    dovecot_custom: RunningServer, service: str, port: int
) -> None:
    t = probe(dovecot_custom, service, port)
    assert_from_dialogue(t, "dovecot")
    capa = "capa-tls" if t.step("capa-tls") else "capa"
    assert rules_of(t, "pop3.capa", capa) == ["pop3_capa.yaml#dovecot"]


def test_a_scan_judges_every_cve_of_the_hidden_products(
    mx: RunCli,
    tmp_path: Path,
    exim_custom: RunningServer,
    postfix_custom: RunningServer,
    dovecot_custom: RunningServer,
) -> None:
    db = tmp_path / "hidden.duckdb"
    targets = [exim_custom.address, postfix_custom.address, dovecot_custom.address]
    res = mx("scan", *targets, "--allow-reserved", "--db", str(db), "-q", timeout=300)
    assert res.returncode == 0, res.stderr
    res = mx("export", "--format", "jsonl", "--db", str(db))
    assert res.returncode == 0, res.stderr
    records = [json.loads(line) for line in res.stdout.splitlines()]
    served = {(s.address, p) for s in (exim_custom, postfix_custom, dovecot_custom) for p in
              s.ports.values()}  # fmt: skip
    seen = set()
    for rec in records:
        if (rec["ip"], rec["port"]) not in served:
            continue
        advisories = {a.id for a in kb.get().by_product.get(rec["product"], ())}
        assert rec["product"] in ("exim", "postfix", "dovecot"), rec
        assert rec["precision"] == "product" and rec["confidence"] == "low"
        cves = {c["id"]: c for c in rec["cves"]}
        assert set(cves) == advisories, rec["product"]
        for c in cves.values():
            assert c["status"] == "unknown" and c["reason"].startswith("version hidden"), c
        assert rec["verdict"] == ("unknown" if advisories else "none")
        seen.add(rec["product"])
    assert seen == {"exim", "postfix", "dovecot"}

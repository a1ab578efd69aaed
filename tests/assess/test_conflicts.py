"""Disagreeing evidence is visible and conservative; a hidden version is never "safe".

- Two X-OWA-Version headers with different builds give the same identification and the same
  verdicts in either order; the older reading is taken, the confidence drops, the exported
  record names the conflict, and a CVE on which the readings differ is never
  not-vulnerable (the reason says the evidence disagrees).
- One header alone (forgeable, uncorroborated) is not "high"; a second field agreeing is.
- A banner naming one product on another product's dialogue: both kept, the confidence
  lowered, and the other product's CVEs are judged too ("if this is …").
- A product without a version: every CVE of it unknown, "version hidden"; end of support
  unknown unless every line of the product has ended.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from mxcensus import kb
from mxcensus.assess import assess
from mxcensus.identify import combine, identify, identify_field
from mxcensus.model import (
    Identification,
    Outcome,
    Precision,
    ServiceRecord,
    Status,
    Step,
    Transcript,
    Transport,
)

SEEN = datetime(2026, 9, 1, tzinfo=UTC)
NEW = ("X-OWA-Version", "15.2.1544.4")  # Exchange 2019 CU14
OLD = ("X-OWA-Version", "14.3.123.4")  # Exchange 2010 SP3


def owa(*headers: tuple[str, str]) -> Transcript:
    return Transcript(
        ip="192.0.2.1",
        port=443,
        protocol="https",
        transport=Transport.TLS,
        observed_at=SEEN,
        outcome=Outcome.OK,
        steps=(Step("GET /owa/", code=200, headers=headers),),
    )


def smtp(greeting: bytes, ehlo: bytes, help_: bytes = b"") -> Transcript:
    steps = [Step("greeting", received=greeting, code=220), Step("ehlo", received=ehlo, code=250)]
    if help_:
        steps.append(Step("help", received=help_, code=int(help_[:3])))
    return Transcript(
        ip="192.0.2.2",
        port=25,
        protocol="smtp",
        transport=Transport.PLAIN,
        observed_at=SEEN,
        outcome=Outcome.OK,
        steps=tuple(steps),
    )


def test_two_builds_in_either_order_give_one_answer() -> None:
    a, b = owa(NEW, OLD), owa(OLD, NEW)
    ia, ib = identify(a), identify(b)
    assert ia == ib
    assert (ia.version, ia.precision) == ("14.3.123.4", Precision.BUILD4)  # the older reading
    assert "the evidence disagrees on the version" in ia.reason
    assert [(e.field, e.version) for e in ia.conflicts] == [
        ("http.header.x-owa-version", "15.2.1544.4")
    ]
    ra, rb = assess(ia, a), assess(ib, b)
    assert ra == rb
    assert ra.confidence == "low"  # one header alone is medium, the conflict a step lower


def test_a_cve_the_readings_disagree_on_is_never_not_vulnerable() -> None:
    ident = identify(owa(NEW, OLD))
    merged = {f.cve: f for f in assess(ident, None).findings}
    readings = []
    for build in (OLD[1], NEW[1]):
        alone = assess(Identification("ms-exchange", "microsoft", build, Precision.BUILD4), None)
        readings.append({f.cve: f.status for f in alone.findings})
    disputed = 0
    for cve in set(readings[0]) | set(readings[1]):
        # a CVE a reading does not list does not concern that build: not vulnerable there
        statuses = {r.get(cve, Status.NOT_VULNERABLE) for r in readings}
        f = merged[cve]  # never missing
        if statuses & {Status.VULNERABLE, Status.POTENTIALLY_VULNERABLE}:
            assert f.status is not Status.NOT_VULNERABLE, f
        if len(statuses) > 1:
            assert f.status in (Status.POTENTIALLY_VULNERABLE, Status.UNKNOWN), f
            assert "the evidence disagrees" in f.reason, f
            disputed += 1
        else:
            assert f.status in statuses, f
    assert disputed >= 3


def test_the_record_names_the_conflict() -> None:
    t = owa(NEW, OLD)
    ident = identify(t)
    rec = ServiceRecord("s", t, ident, assess(ident, t)).to_json()
    assert rec["conflicts"] == [
        {
            "field": "http.header.x-owa-version",
            "rule": "http_header.yaml#x-owa-version-build4",
            "value": "X-OWA-Version: 15.2.1544.4",
            "product": "ms-exchange",
            "version": "15.2.1544.4",
        }
    ]
    assert rec["confidence"] == "low"
    assert rec["verdict"] in ("vulnerable", "potentially-vulnerable")


def test_one_header_alone_is_not_high_a_second_field_is() -> None:
    alone = identify(owa(OLD))
    assert alone.confidence == "medium"
    assert assess(alone, None).confidence == "medium"
    banner = identify_field(
        "smtp.banner", "220 mail.example.com Microsoft ESMTP MAIL Service ready at Tue"
    )
    host = combine([alone, banner])
    assert host.version == OLD[1] and host.confidence == "high"
    hand_made = Identification("ms-exchange", "microsoft", OLD[1], Precision.BUILD4)
    assert assess(hand_made, None).confidence == "high"  # as its precision says


POSTFIX_EHLO = (
    b"250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n"
    b"250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n"
    b"250 CHUNKING\r\n"
)


def test_a_banner_claiming_exchange_on_a_postfix_dialogue() -> None:
    t = smtp(
        b"220 mail.example.com Microsoft ESMTP MAIL Service ready at Tue, 13 Aug 2024\r\n",
        POSTFIX_EHLO,
        b"500 5.5.2 Error: command not recognized\r\n",
    )
    ident = identify(t)
    assert ident.product == "ms-exchange"  # the statement outranks the inference
    assert {e.product for e in ident.conflicts} == {"postfix"}
    assert {e.field for e in ident.conflicts} == {"smtp.ehlo-shape", "smtp.help"}
    a = assess(ident, t)
    assert a.confidence == "low"
    postfix = {adv.id for adv in kb.get().by_product["postfix"]}
    theirs = [f for f in a.findings if f.cve in postfix]
    assert {f.cve for f in theirs} == postfix
    for f in theirs:
        assert f.reason.startswith("if this is Postfix"), f
        assert f.status is not Status.NOT_VULNERABLE


def test_banner_and_dialogue_agreeing_keep_the_banner_confidence() -> None:
    t = smtp(
        b"220 mx.example.org ESMTP Exim 4.96 Tue, 13 Aug 2024 10:00:00 +0000\r\n",
        b"250-mx.example.org Hello scanner.example [192.0.2.9]\r\n250-SIZE 52428800\r\n"
        b"250-8BITMIME\r\n250-PIPELINING\r\n250 HELP\r\n",
        b"214-Commands supported:\r\n214 AUTH HELO EHLO MAIL RCPT DATA NOOP QUIT RSET HELP\r\n",
    )
    ident = identify(t)
    assert (ident.product, ident.version, ident.conflicts) == ("exim", "4.96", ())
    assert ident.confidence == "medium"
    assert {"smtp.banner", "smtp.ehlo-shape", "smtp.help"} <= {e.field for e in ident.evidence}


def test_dialogue_only_is_product_precision_and_low() -> None:
    t = smtp(b"220 mail.example.com ESMTP Mail Service ready\r\n", POSTFIX_EHLO)
    ident = identify(t)
    assert (ident.product, ident.precision, ident.confidence) == (
        "postfix",
        Precision.PRODUCT,
        "low",
    )
    assert [e.field for e in ident.evidence] == ["smtp.ehlo-shape"]


def test_combine_never_depends_on_the_order() -> None:
    parts = [
        identify_field("smtp.banner", "220 mx ESMTP Exim 4.96"),
        identify_field("smtp.banner", "220 mx ESMTP Exim 4.94.2"),
        identify_field("imap.banner", "* OK Dovecot (Debian) ready."),
        identify_field("smtp.help", "500 5.5.2 Error: command not recognized\r\n"),
        identify_field("http.header", "X-OWA-Version: 15.1.2375.7"),
    ]
    results = {combine(list(p)) for p in itertools.permutations(parts)}
    assert len(results) == 1


@pytest.mark.parametrize("product", sorted({a.product for a in kb.get().advisories}))
def test_a_hidden_version_judges_every_cve_unknown(product: str) -> None:
    ident = Identification(product, "", "", Precision.PRODUCT)
    a = assess(ident, None)
    advisories = {adv.id for adv in kb.get().by_product[product]}
    assert {f.cve for f in a.findings} == advisories  # none missing
    for f in a.findings:
        assert f.status is Status.UNKNOWN, f
        assert f.reason.startswith("version hidden"), f


def test_end_of_support_of_a_hidden_version() -> None:
    hidden = assess(Identification("ms-iis-smtp", "microsoft", "", Precision.PRODUCT), None)
    assert hidden.eol.eol is True  # every IIS SMTP line has ended
    assert "every line" in hidden.eol.reason
    for product in ("ms-exchange", "postfix", "dovecot", "exim"):
        a = assess(Identification(product, "", "", Precision.PRODUCT), None)
        assert a.eol.eol is None, (product, a.eol)
        assert "version hidden" in a.eol.reason

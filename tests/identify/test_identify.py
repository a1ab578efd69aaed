"""identify(transcript) reads the steps a probe or importer recorded; hostile input never
raises."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mxcensus.identify import engine, identify, identify_field, identify_http_text, rulesets
from mxcensus.identify.engine import decode
from mxcensus.model import Identification, Outcome, Precision, Step, Transcript, Transport

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def _t(protocol: str, port: int, *steps: Step, **kw: object) -> Transcript:
    return Transcript(
        ip="127.0.0.1",
        port=port,
        protocol=protocol,
        transport=Transport.PLAIN,
        observed_at=NOW,
        outcome=kw.pop("outcome", Outcome.OK),  # type: ignore[arg-type]
        steps=steps,
        **kw,  # type: ignore[arg-type]
    )


def test_smtp_greeting_and_ehlo() -> None:
    t = _t(
        "smtp",
        25,
        Step("greeting", received=b"220 mx.example.org ESMTP Exim 4.94.2 #2 (Debian) ok\r\n"),
        Step("ehlo", sent=b"EHLO x\r\n", received=b"250-mx Hello x\r\n250 PIPELINING\r\n"),
    )
    ident = identify(t)
    assert (ident.product, ident.version, ident.distro) == ("exim", "4.94.2", "debian")
    assert ident.evidence[0].port == 25
    assert ident.evidence[0].rule == "smtp_banner.yaml#exim-versioned"


def test_smtp_multiline_greeting() -> None:
    greeting = b"220-mx.example.org ESMTP Exim 4.96 Tue\r\n220-No spam\r\n220 please\r\n"
    assert identify(_t("submission", 587, Step("greeting", received=greeting))).version == "4.96"


def test_failed_starttls_keeps_the_banner() -> None:
    t = _t(
        "smtp",
        25,
        Step("greeting", received=b"220 mx ESMTP Postfix (Ubuntu)\r\n"),
        outcome=Outcome.TLS_ERROR,
    )
    ident = identify(t)
    assert (ident.product, ident.distro) == ("postfix", "ubuntu")


def test_iis_banner_with_exchange_ehlo_after_starttls() -> None:
    t = _t(
        "smtp",
        25,
        Step(
            "greeting", received=b"220 m Microsoft ESMTP MAIL Service, Version: 6.0.3790.3959 ready"
        ),
        Step("ehlo-tls", received=b"250-m Hello\r\n250-XEXCH50\r\n250 OK\r\n"),
    )
    ident = identify(t)
    assert ident.product == "ms-exchange"
    assert ident.version == ""
    assert "6.0.3790.3959 is the Windows/IIS build" in ident.reason


def test_imap_and_pop3() -> None:
    imap = _t("imaps", 993, Step("greeting", received=b"* OK Dovecot (Ubuntu) ready.\r\n"))
    assert (identify(imap).product, identify(imap).distro) == ("dovecot", "ubuntu")
    pop = _t(
        "pop3",
        110,
        Step("greeting", received=b"+OK Dovecot ready.\r\n"),
        Step("capability", received=b"+OK\r\nUSER\r\n.\r\n"),
    )
    assert identify(pop).product == "dovecot"


def test_localised_exchange_imap_in_latin1_bytes() -> None:
    banner = (
        b"* OK Der Microsoft Exchange Server 2003 IMAP4rev1-Server, Version 6.5.7638.1 "
        b"(mail.example.de), steht zur Verf\xfcgung.\r\n"
    )
    ident = identify(_t("imap", 143, Step("greeting", received=banner)))
    assert (ident.product, ident.version, ident.precision) == (
        "ms-exchange",
        "6.5.7638.1",
        Precision.BUILD4,
    )


def test_owa_transcript_uses_headers_body_redirects_and_manifest() -> None:
    t = _t(
        "https",
        443,
        Step(
            "GET /owa/",
            code=302,
            headers=(("Location", "https://m/owa/auth/logon.aspx?url=x"), ("X-FEServer", "E1")),
        ),
        Step(
            "GET /owa/auth/logon.aspx",
            code=200,
            headers=(("X-OWA-Version", "15.1.2375.7"), ("Server", "Microsoft-IIS/10.0")),
            received=b'<title>Outlook</title><link href="/owa/auth/15.1.2375/themes/a.ico">',
        ),
        Step(
            "GET /ecp/Current/exporttool/microsoft.exchange.ediscovery.exporttool.application",
            code=200,
            received=b'<assemblyIdentity name="microsoft.exchange.ediscovery.exporttool.'
            b'application" version="15.1.2375.7" />',
        ),
    )
    ident = identify(t)
    assert (ident.product, ident.version, ident.precision) == (
        "ms-exchange",
        "15.1.2375.7",
        Precision.BUILD4,
    )
    fields = {e.field for e in ident.evidence}
    assert {"ecp.manifest", "http.header.x-owa-version", "http.owa-path", "http.body"} <= fields
    assert "http.header.x-feserver" in fields
    assert ident.conflicts == ()
    assert all(e.port == 443 for e in ident.evidence)


def test_importer_extra_banner() -> None:
    t = _t("smtp", 25, extra=(("banner", "220 mx ESMTP Sendmail 8.15.2/8.15.2; Tue"),))
    assert identify(t).version == "8.15.2"


def test_managesieve_reads_the_greeting_not_the_later_steps() -> None:
    greeting = (
        b'"IMPLEMENTATION" "Dovecot (Ubuntu) Pigeonhole"\r\n"SIEVE" "fileinto"\r\n'
        b'"STARTTLS"\r\n"VERSION" "1.0"\r\nOK "Dovecot (Ubuntu) ready."\r\n'
    )
    t = _t(
        "managesieve",
        4190,
        Step("greeting", received=greeting),
        Step("starttls", sent=b"STARTTLS\r\n", received=b'OK "Begin TLS negotiation now."\r\n'),
        Step("capability-tls", received=b'"IMPLEMENTATION" "Cyrus timsieved v9.9.9"\r\nOK\r\n'),
        Step("logout", received=b'OK "Logout completed."\r\n'),
    )
    ident = identify(t)
    assert (ident.product, ident.precision, ident.version, ident.distro) == (
        "dovecot",
        Precision.PRODUCT,
        "",
        "ubuntu",
    )
    assert [(e.field, e.rule, e.port) for e in ident.evidence] == [
        ("managesieve.banner", "managesieve_banner.yaml#dovecot-pigeonhole-distro", 4190)
    ]
    assert ident.conflicts == ()
    # an importer's bare banner of a ManageSieve service feeds the same field
    imported = _t("managesieve", 4190, extra=(("banner", greeting.decode()),))
    assert identify(imported).evidence[0].field == "managesieve.banner"


def test_nothing_recorded() -> None:
    ident = identify(_t("smtp", 25, outcome=Outcome.TIMEOUT))
    assert not ident.is_known
    assert ident.reason == "nothing recorded to identify (timeout)"
    assert identify(_t("gopher", 70)).reason == "no rules for protocol 'gopher'"


def test_unmatched_banner_is_unknown_with_reason() -> None:
    ident = identify(_t("smtp", 25, Step("greeting", received=b"220 ESMTP ready\r\n")))
    assert not ident.is_known
    assert ident.reason == "no rule matched the smtp.banner"


def test_header_field_forms() -> None:
    a = identify_field("http.header.x-owa-version", "15.2.1118.40")
    b = identify_field("http.header", "X-OWA-Version: 15.2.1118.40")
    assert a.version == b.version == "15.2.1118.40"
    assert a.evidence[0].field == b.evidence[0].field == "http.header.x-owa-version"


def test_http_text_guess() -> None:
    assert identify_http_text("X-OWA-Version: 15.1.2375.7").precision is Precision.BUILD4
    assert identify_http_text("/owa/auth/15.1.2375/themes/").precision is Precision.BUILD3


def test_giant_banner_is_bounded() -> None:
    big = b"220 " + b"A" * 5_000_000 + b" ESMTP Exim 4.96\r\n"
    assert not identify_field("smtp.banner", big).is_known  # beyond the 8 KiB window
    assert identify_field("smtp.banner", b"220 x ESMTP Exim 4.96 " + b"B" * 5_000_000).is_known


def test_ansi_and_nul_in_banner() -> None:
    ident = identify_field("smtp.banner", b"220 \x1b[31mmx\x00 ESMTP Exim 4.92.3\x1b[0m")
    assert ident.version == "4.92.3"


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=600),
    field=st.sampled_from(
        ["smtp.banner", "smtp.ehlo", "imap.banner", "pop3.banner", "http.body", "http.header",
         "http.owa-path", "ecp.manifest", "http.header.x-owa-version"]
    ),
)  # fmt: skip
def test_random_bytes_never_raise(data: bytes, field: str) -> None:
    ident = identify_field(field, data)
    assert ident.product
    assert ident.is_known or ident.reason


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.binary(max_size=80),
    suffix=st.binary(max_size=80),
)
def test_binary_around_a_real_banner_still_identifies(prefix: bytes, suffix: bytes) -> None:
    ident = identify_field("smtp.banner", prefix + b" ESMTP Exim 4.96 " + suffix)
    assert ident.product == "exim"


def _tokens() -> list[str]:
    from mxcensus.identify import rulesets

    words: set[str] = set()
    for rs in rulesets().values():
        for r in rs.rules:
            words.update(r.keywords)
            for ex in r.examples:
                words.update(ex.input.split())
    return sorted(words)


TOKENS = _tokens()


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.sampled_from(TOKENS), max_size=12),
    seps=st.lists(st.sampled_from([" ", "", "\r\n", "/", "(", "-"]), min_size=12, max_size=12),
    upper=st.booleans(),
)
def test_prefilter_agrees_with_plain_matching(
    words: list[str], seps: list[str], upper: bool
) -> None:
    """Token soup from every example and keyword: the keyword prefilter never changes which
    rule matches first."""
    from mxcensus.identify import rulesets

    text = "".join(w + s for w, s in zip(words, seps, strict=False))
    if upper:
        text = text.upper()
    for rs in rulesets().values():
        assert rs.first_rule(text) is rs.first_rule_slow(text)


EXAMPLES = sorted(
    {(rs.field, ex.input) for rs in rulesets().values() for r in rs.rules for ex in r.examples}
)


@settings(max_examples=400, deadline=None)
@given(
    example=st.sampled_from(EXAMPLES),
    prefix=st.text(alphabet="aZ9_-. \u212a\u0131\xe9\x00", max_size=4),
    suffix=st.text(alphabet="aZ9_-. \u212a\u0131\xe9\x00", max_size=4),
    cut=st.integers(min_value=0, max_value=400),
    glue=st.sampled_from(["", "x", "_", "9", "K"]),
)
def test_prefilter_agrees_on_glued_examples(
    example: tuple[str, str], prefix: str, suffix: str, cut: int, glue: str
) -> None:
    """Examples with letters glued on or into them: the prefilter still agrees."""
    field, text = example
    cut = min(cut, len(text))
    rs = rulesets()[field]
    for variant in (prefix + text + suffix, text[:cut] + glue + text[cut:]):
        assert rs.first_rule(variant) is rs.first_rule_slow(variant), variant


def _slow_identification(field: str, text: str) -> Identification | None:
    """What plain matching gives: every rule in file order, searched from the start."""
    rs = rulesets()[field]
    rule = rs.first_rule_slow(text)
    if rule is None:
        return None
    m = rule.regex.search(rs.read(text)[: rs.max_text])
    assert m is not None
    return rule.build(m, field)


@settings(max_examples=400, deadline=None)
@given(
    example=st.sampled_from(EXAMPLES),
    prefix=st.text(alphabet="aZ9_-. \u212a\u0131\xe9\x00", max_size=4),
    cut=st.integers(min_value=0, max_value=400),
    glue=st.sampled_from(["", "x", "_", "9", "K", " ", "\xe9"]),
    case=st.sampled_from(["", "lower", "upper", "swapcase"]),
)
def test_fast_matcher_agrees_with_plain_matching(
    example: tuple[str, str], prefix: str, cut: int, glue: str, case: str
) -> None:
    """The hot path (prefilter, start hints, caches) gives the identification that plain
    matching gives, also when a rule's start letters occur earlier or glued into words."""
    field, text = example
    if case:
        text = getattr(text, case)()
    cut = min(cut, len(text))
    rs = rulesets()[field]
    hints = {r.hint.text.decode() for r in rs.rules if r.hint.text}
    variants = [prefix + text, text[:cut] + glue + text[cut:]]
    variants += [f"{h}{glue}{text}" for h in sorted(hints)[:3]]
    variants += [f"{text[:cut]}{h.upper()}{glue}{text[cut:]}" for h in sorted(hints)[-3:]]
    for variant in variants:
        assert rs.match(variant) == _slow_identification(field, variant), variant


def test_fast_matcher_agrees_on_every_example() -> None:
    """Every example (and its case variants) through the hot path, against plain matching."""
    for field, text in EXAMPLES:
        rs = rulesets()[field]
        for variant in (text, text.lower(), text.upper(), text.swapcase()):
            assert rs.match(variant) == _slow_identification(field, variant), variant


HINTS = {
    rs.field: sorted({r.hint.text.decode() for r in rs.rules if r.hint.text})
    for rs in rulesets().values()
}


@settings(max_examples=500, deadline=None)
@given(
    example=st.sampled_from(EXAMPLES),
    pick=st.integers(min_value=0),
    seps=st.lists(st.sampled_from([" ", "(", ")", "-", ".", "/", "0", "\r\n", "\xe9"]), min_size=1),
    at=st.integers(min_value=0, max_value=400),
    lead=st.text(alphabet="( -.9aZ\u212a", max_size=6),
    upper=st.booleans(),
)
def test_fast_matcher_agrees_with_hints_placed_near_matches(
    example: tuple[str, str], pick: int, seps: list[str], at: int, lead: str, upper: bool
) -> None:
    """One of the field's hints (its spaces written as separators of all kinds) put before,
    into or just after an example, after a few lead characters: the search starts from the
    hint's first occurrence minus the rule's lead, so an occurrence too early or too late
    must not change which rule matches first, nor the identification."""
    field, text = example
    rs = rulesets()[field]
    hints = HINTS[field] or [""]
    words = hints[pick % len(hints)].split(" ")
    written = "".join(w + seps[i % len(seps)] for i, w in enumerate(words))
    if upper:
        written = written.upper()
    at = min(at, len(text))
    for variant in (
        lead + written + text,
        text[:at] + lead + written + text[at:],
        text + lead + written,
        written + lead + written + text,
    ):
        assert rs.match(variant) == _slow_identification(field, variant), variant


def test_hint_of() -> None:
    from mxcensus.identify.rules import UNBOUNDED, Hint, hint_of

    assert hint_of(r"(?i)\bexim\)?\s+(?P<v>\d)") == Hint(b"exim", 0)
    assert hint_of(r"\bMicrosoft ESMTP") == Hint(b"microsoft esmtp", 0)
    assert hint_of(r"\bPOP3? MDaemon") == Hint(b"pop", 0)  # the quantified 3 ends the run
    assert hint_of(r"\bQPOPs?x") == Hint(b"qpop", 0)
    assert hint_of(r"\bFoo?bar") == Hint(b"bar", 3)  # "Fo" is too short; at most 3 before
    assert hint_of(r"(?i)(?:^|[\s(])Postfix(?:$|[\s);])") == Hint(b"postfix", 1)
    assert hint_of(r"(?m)^250[- ]XEXCH50\s*$") == Hint(b"xexch  ", 4)  # digits: spaces
    assert hint_of(r"(?P<v>IMAP4rev1) at") == Hint(b"imap rev  at", 0)  # groups inlined
    assert hint_of(r"(?i)\b(?:Lotus|IBM|HCL) Domino") == Hint(b" domino", 5)
    assert hint_of(r"\d+ \(\w*\) Exchange\b") == Hint(b"  exchange", UNBOUNDED)
    assert hint_of("\u00e9t\u00e9 Exim") == Hint(b" t  exim", 0)  # non-ASCII: '?' -> space
    assert hint_of(r"\bexim|\bpostfix") == Hint()  # a match may hold either
    assert hint_of(r"(?:exim|postfix)") == Hint()
    assert hint_of(r"(?P<major>[56])\.") == Hint()
    assert hint_of(r"(?:exim)+") == Hint()  # repeats are not looked into
    assert hint_of(r"ex(?=x)im") == Hint()  # an assertion ends a run ("ex", "im")


def test_a_negative_start_searches_from_zero() -> None:
    """The matcher searches from ``hint position - lead``, which may be negative."""
    import re

    assert re.compile("ab").search("abab", -5).span() == (0, 2)  # type: ignore[union-attr]
    assert re.compile("^ab").search("abab", -(1 << 62)) is not None


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("smtp.banner", "220 mx.example.com ESMTP"),
        ("smtp.banner", "220 exim.example.com ESMTP ready"),
        ("smtp.banner", "220 sendmail.example.com ESMTP"),
        ("smtp.banner", "220 qmail.example.com ESMTP"),
        ("smtp.banner", "220 zimbra-mx.example.com ESMTP"),
        ("smtp.banner", "220 mdaemon.example.com ESMTP service ready"),
        ("smtp.banner", "220 mail.example.com ESMTP Exim4 ready"),
        ("smtp.banner", "220 outlook.example.com ESMTP ready"),
        ("imap.banner", "* OK dovecot.example.com IMAP4rev1 ready"),
        ("imap.banner", "* OK IMAP4rev1 server ready"),
        ("pop3.banner", "+OK POP3 ready"),
        ("http.owa-path", "/owa/auth/logon.aspx"),
        ("http.header", "Server: Microsoft-IIS/10.0"),
        ("ecp.manifest", '<assemblyIdentity name="x" version="1.0.0.0" />'),
    ],
)
def test_no_identification_from_host_names_or_generic_text(field: str, text: str) -> None:
    ident = identify_field(field, text)
    assert not ident.is_known, ident


def _field_plain(field: str, text: bytes | str) -> Identification:
    """identify_field's answer for an own-matcher field, without its memo."""
    s = text if isinstance(text, str) else decode(text)
    found = _slow_identification(field, s)
    if found is not None:
        return found
    return Identification.unknown(
        f"empty {field}" if not s.strip() else f"no rule matched the {field}"
    )


def test_identify_field_memo_answers_like_plain_matching(monkeypatch: pytest.MonkeyPatch) -> None:
    """The (field, text) memo gives what matching afresh gives, for str and bytes, on the
    first sight, from the memo and after the memo was cleared for being full (by entries
    and by characters)."""
    own_fields = sorted(f for f in rulesets() if f != "http.header")
    texts: list[tuple[str, bytes | str]] = []
    for field, text in EXAMPLES:
        if field not in own_fields:
            continue
        texts += [(field, text), (field, text.encode("utf-8")), (field, text.upper())]
        texts += [(other, text) for other in own_fields if other != field][:2]
    texts += [
        (f, t) for f in own_fields for t in ("", "  \r\n", "nothing known", b"\xe9t\xe9 \xff")
    ]
    for limit, chars in ((65_536, 16 << 20), (7, 16 << 20), (65_536, 300)):
        monkeypatch.setattr(engine, "_MEMO_MAX", limit)
        monkeypatch.setattr(engine, "_MEMO_CHARS", chars)
        for memo in engine._field_memo.values():  # filled under the previous limits
            memo.clear()
        monkeypatch.setattr(engine, "_memo_chars", 0)
        for _ in range(2):  # the second round answers from the memo (or a refilled one)
            for field, text in texts:
                assert identify_field(field, text) == _field_plain(field, text), (field, text)
        assert all(len(m) <= limit for m in engine._field_memo.values())
        assert engine._memo_chars <= chars + max(len(t) for _, t in texts)

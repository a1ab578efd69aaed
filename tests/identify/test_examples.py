"""Every rule example is a test (recog's self-test): matched first by its own rule, the
expected fields equal, capture groups exactly the template fields, prefilter agrees."""

from __future__ import annotations

import pytest

from mxcensus.identify import identify_field, rulesets
from mxcensus.identify.rules import Example, Rule, RuleSet, example_problems
from mxcensus.vocabulary import PRODUCTS


def _cases() -> list[tuple[RuleSet, Rule, Example]]:
    return [(rs, r, ex) for rs in rulesets().values() for r in rs.rules for ex in r.examples]


CASES = _cases()


@pytest.mark.parametrize(
    ("ruleset", "rule", "example"),
    CASES,
    ids=[f"{r.address}@{ex.line}" for _, r, ex in CASES],
)
def test_example(ruleset: RuleSet, rule: Rule, example: Example) -> None:
    assert example_problems(ruleset, rule, example) == []
    ident = identify_field(ruleset.field, example.input)
    assert ident.product == rule.product
    assert ident.evidence[0].rule == rule.address
    for key, want in example.expected.items():
        got = ident.precision.label if key == "precision" else getattr(ident, key)
        assert got == want, key


@pytest.mark.parametrize("rule", [r for rs in rulesets().values() for r in rs.rules], ids=str)
def test_groups_are_exactly_the_template_fields(rule: Rule) -> None:
    used = set().union(*(t.fields for t in rule.templates.values()))
    assert set(rule.regex.groupindex) == used
    assert rule.regex.groups == len(rule.regex.groupindex)


def test_every_rule_file_is_loaded() -> None:
    assert set(rulesets()) == {
        "smtp.banner",
        "smtp.ehlo",
        "imap.banner",
        "pop3.banner",
        "http.header",
        "http.body",
        "http.owa-path",
        "ecp.manifest",
        "managesieve.banner",
        "smtp.ehlo-shape",
        "smtp.help",
        "smtp.quit",
        "imap.capability",
        "imap.id",
        "imap.logout",
        "pop3.capa",
        "tls.subject",
        "tls.issuer",
    }


def test_coverage_25_products_with_3_forms_each() -> None:
    forms: dict[str, set[str]] = {}
    for rs in rulesets().values():
        for r in rs.rules:
            forms.setdefault(r.product, set()).update(ex.input for ex in r.examples)
    covered = {p for p, f in forms.items() if len(f) >= 3}
    mail = {p for p in covered if PRODUCTS[p].kind in ("mta", "imap-pop", "groupware", "hosted")}
    assert len(mail) >= 25, sorted(mail)
    for must in (
        "exim", "ms-exchange", "postfix", "sendmail", "opensmtpd", "qmail", "haraka",
        "zimbra", "hmailserver", "mdaemon", "smartermail", "kerio-connect", "icewarp",
        "communigate-pro", "domino", "dovecot", "courier", "cyrus",
    ):  # fmt: skip
        assert must in covered, must


def test_keywords_are_whole_words_in_every_pattern() -> None:
    """Glue a letter or digit onto each keyword occurrence in every example: if the rule
    still matches, its keyword was not a whole word and the prefilter would miss it."""
    import re

    leaks = []
    for rs in rulesets().values():
        for rule in rs.rules:
            for ex in rule.examples:
                for kw in rule.keywords:
                    for m in re.finditer(re.escape(kw), ex.input, re.IGNORECASE):
                        for glued in (
                            ex.input[: m.start()] + "x" + ex.input[m.start() :],
                            ex.input[: m.end()] + "9" + ex.input[m.end() :],
                        ):
                            if rs.first_rule(glued) is not rs.first_rule_slow(glued):
                                leaks.append(f"{rule.address}: {glued!r}")
    assert leaks == []


def test_accelerated_patterns_match_exactly_like_the_written_ones() -> None:
    import re

    from mxcensus.identify.rules import accelerate

    assert accelerate(r"\bMicrosoft ESMTP") == r"Microsoft ESMTP(?<=\bMicrosoft ESMTP)"
    assert accelerate(r"\bFoo?bar") == r"\bFoo?bar"
    assert accelerate(r"(?i)\bexim") == r"(?i)\bexim"
    changed = 0
    for rs in rulesets().values():
        for rule in rs.rules:
            written = re.compile(rule.written, re.ASCII)
            if written.pattern == rule.regex.pattern:
                continue
            changed += 1
            for ex in rule.examples:
                text = ex.input
                for variant in (text, "x" + text, text.replace(" ", "x", 3), text.lower()):
                    a, b = written.search(variant), rule.regex.search(variant)
                    assert (a and (a.span(), a.groupdict())) == (b and (b.span(), b.groupdict()))
    assert changed >= 20

"""Zimbra, SmarterMail, Postfix and Dovecot advisories: the version just below each fix is
flagged, the fix is not, a product-only identification is never not-vulnerable, and the
Zimbra reading of patch levels and release lines gives the documented verdicts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mxcensus import kb
from mxcensus.assess import assess
from mxcensus.kb.records import Advisory
from mxcensus.model import Finding, Identification, Precision, Status
from mxcensus.versions import scheme_for

PRODUCTS = ("zimbra", "smartermail", "postfix", "dovecot")
FLAGGED = {Status.VULNERABLE, Status.POTENTIALLY_VULNERABLE}


def _finding(product: str, version: str, cve: str) -> Finding:
    a = assess(
        Identification(
            product=product,
            version=version,
            precision=Precision.VERSION if version else Precision.PRODUCT,
        )
    )
    return next(f for f in a.findings if f.cve == cve)


def _just_below(product: str, fixed: str) -> str:
    """The release right before ``fixed`` in the product's numbering."""
    if product == "smartermail":
        return str(int(fixed) - 1)
    if product == "zimbra":
        nums = list(scheme_for("zimbra").numbers(fixed) or ())
        a, b, c, p, sub = nums
        if sub:
            return f"{a}.{b}.{c}.p{p}"
        if p:
            return f"{a}.{b}.{c}.p{p - 1}" if p > 1 else f"{a}.{b}.{c}"
        return f"{a}.{b}.{c - 1}"
    parts = [int(x) for x in fixed.split(".")]
    if parts[-1] > 0:
        parts[-1] -= 1
        return ".".join(map(str, parts))
    return f"{parts[0]}.{parts[1] - 1}.99"  # Postfix 3.9.0 → 3.8.99


def _ranged() -> list[tuple[str, str, str, str]]:
    out = []
    for product in PRODUCTS:
        for adv in kb.load_shipped().by_product[product]:
            for intro, fixed in adv.ranges:
                out.append((product, adv.id, intro, fixed))
    return out


@pytest.mark.parametrize(("product", "cve", "intro", "fixed"), _ranged(), ids=str)
def test_just_below_each_fix_is_flagged_and_the_fix_is_not(
    product: str, cve: str, intro: str, fixed: str
) -> None:
    below = _just_below(product, fixed)
    sch = scheme_for(product)
    assert sch.compare(below, fixed) < 0
    if intro == "0" or sch.compare(below, intro) >= 0:
        assert _finding(product, below, cve).status in FLAGGED, (cve, below)
    f = _finding(product, fixed, cve)
    assert f.status is Status.NOT_VULNERABLE, (cve, fixed, f.reason)


@pytest.mark.parametrize("product", PRODUCTS)
def test_product_only_is_never_not_vulnerable(product: str) -> None:
    a = assess(Identification(product=product, precision=Precision.PRODUCT))
    assert a.findings
    assert {f.status for f in a.findings} == {Status.UNKNOWN}
    # a version the identification did not trust is no better
    b = assess(Identification(product=product, version="8.8.15", precision=Precision.MAJOR))
    assert {f.status for f in b.findings} == {Status.UNKNOWN}


def test_every_exploited_zimbra_and_smartermail_cve_is_present() -> None:
    k = kb.load_shipped()
    zimbra = {a.id: a for a in k.by_product["zimbra"]}
    assert len(zimbra) == 19 and all(a.kev for a in zimbra.values())
    # a fixed version for every one but CVE-2025-48700 (none found in a source read)
    assert {i for i, a in zimbra.items() if a.fixed_unknown} == {"CVE-2025-48700"}
    smarter = {a.id: a for a in k.by_product["smartermail"]}
    assert {i for i, a in smarter.items() if a.kev} == {
        "CVE-2025-52691", "CVE-2026-23760", "CVE-2026-24423",
    }  # fmt: skip
    assert not smarter["CVE-2019-7214"].kev
    patched = [*k.by_product["postfix"], *k.by_product["dovecot"]]
    added = [*zimbra.values(), *smarter.values(), *patched]
    assert all(a.refs for a in added), [a.id for a in added if not a.refs]
    assert not any(a.kev for a in patched)


# -- Zimbra: patch levels and release lines -------------------------------------------------


@pytest.mark.parametrize(
    ("version", "cve", "status", "says"),
    [
        # the GA version hides the patch level: potentially, never vulnerable or clean
        ("8.8.15", "CVE-2022-37042", Status.POTENTIALLY_VULNERABLE, "patch level is not visible"),
        ("8.8.15_GA_3869", "CVE-2022-37042", Status.POTENTIALLY_VULNERABLE, "not visible"),
        ("8.8.15.p32", "CVE-2022-37042", Status.VULNERABLE, "the fix on the 8.8.15 line"),
        ("8.8.15_P32", "CVE-2022-37042", Status.VULNERABLE, "8.8.15 Patch 33"),
        ("8.8.15 Patch 33", "CVE-2022-37042", Status.NOT_VULNERABLE, "≥ 8.8.15 Patch 33"),
        ("9.0.0.p25", "CVE-2022-37042", Status.VULNERABLE, "9.0.0 Patch 26"),
        # 10.x patch releases are packages on the 10.x.0 GA: the number shown is a lower bound
        ("10.1.12", "CVE-2025-68645", Status.POTENTIALLY_VULNERABLE, "need not change"),
        ("10.1.0", "CVE-2025-68645", Status.POTENTIALLY_VULNERABLE, "not visible"),
        ("10.1.13", "CVE-2025-68645", Status.NOT_VULNERABLE, "10.1.13"),
        # a line older than the fix's never got it
        ("8.8.12", "CVE-2023-37580", Status.VULNERABLE, "8.8.12 line never received the fix"),
        ("8.7.11.p10", "CVE-2018-6882", Status.UNKNOWN, "not assessed"),
        ("8.8.6", "CVE-2018-6882", Status.VULNERABLE, "never received the fix"),
        ("8.8.7", "CVE-2018-6882", Status.NOT_VULNERABLE, "the fix on the 8.8.7 line"),
        # … unless the CVE is configuration dependent
        ("8.8.12", "CVE-2024-45519", Status.POTENTIALLY_VULNERABLE, "postjournal"),
        ("8.8.15.p45", "CVE-2024-45519", Status.POTENTIALLY_VULNERABLE, "postjournal"),
        ("10.1.1", "CVE-2024-45519", Status.NOT_VULNERABLE, "10.1.1"),
        # lines the advisory does not name
        ("10.0.5", "CVE-2022-27924", Status.NOT_VULNERABLE, "first released on 2023-03-09"),
        ("9.0.0", "CVE-2022-24682", Status.UNKNOWN, "not assessed"),
        ("8.8.12", "CVE-2022-27924", Status.UNKNOWN, "older lines were not assessed"),
        ("10.0.18", "CVE-2026-73570", Status.UNKNOWN, "not assessed"),
        ("8.8.13", "CVE-2018-6882", Status.UNKNOWN, "not assessed"),  # no release date known
        # sources disagree on the patch
        ("9.0.0.p24", "CVE-2022-27924", Status.POTENTIALLY_VULNERABLE, "sources disagree"),
        ("9.0.0.p24.1", "CVE-2022-27924", Status.NOT_VULNERABLE, "9.0.0 Patch 24.1"),
        # no fixed version collected
        ("10.1.20", "CVE-2025-48700", Status.UNKNOWN, "not in the knowledge base"),
        ("8.8.15.p1", "CVE-2025-48700", Status.UNKNOWN, "not in the knowledge base"),
        # not understood
        ("8.8", "CVE-2022-37042", Status.UNKNOWN, "not understood"),
    ],
)
def test_zimbra_verdicts(version: str, cve: str, status: Status, says: str) -> None:
    f = _finding("zimbra", version, cve)
    assert f.status is status, (version, cve, f.reason)
    assert says in f.reason


def test_zimbra_remediation_names_the_patch_and_the_stopgaps() -> None:
    a = assess(Identification(product="zimbra", version="8.8.15", precision=Precision.VERSION))
    text = " ".join(a.remediation)
    assert "8.8.15 Patch 46" in text and "10.1.20" in text
    assert "postjournal_enabled=false" in text and "install pax" in text
    assert "possibly compromised" in text  # exploited CVEs, patch level unseen


_LINES = ["8.7.11", "8.8.9", "8.8.12", "8.8.15", "9.0.0"]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(_LINES),
    st.integers(min_value=0, max_value=50),
    st.sampled_from(["", ".p{}", "_P{}", " Patch {}"]),
)
def test_zimbra_hiding_the_patch_never_reassures(line: str, patch: int, form: str) -> None:
    """The GA version is what a server shows whatever its patch: never a better verdict."""
    patched = f"{line}{form.format(patch)}" if form else line
    ga = {f.cve: f.status for f in _zimbra(line)}
    for f in _zimbra(patched):
        if ga[f.cve] is Status.NOT_VULNERABLE:  # then every patch level must be clean
            assert f.status is Status.NOT_VULNERABLE, (patched, f)
        if f.status is Status.VULNERABLE:  # then the GA view must still flag it
            assert ga[f.cve] in FLAGGED, (patched, f.cve, ga[f.cve])


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=30), st.integers(min_value=0, max_value=1))
def test_zimbra_10x_numbers_never_vulnerable_on_their_own_line(micro: int, minor: int) -> None:
    """A 10.x number may be the GA of a patched server: never more than potentially."""
    for f in _zimbra(f"10.{minor}.{micro}"):
        assert f.status is not Status.VULNERABLE, f


def _zimbra(version: str) -> tuple[Finding, ...]:
    return assess(
        Identification(product="zimbra", version=version, precision=Precision.VERSION)
    ).findings


# -- SmarterMail: builds -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "cve", "status"),
    [
        ("Build 9412", "CVE-2025-52691", Status.POTENTIALLY_VULNERABLE),  # 9407-9412: disputed
        ("100.0.9406", "CVE-2025-52691", Status.VULNERABLE),
        ("100.0.9413", "CVE-2025-52691", Status.NOT_VULNERABLE),
        ("100.0.9510", "CVE-2026-23760", Status.VULNERABLE),
        ("Build 9511", "CVE-2026-23760", Status.NOT_VULNERABLE),
        ("100.0.9510", "CVE-2026-24423", Status.VULNERABLE),
        ("16.3.6984", "CVE-2019-7214", Status.VULNERABLE),
        ("16.3.6985", "CVE-2019-7214", Status.NOT_VULNERABLE),
        ("Build 6000", "CVE-2019-7214", Status.UNKNOWN),  # before 16.x: not assessed
        ("16.3", "CVE-2019-7214", Status.UNKNOWN),  # no build
    ],
)
def test_smartermail_builds(version: str, cve: str, status: Status) -> None:
    f = _finding("smartermail", version, cve)
    assert f.status is status, (version, cve, f.reason)
    assert f.kev is (cve != "CVE-2019-7214")


# -- Postfix and Dovecot: patched in place ---------------------------------------------------


def _advisories(product: str) -> list[Advisory]:
    return list(kb.load_shipped().by_product[product])


@pytest.mark.parametrize(
    ("product", "version"),
    [("postfix", "3.8.4"), ("postfix", "3.5.24"), ("dovecot", "2.3.7.1"), ("dovecot", "2.2.27")],
)
def test_banner_versions_in_range_are_never_vulnerable(product: str, version: str) -> None:
    a = assess(Identification(product=product, version=version, precision=Precision.VERSION))
    flagged = [f for f in a.findings if f.status in FLAGGED]
    assert flagged
    for f in flagged:
        assert f.status is Status.POTENTIALLY_VULNERABLE
        assert "distributions backport fixes" in f.reason


def test_postfix_smuggling_is_configuration_dependent_until_3_9() -> None:
    f = _finding("postfix", "3.8.5", "CVE-2023-51764")
    assert f.status is Status.POTENTIALLY_VULNERABLE
    assert "smtpd_forbid_bare_newline" in f.reason and f.fixed_in == "3.9.0"
    assert _finding("postfix", "3.9.0", "CVE-2023-51764").status is Status.NOT_VULNERABLE
    a = assess(Identification(product="postfix", version="3.7.10", precision=Precision.VERSION))
    assert "smtpd_forbid_bare_newline = normalize" in " ".join(a.remediation)
    assert not _finding("postfix", "3.8.5", "CVE-2023-51764").kev


@pytest.mark.parametrize(
    ("version", "cve", "status"),
    [
        ("2.2.36.3", "CVE-2019-11500", Status.POTENTIALLY_VULNERABLE),
        ("2.2.36.4", "CVE-2019-11500", Status.NOT_VULNERABLE),
        ("2.3.7.1", "CVE-2019-11500", Status.POTENTIALLY_VULNERABLE),
        ("2.3.7.2", "CVE-2019-11500", Status.NOT_VULNERABLE),
        ("2.3.11", "CVE-2020-12100", Status.POTENTIALLY_VULNERABLE),  # NEWS 2.3.11, NVD 2.3.11.3
        ("2.3.11.3", "CVE-2020-12100", Status.NOT_VULNERABLE),
        ("2.3.10", "CVE-2020-25275", Status.POTENTIALLY_VULNERABLE),  # NEWS: 2.3.11; NVD: all
        ("2.2.27", "CVE-2020-25275", Status.POTENTIALLY_VULNERABLE),  # Debian/Ubuntu patched 2.2
        ("2.3.12", "CVE-2020-25275", Status.POTENTIALLY_VULNERABLE),
        ("2.2.36.4", "CVE-2021-33515", Status.UNKNOWN),  # 2.3.0 added submission; NVD: all
        ("2.3.14", "CVE-2021-33515", Status.POTENTIALLY_VULNERABLE),
        ("2.3.14.1", "CVE-2021-33515", Status.NOT_VULNERABLE),
    ],
)
def test_dovecot(version: str, cve: str, status: Status) -> None:
    f = _finding("dovecot", version, cve)
    assert f.status is status, (version, cve, f.reason)

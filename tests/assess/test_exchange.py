"""Exchange verdicts: the fix per CU line, CU-level builds, lines that never got the fix."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from mxcensus import kb
from mxcensus.assess import assess
from mxcensus.assess import exchange as ex
from mxcensus.model import (
    Finding,
    Identification,
    Outcome,
    Precision,
    Status,
    Transcript,
    Transport,
)

SEEN = Transcript(
    ip="127.0.0.1",
    port=443,
    protocol="https",
    transport=Transport.TLS,
    observed_at=datetime(2026, 9, 1, tzinfo=UTC),
    outcome=Outcome.OK,
)


def _fmt(parts: tuple[int, ...]) -> str:
    return ".".join(map(str, parts))


def finding(version: str, cve: str, precision: Precision = Precision.BUILD4) -> Finding | None:
    a = assess(Identification(product="ms-exchange", version=version, precision=precision), SEEN)
    return next((f for f in a.findings if f.cve == cve), None)


def _fix_cases() -> list[tuple[str, tuple[int, ...], tuple[int, ...]]]:
    k = kb.load_shipped()
    ix = ex.index(k)
    out = []
    for adv in k.advisories:
        if adv.product == "ms-exchange":
            for lo, hi, _ in ix.fixes[adv.id].values():
                out.append((adv.id, lo, hi))
    return out


FIXES = _fix_cases()


def _just_below(lo: tuple[int, ...]) -> tuple[int, ...]:
    ix = ex.index(kb.load_shipped())
    earlier = [p for p in ix.by_parts if ex.line_key(p) == ex.line_key(lo) and p < lo]
    if earlier:
        return max(earlier)
    return (*lo[:3], lo[3] - 1)


@pytest.mark.parametrize(("cve", "lo", "hi"), FIXES, ids=[f"{c}@{_fmt(h)}" for c, _, h in FIXES])
def test_build_just_below_the_fix_is_flagged_and_the_fix_is_not(
    cve: str, lo: tuple[int, ...], hi: tuple[int, ...]
) -> None:
    below = finding(_fmt(_just_below(lo)), cve)
    assert below is not None
    assert below.status is Status.VULNERABLE, below
    assert below.fixed_in == _fmt(hi)
    assert _fmt(hi) in below.reason
    fixed = finding(_fmt(hi), cve)
    assert fixed is not None
    assert fixed.status is Status.NOT_VULNERABLE, fixed
    later = finding(_fmt((*hi[:3], hi[3] + 1)), cve)
    assert later is not None and later.status is Status.NOT_VULNERABLE


@pytest.mark.parametrize(("cve", "lo", "hi"), FIXES, ids=[f"{c}@{_fmt(h)}" for c, _, h in FIXES])
def test_cu_level_build_on_a_line_that_got_the_fix_is_potentially_vulnerable(
    cve: str, lo: tuple[int, ...], hi: tuple[int, ...]
) -> None:
    if hi[0] < 15:  # 2007/2010: the third part is the rollup, so it is visible
        return
    f = finding(_fmt(hi[:3]), cve, Precision.BUILD3)
    assert f is not None
    assert f.status is Status.POTENTIALLY_VULNERABLE
    assert "CU-level build only: security updates are not visible" in f.reason


def _never_fixed_cases() -> list[tuple[str, tuple[int, ...]]]:
    k = kb.load_shipped()
    ix = ex.index(k)
    out = []
    for adv in k.advisories:
        if adv.product != "ms-exchange" or adv.config:
            continue
        fixed_lines = set(ix.fixes[adv.id])
        for major_minor in {line[:2] for line in fixed_lines if line[0] >= 15}:
            lowest = min(line for line in fixed_lines if line[:2] == major_minor)
            for build3 in ix.by_build3:
                if build3[:2] == major_minor and build3 < lowest and build3 not in fixed_lines:
                    pline = ex.product_line(build3)
                    if pline in adv.lines:
                        out.append((adv.id, build3))
    return out


NEVER = _never_fixed_cases()


def test_there_are_lines_that_never_got_fixes() -> None:
    assert len(NEVER) > 100


@pytest.mark.parametrize(("cve", "build3"), NEVER, ids=[f"{c}@{_fmt(b)}" for c, b in NEVER])
def test_cu_level_build_on_a_line_that_never_got_the_fix_is_vulnerable(
    cve: str, build3: tuple[int, ...]
) -> None:
    f = finding(_fmt(build3), cve, Precision.BUILD3)
    assert f is not None
    assert f.status is Status.VULNERABLE, f
    assert "never received the fix" in f.reason


def test_design_example_cu22_oct21su() -> None:
    a = assess(
        Identification(product="ms-exchange", version="15.1.2375.7", precision=Precision.BUILD4),
        SEEN,
    )
    assert (a.product_line, a.release, a.confidence) == ("Exchange Server 2016", "CU22", "high")
    f = {x.cve: x for x in a.findings}
    c = f["CVE-2022-41082"]
    assert c.status is Status.VULNERABLE
    assert c.reason == "15.1.2375.7 < 15.1.2375.37, the fix on the CU22 line"
    assert c.fixed_in == "15.1.2375.37"
    assert (c.kev, c.kev_date, c.ransomware, c.cvss) == (True, date(2022, 9, 30), True, 8.0)
    assert "proxynotshell" in c.tags and "cve-2022-41082" in c.tags
    assert f["CVE-2021-26855"].status is Status.NOT_VULNERABLE  # CU22 came after Mar21SU
    assert a.eol.eol is True and a.eol.date == date(2025, 10, 14)
    assert a.eol.line == "Exchange Server 2016"
    text = " ".join(a.remediation)
    assert "15.1.2507.72" in text  # the newest 2016 build
    assert "restrict network access" in text
    assert "possibly compromised" in text and "rebuild" in text
    r = assess(
        Identification(product="ms-exchange", version="15.1.2375.12", precision=Precision.BUILD4),
        SEEN,
    )
    assert r.release == "CU22 Oct21SU"


def test_cve_2024_21410_is_configuration_dependent() -> None:
    for build in ("15.1.2507.6", "15.2.1544.4", "15.2.2562.46", "15.2.1258.12", "15.1.2507"):
        prec = Precision.BUILD3 if build.count(".") == 2 else Precision.BUILD4
        f = finding(build, "CVE-2024-21410", prec)
        assert f is not None
        assert f.status is Status.POTENTIALLY_VULNERABLE
        assert "configuration dependent (Extended Protection)" in f.reason
        assert f.kev


def test_exchange_se_is_15_2_from_build_2562() -> None:
    se = assess(
        Identification(product="ms-exchange", version="15.2.2562.17", precision=Precision.BUILD4),
        SEEN,
    )
    assert (se.product_line, se.release) == ("Exchange Server SE", "RTM")
    assert se.eol.eol is False
    old = assess(
        Identification(product="ms-exchange", version="15.2.1748.10", precision=Precision.BUILD4),
        SEEN,
    )
    assert old.product_line == "Exchange Server 2019"


def test_major_only_is_unknown_never_not_vulnerable() -> None:
    for version in ("15.1", "15.2", "15.0"):
        a = assess(
            Identification(product="ms-exchange", version=version, precision=Precision.MAJOR), SEEN
        )
        assert a.findings
        for f in a.findings:
            config = f.cve == "CVE-2024-21410" and version != "15.0"  # 2013: not assessed
            want = Status.POTENTIALLY_VULNERABLE if config else Status.UNKNOWN
            assert f.status is want, (version, f)
    a = assess(
        Identification(product="ms-exchange", version="15.2", precision=Precision.MAJOR), SEEN
    )
    assert a.product_line == "Exchange Server 2019 or SE"
    assert a.eol.eol is None


def test_no_version_is_unknown_for_every_cve() -> None:
    a = assess(Identification(product="ms-exchange", precision=Precision.PRODUCT), SEEN)
    assert len(a.findings) == 19
    assert all(f.status is Status.UNKNOWN for f in a.findings)
    assert all(f.kev for f in a.findings)


def test_end_of_support_line_not_assessed_by_the_vendor_is_unknown() -> None:
    # Exchange 2013 was out of support when CVE-2026-42897 was published
    f = finding("15.0.1497.48", "CVE-2026-42897")
    assert f is not None and f.status is Status.UNKNOWN
    assert "not assessed by the vendor" in f.reason
    # 2013 is explicitly not affected by CVE-2021-42321: no finding at all
    assert finding("15.0.1497.48", "CVE-2021-42321") is None


def test_exchange_2010_rollups() -> None:
    assert finding("14.3.509.0", "CVE-2020-17144").status is Status.NOT_VULNERABLE  # type: ignore[union-attr]
    f = finding("14.3.496", "CVE-2020-17144", Precision.BUILD3)
    assert f is not None and f.status is Status.VULNERABLE  # RU30 < RU31, visible in 3 parts
    f = finding("14.2.390.3", "CVE-2020-17144")
    assert f is not None and f.status is Status.VULNERABLE and "SP2" in f.reason
    assert finding("14.3.513.0", "CVE-2021-26855") is None  # 2010 not affected by -26855
    f = finding("14.3.509.0", "CVE-2021-26857")
    assert f is not None and f.status is Status.VULNERABLE


def test_sources_disagree_on_the_fix_build() -> None:
    f = finding("15.1.1415.8", "CVE-2021-26855")  # CSS-Exchange's CU8 Mar21SU
    assert f is not None
    assert f.status is Status.POTENTIALLY_VULNERABLE
    assert "sources disagree" in f.reason


def test_build_not_in_the_list_is_never_not_vulnerable_by_accident() -> None:
    f = finding("15.1.2400.1", "CVE-2022-41082")  # between CU22 and CU23, not a real CU
    assert f is not None
    assert f.status is Status.POTENTIALLY_VULNERABLE
    assert "not in the build list" in f.reason


def test_eol_is_relative_to_the_observation_date() -> None:
    before = Transcript(
        ip="127.0.0.1",
        port=443,
        protocol="https",
        transport=Transport.TLS,
        observed_at=datetime(2025, 1, 1, tzinfo=UTC),
        outcome=Outcome.OK,
    )
    a = assess(
        Identification(product="ms-exchange", version="15.1.2507.44", precision=Precision.BUILD4),
        before,
    )
    assert a.eol.eol is False and a.eol.date == date(2025, 10, 14)

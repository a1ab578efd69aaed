"""Other products: commercial products can be vulnerable, distro-patched ones are not, EoL.

Zimbra, SmarterMail, Postfix and Dovecot advisories: tests/assess/test_added_advisories.py."""

from __future__ import annotations

from datetime import UTC, date, datetime

from mxcensus.assess import assess
from mxcensus.model import Identification, Precision, Status
from tests.assess.conftest import MakeTranscript


def _a(
    product: str, version: str = "", precision: Precision = Precision.VERSION
) -> dict[str, object]:
    a = assess(
        Identification(
            product=product, version=version, precision=precision if version else Precision.PRODUCT
        )
    )
    return {"a": a, **{f.cve: f for f in a.findings}}


def test_mdaemon_is_not_patched_in_place() -> None:
    def status(v: str) -> Status:
        a = assess(Identification(product="mdaemon", version=v, precision=Precision.VERSION))
        return next(f for f in a.findings if f.cve == "CVE-2024-11182").status

    assert status("24.5.0") is Status.VULNERABLE
    assert status("23.0.2") is Status.VULNERABLE
    assert status("24.5.1") is Status.POTENTIALLY_VULNERABLE  # NVD text and CPE disagree
    assert status("24.5.1c") is Status.NOT_VULNERABLE
    assert status("24.5.2") is Status.NOT_VULNERABLE


def test_opensmtpd() -> None:
    def f(v: str):  # type: ignore[no-untyped-def]
        a = assess(
            Identification(
                product="opensmtpd",
                version=v,
                precision=Precision.VERSION if v else Precision.PRODUCT,
            )
        )
        return next(x for x in a.findings if x.cve == "CVE-2020-7247")

    assert f("6.6.1p1").status is Status.POTENTIALLY_VULNERABLE
    assert "backport" in f("6.6.1p1").reason
    assert f("6.6.2p1").status is Status.NOT_VULNERABLE
    # below the first affected version 6.4.0, which is recalled, not read from Qualys
    assert f("6.0.3").status is Status.UNKNOWN
    assert "not confirmed" in f("6.0.3").reason
    assert f("").status is Status.UNKNOWN
    assert f("").kev


def test_end_of_support_lines(smtp: MakeTranscript) -> None:
    seen = smtp(when=datetime(2026, 9, 1, tzinfo=UTC))
    cases = [
        ("postfix", "3.5.9", True, date(2024, 3, 6)),
        ("postfix", "3.7.10", True, date(2026, 3, 6)),
        ("postfix", "3.9.1", False, None),
        ("postfix", "2.11.3", True, None),
        ("dovecot", "2.2.36.4", True, None),
        ("dovecot", "2.4.1", False, None),
        ("zimbra", "10.0.18", True, date(2025, 12, 31)),
        ("zimbra", "10.1.20", False, None),
        ("ms-iis-smtp", "6.0.3790.3959", True, date(2015, 7, 14)),
    ]
    for product, version, eol, when in cases:
        a = assess(
            Identification(product=product, version=version, precision=Precision.VERSION), seen
        )
        assert a.eol.eol is eol, (product, version, a.eol)
        assert a.eol.date == when, (product, version, a.eol)
    before = smtp(when=datetime(2026, 1, 1, tzinfo=UTC))
    a = assess(
        Identification(product="postfix", version="3.7.10", precision=Precision.VERSION), before
    )
    assert a.eol.eol is False and a.eol.date == date(2026, 3, 6)
    h = assess(Identification(product="hmailserver", precision=Precision.PRODUCT))
    assert h.eol.eol is True
    p = assess(Identification(product="postfix", precision=Precision.PRODUCT))
    assert p.eol.eol is None
    assert "migrate" in " ".join(
        assess(
            Identification(product="postfix", version="3.5.9", precision=Precision.VERSION), seen
        ).remediation
    )


def test_unknown_product() -> None:
    a = assess(Identification.unknown("no banner"))
    assert a.findings == () and a.eol.eol is None and a.product_line == ""


def test_remediation_for_exploited_cves() -> None:
    a = assess(Identification(product="mdaemon", version="24.5.0", precision=Precision.VERSION))
    text = " ".join(a.remediation)
    assert "24.5.1c" in text
    assert "restrict network access" in text
    assert "possibly compromised" in text and "rebuild" in text
    b = assess(Identification(product="exim", version="4.89", precision=Precision.VERSION))
    text = " ".join(b.remediation)
    assert "If the fix for" in text and "possibly compromised" in text


def test_hostile_version_text_never_reaches_a_reason_raw() -> None:
    for version in ("4.96 \x1b[31mred", "6.6.1\r\n=cmd|' /C calc'!A0", "9" * 5000, "<script>"):
        for product in ("exim", "opensmtpd", "zimbra", "ms-exchange", "postfix"):
            a = assess(
                Identification(product=product, version=version, precision=Precision.VERSION)
            )
            texts = [f.reason for f in a.findings] + [a.eol.line, a.eol.reason, *a.remediation]
            for text in texts:
                assert "\x1b" not in text and "\r" not in text and "\n" not in text
                assert len(text) < 2000

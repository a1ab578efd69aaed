"""End to end: a Zimbra or SmarterMail banner / page -> identify -> assess.

The version-keyed advisories of zimbra.yaml and other-advisories.yaml only give verdicts when a
fingerprint rule extracts a version the product's scheme parses; these tests pin the whole path
(rule, version string, scheme, verdict) with realistic texts:

- a patch level the text states -> vulnerable below the fix;
- a GA version alone -> potentially-vulnerable (patches keep the GA banner);
- product only -> unknown;
- a build-date cache-buster token is never taken for a version.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mxcensus.assess import assess
from mxcensus.identify import identify, identify_field
from mxcensus.model import Identification, Outcome, Precision, Status, Step, Transcript, Transport
from mxcensus.versions import scheme_for

WHEN = datetime(2026, 9, 1, tzinfo=UTC)

ZIMBRA_LOGIN = (
    b"<!DOCTYPE html>\n<html><head>\n<!--\n * Zimbra Collaboration Suite Web Client\n"
    b" * Copyright (C) 2007-2022 Synacor, Inc.\n-->\n"
    b"<title>Zimbra Web Client Sign In</title>\n"
    b'<link rel="stylesheet" type="text/css" '
    b'href="/css/common,login,zhtml,skin.css?skin=harmony&v=220627023426">\n'
    b'<script src="/js/zimbraMail/share/model/ZmSettings.js?v=220627023426"></script>\n'
    b"</head><body></body></html>"
)


def _t(protocol: str, port: int, *steps: Step) -> Transcript:
    return Transcript(
        ip="127.0.0.1",
        port=port,
        protocol=protocol,
        transport=Transport.PLAIN,
        observed_at=WHEN,
        outcome=Outcome.OK,
        steps=steps,
    )


def _http(path: str, body: bytes) -> Transcript:
    return _t("https", 443, Step(f"GET {path}", code=200, received=body))


def _verdict(t: Transcript, cve: str) -> tuple[Identification, Status]:
    ident = identify(t)
    a = assess(ident, t)
    return ident, next(f for f in a.findings if f.cve == cve).status


def _parses(ident: Identification) -> bool:
    return scheme_for(ident.product).parses(ident.version)


# --- Zimbra ---------------------------------------------------------------------------------


def test_zimbra_patch_level_stated_in_the_page_is_vulnerable_below_the_fix() -> None:
    body = (
        b"<html><body><h2>Server status</h2><pre>Release 8.8.15_GA_3869.RHEL7_64_20190917004220"
        b" RHEL7_64 NETWORK edition, Patch 8.8.15_P30.</pre></body></html>"
    )
    ident, status = _verdict(_http("/status", body), "CVE-2022-27925")  # fixed in 8.8.15 P31
    assert (ident.product, ident.version, ident.precision) == (
        "zimbra",
        "8.8.15.p30",
        Precision.VERSION,
    )
    assert _parses(ident)
    assert status is Status.VULNERABLE


def test_zimbra_patch_level_at_the_fix_is_not_vulnerable() -> None:
    body = b'<div class="footer">Zimbra Collaboration 8.8.15 Patch 33</div>'
    ident, status = _verdict(_http("/", body), "CVE-2022-37042")  # fixed in 8.8.15 P33
    assert ident.version == "8.8.15.p33"
    assert status is Status.NOT_VULNERABLE


@pytest.mark.parametrize(
    ("t", "field"),
    [
        (
            _t(
                "imap",
                143,
                Step(
                    "greeting",
                    received=b"* OK mail.example.com Zimbra 8.8.15_GA_3869 IMAP4rev1 "
                    b"server ready\r\n",
                ),
            ),
            "imap.banner",
        ),
        (
            _t(
                "pop3",
                110,
                Step(
                    "greeting",
                    received=b"+OK mail.example.com Zimbra 8.8.15_GA_3869 POP3 server ready\r\n",
                ),
            ),
            "pop3.banner",
        ),
        (
            _http(
                "/js/zimbraMail/share/model/ZmSettings.js",
                b'this.registerSetting("CLIENT_VERSION", {type:ZmSetting.T_CONFIG, '
                b'defaultValue:"8.8.15_GA_4372"});\n'
                b'this.registerSetting("CLIENT_RELEASE", {type:ZmSetting.T_CONFIG, '
                b'defaultValue:"20220627023426"});',
            ),
            "http.body",
        ),
    ],
    ids=["imap", "pop3", "zmsettings"],
)
def test_zimbra_ga_only_is_potentially_vulnerable(t: Transcript, field: str) -> None:
    ident, status = _verdict(t, "CVE-2022-27925")
    assert (ident.product, ident.version, ident.precision) == (
        "zimbra",
        "8.8.15",
        Precision.VERSION,
    )
    assert ident.evidence[0].field == field
    assert status is Status.POTENTIALLY_VULNERABLE


def test_zimbra_login_page_build_date_token_is_not_a_version() -> None:
    ident, status = _verdict(_http("/", ZIMBRA_LOGIN), "CVE-2022-27925")
    assert (ident.product, ident.version, ident.precision) == ("zimbra", "", Precision.PRODUCT)
    assert status is Status.UNKNOWN


def test_zimbra_product_only_banners_are_unknown() -> None:
    for t in (
        _t(
            "imap",
            143,
            Step("greeting", received=b"* OK mail.example.com Zimbra IMAP4rev1 server ready\r\n"),
        ),
        _t(
            "pop3",
            110,
            Step("greeting", received=b"+OK mail.example.com Zimbra POP3 server ready\r\n"),
        ),
        _t(
            "smtp",
            25,
            Step("greeting", received=b"220 mail.example.com ESMTP Postfix (Zimbra)\r\n"),
        ),
    ):
        ident, status = _verdict(t, "CVE-2022-37042")
        assert (ident.product, ident.precision) == ("zimbra", Precision.PRODUCT)
        assert status is Status.UNKNOWN


def test_zimbra_host_name_in_a_postfix_banner_stays_postfix() -> None:
    ident = identify(
        _t("smtp", 25, Step("greeting", received=b"220 zimbra.example.org ESMTP Postfix\r\n"))
    )
    assert ident.product == "postfix"


# --- SmarterMail ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "version", "status"),
    [
        (
            b'<html ng-app="smartermail"><head><script>var stSystemHostname = "mail.example.com";'
            b' var stProductVersion = "100.0.9483";</script></head></html>',
            "100.0.9483",
            Status.VULNERABLE,
        ),
        (
            b'<script>var cssVersion = "639035080380000000";\n'
            b'var stProductBuild = "9511 (Jan 15, 2026)";</script>',
            "Build 9511",
            Status.NOT_VULNERABLE,
        ),
        (b'<div id="footer">SmarterMail Build 9413</div>', "Build 9413", Status.VULNERABLE),
        (
            b'<div class="login-footer">SmarterMail Enterprise 100.0.9511</div>',
            "100.0.9511",
            Status.NOT_VULNERABLE,
        ),
    ],
    ids=["stProductVersion", "stProductBuild", "build", "shown"],
)
def test_smartermail_build_from_the_web_client(body: bytes, version: str, status: Status) -> None:
    ident, got = _verdict(_http("/interface/root", body), "CVE-2026-23760")  # fixed in 9511
    assert (ident.product, ident.version, ident.precision) == (
        "smartermail",
        version,
        Precision.VERSION,
    )
    assert _parses(ident)
    assert got is status


def test_smartermail_release_without_build_and_banners_are_unknown() -> None:
    page = _http("/Login.aspx", b'<div class="productName">SmarterMail Enterprise 15.7</div>')
    ident, status = _verdict(page, "CVE-2019-7214")
    assert (ident.product, ident.version, ident.precision) == ("smartermail", "", Precision.PRODUCT)
    assert "15.7" in ident.reason
    assert status is Status.UNKNOWN
    for t in (
        _t(
            "smtp",
            25,
            Step("greeting", received=b"220 mail.example.com SMTP Server (SmarterMail) ready\r\n"),
        ),
        _t("imap", 143, Step("greeting", received=b"* OK IMAP4rev1 SmarterMail\r\n")),
    ):
        ident, status = _verdict(t, "CVE-2026-23760")
        assert (ident.product, ident.precision) == ("smartermail", Precision.PRODUCT)
        assert status is Status.UNKNOWN


@pytest.mark.parametrize(
    "text",
    [
        # current builds: cssVersion and the ?v= cache-buster are .NET tick counts
        '<script>var cssVersion = "639035080380000000";</script>',
        '<script src="/interface/output/vendor-output.js?v=639035080380000000"></script>',
        # older builds put the product version in cssVersion, but nothing reads it alone
        '<script>var cssVersion = "100.0.6919.30414.8d65fc3f1d47d00";</script>',
        "SmarterMail 16.3",  # no build
    ],
)
def test_smartermail_no_version_without_a_stated_build(text: str) -> None:
    assert identify_field("http.body", text).version == ""

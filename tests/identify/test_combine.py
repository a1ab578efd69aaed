"""combine(): the most precise evidence wins; disagreement is kept as conflicts."""

from __future__ import annotations

from mxcensus.identify import combine, identify_field
from mxcensus.model import Identification, Precision

ECP = (
    '<assemblyIdentity name="microsoft.exchange.ediscovery.exporttool.application" '
    'version="15.1.2375.7" publicKeyToken="b1d1a6c45aa418ce" />'
)
OWA_PATH = '<link href="/owa/auth/15.1.2375/themes/resources/favicon.ico">'
SMTP = "220 mail.example.com Microsoft ESMTP MAIL Service ready at Tue, 13 Aug 2024 10:00:00 +0000"


def test_ecp_manifest_beats_owa_path_beats_banner() -> None:
    banner = identify_field("smtp.banner", SMTP)
    path = identify_field("http.owa-path", OWA_PATH)
    ecp = identify_field("ecp.manifest", ECP)
    for order in ([banner, path, ecp], [ecp, banner, path], [path, ecp, banner]):
        host = combine(order)
        assert host.product == "ms-exchange"
        assert host.version == "15.1.2375.7"
        assert host.precision is Precision.BUILD4
        assert host.conflicts == ()
        fields = [e.field for e in host.evidence]
        assert fields[0] == "ecp.manifest"
        assert set(fields) == {"ecp.manifest", "http.owa-path", "smtp.banner"}


def test_owa_path_beats_banner() -> None:
    host = combine([identify_field("smtp.banner", SMTP), identify_field("http.owa-path", OWA_PATH)])
    assert (host.version, host.precision) == ("15.1.2375", Precision.BUILD3)


def test_x_owa_version_beats_owa_path_at_any_order() -> None:
    hdr = identify_field("http.header", "X-OWA-Version: 15.1.2375.7")
    path = identify_field("http.owa-path", OWA_PATH)
    assert combine([path, hdr]).version == "15.1.2375.7"
    assert combine([hdr, path]).evidence[0].field == "http.header.x-owa-version"


def test_disagreeing_builds_are_conflicts() -> None:
    ecp = identify_field("ecp.manifest", ECP)
    old_path = identify_field("http.owa-path", "/owa/auth/15.1.1979/themes/x.png")
    host = combine([old_path, ecp])
    assert host.version == "15.1.2375.7"
    assert [e.value for e in host.conflicts] == ["/owa/auth/15.1.1979/"]
    assert all(e.field != "http.owa-path" for e in host.evidence)


def test_other_product_is_a_conflict() -> None:
    exim = identify_field("smtp.banner", "220 mx.example.org ESMTP Exim 4.96 Tue, 13 Aug 2024")
    dovecot = identify_field("imap.banner", "* OK Dovecot (Debian) ready.")
    host = combine([dovecot, exim])
    assert host.product == "exim"  # version beats product
    assert host.distro == ""  # the Debian hint belongs to Dovecot, which lost
    assert [e.rule for e in host.conflicts] == ["imap_banner.yaml#dovecot-distro"]


def test_iis_smtp_with_exchange_ehlo_is_exchange_without_an_exchange_build() -> None:
    iis = identify_field(
        "smtp.banner",
        "220 mail.example.com Microsoft ESMTP MAIL Service, Version: 6.0.3790.4675 ready",
    )
    ehlo = identify_field("smtp.ehlo", "250-mail.example.com Hello\r\n250-XEXCH50\r\n250 OK")
    assert iis.product == "ms-iis-smtp"
    host = combine([iis, ehlo])
    assert host.product == "ms-exchange"
    assert host.version == ""  # never the Windows/IIS build
    assert host.precision is Precision.PRODUCT
    assert host.conflicts == ()
    assert "not an Exchange build" in host.reason
    assert {e.field for e in host.evidence} == {"smtp.banner", "smtp.ehlo"}


def test_postfix_under_zimbra_is_not_a_conflict() -> None:
    postfix = identify_field("smtp.banner", "220 mail.example.com ESMTP Postfix")
    zimbra = identify_field("imap.banner", "* OK mail Zimbra 8.8.15_GA_3869 IMAP4rev1 server ready")
    host = combine([postfix, zimbra])
    assert (host.product, host.version) == ("zimbra", "8.8.15")
    assert host.conflicts == ()
    assert len(host.evidence) == 2


def test_unknowns_only() -> None:
    host = combine([Identification.unknown("no banner"), Identification.unknown("other")])
    assert not host.is_known
    assert host.reason == "no banner"
    assert combine([]).reason == "nothing identified"


def test_unknowns_do_not_disturb_a_known() -> None:
    exim = identify_field("smtp.banner", "220 mx ESMTP Exim 4.96")
    assert combine([Identification.unknown("x"), exim]) == exim


def test_same_evidence_twice_is_kept_once() -> None:
    a = identify_field("smtp.ehlo", "250-x\r\n250 X-ANONYMOUSTLS")
    host = combine([a, a, identify_field("smtp.banner", SMTP)])
    assert len(host.evidence) == 2

"""A hand-built store: two scans (April, November) over several countries and continents.

Every expectation in tests/report and tests/export is computed by hand from the tables
below; change them only together with those tests.

April (scan "april", 8 exposed services on 7 hosts, 1 refused port not counted):

  ip             port product    line                eol   verdicts                      geo
  192.0.2.1      443  exchange   Exchange Server 2013 yes  26855 vulnerable (KEV)      DE EU
  192.0.2.1      25   exchange   Exchange Server 2013 yes  (no CVE)                    DE EU
  192.0.2.2      443  exchange   Exchange Server 2016 no   41082 potentially (KEV)     FR EU
                                                   (hostile HTML banner)
  192.0.2.3      443  exchange   Exchange Server 2010 yes  26855 vulnerable (KEV)      DE EU
  198.51.100.1   25   exim 4.87  Exim 4               no   10149 pot. (KEV), 28017 pot US NA
  198.51.100.2   25   postfix    Postfix 3            no   (no CVE)                    US NA
  203.0.113.5    25   exim 4.96  Exim 4               no   10149 not-vulnerable        JP AS
  203.0.113.6    110  unknown    —                    —    (unknown)  hostile banner   BR SA
  203.0.113.7    25   refused: not an exposed service                                  ZA AF

November (scan "november", 7 services on 7 hosts): 192.0.2.1 upgraded to Exchange SE and
not vulnerable (fixed); 192.0.2.2 and 192.0.2.3 unchanged (still exposed); 198.51.100.2 and
203.0.113.6 unchanged (not at risk); 198.51.100.1 and 203.0.113.5 gone; new: 192.0.2.50
(Exim 4.91, 10149 vulnerable, AU OC) and 2001:db8::25 (Postfix, NL EU).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from mxcensus.model import (
    Assessment,
    EolStatus,
    Evidence,
    Finding,
    Identification,
    Outcome,
    Precision,
    ScanId,
    ServiceRecord,
    Status,
    Transcript,
    Transport,
)
from mxcensus.store.db import Store

XSS_BANNER = (
    "220 <script>document.title='pwned'</script>"
    "<img src=x onerror=\"document.body.appendChild(document.createElement('marquee'))\"> ESMTP"
)
FORMULA_BANNER = '=HYPERLINK("http://evil.example/","click")'
ANSI_BANNER = "\x1b[2J\x1b[31mred alert\x1b[0m +OK"

V, P, N = Status.VULNERABLE, Status.POTENTIALLY_VULNERABLE, Status.NOT_VULNERABLE
PROTO = {25: "smtp", 110: "pop3", 443: "https"}
GEO = {
    "DE": ("EU", 3320, "Deutsche Telekom AG"),
    "FR": ("EU", 12322, "Free SAS"),
    "NL": ("EU", 1136, "KPN B.V."),
    "US": ("NA", 7018, "AT&T Services"),
    "JP": ("AS", 2516, "KDDI"),
    "BR": ("SA", 28573, "Claro S.A."),
    "AU": ("OC", 1221, "Telstra"),
    "ZA": ("AF", 37457, "Telkom SA"),
}
CVE_INFO = {
    "CVE-2021-26855": (True, 9.8, ("proxylogon",)),
    "CVE-2022-41082": (True, 8.0, ("proxynotshell",)),
    "CVE-2019-10149": (True, 9.8, ()),
    "CVE-2020-28017": (False, 7.8, ("21nails",)),
}
PRODUCT = {
    "ms-exchange": ("microsoft", Precision.BUILD4, "http.header.x-owa-version"),
    "exim": ("exim", Precision.VERSION, "smtp.banner"),
    "postfix": ("postfix", Precision.PRODUCT, "smtp.banner"),
}


def service(
    scan: str,
    when: datetime,
    ip: str,
    port: int,
    product: str,
    line: str,
    version: str,
    eol: bool | None,
    cves: dict[str, Status],
    cc: str,
    *,
    outcome: Outcome = Outcome.OK,
    banner: str = "",
) -> ServiceRecord:
    continent, asn, org = GEO[cc]
    t = Transcript(
        ip=ip,
        port=port,
        protocol=PROTO[port],
        transport=Transport.TLS if port == 443 else Transport.PLAIN,
        observed_at=when,
        outcome=outcome,
        hostname=f"mail.{cc.lower()}.example",
    )
    if product == "unknown":
        ident = Identification.unknown("no rule matched the banner")
    else:
        vendor, precision, field = PRODUCT[product]
        ident = Identification(
            product=product,
            vendor=vendor,
            version=version,
            precision=precision,
            evidence=(Evidence(field=field, rule="fixture#1", value=version, port=port),),
        )
    findings = tuple(
        Finding(
            cve=cve,
            status=status,
            reason=f"fixture: {status.value}",
            fixed_in="" if status is N else "later",
            kev=CVE_INFO[cve][0],
            cvss=CVE_INFO[cve][1],
            tags=CVE_INFO[cve][2],
        )
        for cve, status in cves.items()
    )
    a = Assessment(
        product_line=line,
        release="CU23" if product == "ms-exchange" else "",
        confidence="high" if product != "unknown" else "",
        findings=findings,
        eol=EolStatus(eol=eol, line=line, date=date(2023, 4, 11) if eol else None),
        remediation=("install the latest update",) if findings else (),
    )
    return ServiceRecord(
        scan=scan,
        transcript=t,
        identification=ident,
        assessment=a,
        country=cc,
        continent=continent,
        asn=asn,
        org=org,
        city="",
        geo_source="fixture",
        banner=banner or f"220 {product} ready",
    )


APRIL = datetime(2026, 4, 1, 6, 0, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
E13, E16, E10 = "Exchange Server 2013", "Exchange Server 2016", "Exchange Server 2010"


def april(scan: str) -> list[ServiceRecord]:
    w = APRIL
    return [
        service(scan, w, "192.0.2.1", 443, "ms-exchange", E13, "15.0.1497.2", True,
                {"CVE-2021-26855": V}, "DE"),
        service(scan, w, "192.0.2.1", 25, "ms-exchange", E13, "15.0.1497.2", True, {}, "DE"),
        service(scan, w, "192.0.2.2", 443, "ms-exchange", E16, "15.1.2507", False,
                {"CVE-2022-41082": P}, "FR", banner=XSS_BANNER),
        service(scan, w, "192.0.2.3", 443, "ms-exchange", E10, "14.3.123.4", True,
                {"CVE-2021-26855": V}, "DE"),
        service(scan, w, "198.51.100.1", 25, "exim", "Exim 4", "4.87", False,
                {"CVE-2019-10149": P, "CVE-2020-28017": P}, "US", banner=FORMULA_BANNER),
        service(scan, w, "198.51.100.2", 25, "postfix", "Postfix 3", "", False, {}, "US"),
        service(scan, w, "203.0.113.5", 25, "exim", "Exim 4", "4.96", False,
                {"CVE-2019-10149": N}, "JP", banner=ANSI_BANNER),
        service(scan, w, "203.0.113.6", 110, "unknown", "", "", None, {}, "BR",
                banner=XSS_BANNER),
        service(scan, w, "203.0.113.7", 25, "unknown", "", "", None, {}, "ZA",
                outcome=Outcome.REFUSED),
    ]  # fmt: skip


def november(scan: str) -> list[ServiceRecord]:
    w = NOVEMBER
    return [
        service(scan, w, "192.0.2.1", 443, "ms-exchange", "Exchange Server SE", "15.2.2562.17",
                False, {"CVE-2021-26855": N}, "DE"),
        service(scan, w, "192.0.2.2", 443, "ms-exchange", E16, "15.1.2507", False,
                {"CVE-2022-41082": P}, "FR", banner=XSS_BANNER),
        service(scan, w, "192.0.2.3", 443, "ms-exchange", E10, "14.3.123.4", True,
                {"CVE-2021-26855": V}, "DE"),
        service(scan, w, "198.51.100.2", 25, "postfix", "Postfix 3", "", False, {}, "US"),
        service(scan, w, "203.0.113.6", 110, "unknown", "", "", None, {}, "BR",
                banner=XSS_BANNER),
        service(scan, w, "192.0.2.50", 25, "exim", "Exim 4", "4.91", False,
                {"CVE-2019-10149": V}, "AU"),
        service(scan, w, "2001:db8::25", 25, "postfix", "Postfix 3", "", False, {}, "NL"),
    ]  # fmt: skip


def build(path: Path) -> Path:
    """Write both scans into a new store at ``path``; returns ``path``."""
    with Store.open(path) as store:
        for name, when, records in (("april", APRIL, april), ("november", NOVEMBER, november)):
            sid = store.create_scan(
                name=name, kind="scan", source="scan", scan_id=ScanId(f"{name}-id"),
                started_at=when,
            )  # fmt: skip
            store.write_services(sid, records(sid))
            store.finish_scan(sid)
    return path

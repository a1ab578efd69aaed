"""What the owner should do: install, restrict meanwhile, and when to assume compromise."""

from __future__ import annotations

from mxcensus.kb.records import Advisory
from mxcensus.model import EolStatus, Finding, Status

OPEN = (Status.VULNERABLE, Status.POTENTIALLY_VULNERABLE)


def advise(
    findings: tuple[Finding, ...],
    advisories: dict[str, Advisory],
    eol: EolStatus,
    install: str,
    migrate_to: str,
    restrict: str,
) -> tuple[str, ...]:
    out: list[str] = []
    open_ = [f for f in findings if f.status in OPEN]
    unknown = [f for f in findings if f.status is Status.UNKNOWN]
    if open_ and install:
        out.append(install)
    for f in open_:
        adv = advisories.get(f.cve)
        if adv is not None and adv.remediation:
            out.append(f"{f.cve}: {adv.remediation}")
    if eol.eol:
        since = f" since {eol.date}" if eol.date else ""
        out.append(f"{eol.line} is past end of support{since}: migrate to {migrate_to}.")
    if open_:
        out.append(f"Until then, restrict network access: {restrict}.")
    kev_vuln = [f.cve for f in open_ if f.kev and f.status is Status.VULNERABLE]
    kev_maybe = [f.cve for f in open_ if f.kev and f.status is Status.POTENTIALLY_VULNERABLE]
    if kev_vuln:
        out.append(
            "Exposed while vulnerable to exploited CVEs (CISA KEV: "
            f"{', '.join(kev_vuln[:6])}{' …' if len(kev_vuln) > 6 else ''}): treat the host as "
            "possibly compromised — investigate (web shells, new accounts, mail rules, scheduled "
            "tasks) and rebuild from clean media if in doubt."
        )
    elif kev_maybe:
        out.append(
            f"If the fix for {', '.join(kev_maybe[:6])}{' …' if len(kev_maybe) > 6 else ''} "
            "(exploited, CISA KEV) was not installed before this host was exposed, treat it as "
            "possibly compromised: investigate, rebuild."
        )
    if unknown and not open_:
        out.append(
            "The version could not be told from outside: check it on the host against the "
            "fixed versions listed."
        )
    return tuple(dict.fromkeys(out))

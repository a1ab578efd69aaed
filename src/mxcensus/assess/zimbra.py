"""Verdicts for Zimbra Collaboration, whose fixes are patch levels on release lines.

An advisory's ranges (``kb/data/zimbra.yaml``) are ``[introduced, fixed)`` per release line
(``8.8.15``, ``9.0.0``, ``10.1``; :func:`mxcensus.versions.zimbra.line`). What a scan sees is
usually the GA version (``Zimbra 8.8.15_GA_3869``): patches do not change it, so it is a lower
bound of what is installed. Hence:

- in a range, on the line of that range's fix: *vulnerable* only when the version names its
  patch level (``8.8.15.p30``), else *potentially-vulnerable* ("patch level not visible");
- in a range, on an older line than the fix (``8.8.12`` for "before 8.8.15 Patch 46"): that
  line never got the fix, *vulnerable*;
- at or above the fix on its own line: *not-vulnerable*;
- on a line no range covers: *not-vulnerable* only when the line was first released after the
  CVE was published (``releases`` in the data), otherwise *unknown* (not assessed);
- below the first range: *unknown* when the vendor named only newer lines
  (``intro_unverified``), else *not-vulnerable*.

Configuration-dependent CVEs and disagreeing sources are at most potentially-vulnerable; a
product-only identification, an unparsable version or an uncollected fix is *unknown*.
"""

from __future__ import annotations

from mxcensus.assess.eol import shown
from mxcensus.assess.ranges import disputed_in, undecidable
from mxcensus.kb import KnowledgeBase
from mxcensus.kb.records import Advisory
from mxcensus.model import Precision, Status
from mxcensus.versions import Scheme
from mxcensus.versions.zimbra import display, line, patch_shown

Verdict = tuple[Status, str, str]


def _ga_date(kb: KnowledgeBase, ln: str, sch: Scheme) -> str:
    """The first release of line ``ln`` as YYYY-MM-DD, or ``""`` when the data lacks it."""
    base = ln if ln.count(".") == 2 else f"{ln}.0"
    for rel in kb.releases.get("zimbra", ()):
        if rel.date is not None and sch.compare(rel.version, base) == 0:
            return rel.date.isoformat()
    return ""


def _uncovered(adv: Advisory, v: str, ln: str, kb: KnowledgeBase, sch: Scheme) -> Verdict:
    lines = ", ".join(dict.fromkeys(line(f) for _, f in adv.ranges))
    ga = _ga_date(kb, ln, sch)
    if ga and adv.published is not None and ga > adv.published.isoformat():
        return (
            Status.NOT_VULNERABLE,
            f"the {ln} line was first released on {ga}, after {adv.id} was published "
            f"({adv.published.isoformat()}) with fixes for {lines}",
            "",
        )
    when = f"first released {ga}, " if ga else ""
    return (
        Status.UNKNOWN,
        f"{v}: the {ln} line ({when}not in the advisory, which names fixes for {lines}) was "
        "not assessed by the vendor: cannot tell",
        "",
    )


def verdict(
    adv: Advisory,
    version: str,
    precision: Precision,
    sch: Scheme,
    kb: KnowledgeBase,
) -> Verdict:
    undecided = undecidable(adv, version, precision, sch)
    if undecided is not None:
        return undecided

    v = display(shown(version))
    ln = line(version)
    for intro, fixed in adv.ranges:
        started = intro == "0" or sch.compare(version, intro) >= 0
        if not (started and sch.compare(version, fixed) < 0):
            continue
        fix = display(fixed)
        span = f"{v} < {fix}" if intro == "0" else f"{display(intro)} ≤ {v} < {fix}"
        tail = f"; configuration dependent ({adv.config})" if adv.config else ""
        if line(fixed) != ln:
            status = Status.POTENTIALLY_VULNERABLE if adv.config else Status.VULNERABLE
            return (
                status,
                f"{span}: the {ln} line never received the fix (first fixed on the "
                f"{line(fixed)} line){tail}",
                fixed,
            )
        disputed = disputed_in(adv, intro, fixed, version, sch)
        if disputed:
            return (
                Status.POTENTIALLY_VULNERABLE,
                f"{span}, but sources disagree on the fixed patch ({display(disputed)} or "
                f"{fix}){tail}",
                fixed,
            )
        if not patch_shown(version):
            why = (
                f"{ln} patch releases are packages installed on the {ln}.0 GA and need not "
                "change the version shown"
                if ln.count(".") == 1
                else "Zimbra patches do not change the GA version banners and pages show"
            )
            return (
                Status.POTENTIALLY_VULNERABLE,
                f"{span} by the version shown, but the patch level is not visible: {why}{tail}",
                fixed,
            )
        if adv.config:
            return (Status.POTENTIALLY_VULNERABLE, f"{span}{tail}", fixed)
        return (Status.VULNERABLE, f"{span}, the fix on the {ln} line", fixed)

    own = [f for _, f in adv.ranges if line(f) == ln and sch.compare(version, f) >= 0]
    if own:
        return (
            Status.NOT_VULNERABLE,
            f"{v} ≥ {display(own[0])}, the fix on the {ln} line",
            own[0],
        )
    first = min((i for i, _ in adv.ranges), key=sch.sort_key)
    if first != "0" and sch.compare(version, first) < 0:
        if adv.intro_unverified:
            return (
                Status.UNKNOWN,
                f"{v} is older than every line the advisory names (from {display(first)}); "
                "older lines were not assessed by the vendor: cannot tell",
                "",
            )
        return (
            Status.NOT_VULNERABLE,
            f"{v} is older than the first affected version {display(first)}",
            "",
        )
    return _uncovered(adv, v, ln, kb, sch)

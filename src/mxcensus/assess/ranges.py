"""Verdicts for products whose advisories are version ranges (Exim, OpenSMTPD, MDaemon …).

A banner version of software that distributions patch in place (Exim, Postfix, Dovecot,
Sendmail, OpenSMTPD) is never enough for *vulnerable*: Debian or Ubuntu may have backported
the fix without changing it, so the verdict in range is *potentially-vulnerable* with that
reason. An unknown version, or an advisory whose fixed version we do not know, is *unknown*.
"""

from __future__ import annotations

from mxcensus.assess.eol import shown
from mxcensus.kb import KnowledgeBase
from mxcensus.kb.records import Advisory, Backport
from mxcensus.model import Precision, Status
from mxcensus.versions import Scheme

PATCHED_IN_PLACE = frozenset({"exim", "postfix", "dovecot", "sendmail", "opensmtpd", "courier"})


def _backport_hint(adv: Advisory, version: str, distro: str, kb: KnowledgeBase, sch: Scheme) -> str:
    candidates: list[Backport] = [
        b for b in adv.backports if b.upstream and sch.compare(b.upstream, version) == 0
    ]
    if not candidates:
        candidates = [
            Backport(distro=b.distro, release=b.release, package=b.package, upstream=b.version)
            for b in kb.baselines.get(adv.product, ())
            if sch.compare(b.version, version) == 0
        ]
    if distro:
        preferred = [b for b in candidates if b.distro == distro]
        candidates = preferred or candidates
    if candidates:
        return ", ".join(b.describe() for b in candidates[:2])
    return "e.g. Debian, Ubuntu"


def disputed_in(adv: Advisory, intro: str, fixed: str, version: str, sch: Scheme) -> str:
    """Another source's fixed version on the range ``[intro, fixed)`` that ``version`` reaches
    (``""`` when none): the sources then disagree about whether ``version`` is fixed."""
    for d in adv.disputed_fixed:
        if (
            (intro == "0" or sch.compare(d, intro) >= 0)
            and sch.compare(d, fixed) < 0
            and sch.compare(version, d) >= 0
        ):
            return d
    return ""


HIDDEN = "version hidden"
"""How every verdict of a product whose version the service does not show begins."""


def hidden(adv: Advisory, version: str, sch: Scheme) -> str:
    """Why a CVE cannot be judged for a product seen without (enough of) its version: never
    not-vulnerable, never left out (the reason names what would decide it)."""
    fixes = sorted({f for _, f in adv.ranges if f}, key=sch.sort_key)
    where = f"; affected before {' / '.join(fixes)}" if fixes and not adv.fixed_unknown else ""
    seen = f" (only {shown(version)} is shown)" if version else ""
    return f"{HIDDEN}{seen}: cannot tell whether this service is affected{where}"


def undecidable(
    adv: Advisory, version: str, precision: Precision, sch: Scheme
) -> tuple[Status, str, str] | None:
    """The "unknown" verdict when the range check cannot run (no fixed version known, the
    version hidden or not understood), else None."""
    if adv.fixed_unknown:
        if not version or precision < Precision.VERSION:
            return (
                Status.UNKNOWN,
                f"{hidden(adv, version, sch)}; fixed version not in the knowledge base",
                "",
            )
        return (
            Status.UNKNOWN,
            f"version {shown(version)} seen, but the fixed version of {adv.id} is not in the "
            "knowledge base: cannot tell",
            "",
        )
    if not version or precision < Precision.VERSION:
        return (Status.UNKNOWN, hidden(adv, version, sch), "")
    if not sch.parses(version):
        return (Status.UNKNOWN, f"version {shown(version)!r} not understood", "")
    return None


def verdict(
    adv: Advisory,
    version: str,
    precision: Precision,
    distro: str,
    sch: Scheme,
    kb: KnowledgeBase,
) -> tuple[Status, str, str]:
    undecided = undecidable(adv, version, precision, sch)
    if undecided is not None:
        return undecided

    hit: tuple[str, str] | None = None
    for intro, fixed in adv.ranges:
        if (intro == "0" or sch.compare(version, intro) >= 0) and sch.compare(version, fixed) < 0:
            hit = (intro, fixed)
            break
    if hit is None:
        started = [(i, f) for i, f in adv.ranges if i == "0" or sch.compare(version, i) >= 0]
        if not started:
            first = min((i for i, _ in adv.ranges), key=sch.sort_key)
            if adv.intro_unverified:
                return (
                    Status.UNKNOWN,
                    f"{shown(version)} is older than the first affected version {first}, but "
                    "that lower bound is not confirmed by a primary source",
                    adv.ranges[0][1],
                )
            return (
                Status.NOT_VULNERABLE,
                f"{shown(version)} is older than the first affected version {first}",
                "",
            )
        fixed = max((f for _, f in started), key=sch.sort_key)
        return (Status.NOT_VULNERABLE, f"{shown(version)} ≥ {fixed}, the fixed version", fixed)

    intro, fixed = hit
    v = shown(version)
    span = f"{v} < {fixed}" if intro == "0" else f"{intro} ≤ {v} < {fixed}"
    extra: list[str] = []
    if adv.config:
        extra.append(f"configuration dependent ({adv.config})")
    if adv.attack == "local":
        extra.append("local attack only")
    tail = ("; " + "; ".join(extra)) if extra else ""
    disputed = disputed_in(adv, intro, fixed, version, sch)
    if disputed:
        return (
            Status.POTENTIALLY_VULNERABLE,
            f"{span}, but sources disagree on the fixed version ({disputed} or {fixed}){tail}",
            fixed,
        )
    if adv.product in PATCHED_IN_PLACE:
        hint = _backport_hint(adv, version, distro, kb, sch)
        return (
            Status.POTENTIALLY_VULNERABLE,
            f"banner version in range ({span}); distributions backport fixes without changing "
            f"it ({hint}){tail}",
            fixed,
        )
    if adv.config:
        return (Status.POTENTIALLY_VULNERABLE, f"{span}{tail}", fixed)
    return (Status.VULNERABLE, f"{span}, the fixed version{tail}", fixed)

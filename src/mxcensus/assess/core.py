"""``assess(ident, transcript)``: product line, release, CVE verdicts, EoL, remediation.

Everything that depends only on (product, version, precision, distro, observation day) is
computed once and cached; the transcript adds only the EHLO notes of configuration-dependent
verdicts (cached per EHLO reply as well).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import lru_cache

from mxcensus import kb as kbase
from mxcensus.assess import eol as eolmod
from mxcensus.assess import exchange, ranges, zimbra
from mxcensus.assess.ehlo import Facts, ehlo_facts
from mxcensus.assess.remediation import advise
from mxcensus.kb import KnowledgeBase
from mxcensus.kb.records import Advisory, Requires
from mxcensus.model import (
    CONFIDENCE,
    Assessment,
    EolStatus,
    Finding,
    Identification,
    Precision,
    Status,
    Transcript,
)
from mxcensus.versions import Scheme, build_parts, scheme_for
from mxcensus.vocabulary import PRODUCTS

_CONFIDENCE = CONFIDENCE

EHLO_PRODUCTS = frozenset({"exim"})
"""Products with EHLO-dependent advisories: only their verdicts read the transcript's steps."""


def _finding(adv: Advisory, status: Status, reason: str, fixed_in: str) -> Finding:
    return Finding(
        cve=adv.id,
        status=status,
        reason=reason,
        fixed_in=fixed_in,
        kev=adv.kev is not None,
        kev_date=adv.kev.date_added if adv.kev else None,
        ransomware=adv.kev is not None and adv.kev.ransomware,
        cvss=adv.cvss,
        tags=adv.tags,
    )


def seen_build(parts: tuple[int, ...] | None) -> str:
    return ".".join(map(str, parts)) if parts else ""


def _exchange(
    k: KnowledgeBase, version: str, precision: Precision, on: date
) -> tuple[str, str, tuple[Finding, ...], EolStatus, str]:
    ix = exchange.index(k)
    parts = exchange.visible_parts(version, precision) if version else None
    pline = exchange.product_line(parts) if parts else ""
    release = exchange.release(parts, ix) if parts and pline else ""
    lc = k.lifecycles.get("ms-exchange")
    eol_dates = {ln.line: ln.eol_date for ln in lc.lines} if lc else {}
    findings: list[Finding] = []
    for adv in k.by_product.get("ms-exchange", ()):
        v = exchange.verdict(adv, parts, pline, ix, eol_dates)
        if v is not None:
            findings.append(_finding(adv, *v))
    if lc is None:
        eol = EolStatus(eol=None, reason="no end-of-support data for Exchange")
    elif not pline:
        eol = eolmod.whole_product(lc, PRODUCTS["ms-exchange"].name, on)
    elif pline == exchange.AMBIGUOUS_15_2:
        eol = EolStatus(
            eol=None,
            line=pline,
            reason="Exchange 2019 (end of support 2025-10-14) or SE (supported): cannot tell",
        )
    else:
        eol = eolmod.by_line_name(lc, pline, on) or EolStatus(eol=None, line=pline)
    latest = ix.latest.get(pline)
    install = ""
    current = (
        latest is not None
        and parts is not None
        and len(parts) == 4
        and parts >= (build_parts(latest.build) or ())
    )
    if current:
        install = (
            f"{seen_build(parts)} is at or after the newest build on Microsoft's list "
            f"({latest.build if latest else ''}): keep it current with each security update."
        )
    elif latest is not None and pline in ("Exchange Server 2016", "Exchange Server 2019"):
        install = (
            f"Install the newest CU and security update of {pline}: {latest.build} "
            f"({latest.release}; after 2025-10-14 only through Extended Security Updates), "
            "or move to Exchange Server SE."
        )
    elif latest is not None and not eol.eol:
        install = f"Install the newest security update: {latest.build} ({pline} {latest.release})."
    elif pline:
        install = "No security updates exist for this line any more: migrate to Exchange Server SE."
    return pline, release, tuple(findings), eol, install


def _versioned(
    k: KnowledgeBase, product: str, version: str, precision: Precision, distro: str, on: date
) -> tuple[str, str, tuple[Finding, ...], EolStatus, str]:
    """A product judged advisory by advisory over its version (its logic's ``verdict``)."""
    sch = scheme_for(product)
    name = PRODUCTS[product].name
    logic = logic_of(product)
    findings = tuple(
        _finding(adv, *logic.verdict(adv, version, precision, distro, sch, k))
        for adv in k.by_product.get(product, ())
    )
    lc = k.lifecycles.get(product)
    known = bool(version) and precision >= Precision.VERSION and sch.parses(version)
    if lc is None:
        eol = EolStatus(eol=None, reason=f"no end-of-support data for {name}")
    elif lc.policy == "newest-release-only":
        eol = (
            eolmod.newest_only(k, product, name, version, sch, on)
            if known
            else EolStatus(eol=None, reason="version hidden: the release cannot be told")
        )
    elif known:
        eol = eolmod.by_prefix(lc, version, on) or EolStatus(eol=None, reason="no lifecycle entry")
    else:
        eol = eolmod.by_prefix(lc, "", on) or eolmod.whole_product(lc, name, on)
    pline = logic.line(version if known else "", eol) if logic.line else eol.line or name
    fixed = [
        f.fixed_in
        for f in findings
        if f.status in (Status.VULNERABLE, Status.POTENTIALLY_VULNERABLE) and f.fixed_in
    ]
    install = ""
    if fixed:
        top = max(fixed, key=sch.sort_key)
        newest = k.newest.get(product, "")
        install = f"Upgrade {name} to {sch.display(top)} or later"
        if newest and sch.compare(newest, top) > 0:
            install += f" (newest release: {sch.display(newest)})"
        if product in ranges.PATCHED_IN_PLACE:
            install += ", or confirm that your distribution's current security update is installed"
        install += "."
    return pline, "", findings, eol, install


Judge = Callable[
    [KnowledgeBase, str, str, Precision, str, date],
    tuple[str, str, tuple[Finding, ...], EolStatus, str],
]
"""(knowledge, product, version, precision, distro, day) -> (product line, release,
findings, end of support, what to install)."""
Verdict = Callable[[Advisory, str, Precision, str, Scheme, KnowledgeBase], tuple[Status, str, str]]
"""(advisory, version, precision, distro, scheme, knowledge) -> (status, reason, fixed in)."""


@dataclass(frozen=True, slots=True)
class ProductLogic:
    """What is particular to judging one product. Products without an entry in
    :data:`LOGIC` are judged by version ranges (``ranges.verdict``) with the defaults."""

    judge: Judge = _versioned
    """the whole assessment; ``_versioned`` runs ``verdict`` over each advisory"""
    verdict: Verdict = ranges.verdict
    line: Callable[[str, EolStatus], str] | None = None
    """the product line from the version (empty when not known) and end-of-support status;
    None: the lifecycle's line, else the product's name"""
    restrict: str = "allow only the hosts and networks that need this service"
    """what to restrict meanwhile"""


def _exchange_judge(
    k: KnowledgeBase, product: str, version: str, precision: Precision, distro: str, on: date
) -> tuple[str, str, tuple[Finding, ...], EolStatus, str]:
    pline, release, findings, eol, install = _exchange(k, version, precision, on)
    return pline or PRODUCTS[product].name, release, findings, eol, install


def _zimbra_verdict(
    adv: Advisory, version: str, precision: Precision, distro: str, sch: Scheme, k: KnowledgeBase
) -> tuple[Status, str, str]:
    return zimbra.verdict(adv, version, precision, sch, k)  # Zimbra ships no distro builds


def _exim_line(version: str, eol: EolStatus) -> str:
    return f"Exim {version.split('.')[0]}".strip() if version else "Exim"


LOGIC: dict[str, ProductLogic] = {
    "ms-exchange": ProductLogic(
        judge=_exchange_judge,
        restrict=(
            "do not expose OWA, ECP, EWS, Autodiscover or remote PowerShell to the internet; "
            "allow only the networks that need them (VPN, reverse proxy with "
            "pre-authentication)"
        ),
    ),
    "zimbra": ProductLogic(verdict=_zimbra_verdict),
    "exim": ProductLogic(line=_exim_line),
}
"""A product with verdict logic of its own: its module in ``assess/`` and one entry here."""
_DEFAULT = ProductLogic()


def logic_of(product: str) -> ProductLogic:
    return LOGIC.get(product, _DEFAULT)


@lru_cache(maxsize=65536)
def _base(product: str, version: str, precision: Precision, distro: str, on: date) -> Assessment:
    k = kbase.get()
    if product == "unknown" or product not in PRODUCTS:
        return Assessment(eol=EolStatus(eol=None, reason="product not identified"))
    logic = logic_of(product)
    pline, release, findings, eol, install = logic.judge(k, product, version, precision, distro, on)
    lc = k.lifecycles.get(product)
    advisories = {a.id: a for a in k.by_product.get(product, ())}
    remediation = advise(
        findings,
        advisories,
        eol,
        install=install,
        migrate_to=lc.migrate_to if lc else "a supported release",
        restrict=logic.restrict,
    )
    return Assessment(
        product_line=pline,
        release=release,
        confidence=_CONFIDENCE.get(precision, ""),
        findings=findings,
        eol=eol,
        remediation=remediation,
    )


def _ehlo_note(req: Requires, facts: Facts) -> str:
    notes: list[str] = []
    if req.ehlo:
        missing = [
            k for k in req.ehlo if k not in facts and not (k == "STARTTLS" and "TLS" in facts)
        ]
        if missing:
            notes.append(f"the EHLO to this scanner does not advertise {' and '.join(missing)}")
        else:
            notes.append(f"the EHLO advertises {' and '.join(req.ehlo)}")
    if req.auth:
        offered = sorted(m for m in req.auth if f"AUTH:{m}" in facts)
        if offered:
            notes.append(f"AUTH {'/'.join(offered)} is advertised")
        else:
            notes.append(f"no AUTH {'/'.join(req.auth)} advertised to this scanner")
    if req.starttls and not req.ehlo:
        notes.append("TLS is offered" if "TLS" in facts else "no TLS offered to this scanner")
    return "; ".join(notes)


Key = tuple[str, str, Precision, str, date]


@lru_cache(maxsize=65536)
def _needs_ehlo(key: Key) -> bool:
    """Does any open verdict of this assessment depend on what the EHLO shows?"""
    advisories = {a.id: a for a in kbase.get().by_product.get(key[0], ())}
    return any(
        f.status is Status.POTENTIALLY_VULNERABLE
        and (adv := advisories.get(f.cve)) is not None
        and adv.requires.any
        for f in _base(*key).findings
    )


@lru_cache(maxsize=16384)
def _with_ehlo(key: Key, facts: Facts) -> Assessment:
    base = _base(*key)
    advisories = {a.id: a for a in kbase.get().by_product.get(key[0], ())}
    out: list[Finding] = []
    changed = False
    for f in base.findings:
        adv = advisories.get(f.cve)
        if adv is not None and adv.requires.any and f.status is Status.POTENTIALLY_VULNERABLE:
            note = _ehlo_note(adv.requires, facts)
            if note:
                f = replace(f, reason=f"{f.reason}; {note}")
                changed = True
        out.append(f)
    return replace(base, findings=tuple(out)) if changed else base


_SECONDS_PER_DAY = 86_400
_today_cache: list[tuple[int, date]] = [(-1, date.min)]


def _today() -> date:
    """``datetime.now(UTC).date()`` for a fraction of its cost: the UTC day number from
    ``time.time()`` (POSIX days are 86,400 seconds), its date computed once per day."""
    day = int(time.time()) // _SECONDS_PER_DAY
    cached = _today_cache[0]
    if cached[0] == day:
        return cached[1]
    today = datetime.fromtimestamp(day * _SECONDS_PER_DAY, UTC).date()
    _today_cache[0] = (day, today)
    return today


Reading = tuple[str, str, Precision]
"""What one piece of evidence alone says: product, version, precision."""
Extras = tuple[str, tuple[Reading, ...]]
"""An identification's own confidence (when it is not its precision's) and the readings of
the evidence that disagreed with it."""


def _extras(ident: Identification) -> Extras | None:
    """What of ``ident`` beyond (product, version, precision, distro) the verdicts depend on,
    or None when nothing does (the common case: no disagreement, no confidence of its own)."""
    readings: tuple[Reading, ...] = ()
    if ident.conflicts:
        own = (ident.product, ident.version, ident.precision)
        readings = tuple(
            sorted(
                {
                    (e.product, e.version, e.precision)
                    for e in ident.conflicts
                    if e.product in PRODUCTS and e.product != "unknown" and e.precision
                }
                - {own}
            )
        )
    confidence = ident.confidence if ident.confidence != _CONFIDENCE.get(ident.precision) else ""
    if not confidence and not readings:
        return None
    return confidence, readings


def _reading_name(product: str, version: str) -> str:
    return f"{PRODUCTS[product].name} {version}" if version else PRODUCTS[product].name


_SEVERITY = {
    Status.VULNERABLE: 3,
    Status.POTENTIALLY_VULNERABLE: 2,
    Status.UNKNOWN: 1,
    Status.NOT_VULNERABLE: 0,
}


def _cautious(f: Finding, g: Finding, mine: str, theirs: str) -> Finding:
    """One CVE's verdict when two readings of the evidence disagree: never not-vulnerable when
    either reading is at risk (then potentially-vulnerable), else unknown."""
    if f.status is g.status:
        return f
    worse = f if _SEVERITY[f.status] >= _SEVERITY[g.status] else g
    at_risk = {f.status, g.status} & {Status.VULNERABLE, Status.POTENTIALLY_VULNERABLE}
    status = Status.POTENTIALLY_VULNERABLE if at_risk else Status.UNKNOWN
    return replace(
        worse,
        status=status,
        reason=(
            f"the evidence disagrees ({mine}: {f.status}; {theirs}: {g.status}); the reading "
            f"that cannot give a false not-vulnerable is kept: {worse.reason}"
        ),
    )


@lru_cache(maxsize=16384)
def _settled(key: Key, facts: Facts | None, extras: Extras) -> Assessment:
    """The assessment of ``key`` with its own confidence and the disagreeing readings weighed:
    a CVE on which the readings differ is judged as the cautious reading says (see
    :func:`_cautious`); a CVE only another reading concerns (another build's line, another
    product the dialogue suggests) is added, never vulnerable on disputed evidence."""
    product, version, _precision, _distro, on = key
    base = _base(*key) if facts is None else _with_ehlo(key, facts)
    confidence, readings = extras
    findings = list(base.findings)
    index = {f.cve: i for i, f in enumerate(findings)}
    mine = _reading_name(product, version)
    for other, other_version, other_precision in readings:
        alt = _base(other, other_version, other_precision, "", on)
        theirs = _reading_name(other, other_version)
        if other == product:  # a CVE this reading does not list does not concern it
            listed = {g.cve for g in alt.findings}
            for n, f in enumerate(findings[: len(base.findings)]):
                if f.cve not in listed and f.status is not Status.NOT_VULNERABLE:
                    spared = replace(f, status=Status.NOT_VULNERABLE, reason="not affected")
                    findings[n] = _cautious(f, spared, mine, theirs)
        for g in alt.findings:
            at = index.get(g.cve)
            if at is not None:
                findings[at] = _cautious(findings[at], g, mine, theirs)
                continue
            status = Status.POTENTIALLY_VULNERABLE if g.status is Status.VULNERABLE else g.status
            index[g.cve] = len(findings)
            findings.append(
                replace(
                    g,
                    status=status,
                    reason=f"if this is {theirs}, as disagreeing evidence says (the "
                    f"identification is {mine}): {g.reason}",
                )
            )
    return replace(base, findings=tuple(findings), confidence=confidence or base.confidence)


def assess(ident: Identification, transcript: Transcript | None = None) -> Assessment:
    """The verdicts for one identified service (pure; cached per product/version, and per
    confidence and disagreeing readings when the identification has them)."""
    on = transcript.observed_at.date() if transcript is not None else _today()
    key: Key = (ident.product, ident.version, ident.precision, ident.distro, on)
    facts: Facts | None = None
    if transcript is not None and ident.product in EHLO_PRODUCTS and _needs_ehlo(key):
        facts = ehlo_facts(transcript)
    extras = _extras(ident)
    if extras is not None:
        return _settled(key, facts, extras)
    if facts is None:
        return _base(*key)
    return _with_ehlo(key, facts)


def assess_on(ident: Identification, on: date) -> Assessment:
    """``assess(ident, transcript)`` for a transcript observed on day ``on`` when
    ``ident.product`` is not in :data:`EHLO_PRODUCTS` (nothing else of it is read)."""
    if ident.product in EHLO_PRODUCTS:
        raise ValueError(f"{ident.product}: its verdicts read the EHLO; use assess()")
    key: Key = (ident.product, ident.version, ident.precision, ident.distro, on)
    extras = _extras(ident)
    return _base(*key) if extras is None else _settled(key, None, extras)


def clear_cache() -> None:
    """Forget cached verdicts (after the knowledge changed)."""
    _base.cache_clear()
    _needs_ehlo.cache_clear()
    _with_ehlo.cache_clear()
    _settled.cache_clear()
    kbase.reset()

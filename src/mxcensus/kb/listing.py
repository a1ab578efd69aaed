"""``mxcensus kb list``: the advisories in force, as plain text blocks (no I/O here).

Each advisory is shown with its KEV flags, CVSS, what is affected and fixed (version ranges,
Exchange fixed builds, or "fixed version not collected"), disagreements, configuration
dependence, the data file and line it comes from, and its references.
"""

from __future__ import annotations

from mxcensus.errors import UsageError
from mxcensus.kb.loader import KnowledgeBase
from mxcensus.kb.records import Advisory
from mxcensus.versions import scheme_for
from mxcensus.vocabulary import is_product


def _v(product: str, version: str) -> str:
    return scheme_for(product).display(version)


def _affected(adv: Advisory) -> str:
    if adv.fixed_unknown:
        return "fixed version not collected (verdicts stay unknown)"
    if adv.ranges:
        spans = [
            f"< {_v(adv.product, f)}"
            if i == "0"
            else f"{_v(adv.product, i)} ≤ v < {_v(adv.product, f)}"
            for i, f in adv.ranges
        ]
        first = " (first affected version unconfirmed)" if adv.intro_unverified else ""
        return "; ".join(spans) + first
    builds = [fb.build + (f" (or {fb.also})" if fb.also else "") for fb in adv.fixed_builds]
    parts = [f"lines: {', '.join(adv.lines)}"]
    if builds:
        parts.append(f"fixed builds: {', '.join(builds)}")
    if adv.fixed_from:
        parts.append(f"fixed from CU builds: {', '.join(adv.fixed_from)}")
    return "; ".join(parts)


def describe(adv: Advisory) -> list[str]:
    """The text block of one advisory."""
    head = [adv.id, adv.product]
    if adv.kev:
        added = adv.kev.date_added
        kev = f"KEV {added.isoformat() if added else '(date unknown)'}"
        head.append(kev + (", ransomware" if adv.kev.ransomware else ""))
    else:
        head.append("not in KEV")
    if adv.cvss is not None:
        head.append(f"CVSS {adv.cvss:g} ({adv.cvss_source})")
    if adv.published is not None:
        head.append(f"published {adv.published.isoformat()}")
    out = ["  ".join(head), f"  {adv.title}", f"  affected: {_affected(adv)}"]
    if adv.disputed_fixed:
        shown = ", ".join(_v(adv.product, d) for d in adv.disputed_fixed)
        out.append(f"  other sources' fix: {shown}")
    if adv.config:
        out.append(f"  configuration dependent: {adv.config}")
    if adv.remediation:
        out.append(f"  remediation: {adv.remediation}")
    if adv.backports:
        out.append(f"  distribution fixes: {', '.join(b.describe() for b in adv.backports)}")
    out.append(f"  data: {adv.source}")
    out.extend(f"  ref: {r}" for r in adv.refs)
    if adv.note:
        out.append(f"  note: {adv.note}")
    return out


def select(kb: KnowledgeBase, product: str = "", cve: str = "") -> list[Advisory]:
    """The advisories of ``product`` and/or with id ``cve`` (case-insensitive); a product
    outside the vocabulary or a CVE the knowledge lacks is a :class:`UsageError`."""
    if product and not is_product(product):
        raise UsageError(f"kb list: unknown product {product!r}")
    chosen = [
        a
        for a in kb.advisories
        if (not product or a.product == product) and (not cve or a.id == cve.upper())
    ]
    if cve and not chosen:
        raise UsageError(f"kb list: {cve.upper()} is not in the knowledge base")
    return chosen

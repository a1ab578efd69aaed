"""Combining identifications of one service's fields, or of all services of a host.

The most precise identification wins (precision first; at equal precision an ECP manifest
or X-OWA-Version beats an OWA path, which beats a banner). Identifications that agree with
the winner (same product, versions that are prefixes of one another) add their evidence;
the others go to ``conflicts`` so the disagreement stays visible.

Some products carry others inside: Exchange 2000/2003 run on the Windows IIS SMTP service
and Zimbra runs Postfix as its MTA. Evidence for the component is then not a conflict, and
the containing product is named even when the component's evidence is more precise (the
IIS build is never taken as an Exchange build).
"""

from __future__ import annotations

from collections.abc import Iterable

from mxcensus.model import Evidence, Identification

COMPONENT_OF: dict[str, frozenset[str]] = {
    "ms-iis-smtp": frozenset({"ms-exchange"}),
    "postfix": frozenset({"zimbra"}),
}
"""product -> the products that may run it as a component."""

_STRONG_FIELDS = frozenset({"ecp.manifest", "http.header.x-owa-version"})


def _field_rank(ident: Identification) -> int:
    best = 0
    for e in ident.evidence:
        if e.field in _STRONG_FIELDS:
            return 3
        best = max(best, 2 if e.field == "http.owa-path" else 1)
    return best


def _versions_agree(a: str, b: str) -> bool:
    if not a or not b or a == b:
        return True
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return long_.startswith(short) and long_[len(short)] in "._-"


def _agrees(winner: Identification, other: Identification) -> bool:
    if other.product == winner.product:
        return _versions_agree(winner.version, other.version)
    return winner.product in COMPONENT_OF.get(other.product, ())


def _dedupe(items: Iterable[Evidence]) -> tuple[Evidence, ...]:
    seen: dict[tuple[str, str, str, int], Evidence] = {}
    for e in items:
        seen.setdefault((e.field, e.rule, e.value, e.port), e)
    return tuple(seen.values())


def combine(idents: Iterable[Identification]) -> Identification:
    """One identification from several: the most precise wins, the rest is evidence or
    conflict. Unknowns contribute nothing but their reason when nothing is known."""
    items = list(idents)
    known = [i for i in items if i.is_known]
    if not known:
        reasons = [i.reason for i in items if i.reason]
        return Identification.unknown(reasons[0] if reasons else "nothing identified")
    if len(known) == 1:
        return known[0]
    order = {id(i): n for n, i in enumerate(known)}
    ranked = sorted(known, key=lambda i: (-int(i.precision), -_field_rank(i), order[id(i)]))
    winner = ranked[0]
    containers = COMPONENT_OF.get(winner.product)
    if containers:
        hosts = [i for i in ranked if i.product in containers]
        if hosts:
            winner = hosts[0]
    evidence: list[Evidence] = list(winner.evidence)
    conflicts: list[Evidence] = list(winner.conflicts)
    reasons = [winner.reason] if winner.reason else []
    distro = winner.distro
    for other in ranked:
        if other is winner:
            continue
        conflicts.extend(other.conflicts)
        if _agrees(winner, other):
            evidence.extend(other.evidence)
            if other.reason and other.reason not in reasons:
                reasons.append(other.reason)
            if not distro and other.product == winner.product:
                distro = other.distro
        else:
            conflicts.extend(other.evidence)
    return Identification(
        product=winner.product,
        vendor=winner.vendor,
        version=winner.version,
        precision=winner.precision,
        cpe=winner.cpe,
        distro=distro,
        evidence=_dedupe(evidence),
        conflicts=_dedupe(conflicts),
        reason="; ".join(reasons),
    )

"""Combining identifications of one service's fields, or of all services of a host.

The most precise identification wins (precision first; at equal precision an ECP manifest
or X-OWA-Version beats an OWA path, which beats a statement such as a banner, which beats
what the dialogue only suggests -- an EHLO shape, a HELP text, a certificate a product makes
by default: fields whose probe declares ``infers``). Identifications that agree with the
winner (same product, versions that are prefixes of one another) add their evidence; the
others go to ``conflicts`` so the disagreement stays visible -- when they were seen on the
same service: another service of the host running another product (Dovecot beside Exim)
is no disagreement.

The result never depends on the order of its inputs: ties at equal precision and rank go
to the product first in id order, then to the **oldest** version (by the product's version
scheme: the reading that cannot yield a false "not vulnerable" for a range that ends at a
fix), then to the evidence text. Disagreeing versions are conflicts, whose readings the
assessment also weighs (:mod:`mxcensus.assess.core`).

Confidence (``Identification.confidence``): the winner's, raised a step towards what its
precision allows when a second independent field agrees (a full Exchange build in one header
alone is ``medium``; with the OWA path or the banner agreeing ``high``), lowered a step when
anything on the same service disagrees.

Some products carry others inside: Exchange 2000/2003 run on the Windows IIS SMTP service
and Zimbra runs Postfix as its MTA. Evidence for the component is then not a conflict, and
the containing product is named even when the component's evidence is more precise (the
IIS build is never taken as an Exchange build).
"""

from __future__ import annotations

from collections.abc import Iterable

from mxcensus.model import (
    CONFIDENCE,
    CONFIDENCE_LEVELS,
    Evidence,
    Identification,
    Precision,
    confidence_of,
)
from mxcensus.probes import TABLE
from mxcensus.versions import scheme_for

COMPONENT_OF: dict[str, frozenset[str]] = {
    "ms-iis-smtp": frozenset({"ms-exchange"}),
    "postfix": frozenset({"zimbra"}),
}
"""product -> the products that may run it as a component."""

_STRONG_FIELDS = frozenset({"ecp.manifest", "http.header.x-owa-version"})
INFERRING_FIELDS = frozenset(f.name for f in TABLE.fields.values() if f.infers)
"""Fields whose rules infer a product from how the server behaves (as the probes declare)."""
_SOURCE = {"tls.issuer": "tls.subject", "smtp.ehlo-shape": "smtp.ehlo"}
"""Fields read from the same observation: they corroborate nothing for each other."""


def _evidence_rank(e: Evidence) -> int:
    if e.field in _STRONG_FIELDS:
        return 4
    if e.field == "http.owa-path":
        return 3
    if e.field in INFERRING_FIELDS and e.precision < Precision.VERSION:
        return 1
    return 2


def _field_rank(ident: Identification) -> int:
    return max((_evidence_rank(e) for e in ident.evidence), default=2)


def _order(ident: Identification) -> tuple[object, ...]:
    """The sort key that makes the winner independent of the input order."""
    return (
        -int(ident.precision),
        -_field_rank(ident),
        ident.product,
        scheme_for(ident.product).sort_key(ident.version),
        tuple((e.field, e.rule, e.value, e.port) for e in ident.evidence),
    )


def _versions_agree(a: str, b: str) -> bool:
    if not a or not b or a == b:
        return True
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return long_.startswith(short) and long_[len(short)] in "._-"


def _agrees(winner: Identification, other: Identification) -> bool:
    if other.product == winner.product:
        return _versions_agree(winner.version, other.version)
    return winner.product in COMPONENT_OF.get(other.product, ())


def _same_service(a: Identification, b: Identification) -> bool:
    """Whether two identifications may come from one service: their evidence shares a port,
    or a port is not known (fields of one service are combined before ports are set)."""
    pa = {e.port for e in a.evidence}
    pb = {e.port for e in b.evidence}
    return 0 in pa or 0 in pb or not pa.isdisjoint(pb)


def _dedupe(items: Iterable[Evidence]) -> tuple[Evidence, ...]:
    seen: dict[tuple[str, str, str, int], Evidence] = {}
    for e in items:
        seen.setdefault((e.field, e.rule, e.value, e.port), e)
    return tuple(seen.values())


def _step(level: str, by: int, ceiling: str = "high") -> str:
    i = CONFIDENCE_LEVELS.index(level) + by
    i = max(0, min(i, CONFIDENCE_LEVELS.index(ceiling)))
    return CONFIDENCE_LEVELS[i]


def settle(
    winner: Identification, evidence: Iterable[Evidence], conflicts: Iterable[Evidence]
) -> str:
    """The confidence of ``winner`` given all agreeing ``evidence`` and the ``conflicts``
    seen on its service (see the module docstring)."""
    own = [
        e.confidence
        for e in evidence
        if e.confidence and e.product == winner.product and e.precision == winner.precision
    ]
    level = max(own, key=CONFIDENCE_LEVELS.index) if own else (confidence_of(winner) or "low")
    ceiling = CONFIDENCE.get(winner.precision, "low")
    sources = {_SOURCE.get(e.field, e.field) for e in evidence}
    if len(sources) >= 2 and CONFIDENCE_LEVELS.index(level) < CONFIDENCE_LEVELS.index(ceiling):
        level = _step(level, 1, ceiling)
    if any(True for _ in conflicts):
        level = _step(level, -1)
    return level


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
    ranked = sorted(known, key=_order)
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
    disputed: list[str] = []
    for other in ranked:
        if other is winner:
            continue
        if _agrees(winner, other):
            conflicts.extend(other.conflicts)
            evidence.extend(other.evidence)
            if other.reason and other.reason not in reasons:
                reasons.append(other.reason)
            if not distro and other.product == winner.product:
                distro = other.distro
        elif _same_service(winner, other):
            conflicts.extend(other.conflicts)
            conflicts.extend(other.evidence)
            if other.product == winner.product and other.version not in disputed:
                disputed.append(other.version)
    if disputed and winner.version:
        sch = scheme_for(winner.product)
        oldest = all(sch.compare(winner.version, v) <= 0 for v in disputed if v)
        why = "the oldest reading" if oldest else "the most precise reading"
        reasons.append(
            f"the evidence disagrees on the version ({', '.join([winner.version, *disputed])}):"
            f" {winner.version} is taken, {why}"
        )
    kept = _dedupe(evidence)
    against = _dedupe(conflicts)
    return Identification(
        product=winner.product,
        vendor=winner.vendor,
        version=winner.version,
        precision=winner.precision,
        cpe=winner.cpe,
        distro=distro,
        evidence=kept,
        conflicts=against,
        reason="; ".join(reasons),
        confidence=settle(winner, kept, against),
    )

"""Exchange: product line and release from a build, and the verdict per advisory.

The rule (DESIGN.md): a full build below the fix on its CU line is *vulnerable*; a CU-level
(three-part) build on a line that did get a security update is *potentially-vulnerable*
(security updates are not visible); a CU line that never received the fix is *vulnerable*; a
line the vendor never assessed because it was out of support is *unknown*; only a build at or
after the fix, or a CU released with the fix, is *not-vulnerable*.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from mxcensus.kb import KnowledgeBase
from mxcensus.kb.records import Advisory, ExchangeBuild
from mxcensus.model import Precision, Status
from mxcensus.versions import build_parts

Parts = tuple[int, ...]

SE_FIRST_BUILD = 2562  # 15.2 builds from 2562 on are Exchange Server SE (CSS-Exchange rule)
AMBIGUOUS_15_2 = "Exchange Server 2019 or SE"


def product_line(parts: Parts) -> str:
    major, minor = parts[0], parts[1] if len(parts) > 1 else -1
    if major == 6:
        return {0: "Exchange 2000 Server", 5: "Exchange Server 2003"}.get(minor, "")
    if major == 8:
        return "Exchange Server 2007"
    if major == 14:
        return "Exchange Server 2010"
    if major == 15:
        if minor == 0:
            return "Exchange Server 2013"
        if minor == 1:
            return "Exchange Server 2016"
        if minor == 2:
            if len(parts) < 3:
                return AMBIGUOUS_15_2
            return "Exchange Server SE" if parts[2] >= SE_FIRST_BUILD else "Exchange Server 2019"
    return ""


def line_key(parts: Parts) -> Parts:
    """The servicing line a build belongs to: the CU for 2013+, the service pack before."""
    return parts[:3] if parts[0] >= 15 else parts[:2]


@dataclass(frozen=True, slots=True)
class Index:
    """The build list arranged for lookups (built once per knowledge base)."""

    by_parts: dict[Parts, ExchangeBuild]
    by_build3: dict[Parts, tuple[ExchangeBuild, ...]]  # sorted by build
    line_label: dict[Parts, str]  # line key -> "CU22", "SP3"
    latest: dict[str, ExchangeBuild]  # product line -> newest official build
    fixes: dict[str, dict[Parts, tuple[Parts, Parts, str]]]  # cve -> line -> (lo, hi, note)
    fixed_from: dict[str, dict[Parts, Parts]]  # cve -> (major, minor) -> first fixed CU


def _p(build: str) -> Parts:
    parts = build_parts(build)
    assert parts is not None  # validated by the loader
    return parts


@lru_cache(maxsize=4)
def index(kb: KnowledgeBase) -> Index:
    by_parts = {_p(b.build): b for b in kb.builds.values()}
    by_build3: dict[Parts, list[ExchangeBuild]] = {}
    for parts, row in sorted(by_parts.items()):
        by_build3.setdefault(parts[:3], []).append(row)
    line_label: dict[Parts, str] = {}
    for parts, row in sorted(by_parts.items(), key=lambda kv: (not kv[1].official, kv[0])):
        key = line_key(parts)
        if key not in line_label or line_label[key] == "Preview":
            line_label[key] = row.base.split(" (")[0]
    latest: dict[str, ExchangeBuild] = {}
    for _parts, row in sorted(by_parts.items()):
        if row.official and row.base != "Preview":
            latest[row.product_line] = row
    fixes: dict[str, dict[Parts, tuple[Parts, Parts, str]]] = {}
    fixed_from: dict[str, dict[Parts, Parts]] = {}
    for adv in kb.advisories:
        if adv.product != "ms-exchange":
            continue
        per_line: dict[Parts, tuple[Parts, Parts, str]] = {}
        for fb in adv.fixed_builds:
            hi = _p(fb.build)
            lo = min(hi, _p(fb.also)) if fb.also else hi
            hi = max(hi, _p(fb.also)) if fb.also else hi
            per_line[line_key(hi)] = (lo, hi, fb.note)
        fixes[adv.id] = per_line
        fixed_from[adv.id] = {_p(b)[:2]: _p(b)[:3] for b in adv.fixed_from}
    return Index(
        by_parts=by_parts,
        by_build3={k: tuple(v) for k, v in by_build3.items()},
        line_label=line_label,
        latest=latest,
        fixes=fixes,
        fixed_from=fixed_from,
    )


def visible_parts(version: str, precision: Precision) -> Parts | None:
    parts = build_parts(version)
    if parts is None:
        return None
    if precision == Precision.MAJOR:
        return parts[:2]
    if precision == Precision.BUILD3:
        return parts[:3]
    return parts


def release(parts: Parts, ix: Index) -> str:
    if len(parts) == 4 and parts in ix.by_parts:
        return ix.by_parts[parts].release
    if len(parts) >= 3:
        rows = ix.by_build3.get(parts[:3])
        if rows:
            if parts[0] >= 15:
                return ix.line_label.get(line_key(parts), rows[0].base)
            official = [r for r in rows if r.official] or list(rows)
            return official[0].release
    return ""


def _fmt(parts: Parts) -> str:
    return ".".join(map(str, parts))


def _label(parts: Parts, ix: Index) -> str:
    return ix.line_label.get(line_key(parts), "") or _fmt(line_key(parts))


def verdict(
    adv: Advisory,
    parts: Parts | None,
    pline: str,
    ix: Index,
    eol_dates: dict[str, date | None],
) -> tuple[Status, str, str] | None:
    """(status, reason, fixed_in) for one advisory, or ``None`` when it does not concern us."""
    if parts is None or not pline:
        if parts is None:
            return (Status.UNKNOWN, "version hidden: the Exchange build is not visible", "")
        return (Status.UNKNOWN, f"build {_fmt(parts)} is not a known Exchange version", "")
    if pline == AMBIGUOUS_15_2:
        both = {"Exchange Server 2019", "Exchange Server SE"}
        if not (both & set(adv.lines)):
            return None
        if adv.config and both <= set(adv.lines):
            return (Status.POTENTIALLY_VULNERABLE, f"configuration dependent ({adv.config})", "")
        return (
            Status.UNKNOWN,
            "only the major version 15.2 is visible: Exchange 2019 or SE, CU and security "
            "update cannot be told",
            "",
        )
    if pline in adv.not_affected:
        return None
    if pline not in adv.lines:
        eos = eol_dates.get(pline)
        if eos is not None and adv.published is not None and eos < adv.published:
            return (
                Status.UNKNOWN,
                f"not assessed by the vendor: {pline} was out of support (since {eos}) when "
                f"{adv.id} was published, and no fix exists for it",
                "",
            )
        return None
    if adv.config:
        detail = f": {adv.config_detail}" if adv.config_detail else ""
        return (
            Status.POTENTIALLY_VULNERABLE,
            f"configuration dependent ({adv.config}){detail}",
            "",
        )
    if len(parts) < 3:
        return (
            Status.UNKNOWN,
            f"only the major version {_fmt(parts)} is visible: the CU and security update "
            "cannot be told",
            "",
        )
    fix = ix.fixes.get(adv.id, {}).get(line_key(parts))
    if fix is not None:
        return _on_fixed_line(parts, fix, ix)
    return _off_fixed_line(adv, parts, ix)


Verdict = tuple[Status, str, str]


def _on_fixed_line(parts: Parts, fix: tuple[Parts, Parts, str], ix: Index) -> Verdict:
    """A build on a CU line the advisory names a fix for (``lo``..``hi``: sources' fix builds)."""
    seen = _fmt(parts)
    lo, hi, note = fix
    where = f"the fix on the {_label(parts, ix)} line"
    if parts[:3] < lo[:3]:
        return (Status.VULNERABLE, f"{seen} < {_fmt(lo)}, {where}", _fmt(hi))
    if parts[:3] > hi[:3]:
        return (Status.NOT_VULNERABLE, f"{seen} is after {_fmt(hi)}, {where}", _fmt(hi))
    if len(parts) == 4:
        if parts < lo:
            return (Status.VULNERABLE, f"{seen} < {_fmt(hi)}, {where}", _fmt(hi))
        if parts >= hi:
            return (Status.NOT_VULNERABLE, f"{seen} ≥ {_fmt(hi)}, {where}", _fmt(hi))
        return (
            Status.POTENTIALLY_VULNERABLE,
            f"{seen} is below {_fmt(hi)}, {where}, but sources disagree on the fix build "
            f"({note or _fmt(lo)})",
            _fmt(hi),
        )
    first = ix.by_build3.get(parts[:3], ())
    if first and _p(first[0].build) >= lo:
        return (
            Status.NOT_VULNERABLE,
            f"{release(parts, ix)} contains the fix from its first build ({_fmt(hi)})",
            _fmt(hi),
        )
    return (
        Status.POTENTIALLY_VULNERABLE,
        f"CU-level build only: security updates are not visible; {_fmt(hi)} is {where}",
        _fmt(hi),
    )


def _off_fixed_line(adv: Advisory, parts: Parts, ix: Index) -> Verdict:
    """A build on an affected line with no fix of its own: fixed by a later CU, or never."""
    seen = _fmt(parts)
    ff = ix.fixed_from.get(adv.id, {}).get(parts[:2])
    if ff is not None and parts[:3] >= ff:
        return (
            Status.NOT_VULNERABLE,
            f"{_label(ff, ix)} and later CUs contain the fix (CUs are cumulative)",
            "",
        )
    later = sorted(
        (hi for k, (_lo, hi, _n) in ix.fixes.get(adv.id, {}).items() if k[:2] == parts[:2]),
    )
    later_fix = next((h for h in later if h[:3] > parts[:3]), ff)
    fixed_in = _fmt(later_fix) if later_fix else ""
    if parts[0] >= 15 and parts[:3] not in ix.by_build3:
        return (
            Status.POTENTIALLY_VULNERABLE,
            f"build {seen} is not in the build list: its CU and whether it got the fix are unknown",
            fixed_in,
        )
    fixed_lines = [_label(k, ix) for k in sorted(ix.fixes.get(adv.id, {})) if k[:2] == parts[:2]]
    if ff is not None:
        fixed_lines.append(f"{_label(ff, ix)} and later")
    where = f" (fixed on: {', '.join(fixed_lines)})" if fixed_lines else " (no fix for this line)"
    label = _label(parts, ix)
    return (Status.VULNERABLE, f"the {label} line never received the fix{where}", fixed_in)

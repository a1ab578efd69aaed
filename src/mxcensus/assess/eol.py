"""End of support per product line, relative to the observation date."""

from __future__ import annotations

import re
from datetime import date

from mxcensus.kb import KnowledgeBase
from mxcensus.kb.records import Lifecycle
from mxcensus.model import EolStatus
from mxcensus.versions import Scheme


def shown(version: str, limit: int = 40) -> str:
    """A version as it may appear in a line or reason: printable ASCII only, bounded."""
    clean = "".join(ch if " " <= ch <= "~" else "?" for ch in version[:limit])
    return clean + ("…" if len(version) > limit else "")


_DOTTED = re.compile(r"\d+(?:\.\d+)*")


def _components(version: str) -> list[str]:
    m = _DOTTED.search(version)
    return m.group(0).split(".") if m else []


def _status(line: str, eol: bool, eol_date: date | None, note: str, on: date) -> EolStatus:
    if not eol:
        return EolStatus(eol=False, line=line, reason=note or "supported")
    if eol_date is None:
        return EolStatus(eol=True, line=line, reason=note or "end of support (date not known)")
    if on >= eol_date:
        return EolStatus(eol=True, line=line, date=eol_date, reason=f"end of support {eol_date}")
    return EolStatus(eol=False, line=line, date=eol_date, reason=f"supported until {eol_date}")


def by_line_name(lc: Lifecycle, name: str, on: date) -> EolStatus | None:
    for ln in lc.lines:
        if ln.line == name:
            return _status(ln.line, ln.eol, ln.eol_date, ln.note, on)
    return None


def by_prefix(lc: Lifecycle, version: str, on: date) -> EolStatus | None:
    comps = _components(version)
    for ln in lc.lines:
        want = ln.prefix.split(".") if ln.prefix else []
        if want and comps[: len(want)] != want:
            continue
        return _status(ln.line, ln.eol, ln.eol_date, ln.note, on)
    return None


def whole_product(lc: Lifecycle, name: str, on: date) -> EolStatus:
    """End of support for a product seen without its version: past it only when every line
    of the product has ended by ``on``; otherwise it cannot be told."""
    ended = [ln.eol and (ln.eol_date is None or on >= ln.eol_date) for ln in lc.lines]
    if lc.lines and all(ended):
        last = [ln.eol_date for ln in lc.lines if ln.eol_date is not None]
        when = max(last) if len(last) == len(lc.lines) else None
        return EolStatus(
            eol=True,
            line=name,
            date=when,
            reason=f"version hidden, but every line of {name} has reached its end of support",
        )
    return EolStatus(eol=None, reason="version hidden: the product line cannot be told")


def newest_only(
    kb: KnowledgeBase, product: str, name: str, version: str, sch: Scheme, on: date
) -> EolStatus:
    """Upstream supports only its newest release (Exim): when was ``version`` superseded?"""
    releases = kb.releases.get(product, ())
    newest = kb.newest.get(product, "")
    line = f"{name} {shown(version)}"
    own = next((r.date for r in releases if sch.compare(r.version, version) == 0), None)
    later = [
        r.date
        for r in releases
        if r.date is not None
        and sch.compare(r.version, version) > 0
        and (own is None or r.date >= own)
    ]
    distro = [
        b.release
        for b in kb.baselines.get(product, ())
        if sch.compare(b.version, version) == 0 and (b.until is None or on < b.until)
    ]
    kept = f"; {', '.join(distro)} still ships it with security fixes" if distro else ""
    if newest and sch.compare(version, newest) >= 0:
        return EolStatus(eol=False, line=line, reason=f"the newest {name} release")
    policy = f"upstream supports only the newest release ({newest})"
    if not later:
        if any(sch.compare(r.version, version) > 0 for r in releases):
            return EolStatus(eol=True, line=line, reason=f"{policy}{kept}")
        return EolStatus(eol=None, line=line, reason="not in the release list")
    superseded = min(later)
    if on < superseded:
        return EolStatus(eol=False, line=line, date=superseded, reason="newest release then")
    return EolStatus(
        eol=True,
        line=line,
        date=superseded,
        reason=f"{policy}; {shown(version)} was superseded on {superseded}{kept}",
    )

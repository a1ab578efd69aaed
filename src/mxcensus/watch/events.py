"""Change events between two consecutive runs of a watch: a pure function of their records.

The services of each run are streamed as exported records (``schema/record.schema.json``),
both in (ip, port, protocol) order, and merged by endpoint (ip, port): memory holds one
endpoint at a time, however large the watch. Only exposed services count (a port that
accepted a connection; ``model.NOT_CONNECTED`` are absent). A service's CVE verdict is
*at risk* when vulnerable or potentially vulnerable.

Per endpoint, with "before" the previous run (nothing, for a watch's first run):

- ``new``: exposed now, not before; ``gone``: the reverse (nothing else is said of it).
- per CVE: ``vulnerable`` — vulnerable now, not before; ``potentially-vulnerable`` —
  potentially vulnerable now, not at risk before; ``kev`` — at risk before and now and the
  CVE entered CISA KEV in between (a CVE newly at risk carries its KEV flag in its own
  event instead); ``fixed`` — at risk before, and now not vulnerable, or potentially where it
  was vulnerable, or no longer among the findings of a product still identified (another
  product or version line). A verdict that becomes ``unknown`` (the version is no longer
  visible) is no fix and says nothing.
- ``eol``: end of support now, not before; ``fixed`` (no CVE): end of support before, now
  supported.
- ``version-changed``: product or version differ (a new build, a hidden banner).

Each event carries its evidence (before and now: product, version, verdict, reason,
fixed build, KEV) and the remediation mxcensus writes; the verdict's reason is the one
the assessment gave. Events follow only from differences, so an unchanged service is never
announced again; the run that finds them stores them with itself in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from mxcensus.model import Outcome

KINDS = (
    "new", "gone", "vulnerable", "potentially-vulnerable", "kev", "eol", "fixed",
    "version-changed", "problem",
)  # fmt: skip
AT_RISK = ("vulnerable", "potentially-vulnerable")
NOT_EXPOSED = frozenset(
    o.value for o in (Outcome.REFUSED, Outcome.UNREACHABLE, Outcome.CONNECT_TIMEOUT,
                      Outcome.EXCLUDED)
)  # fmt: skip
"""Outcomes of a port that never accepted a connection (as the reports count them)."""
BRIEF = ("product", "product_line", "version", "eol")
"""The fields of a :class:`Service` an event's evidence shows (``before``, ``now``)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str
    reason: str
    kev: bool
    fixed_in: str | None


@dataclass(frozen=True, slots=True)
class Service:
    """What events compare of one exposed service (from its exported record)."""

    ip: str
    port: int
    protocol: str
    hostname: str | None
    hostname_source: str | None
    asn: int | None
    country: str | None
    product: str
    product_line: str | None
    version: str | None
    eol: bool | None
    eol_line: str | None
    eol_date: str | None
    cves: dict[str, Verdict]
    remediation: tuple[str, ...]

    @property
    def domain(self) -> str | None:
        src = self.hostname_source or ""
        return src.partition(":")[2] or None if ":" in src else None

    def brief(self) -> dict[str, Any]:
        """What the service runs, as an event's evidence shows it (:data:`BRIEF`)."""
        return {name: getattr(self, name) for name in BRIEF}

    @classmethod
    def of(cls, r: dict[str, Any]) -> Service:
        eol = r.get("eol") or {}
        return cls(
            ip=r["ip"], port=int(r["port"]), protocol=r["protocol"],
            hostname=r.get("hostname"), hostname_source=r.get("hostname_source"),
            asn=r.get("asn"), country=r.get("country"), product=r.get("product") or "unknown",
            product_line=r.get("product_line"), version=r.get("version"),
            eol=eol.get("eol"), eol_line=eol.get("line"), eol_date=eol.get("date"),
            cves={
                c["id"]: Verdict(c["status"], c.get("reason") or "", bool(c.get("kev")),
                                 c.get("fixed_in"))
                for c in r.get("cves") or ()
            },
            remediation=tuple(r.get("remediation") or ()),
        )  # fmt: skip


class Endpoint(NamedTuple):
    """The exposed service an event is about: where it answers, the name it was found under
    and its network."""

    ip: str
    """The service's address."""
    port: int
    protocol: str
    """As the scan named it: smtp, submission, imaps …"""
    hostname: str | None
    """The name the service was found under (a domain's MX or web name), if any."""
    asn: int | None
    """The service's autonomous system, where the enrichment knew it."""


@dataclass(frozen=True, slots=True)
class Event:
    """One change a run found, or a problem it met (a domain that did not resolve, a file
    that went away), which is about no service."""

    kind: str
    """One of :data:`KINDS`."""
    summary: str
    """One line for people: the service, what it runs and what changed."""
    endpoint: Endpoint | None = None
    """The service the event is about; None for a problem."""
    cve: str | None = None
    """The CVE whose verdict changed; None for events about the service as a whole."""
    domain: str | None = None
    """The watched domain that led to the service (or the problem), if any: contacts are
    routed by it."""
    evidence: dict[str, Any] = field(default_factory=dict)
    """``before`` and ``now`` (:data:`BRIEF`, the verdict) and the remediation."""


def exposed(records: Iterable[dict[str, Any]]) -> Iterator[Service]:
    """The exposed services of a run's records, one per endpoint: of two records of one
    ip:port (an import holding two crawls) the later wins. The records must come in the
    store's order (ip as text, then port); any other order raises ValueError rather than
    be merged wrongly."""
    pending: Service | None = None
    for r in records:
        if r.get("outcome") in NOT_EXPOSED:
            continue
        s = Service.of(r)
        if pending is not None and (pending.ip, pending.port) != (s.ip, s.port):
            if (s.ip, s.port) < (pending.ip, pending.port):
                raise ValueError(f"records out of order: {s.ip}:{s.port} after "
                                 f"{pending.ip}:{pending.port}")  # fmt: skip
            yield pending
        pending = s
    if pending is not None:
        yield pending


def diff(before: Iterable[Service], now: Iterable[Service]) -> Iterator[Event]:
    """The events from ``before`` to ``now`` (both in (ip, port) order, as
    :func:`exposed` yields them)."""
    a_iter, b_iter = iter(before), iter(now)
    a, b = next(a_iter, None), next(b_iter, None)
    while a is not None or b is not None:
        ka = (a.ip, a.port) if a is not None else None
        kb = (b.ip, b.port) if b is not None else None
        if b is None or (ka is not None and kb is not None and ka < kb):
            assert a is not None
            yield _gone(a)
            a = next(a_iter, None)
        elif a is None or (kb is not None and ka is not None and kb < ka):
            yield from _changes(None, b)
            b = next(b_iter, None)
        else:
            assert a is not None
            yield from _changes(a, b)
            a, b = next(a_iter, None), next(b_iter, None)


def _where(s: Service) -> dict[str, Any]:
    """An event's fields that say which service it is about."""
    return {"endpoint": Endpoint(s.ip, s.port, s.protocol, s.hostname, s.asn), "domain": s.domain}


def _label(s: Service) -> str:
    what = s.product if not s.version else f"{s.product} {s.version}"
    host = f"[{s.ip}]" if ":" in s.ip else s.ip
    return f"{host}:{s.port} ({what})"


def _gone(s: Service) -> Event:
    at_risk = sorted(c for c, v in s.cves.items() if v.status in AT_RISK)
    return Event(
        "gone",
        f"{_label(s)}: no longer answers",
        **_where(s),
        evidence={"before": {**s.brief(), "at_risk": at_risk}},
    )


def _changes(a: Service | None, b: Service) -> Iterator[Event]:
    where = _where(b)
    if a is None:
        yield Event(
            "new",
            f"{_label(b)}: newly exposed",
            **where,
            evidence={"now": b.brief(), "remediation": list(b.remediation)},
        )
    elif (a.product, a.version) != (b.product, b.version):
        yield Event(
            "version-changed",
            f"{_label(b)}: was {a.product} {a.version or '(version not visible)'}",
            **where,
            evidence={"before": a.brief(), "now": b.brief()},
        )
    for cve in sorted(set(b.cves) | (set(a.cves) if a else set())):
        event = _cve_change(a, b, cve)
        if event is not None:
            yield event
    if b.eol and not (a and a.eol):
        yield Event(
            "eol",
            f"{_label(b)}: {b.eol_line or b.product} is past end of support"
            + (f" (since {b.eol_date})" if b.eol_date else ""),
            **where,
            evidence={"now": {**b.brief(), "eol_line": b.eol_line, "eol_date": b.eol_date},
                      "remediation": list(b.remediation)},
        )  # fmt: skip
    elif a is not None and a.eol and b.eol is False:
        yield Event(
            "fixed",
            f"{_label(b)}: supported again (was {a.eol_line or a.product}, end of support)",
            **where,
            evidence={"before": a.brief(), "now": b.brief()},
        )


def _cve_change(a: Service | None, b: Service, cve: str) -> Event | None:
    old = a.cves.get(cve) if a is not None else None
    new = b.cves.get(cve)
    s0 = old.status if old else None
    s1 = new.status if new else None
    where = _where(b)
    if new is not None and s1 in AT_RISK:
        kind = None
        if s1 == "vulnerable" and s0 != "vulnerable":
            kind = "vulnerable"
        elif s1 == "potentially-vulnerable" and s0 not in AT_RISK:
            kind = "potentially-vulnerable"
        if kind is not None:
            return Event(
                kind,
                f"{_label(b)}: {kind.replace('-', ' ')} to {cve}"
                + (" (in CISA KEV)" if new.kev else "")
                + f": {new.reason}",
                cve=cve,
                **where,
                evidence=_verdicts(a, b, old, new),
            )
        if old is not None and s0 in AT_RISK and new.kev and not old.kev:
            return Event(
                "kev",
                f"{_label(b)}: {cve} is now in CISA KEV (actively exploited); {s1}",
                cve=cve,
                **where,
                evidence=_verdicts(a, b, old, new),
            )
    if old is None or s0 not in AT_RISK or a is None:
        return None
    improved = (s1 == "not-vulnerable") or (s0 == "vulnerable" and s1 == "potentially-vulnerable")
    dropped = new is None and b.product != "unknown"
    if improved or dropped:
        now = s1 or f"not applicable to {b.product} {b.version or ''}".rstrip()
        return Event(
            "fixed",
            f"{_label(b)}: {cve} was {s0}, now {now}",
            cve=cve,
            **where,
            evidence=_verdicts(a, b, old, new),
        )
    return None


def _verdicts(
    a: Service | None, b: Service, old: Verdict | None, new: Verdict | None
) -> dict[str, Any]:
    def one(s: Service | None, v: Verdict | None) -> dict[str, Any] | None:
        if s is None:
            return None
        out: dict[str, Any] = s.brief()
        if v is not None:
            out.update(status=v.status, reason=v.reason, fixed_in=v.fixed_in, kev=v.kev)
        return out

    return {"before": one(a, old), "now": one(b, new), "remediation": list(b.remediation)}

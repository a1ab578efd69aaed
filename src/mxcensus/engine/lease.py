"""Cluster-wide politeness: the scan's limits lent to its running shards as leases.

``--rate``, ``--concurrency`` and ``--per-net`` are the whole cluster's. One small
:class:`LeaseBook` (a Ray actor on the driver's node, :mod:`mxcensus.engine.ray_executor`)
lends each running shard attempt a share — rate R/L, concurrency C/L, per-/24 cap
max(1, P // L) for L shards — for ``ttl`` seconds; the shard renews it every second and,
when it cannot (the book refused it, or the book is out of reach), opens no new connection
once it expires. Budget that an unexpired lease holds is never lent to another, so a share
grows only after the others have renewed at a smaller one or expired: the leases never add
up to more than the totals (the per-/24 cap excepted when there are more shards than it
allows connections: each shard keeps one, at most L per /24).

L counts the shards that hold a lease, and at least as many of the admitted ones as the
cluster has slots for, so that shards starting together get their shares at once instead
of the first taking everything. A finished shard returns its lease; an attempt the driver
gives up on is fenced: its renewals are refused, and its budget stays held until its last
lease expires, so a shard that keeps running on a node the cluster lost (a zombie) stops
within ``ttl`` and never overlaps its retry beyond the totals.

Pure Python with an injectable clock: the tests drive it without Ray.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

TTL = 2.0
"""Seconds a lease is valid for, from the renewal request."""
RENEW_EVERY = 1.0
"""Seconds between a shard's renewals."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A shard attempt's share for ``seconds`` from its request (0: wait, ask again)."""

    rate: float
    concurrency: int
    per_net: int
    seconds: float


@dataclass(slots=True)
class _Held:
    rate: float
    concurrency: int
    per_net: int
    expires: float


class LeaseBook:
    """Who may open connections, how many and how fast, within the cluster's totals."""

    def __init__(
        self,
        rate: float,
        concurrency: int,
        per_net: int,
        slots: int,
        *,
        ttl: float = TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.concurrency = concurrency
        self.per_net = per_net
        self.slots = max(1, slots)
        self.ttl = ttl
        self.clock = clock
        self.current: dict[str, int] = {}  # shard key -> the attempt allowed to renew
        self.held: dict[tuple[str, int], _Held] = {}

    def reset(self, rate: float, concurrency: int, per_net: int, slots: int) -> None:
        """New totals, no lease: a new scan (every earlier lease is void)."""
        self.rate, self.concurrency, self.per_net = rate, concurrency, per_net
        self.slots = max(1, slots)
        self.current.clear()
        self.held.clear()

    def set_slots(self, slots: int) -> None:
        """The cluster now has room for ``slots`` shards at once (a node came or went)."""
        self.slots = max(1, slots)

    def admit(self, key: str, attempt: int) -> None:
        """Attempt ``attempt`` of shard ``key`` is submitted: from now on it, and no earlier
        attempt of the shard, may renew."""
        self.current[key] = attempt

    def fence(self, key: str, attempt: int) -> None:
        """The driver gave up on this attempt: its renewals are refused from now on."""
        if self.current.get(key) == attempt:
            del self.current[key]

    def release(self, key: str, attempt: int) -> None:
        """The attempt finished: its budget is free at once."""
        self.fence(key, attempt)
        self.held.pop((key, attempt), None)

    def renew(self, key: str, attempt: int) -> Lease | None:
        """The attempt's share for the next ``ttl`` seconds, or None when it is fenced."""
        now = self.clock()
        self._expire(now)
        if self.current.get(key) != attempt:
            return None
        me = (key, attempt)
        self.held.pop(me, None)
        holders = {k for k, _ in self.held if self.current.get(k) is not None} | {key}
        parts = max(len(holders), min(len(self.current), self.slots))
        rate = min(self.rate / parts, self.rate - sum(h.rate for h in self.held.values()))
        conc = min(
            max(1, self.concurrency // parts),
            self.concurrency - sum(h.concurrency for h in self.held.values()),
        )
        per_net = min(
            max(1, self.per_net // parts),
            self.per_net - sum(h.per_net for h in self.held.values()),
        )
        if per_net < 1 and parts > self.per_net:
            per_net = 1  # more shards than the cap allows connections: one each per /24
        lease = Lease(
            rate=max(0.0, rate) if rate > 1e-9 else 0.0,
            concurrency=max(0, conc),
            per_net=max(0, per_net),
            seconds=self.ttl,
        )
        self.held[me] = _Held(lease.rate, lease.concurrency, lease.per_net, now + self.ttl)
        return lease

    def totals(self) -> tuple[float, int, int]:
        """What the unexpired leases hold together: rate, concurrency, per-/24 cap."""
        self._expire(self.clock())
        held = self.held.values()
        return (
            math.fsum(h.rate for h in held),
            sum(h.concurrency for h in held),
            sum(h.per_net for h in held),
        )

    def _expire(self, now: float) -> None:
        for k in [k for k, h in self.held.items() if h.expires <= now]:
            del self.held[k]

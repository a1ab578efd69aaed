"""Sets of addresses as sorted, disjoint, inclusive integer intervals.

IPv4 addresses are their 32-bit value; IPv6 addresses are offset by ``V6_OFFSET`` (2**128)
so both families live in one ordered key space and never collide. Nothing here enumerates
addresses: sizes, subtraction and "the n-th address" all work on interval bounds.
"""

from __future__ import annotations

import bisect
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

V6_OFFSET = 1 << 128

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def key_of(addr: IPAddress) -> int:
    """The position of an address in the combined key space."""
    return int(addr) if addr.version == 4 else V6_OFFSET + int(addr)


def text_of(key: int) -> str:
    """The address of a key as text (fast path for IPv4, which the walk calls per target)."""
    if key < V6_OFFSET:
        return socket.inet_ntoa(key.to_bytes(4, "big"))
    return str(ipaddress.IPv6Address(key - V6_OFFSET))


def net_of(key: int) -> int:
    """The key of the /24 (IPv4) or /56 (IPv6) holding a key: the per-network cap's unit."""
    return key >> 8 if key < V6_OFFSET else V6_OFFSET | ((key - V6_OFFSET) >> 72)


def addr_of(key: int) -> IPAddress:
    if key >= V6_OFFSET:
        return ipaddress.IPv6Address(key - V6_OFFSET)
    return ipaddress.IPv4Address(key)


def network_bounds(net: IPNetwork) -> tuple[int, int]:
    first = key_of(net.network_address)
    return first, first + net.num_addresses - 1


@dataclass(frozen=True)
class IntervalSet:
    """Sorted, disjoint, non-adjacent inclusive intervals ``(start, end)``."""

    intervals: tuple[tuple[int, int], ...] = ()
    _starts: list[int] = field(default_factory=list, repr=False, compare=False)
    _cumulative: list[int] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        total = 0
        for start, end in self.intervals:
            self._starts.append(start)
            total += end - start + 1
            self._cumulative.append(total)

    @classmethod
    def of(cls, pairs: Iterable[tuple[int, int]]) -> IntervalSet:
        """Normalise any intervals (overlapping, adjacent, unsorted) into a set."""
        merged: list[tuple[int, int]] = []
        for start, end in sorted(pairs):
            if start > end:
                raise ValueError(f"empty interval {start}-{end}")
            if merged and start <= merged[-1][1] + 1:
                if end > merged[-1][1]:
                    merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        return cls(tuple(merged))

    @property
    def size(self) -> int:
        return self._cumulative[-1] if self._cumulative else 0

    def __bool__(self) -> bool:
        return bool(self.intervals)

    def __contains__(self, key: int) -> bool:
        i = bisect.bisect_right(self._starts, key) - 1
        return i >= 0 and key <= self.intervals[i][1]

    def nth(self, n: int) -> int:
        """The n-th key of the set in ascending order (0-based)."""
        if not 0 <= n < self.size:
            raise IndexError(n)
        i = bisect.bisect_right(self._cumulative, n)
        before = self._cumulative[i - 1] if i else 0
        return self.intervals[i][0] + (n - before)

    def union(self, other: IntervalSet) -> IntervalSet:
        return IntervalSet.of(self.intervals + other.intervals)

    def subtract(self, other: IntervalSet) -> IntervalSet:
        out: list[tuple[int, int]] = []
        cut: Sequence[tuple[int, int]] = other.intervals
        j = 0
        for start, end in self.intervals:
            cur = start
            while j < len(cut) and cut[j][1] < cur:
                j += 1
            k = j
            while k < len(cut) and cut[k][0] <= end and cur <= end:
                if cut[k][0] > cur:
                    out.append((cur, cut[k][0] - 1))
                cur = max(cur, cut[k][1] + 1)
                k += 1
            if cur <= end:
                out.append((cur, end))
        return IntervalSet(tuple(out))

    def intersects(self, other: IntervalSet) -> bool:
        return self.subtract(other).size != self.size

    def to_text(self) -> list[str]:
        """Compact text form for storing a scan's exact target set (``a`` or ``a-b``)."""
        out = []
        for start, end in self.intervals:
            a = str(addr_of(start))
            out.append(a if start == end else f"{a}-{addr_of(end)}")
        return out

    @classmethod
    def from_text(cls, items: Iterable[str]) -> IntervalSet:
        pairs = []
        for item in items:
            lo, _, hi = item.partition("-")
            a = key_of(ipaddress.ip_address(lo))
            pairs.append((a, key_of(ipaddress.ip_address(hi)) if hi else a))
        return cls.of(pairs)

"""The target space: the address set after the blocklist and exclusions, times ports.

Index ``i`` of the space is address ``i // len(ports)`` and port ``i % len(ports)``; the
engine walks indices through :class:`~mxcensus.targets.permute.Permutation`, so nothing is
materialised however large the space.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from mxcensus.errors import TargetError
from mxcensus.targets import blocklist
from mxcensus.targets.intervals import IntervalSet, addr_of, key_of, net_of, text_of
from mxcensus.targets.parse import Parsed, parse_exclusions, parse_targets
from mxcensus.targets.permute import MAX_DOMAIN


@dataclass(frozen=True)
class Targets:
    addresses: IntervalSet
    hostnames: dict[int, str] = field(default_factory=dict)
    requested: int = 0  # addresses named by the inputs
    blocked: int = 0  # removed by the built-in blocklist
    excluded: int = 0  # removed by --exclude/--exclude-file

    def to_params(self) -> dict[str, Any]:
        """The exact address set, stored with the scan so a resume walks the same order."""
        return {
            "addresses": self.addresses.to_text(),
            "hostnames": {str(addr_of(k)): v for k, v in sorted(self.hostnames.items())},
            "requested": self.requested,
            "blocked": self.blocked,
            "excluded": self.excluded,
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Targets:
        """The targets of :meth:`to_params` (stores before the counts: as many requested as
        there are addresses, none blocked nor excluded)."""
        addrs = IntervalSet.from_text(params["addresses"])
        names = {key_of(ipaddress.ip_address(k)): v for k, v in params["hostnames"].items()}
        return cls(
            addresses=addrs,
            hostnames=names,
            requested=int(params.get("requested", addrs.size)),
            blocked=int(params.get("blocked", 0)),
            excluded=int(params.get("excluded", 0)),
        )


def build_targets(
    parsed: Parsed,
    *,
    exclude: IntervalSet | None = None,
    allow_reserved: bool = False,
) -> Targets:
    """Apply the blocklist and exclusions; refuse reserved targets and an empty result."""
    block = blocklist.blocked(allow_reserved=allow_reserved)
    for where, addrs in parsed.specs:
        if not addrs.subtract(block):
            lo, hi = addrs.intervals[0]
            _refuse(where, lo, hi, allow_reserved)
    for where, key in parsed.singles:
        if key in block:
            _refuse(
                where if where != str(addr_of(key)) else str(addr_of(key)), key, key, allow_reserved
            )
    pairs = [iv for _, addrs in parsed.specs for iv in addrs.intervals]
    pairs.extend((k, k) for _, k in parsed.singles)
    requested = IntervalSet.of(pairs)
    if not requested:
        raise TargetError("no targets given (name IPs, CIDRs, ranges, hostnames, -iL FILE or -)")
    allowed = requested.subtract(block)
    final = allowed.subtract(exclude) if exclude is not None else allowed
    if not final:
        raise TargetError(
            f"no targets left after exclusions ({requested.size} requested, "
            f"{requested.size - allowed.size} blocklisted, {allowed.size - final.size} excluded)"
        )
    names = {k: v for k, v in parsed.hostnames.items() if k in final}
    return Targets(
        addresses=final,
        hostnames=names,
        requested=requested.size,
        blocked=requested.size - allowed.size,
        excluded=allowed.size - final.size,
    )


def _refuse(where: str, lo: int, hi: int, allow_reserved: bool) -> None:
    b = blocklist.reason(lo, hi, allow_reserved=allow_reserved)
    what = f"{b.name}, {b.cidr}" if b else "special-purpose space"
    if b is not None and b.category == "reserved":
        raise TargetError(f"{where}: reserved address space ({what}); add --allow-reserved")
    raise TargetError(f"{where}: {what} is never scanned")


def load_targets(
    targets: list[str],
    *,
    input_list: Path | None = None,
    exclude: list[str] | None = None,
    exclude_file: Path | None = None,
    allow_reserved: bool = False,
    stdin: TextIO | None = None,
) -> Targets:
    """From what the user typed to the final address set (the CLI's one call)."""
    excl = parse_exclusions(exclude or [], exclude_file)
    parsed = parse_targets(targets, input_list, stdin)
    return build_targets(parsed, exclude=excl, allow_reserved=allow_reserved)


@dataclass(frozen=True, slots=True)
class Endpoint:
    ip: str
    port: int
    probe: str
    hostname: str
    net: int  # the /24 (IPv6: /56) it lies in, for the per-network cap


class TargetSpace:
    """Addresses × (port, probe) pairs, indexed without materialising."""

    def __init__(self, targets: Targets, ports: tuple[tuple[int, str], ...]) -> None:
        if not ports:
            raise TargetError("no ports to scan")
        self.targets = targets
        self.ports = ports
        self.size = targets.addresses.size * len(ports)
        if self.size > MAX_DOMAIN:
            raise TargetError(
                f"target space of {self.size} endpoints is too large to walk (at most 2**64)"
            )

    def __getitem__(self, index: int) -> Endpoint:
        a, p = divmod(index, len(self.ports))
        key = self.targets.addresses.nth(a)
        port, probe = self.ports[p]
        return Endpoint(text_of(key), port, probe, self.targets.hostnames.get(key, ""), net_of(key))

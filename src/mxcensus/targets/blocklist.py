"""The built-in blocklist: IANA special-purpose address registries, always on.

Sources: IANA IPv4 Special-Purpose Address Registry and IPv6 Special-Purpose Address Registry
(https://www.iana.org/assignments/iana-ipv4-special-registry/,
https://www.iana.org/assignments/iana-ipv6-special-registry/), plus multicast (RFC 5771,
RFC 4291) and the reserved class E block (RFC 1112).

``NEVER`` blocks are never contacted, whatever the flags. ``RESERVED`` blocks (loopback,
private, documentation, benchmarking, link-local …) are contacted only with
``--allow-reserved``: the lab lives on loopback, and a company may scan its own private space.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from mxcensus.targets.intervals import IntervalSet, network_bounds

Category = Literal["never", "reserved"]


@dataclass(frozen=True, slots=True)
class Block:
    cidr: str
    name: str
    category: Category


SPECIAL_PURPOSE: tuple[Block, ...] = (
    # IPv4
    Block("0.0.0.0/8", "this network (RFC 791)", "never"),
    Block("10.0.0.0/8", "private-use (RFC 1918)", "reserved"),
    Block("100.64.0.0/10", "shared address space (RFC 6598)", "reserved"),
    Block("127.0.0.0/8", "loopback (RFC 1122)", "reserved"),
    Block("169.254.0.0/16", "link local (RFC 3927)", "reserved"),
    Block("172.16.0.0/12", "private-use (RFC 1918)", "reserved"),
    Block("192.0.0.0/24", "IETF protocol assignments (RFC 6890)", "reserved"),
    Block("192.0.2.0/24", "documentation TEST-NET-1 (RFC 5737)", "reserved"),
    Block("192.31.196.0/24", "AS112-v4 (RFC 7535)", "reserved"),
    Block("192.52.193.0/24", "AMT (RFC 7450)", "reserved"),
    Block("192.88.99.0/24", "deprecated 6to4 relay anycast (RFC 7526)", "reserved"),
    Block("192.168.0.0/16", "private-use (RFC 1918)", "reserved"),
    Block("192.175.48.0/24", "direct delegation AS112 service (RFC 7534)", "reserved"),
    Block("198.18.0.0/15", "benchmarking (RFC 2544)", "reserved"),
    Block("198.51.100.0/24", "documentation TEST-NET-2 (RFC 5737)", "reserved"),
    Block("203.0.113.0/24", "documentation TEST-NET-3 (RFC 5737)", "reserved"),
    Block("224.0.0.0/4", "multicast (RFC 5771)", "never"),
    Block("240.0.0.0/4", "reserved class E (RFC 1112)", "never"),
    Block("255.255.255.255/32", "limited broadcast (RFC 919)", "never"),
    # IPv6
    Block("::/128", "unspecified address (RFC 4291)", "never"),
    Block("::1/128", "loopback (RFC 4291)", "reserved"),
    Block("::ffff:0:0/96", "IPv4-mapped addresses (RFC 4291): scan the IPv4 address", "never"),
    Block("64:ff9b:1::/48", "IPv4-IPv6 translation (RFC 8215)", "reserved"),
    Block("100::/64", "discard-only (RFC 6666)", "reserved"),
    Block("2001::/23", "IETF protocol assignments (RFC 2928)", "reserved"),
    Block("2001:db8::/32", "documentation (RFC 3849)", "reserved"),
    Block("2002::/16", "6to4 (RFC 3056)", "reserved"),
    Block("2620:4f:8000::/48", "direct delegation AS112 service (RFC 7534)", "reserved"),
    Block("3fff::/20", "documentation (RFC 9637)", "reserved"),
    Block("5f00::/16", "segment routing SRv6 SIDs (RFC 9602)", "reserved"),
    Block("fc00::/7", "unique-local (RFC 4193)", "reserved"),
    Block("fe80::/10", "link-local unicast (RFC 4291)", "reserved"),
    Block("ff00::/8", "multicast (RFC 4291)", "never"),
)


def blocked(*, allow_reserved: bool) -> IntervalSet:
    """The addresses the built-in blocklist removes under these flags."""
    return IntervalSet.of(
        network_bounds(ipaddress.ip_network(b.cidr))
        for b in SPECIAL_PURPOSE
        if b.category == "never" or not allow_reserved
    )


def reason(key_start: int, key_end: int, *, allow_reserved: bool) -> Block | None:
    """The first block that overlaps ``[key_start, key_end]`` under these flags."""
    for b in SPECIAL_PURPOSE:
        if b.category == "reserved" and allow_reserved:
            continue
        lo, hi = network_bounds(ipaddress.ip_network(b.cidr))
        if lo <= key_end and key_start <= hi:
            return b
    return None

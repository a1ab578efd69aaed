"""Targets: what to scan, what never to touch, and the order to walk it in.

``load_targets`` turns command-line targets, ``-iL`` files, stdin and masscan/ZMap output into
an address set minus the IANA special-purpose blocklist and the user's exclusions;
``TargetSpace`` multiplies it by (port, probe) pairs; ``Permutation`` and ``walk`` give the
seeded pseudo-random, shardable order. Errors are :class:`~mxcensus.errors.TargetError`.
"""

from mxcensus.targets.intervals import IntervalSet
from mxcensus.targets.permute import Permutation, walk
from mxcensus.targets.ports import parse_ports
from mxcensus.targets.space import Endpoint, Targets, TargetSpace, build_targets, load_targets

__all__ = [
    "Endpoint",
    "IntervalSet",
    "Permutation",
    "TargetSpace",
    "Targets",
    "build_targets",
    "load_targets",
    "parse_ports",
    "walk",
]

"""Postfix: ``3.8.4`` releases, ``3.9.0-RC1`` candidates and ``3.9-20231225`` snapshots.

A snapshot of a new minor line sorts before its release candidates, which sort before
``x.y.0``; all of them after every release of the previous minor line.
"""

from __future__ import annotations

import re

from mxcensus.versions.interface import Scheme, parse_int

_POSTFIX = re.compile(
    r"(?:postfix[ /-]?)?(\d+)\.(\d+)(?:\.(\d+))?(?:-(\d{8}))?(?:[-_.]?rc(\d+))?(?=$|[\s(,;])",
    re.ASCII | re.IGNORECASE,
)


class PostfixScheme(Scheme):
    name = "postfix"

    def numbers(self, version: str) -> tuple[int, ...] | None:
        m = _POSTFIX.match(version.strip())
        if m is None:
            return None
        vals = [parse_int(g) if g is not None else 0 for g in m.groups()]
        if any(v is None for v in vals):
            return None
        major, minor, patch, snap, rc = (v or 0 for v in vals)
        if m.group(4) is not None:
            if m.group(3) is not None:  # a snapshot of a stable patch level: after it
                return (major, minor, patch, 3, snap)
            return (major, minor, 0, 0, snap)
        if m.group(5) is not None:
            return (major, minor, patch, 1, rc)
        return (major, minor, patch, 2, 0)

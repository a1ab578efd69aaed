"""Postfix: ``3.8.4`` releases, ``3.9.0-RC1`` candidates and ``3.9-20231225`` snapshots.

A snapshot of a new minor line sorts before its release candidates, which sort before
``x.y.0``; all of them after every release of the previous minor line.
"""

from __future__ import annotations

import re

from mxcensus.versions.interface import FormScheme


class PostfixScheme(FormScheme):
    name = "postfix"
    pattern = r"""
        (?:postfix[ /-]?)?
        (\d+)\.(\d+)(?:\.(\d+))?  # major, minor, patch
        (?:-(\d{8}))?             # a snapshot's date
        (?:[-_.]?rc(\d+))?        # a release candidate
        (?=$|[\s(,;])
    """

    def order(self, m: re.Match[str], nums: list[int]) -> tuple[int, ...]:
        major, minor, patch, snap, rc = nums
        if m.group(4) is not None:
            if m.group(3) is not None:  # a snapshot of a stable patch level: after it
                return (major, minor, patch, 3, snap)
            return (major, minor, 0, 0, snap)
        if m.group(5) is not None:
            return (major, minor, patch, 1, rc)
        return (major, minor, patch, 2, 0)

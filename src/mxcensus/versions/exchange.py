"""Microsoft Exchange builds: ``major.minor.build.revision`` (``15.1.2375.7``).

Parts compare as numbers; zero-padded forms (``15.01.2375.007``) are the same build. A
three-part build (``15.1.2375``) names a CU (or, for 2007/2010, a rollup) without its
security-update level and sorts as ``.0``: before every build of that CU. A two-part
``15.1`` is the major version only.
"""

from __future__ import annotations

import re

from mxcensus.versions.interface import Scheme, parse_int

_BUILD = re.compile(r"(\d+)(?:\.(\d+)(?:\.(\d+)(?:\.(\d+))?)?)?$", re.ASCII)


def build_parts(version: str) -> tuple[int, ...] | None:
    """The numeric parts as seen (1 to 4 of them), or ``None``.

    One part is a product line seen by name only: ``8`` for "Exchange Server 2007"."""
    m = _BUILD.match(version.strip())
    if m is None:
        return None
    out: list[int] = []
    for g in m.groups():
        if g is None:
            break
        n = parse_int(g)
        if n is None:
            return None
        out.append(n)
    return tuple(out)


class ExchangeScheme(Scheme):
    name = "exchange"

    def numbers(self, version: str) -> tuple[int, ...] | None:
        parts = build_parts(version)
        if parts is None:
            return None
        return parts + (0,) * (4 - len(parts))

"""Sun Java System / Oracle Communications Messaging Server (and Netscape's before it).

Releases are dotted (``6.3``, ``7.0``, ``8.0.2.3``), "Update n" releases of 7 are written
``7u4``, and a patch follows a dash (``7.0-3.01``: 7.0, patch build 3.01) or the word
``Patch`` (``4.15 Patch 7``): ``6.3-7.04 < 7.0 < 7.0-3.01 < 7u4 < 7u4-27.01 < 8.0``. A date
component (``8.0.2.3.20180611``) is the fifth part; anything after the patch is ignored.
"""

from __future__ import annotations

import re

from mxcensus.versions.interface import Scheme, parse_int

_FORM = re.compile(
    r"(\d+)(?:\.(\d+))?(?:u(\d+)|\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?"
    r"(?:-(\d+)(?:\.(\d+))?|\s+patch\s+(\d+))?",
    re.ASCII | re.IGNORECASE,
)


class SunMessagingScheme(Scheme):
    name = "sun-messaging"

    def numbers(self, version: str) -> tuple[int, ...] | None:
        m = _FORM.match(version.strip())
        if m is None:
            return None
        major, minor, update, third, fourth, fifth, patch, patch_minor, word = m.groups()
        parts = (major, minor, update or third, fourth, fifth, patch or word, patch_minor)
        nums = [parse_int(p) if p else 0 for p in parts]
        if any(n is None for n in nums):
            return None
        return tuple(int(n or 0) for n in nums)

"""Sun Java System / Oracle Communications Messaging Server (and Netscape's before it).

Releases are dotted (``6.3``, ``7.0``, ``8.0.2.3``), "Update n" releases of 7 are written
``7u4``, and a patch follows a dash (``7.0-3.01``: 7.0, patch build 3.01) or the word
``Patch`` (``4.15 Patch 7``): ``6.3-7.04 < 7.0 < 7.0-3.01 < 7u4 < 7u4-27.01 < 8.0``. A date
component (``8.0.2.3.20180611``) is the fifth part; anything after the patch is ignored.
"""

from __future__ import annotations

import re

from mxcensus.versions.interface import FormScheme


class SunMessagingScheme(FormScheme):
    name = "sun-messaging"
    pattern = r"""
        (\d+)(?:\.(\d+))?         # major, minor
        (?:u(\d+)|\.(\d+))?       # the update (7u4) or third part
        (?:\.(\d+))?(?:\.(\d+))?  # fourth and fifth (a date) parts
        (?:-(\d+)(?:\.(\d+))?     # a patch build (7.0-3.01)
        |\s+patch\s+(\d+))?       # or a patch by number (4.15 Patch 7)
    """

    def order(self, m: re.Match[str], nums: list[int]) -> tuple[int, ...]:
        # "u4" and ".4" are one part, as are "-3" and " Patch 3": one of each pair is absent
        major, minor, update, third, fourth, fifth, patch, patch_minor, word = nums
        return (major, minor, update or third, fourth, fifth, patch or word, patch_minor)

"""Exim versions as banners show them.

Before 4.92 a point release carries an underscore (``4.89_1`` == 4.89.1, from
``src/scripts/reversion``); later ones are dotted (``4.92.3``). Release candidates sort
before their release (``4.90_RC3`` < ``4.90``); the minor is a number (``4.100`` > ``4.99``);
a compile number (``#2``) and trailing words (``Ubuntu``) are ignored. A leading ``Exim``
is accepted.
"""

from __future__ import annotations

import re

from mxcensus.versions.interface import FormScheme


class EximScheme(FormScheme):
    name = "exim"
    pattern = r"""
        (?:exim[ /-]?)?
        (\d+)\.(\d+)        # major, minor
        (?:[._](\d+))?      # the point release: 4.89_1 before 4.92, 4.92.3 from then on
        (?:\.(\d+))?        # a fourth part
        (?:[-_.]?rc(\d+))?  # a release candidate
        (?=$|[\s\#(,;])     # then the end, or a compile number or words
    """

    def order(self, m: re.Match[str], nums: list[int]) -> tuple[int, ...]:
        major, minor, patch, sub, rc = nums
        final = 0 if m.group(5) is not None else 1
        return (major, minor, patch, sub, final, rc)

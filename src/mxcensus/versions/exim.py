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

_EXIM = re.compile(
    r"(?:exim[ /-]?)?(\d+)\.(\d+)(?:[._](\d+))?(?:\.(\d+))?"
    r"(?:[-_.]?rc(\d+))?(?=$|[\s#(,;])",
    re.ASCII | re.IGNORECASE,
)


class EximScheme(FormScheme):
    name = "exim"
    form = _EXIM

    def order(self, m: re.Match[str], nums: list[int]) -> tuple[int, ...]:
        major, minor, patch, sub, rc = nums
        final = 0 if m.group(5) is not None else 1
        return (major, minor, patch, sub, final, rc)

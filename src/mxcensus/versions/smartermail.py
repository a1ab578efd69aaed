"""SmarterMail (SmarterTools): versions are ordered by build number.

SmarterTools numbers every release with a build that only grows across product versions
(16.x: builds 6345…7xxx; "SmarterMail 100.x": ``100.0.9511``), and its advisories and release
notes name fixes by build ("Build 6985", "prior to build 9511"). Accepted forms: ``Build 9511``,
``build 9511``, a bare ``9511``, and dotted ``16.3.6985`` / ``100.0.9511`` (optionally with a
fourth part, ignored), where the third part is the build. A version without a build
(``16.3``) does not parse.
"""

from __future__ import annotations

import re

from mxcensus.versions.interface import FormScheme


class SmarterMailScheme(FormScheme):
    name = "smartermail"
    pattern = r"""
        (?:smartermail[ /-]?)?
        (?:(?:build[ ._-]?)?(\d{4,6})    # a bare build (Build 9511)
        |\d+\.\d+\.(\d{4,6})(?:\.\d+)?)  # or a dotted version's third part
        (?=$|[\s(,;])
    """

    def display(self, version: str) -> str:
        return f"Build {version}" if version.isdigit() else version

    def order(self, m: re.Match[str], nums: list[int]) -> tuple[int, ...]:
        bare, dotted = nums  # one of them is absent
        return (bare or dotted,)

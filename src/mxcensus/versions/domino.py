"""HCL (IBM, Lotus) Domino: a release, then its fix pack and hotfix.

``R.M[.m][letter]`` is the release (``8.5.3``, ``9.0.1``, ``12.0.2``; a maintenance letter
``8.5.1a``), ``FPn`` the fix pack on it and ``HFn`` (hotfix) or ``IFn`` (interim fix) a fix on
that fix pack: ``8.5.3 < 8.5.3FP6 < 8.5.3FP6 HF1944 < 9.0`` -- HCL's advisories name fixes
per fix pack, so they decide a verdict. Spaces are optional (``8.5.3 FP6`` == ``8.5.3FP6``);
a leading ``Release`` and anything after the hotfix are ignored.
"""

from __future__ import annotations

import re

from mxcensus.versions.interface import FormScheme


class DominoScheme(FormScheme):
    name = "domino"
    pattern = r"""
        (?:release\s+)?
        (\d+)\.(\d+)(?:\.(\d+))?  # the release: major, minor, maintenance
        ([a-z](?![a-z]))?         # its maintenance letter (8.5.1a)
        (?:\s?fp(\d+))?           # the fix pack on it
        (?:\s?(?:hf|if)(\d+))?    # a hotfix or interim fix on that fix pack
        (?![\d.])
    """

    def order(self, m: re.Match[str], nums: list[int]) -> tuple[int, ...]:
        major, minor, maint, _, fp, fix = nums
        letter = m.group(4)
        level = ord(letter.lower()) - ord("a") + 1 if letter else 0
        return (major, minor, maint, level, fp, fix)

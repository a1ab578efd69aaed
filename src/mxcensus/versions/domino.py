"""HCL (IBM, Lotus) Domino: a release, then its fix pack and hotfix.

``R.M[.m][letter]`` is the release (``8.5.3``, ``9.0.1``, ``12.0.2``; a maintenance letter
``8.5.1a``), ``FPn`` the fix pack on it and ``HFn`` (hotfix) or ``IFn`` (interim fix) a fix on
that fix pack: ``8.5.3 < 8.5.3FP6 < 8.5.3FP6 HF1944 < 9.0`` -- HCL's advisories name fixes
per fix pack, so they decide a verdict. Spaces are optional (``8.5.3 FP6`` == ``8.5.3FP6``);
a leading ``Release`` and anything after the hotfix are ignored.
"""

from __future__ import annotations

import re

from mxcensus.versions.interface import Scheme, parse_int

_FORM = re.compile(
    r"(?:release\s+)?(\d+)\.(\d+)(?:\.(\d+))?([a-z](?![a-z]))?"
    r"(?:\s?fp(\d+))?(?:\s?(?:hf|if)(\d+))?(?![\d.])",
    re.ASCII | re.IGNORECASE,
)


class DominoScheme(Scheme):
    name = "domino"

    def numbers(self, version: str) -> tuple[int, ...] | None:
        m = _FORM.match(version.strip())
        if m is None:
            return None
        major, minor, maint, letter, fp, fix = m.groups()
        nums = [parse_int(major), parse_int(minor), parse_int(maint or "0")]
        nums += [parse_int(fp or "0"), parse_int(fix or "0")]
        if any(n is None for n in nums):
            return None
        level = ord(letter.lower()) - ord("a") + 1 if letter else 0
        a, b, c, d, e = (int(n or 0) for n in nums)
        return (a, b, c, level, d, e)

"""Zimbra Collaboration: GA releases and their patch levels.

Up to 9.0 a release line is the three-part GA version (``8.8.15``, ``9.0.0``) and fixes ship
as numbered patches on it: ``8.8.15.p31`` (the tag form of Zimbra/zm-build), also written
``8.8.15_P31``, ``8.8.15 Patch 31`` or ``8.8.15p31``; a re-release is ``8.8.15.p31.1``. From
10.0 on a line is ``10.0`` / ``10.1`` and a patch release has its own number (``10.1.20``),
installed as a patch package on the ``10.1.0`` GA. Build tails (``_GA_3869``, ``.UBUNTU20_64``,
``_BETA``) are ignored, and a leading ``Zimbra`` / ``ZCS`` is accepted.

What a banner or page shows is the GA (``Zimbra 8.8.15_GA_3869``); the patch level is visible
only when the text names it. :func:`patch_shown` tells which, :func:`line` names the release
line a version belongs to.
"""

from __future__ import annotations

import re

from mxcensus.versions.interface import FormScheme

FIRST_NUMBERED_PATCH_MAJOR = 10
"""From Zimbra 10 on, patch releases are numbered versions (10.1.20) on a two-part line."""


def _match(version: str) -> re.Match[str] | None:
    return ZimbraScheme.form.match(version.strip())


class ZimbraScheme(FormScheme):
    name = "zimbra"
    pattern = r"""
        (?:(?:zimbra|zcs)[ /-]?)?
        (\d+)\.(\d+)\.(\d+)                    # the GA release
        (?:(?:[._ -]?(?:p|patch)[ ._-]?)(\d+)  # its patch level
        (?:\.(\d+))?)?                         # and a re-release of that patch
        (?=$|[\s_(,;.-])
    """

    def display(self, version: str) -> str:
        return display(version)

    def order(self, m: re.Match[str], nums: list[int]) -> tuple[int, ...]:
        return tuple(nums)


def line(version: str) -> str:
    """The release line of ``version``: ``8.8.15`` (up to 9.0), ``10.1`` (from 10 on); ``""``
    when it does not parse."""
    m = _match(version)
    if m is None:
        return ""
    major, minor, micro = (int(g) for g in m.groups()[:3])
    if major >= FIRST_NUMBERED_PATCH_MAJOR:
        return f"{major}.{minor}"
    return f"{major}.{minor}.{micro}"


def patch_shown(version: str) -> bool:
    """Does ``version`` name a patch level (``8.8.15.p31``)? A bare GA version (``8.8.15``)
    does not: a patched server shows the same. A 10.x number never counts, because its
    patches are packages installed on the ``10.x.0`` GA, whose version is what banners show."""
    m = _match(version)
    if m is None:
        return False
    return m.group(4) is not None and int(m.group(1)) < FIRST_NUMBERED_PATCH_MAJOR


def display(version: str) -> str:
    """``8.8.15.p31`` → ``8.8.15 Patch 31``; other forms unchanged."""
    m = _match(version)
    if m is None or m.group(4) is None:
        return version
    sub = f".{m.group(5)}" if m.group(5) is not None else ""
    return f"{m.group(1)}.{m.group(2)}.{m.group(3)} Patch {m.group(4)}{sub}"

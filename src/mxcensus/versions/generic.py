"""Dotted numeric versions with an optional pre- or post-release tail (the fallback scheme).

``1.2.3`` == ``1.2.3.0``; ``1.2.3rc1`` < ``1.2.3`` < ``1.2.3p1`` (also ``1.2.3c``: a lone
letter is a post-release, as in MDaemon ``24.5.1c`` or OpenSSL; and a patch level written as
words, Kerio's ``9.2.5 patch 3``, MDaemon's ``2.7 SP5``, GroupWise's ``4.1 v3``);
``1.2.3-beta2`` is a pre-release. An unknown tail (`` (Debian)``, ``#2``, ``_GA_4769``) is
ignored. More than ``width`` numeric components, or a component longer than 12 digits, is
unparsable.
"""

from __future__ import annotations

import re

from mxcensus.versions.interface import Scheme, parse_int

# stage numbers: all pre-releases sort before the release, post-releases after it
_PRE = {"dev": 0, "alpha": 1, "a": 1, "beta": 2, "b": 2, "pre": 3, "preview": 3, "rc": 3}
_RELEASE = 4
_POST = 5

_HEAD = re.compile(r"v?(\d+(?:\.\d+)*)", re.ASCII | re.IGNORECASE)
_PRE_TAIL = re.compile(r"[-_.~ ]?(dev|alpha|beta|preview|pre|rc|a|b)[-_.]?(\d*)(?![a-z])", re.I)
_POST_TAIL = re.compile(r"[-_. ]?(p|pl|patch|sp|u|update|v)[-_. ]?(\d+)(?![a-z])", re.I)
_LETTER_TAIL = re.compile(r"([a-z])(?![a-z0-9])", re.I)


class DottedScheme(Scheme):
    def __init__(self, name: str, width: int = 6, prefixes: tuple[str, ...] = ()) -> None:
        self.name = name
        self.width = width
        self._prefix = (
            re.compile(r"(?:" + "|".join(re.escape(p) for p in prefixes) + r")\s+", re.I)
            if prefixes
            else None
        )

    def head(self, version: str) -> str:
        """The version with a leading product name (``Exim 4.96``) removed."""
        v = version.strip()
        if self._prefix is not None:
            m = self._prefix.match(v)
            if m:
                v = v[m.end() :]
        return v

    def numbers(self, version: str) -> tuple[int, ...] | None:
        v = self.head(version)
        m = _HEAD.match(v)
        if m is None:
            return None
        parts = m.group(1).split(".")
        if len(parts) > self.width:
            return None
        nums: list[int] = []
        for p in parts:
            n = parse_int(p)
            if n is None:
                return None
            nums.append(n)
        nums += [0] * (self.width - len(nums))
        stage, n = self.tail(v[m.end() :])
        return (*nums, stage, n)

    def tail(self, rest: str) -> tuple[int, int]:
        if not rest:
            return (_RELEASE, 0)
        pre = _PRE_TAIL.match(rest)
        if pre:
            num = parse_int(pre.group(2)) if pre.group(2) else 0
            return (_PRE[pre.group(1).lower()], num or 0)
        post = _POST_TAIL.match(rest)
        if post:
            return (_POST, parse_int(post.group(2)) or 0)
        letter = _LETTER_TAIL.match(rest)
        if letter:
            return (_POST, ord(letter.group(1).lower()) - ord("a") + 1)
        return (_RELEASE, 0)

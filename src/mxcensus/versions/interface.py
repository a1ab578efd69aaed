"""One ordering per product family behind one small interface (osv.dev's OrderedEcosystem idea).

A scheme turns a version string as seen on the wire into a :data:`SortKey`. Parsable versions
sort by their numbers; a version a scheme cannot parse sorts **before every parsable one**,
and unparsable versions among themselves by their text (the written rule; assessment treats
them as "unknown", never as "not vulnerable"). :meth:`Scheme.version_key` encodes the sort key
as a string whose plain string order is the same order, for SQL (``services.version_key``).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from functools import lru_cache
from typing import Any, ClassVar

SortKey = tuple[int, tuple[int, ...], str]
"""(1, numbers, "") for a parsable version; (0, (), text) for one that is not."""

MAX_COMPONENT_DIGITS = 12
"""A component with more digits than this is not a version number (hostile input)."""


def _encode_int(n: int) -> str:
    # Length-prefixed decimal: prefix-free, so concatenation keeps tuple order.
    digits = str(n)
    return chr(ord("a") + len(digits) - 1) + digits


class Scheme(ABC):
    """A total order on one product family's version strings."""

    name: str = ""

    @abstractmethod
    def numbers(self, version: str) -> tuple[int, ...] | None:
        """The sort tuple of non-negative ints, or ``None`` when ``version`` is not parsable.

        Tuples are compared element-wise; a scheme pads them to a fixed shape where a shorter
        tuple must not sort first by accident.
        """

    def parses(self, version: str) -> bool:
        return _numbers(self, version) is not None

    def display(self, version: str) -> str:
        """``version`` as the vendor writes it to people (Zimbra's ``8.8.15 Patch 31``)."""
        return version

    def sort_key(self, version: str) -> SortKey:
        nums = _numbers(self, version)
        if nums is None:
            return (0, (), version)
        return (1, nums, "")

    def compare(self, a: str, b: str) -> int:
        """-1, 0 or 1 as ``a`` sorts before, with or after ``b``."""
        ka, kb = self.sort_key(a), self.sort_key(b)
        return (ka > kb) - (ka < kb)

    def version_key(self, version: str) -> str:
        """A string that sorts (plain string order, as in SQL) like :meth:`sort_key`."""
        nums = _numbers(self, version)
        if nums is None:
            return "0" + version
        return "1" + "".join(_encode_int(n) for n in nums)


FORM_FLAGS = re.ASCII | re.IGNORECASE | re.VERBOSE
"""How every :attr:`FormScheme.pattern` reads: ``\\d`` and ``\\s`` are ASCII only (a banner's
other digits are not a version), letters match in either case, and whitespace and ``#``
comments outside character classes are ignored, so a pattern is written one part a line."""


class FormScheme(Scheme):
    """A scheme whose versions one regular expression reads: ``pattern``, matched at the start
    of the version. Its groups become numbers (an absent group or one of letters: 0; a number
    longer than :data:`MAX_COMPONENT_DIGITS`: the version does not parse), and :meth:`order`
    arranges them, with what the match says, into the sort tuple."""

    pattern: ClassVar[str]
    """The regular expression, compiled with :data:`FORM_FLAGS` when the subclass is defined."""

    form: ClassVar[re.Pattern[str]]
    """``pattern`` compiled."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "pattern" in vars(cls):
            cls.form = re.compile(cls.pattern, FORM_FLAGS)

    def numbers(self, version: str) -> tuple[int, ...] | None:
        m = self.form.match(version.strip())
        if m is None:
            return None
        nums = [parse_int(g) if g is not None and g.isdigit() else 0 for g in m.groups()]
        if any(n is None for n in nums):
            return None
        return self.order(m, [n or 0 for n in nums])

    @abstractmethod
    def order(self, m: re.Match[str], nums: list[int]) -> tuple[int, ...]:
        """The sort tuple of a version ``form`` matched (``m``), its groups as ``nums``."""


@lru_cache(maxsize=65536)
def _numbers(scheme: Scheme, version: str) -> tuple[int, ...] | None:
    # schemes are stateless singletons (hashed by identity); a knowledge base compares the
    # same few hundred versions over and over
    return scheme.numbers(version)


def parse_int(text: str) -> int | None:
    if not text.isdigit() or not text.isascii() or len(text) > MAX_COMPONENT_DIGITS:
        return None
    return int(text)

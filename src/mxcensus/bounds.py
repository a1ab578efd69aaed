"""The range of every number a user can type: one type, one message.

A value outside its :class:`Range` is a usage error naming the option and the allowed
range (exit 2); it is never clamped. The CLI parses every numeric option through
:meth:`Range.parse`; the library checks the same ranges with :meth:`Range.check` for
values that come from elsewhere (a resumed scan's stored plan, a watch's settings).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NoReturn

from mxcensus.errors import UsageError

_SHOWN = 40  # characters of a rejected value echoed back


@dataclass(frozen=True, slots=True)
class Range:
    """Numbers from ``lo`` to ``hi``, both included; ``float`` ranges take decimals."""

    lo: int | float
    hi: int | float
    kind: type[int] | type[float] = int

    def __str__(self) -> str:
        return f"{_number(self.lo)} to {_number(self.hi)}"

    def problem(self, value: int | float) -> str | None:
        """Why ``value`` is refused, or None."""
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number"
        if value < self.lo:
            return f"must be at least {_number(self.lo)}"
        if value > self.hi:
            return f"must be at most {_number(self.hi)}"
        return None

    def check(self, value: int | float, option: str, typed: object = None) -> None:
        """Raise :class:`UsageError` when ``value`` (typed as ``typed``) is outside."""
        why = self.problem(value)
        if why is not None:
            self._refuse(option, value if typed is None else typed, why)

    def parse(self, text: str | int | float, option: str) -> int | float:
        """``text`` as a number of this range, or :class:`UsageError`."""
        try:
            value = self.kind(text)
        except (TypeError, ValueError):
            digits = str(text).strip()
            if digits.lstrip("+-").isdigit():  # an integer too long for Python to convert
                low = digits.startswith("-")
                self._refuse(option, text, f"must be at {'least' if low else 'most'} "
                             f"{_number(self.lo if low else self.hi)}")  # fmt: skip
            self._refuse(
                option, text, f"must be {'an integer' if self.kind is int else 'a number'}"
            )
        self.check(value, option, text)
        return value

    def _refuse(self, option: str, typed: object, why: str) -> NoReturn:
        raise UsageError(f"{option} {_shown(typed)}: {why} (allowed: {self})")


def _number(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _shown(value: object) -> str:
    """The value as typed, bounded and with every control or format character escaped."""
    text = str(value)
    cut = text[:_SHOWN] + ("..." if len(text) > _SHOWN else "")
    return cut if cut.isascii() and cut.isprintable() else ascii(cut)

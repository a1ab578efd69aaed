"""The vector files pin each scheme's order: every ``a < b`` is checked both ways, and the
SQL key must order the pair the same way."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mxcensus.versions import SCHEMES, Scheme

VECTORS = Path(__file__).parent / "vectors"
_LINE = re.compile(r"(.+?) (<|>|==) (.+)$")


def _cases() -> list[tuple[str, int, str, str, str]]:
    out = []
    for path in sorted(VECTORS.glob("*.txt")):
        for no, text in enumerate(path.read_text().splitlines(), 1):
            if not text.strip() or text.startswith("#"):
                continue
            m = _LINE.match(text)
            assert m, f"{path.name}:{no}: not 'a < b', 'a > b' or 'a == b'"
            a, op, b = m.groups()
            out.append((path.stem, no, a, op, b))
    return out


CASES = _cases()


def test_every_scheme_has_vectors() -> None:
    assert {c[0] for c in CASES} == set(SCHEMES)


@pytest.mark.parametrize(("scheme", "no", "a", "op", "b"), CASES, ids=lambda v: str(v))
def test_vector(scheme: str, no: int, a: str, op: str, b: str) -> None:
    s: Scheme = SCHEMES[scheme]
    want = {"<": -1, ">": 1, "==": 0}[op]
    assert s.compare(a, b) == want, f"{scheme}.txt:{no}"
    assert s.compare(b, a) == -want, f"{scheme}.txt:{no} reversed"
    ka, kb = s.version_key(a), s.version_key(b)
    assert ((ka > kb) - (ka < kb)) == want, f"{scheme}.txt:{no} version_key {ka!r} {kb!r}"

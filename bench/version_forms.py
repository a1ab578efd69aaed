"""Print how well identify reads the version forms of tests/identify/data/version_forms.csv:
the share of rows whose product is right, and among those that state a version the share
whose version is exactly right (spaces and case aside) -- before (the ``before_*`` columns:
what mxcensus gave when the table was collected) and now.

Usage: python bench/version_forms.py
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path

from mxcensus.identify import identify_field
from mxcensus.vocabulary import PRODUCTS

DATA = Path(__file__).resolve().parents[1] / "tests" / "identify" / "data" / "version_forms.csv"


def _banner(escaped: str) -> str:
    return re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), escaped)


def _norm(version: str) -> str:
    return version.replace(" ", "").lower()


def figures(rows: list[dict[str, str]], got: Callable[[dict[str, str]], tuple[str, str]]) -> str:
    products = [(r, *got(r)) for r in rows]
    right = [(r, v) for r, p, v in products if p == r["expected_product"]]
    stating = [(r, v) for r, v in right if r["expected_version"]]
    exact = [1 for r, v in stating if _norm(v) == _norm(r["expected_version"])]
    known = [(r, p) for r, p, _ in products if r["expected_product"] in _VOCAB_BEFORE]
    known_right = [1 for r, p in known if p == r["expected_product"]]
    n = len(rows)
    return (
        f"product right {len(right)}/{n} = {100 * len(right) / n:.1f}% "
        f"({100 * len(known_right) / len(known):.1f}% for products in the vocabulary before); "
        f"exact version {len(exact)}/{len(stating)} = {100 * len(exact) / len(stating):.1f}%"
    )


_VOCAB_BEFORE = set(PRODUCTS) - {"argosoft", "ms-windows-pop3"}
"""Products the vocabulary had when the table was collected."""


def main() -> None:
    with DATA.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))

    def before(r: dict[str, str]) -> tuple[str, str]:
        return r["before_product"], r["before_version"]

    def now(r: dict[str, str]) -> tuple[str, str]:
        ident = identify_field(f"{r['protocol']}.banner", _banner(r["banner"]))
        return ident.product, ident.version

    print(f"{len(rows)} banners ({DATA.name})")
    print(f"before: {figures(rows, before)}")
    print(f"now:    {figures(rows, now)}")


if __name__ == "__main__":
    main()

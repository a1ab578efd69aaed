"""Product lines named for people (report/names.py, docs/product-lines.md)."""

from __future__ import annotations

from mxcensus.kb.loader import load
from mxcensus.report.names import LINED, UNKNOWN_PRODUCT, line_label, product_label


def test_lined_products_are_those_with_release_lines_in_the_knowledge() -> None:
    kb = load()
    by_line = {p for p, lc in kb.lifecycles.items() if len(lc.lines) > 1}
    assert by_line | {"exim"} == LINED  # Exim's lines are its major versions (assess)


def test_one_scheme_with_and_without_version() -> None:
    assert line_label("Exim 4") == "Exim 4"
    assert line_label("Exim") == "Exim (line not known)"
    assert line_label("Exchange Server 2016") == "Exchange Server 2016"
    assert line_label("Microsoft Exchange Server") == "Exchange Server (line not known)"
    assert line_label("MDaemon Email Server") == "MDaemon Email Server"  # no lines: its name
    assert line_label(None) == line_label("unknown") == UNKNOWN_PRODUCT
    assert product_label("ms-exchange") == "Microsoft Exchange Server"
    assert product_label("no-such-id") == "no-such-id"

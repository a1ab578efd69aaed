"""A product's own verdict logic is one registry entry; the rest is judged by ranges."""

from __future__ import annotations

from mxcensus.assess.core import LOGIC, logic_of
from mxcensus.assess.ranges import verdict as range_verdict
from mxcensus.versions import scheme_for
from mxcensus.vocabulary import PRODUCTS


def test_every_entry_names_a_product_of_the_vocabulary() -> None:
    assert set(LOGIC) <= set(PRODUCTS) - {"unknown"}


def test_a_product_without_an_entry_is_judged_by_version_ranges() -> None:
    logic = logic_of("postfix")
    assert logic.verdict is range_verdict
    assert logic.line is None
    assert logic_of("ms-exchange").restrict.startswith("do not expose OWA")


def test_exims_line_names_the_major_version_only_when_it_is_known() -> None:
    line = LOGIC["exim"].line
    assert line is not None
    from mxcensus.model import EolStatus

    assert line("4.96", EolStatus(eol=None)) == "Exim 4"
    assert line("", EolStatus(eol=None)) == "Exim"


def test_versions_read_as_the_vendor_writes_them() -> None:
    assert scheme_for("zimbra").display("8.8.15.p31") == "8.8.15 Patch 31"
    assert scheme_for("smartermail").display("9511") == "Build 9511"
    assert scheme_for("exim").display("4.96") == "4.96"

"""An Exchange line seen only by name (Exchange 2007's IMAP greeting) keeps its end of support."""

from __future__ import annotations

from datetime import date

from mxcensus.assess import assess
from mxcensus.identify import identify_field
from mxcensus.model import Status


def test_exchange_2007_by_name_is_past_end_of_support_and_never_not_vulnerable() -> None:
    ident = identify_field("imap.banner", "* OK Microsoft Exchange Server 2007 IMAP4 service ready")
    assert (ident.product, ident.version) == ("ms-exchange", "8")
    a = assess(ident, None)
    assert a.product_line == "Exchange Server 2007"
    assert a.eol.eol is True
    assert a.eol.date == date(2017, 4, 11)
    assert a.findings
    assert all(f.status != Status.NOT_VULNERABLE for f in a.findings)

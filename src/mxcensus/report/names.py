"""How products and product lines are named where people read them (terminal tables and
the HTML report; json and csv keep the stored values). The scheme (docs/product-lines.md):

- a product line whose version was seen is its vendor's name for the line: ``Exim 4``,
  ``Exchange Server 2016``, ``Exchange Server SE``;
- a product whose support is by line (:data:`LINED`: Exchange, Exim, Postfix, Dovecot,
  Zimbra, IIS SMTP) placed in no line — its version was not seen, or is in no line of the
  vendor's list — is ``<product> (line not known)``: ``Exim (line not known)`` beside
  ``Exim 4``, ``Exchange Server (line not known)`` beside ``Exchange Server 2016``;
- a product without lines is its name (``MDaemon Email Server``, ``Sendmail``);
- services whose software no rule identified are ``unknown product``
  (:data:`UNKNOWN_PRODUCT`, explained under every table that shows it).
"""

from __future__ import annotations

from mxcensus.report.document import IDENTIFIERS, Value
from mxcensus.text import visible
from mxcensus.vocabulary import PRODUCTS

UNKNOWN_PRODUCT = "unknown product"
UNKNOWN_NOTE = (
    "unknown product: services that answered but whose software no rule identified "
    "(unusual or hostile banners, or software mxcensus has no rule for); "
    "`mxcensus export` lists them with their banners."
)
NOT_SEEN = "(line not known)"

_SHORT = {"ms-exchange": "Exchange Server", "ms-iis-smtp": "IIS SMTP Service"}
"""Where the line names drop the vendor (``Exchange Server 2016``), the version-less row
drops it too, so the lines of one product read as one family."""

LINED = frozenset({"exim", "ms-exchange", "ms-iis-smtp", "postfix", "dovecot", "zimbra"})
"""Products whose end of support is by release line (kb/data/lifecycle.yaml; Exim by its
major version); a test keeps this in step with the knowledge."""

_VERSIONLESS = {PRODUCTS[p].name: f"{_SHORT.get(p, PRODUCTS[p].name)} {NOT_SEEN}" for p in LINED}


def line_label(value: Value) -> Value:
    """A stored product line as people read it."""
    if value is None or value == "unknown":
        return UNKNOWN_PRODUCT
    if isinstance(value, str):
        return _VERSIONLESS.get(value, value)
    return value


def product_label(value: Value) -> Value:
    """A product id (``ms-exchange``) as its display name."""
    if value is None or value == "unknown":
        return UNKNOWN_PRODUCT
    if isinstance(value, str) and value in PRODUCTS:
        return PRODUCTS[value].name
    return value


LABELS = {"product_line": line_label, "product": product_label}
"""Columns whose values are named for people, by column."""


def label(value: Value, column: str) -> Value:
    fn = LABELS.get(column)
    return fn(value) if fn is not None else value


def shown(value: Value, column: str = "", *, limit: int | None = 200) -> str | None:
    """A cell as the terminal table and the HTML report show it (None: no value): its
    :func:`label`, yes/no, two decimals, thousands separated except in identifier columns
    (ports, ASNs), text made inert and at most ``limit`` characters."""
    value = label(value, column)
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, int):
        return str(value) if column in IDENTIFIERS else f"{value:,}"
    return visible(str(value), limit)

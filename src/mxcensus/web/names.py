"""Products as people name them: "Microsoft Exchange Server 2016 CU23", "Exim 4.96",
"Dovecot" — from the stored product id, product line, version and release (the internal
id, ``ms-exchange``, appears only where a filter needs it)."""

from __future__ import annotations

from mxcensus.vocabulary import PRODUCTS


def product_name(product: str | None) -> str:
    if not product or product == "unknown":
        return "unknown product"
    known = PRODUCTS.get(product)
    return known.name if known is not None else product


def line_name(product: str | None, line: str | None) -> str:
    """A product line with its vendor: "Microsoft Exchange Server 2016", "Exim 4"."""
    if not line:
        return product_name(product)
    known = PRODUCTS.get(product or "")
    vendor = known.name.split()[0] if known is not None and " " in known.name else ""
    return f"{vendor} {line}" if vendor and not line.startswith(vendor) else line


def build_name(
    product: str | None, line: str | None, version: str | None, release: str | None
) -> str:
    """The whole name: the line and the release (Exchange: "… 2016 CU22 Oct21SU"), or the
    product and version ("Exim 4.96"), or as much as was seen."""
    if release:
        return f"{line_name(product, line)} {release}"
    if version:
        return f"{product_name(product)} {version}"
    return line_name(product, line)

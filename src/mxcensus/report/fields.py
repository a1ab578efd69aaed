"""The fields a report or trend can group by: their names and labels.

One closed list: ``--by`` accepts these names and nothing else. What each one reads is the
store's (``store.queries.KEYS``); grouping by ``cve`` turns the unit of counting into
service × CVE.
"""

from __future__ import annotations

from dataclasses import dataclass

from mxcensus.errors import UsageError
from mxcensus.store.sql import KEYS


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # a key of store.queries.KEYS
    label: str

    @property
    def needs_findings(self) -> bool:
        """Counting by this field counts service × CVE pairs."""
        return KEYS[self.name].per_finding


FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("product", "product"),
        Field("product_line", "product line"),
        Field("version", "version"),
        Field("release", "release"),
        Field("cve", "CVE"),
        Field("verdict", "verdict"),
        Field("kev", "KEV"),
        Field("eol", "end of support"),
        Field("country", "country"),
        Field("continent", "continent"),
        Field("asn", "ASN"),
        Field("port", "port"),
    )
}


def parse_by(text: str) -> tuple[Field, ...]:
    """``--by product,country`` → fields, in order; unknown or repeated names are errors."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError("--by: give at least one field")
    out: list[Field] = []
    for n in names:
        f = FIELDS.get(n)
        if f is None:
            raise UsageError(f"--by {n!r}: unknown field; choose from {', '.join(FIELDS)}")
        if f in out:
            raise UsageError(f"--by {n!r}: given twice")
        out.append(f)
    return tuple(out)


def names(by: tuple[Field, ...]) -> tuple[str, ...]:
    return tuple(f.name for f in by)

"""The fields a report or trend can group by, and the SQL each one reads.

One closed list: ``--by`` accepts these names and nothing else. Each field is an SQL
expression over the ``services`` table (alias ``s``) or, for ``cve``, the ``findings`` table
(alias ``f``); grouping by ``cve`` turns the unit of counting into service × CVE.
"""

from __future__ import annotations

from dataclasses import dataclass

from mxcensus.errors import UsageError

SEVERITY_SQL = (
    "CASE {col} WHEN 'vulnerable' THEN 4 WHEN 'potentially-vulnerable' THEN 3 "
    "WHEN 'unknown' THEN 2 WHEN 'not-vulnerable' THEN 1 ELSE 0 END"
)
"""Order of verdicts, most severe first. ``unknown`` ranks above ``not-vulnerable``: a
service we could not judge must never hide behind one we judged safe. ``none`` (a known
product with no CVE in our knowledge) ranks last."""

VERDICTS = ("vulnerable", "potentially-vulnerable", "unknown", "not-vulnerable", "none")

NOT_CONNECTED = ("refused", "unreachable", "connect-timeout", "excluded")
"""Outcomes of a port that never accepted a connection: such rows are not exposed services
and no report counts them."""


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    sql: str
    label: str
    needs_findings: bool = False


FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("product", "s.product", "product"),
        Field("product_line", "s.product_line", "product line"),
        Field("version", "s.version", "version"),
        Field("release", "s.release", "release"),
        Field("cve", "f.cve", "CVE", needs_findings=True),
        Field("verdict", "{verdict}", "verdict"),
        Field("kev", "{kev}", "KEV"),
        Field("eol", "s.eol", "end of support"),
        Field("country", "s.country", "country"),
        Field("continent", "s.continent", "continent"),
        Field("asn", "s.asn", "ASN"),
        Field("port", "s.port", "port"),
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


def field_sql(f: Field, *, with_findings: bool) -> str:
    """The SQL expression of ``f``; verdict and KEV read the finding when grouping by CVE."""
    if with_findings:
        return f.sql.format(verdict="f.status", kev="f.kev")
    return f.sql.format(verdict="s.worst_status", kev="s.kev")

"""A self-contained HTML report: inline CSS and inline SVG charts, no script, no network.

Every piece of text goes through :func:`html.escape` (banners, names, org strings are
hostile), and a Content-Security-Policy meta tag forbids scripts, remote loads and inline
event handlers anyway: a ``<script>`` or ``<img onerror>`` in the data shows as text.
The world map draws Natural Earth country shapes shipped in ``report/data/world.json``
(provenance inside that file and in the page footer). The page is written as it goes: a
section's rows are read once for its chart (the largest bars kept) and once for its table.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from mxcensus.draw import MAX_BARS, Bar, Place, bars, esc, map_provenance, on_map, world_map
from mxcensus.report.document import IDENTIFIERS, Chart, Document, Section, Value
from mxcensus.report.interface import Renders
from mxcensus.text import visible

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'none'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'"
)
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1100px;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:2px 8px;
text-align:left;vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f4f4f4}.note{color:#555;font-size:.9em;margin:.2em 0}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:0 1em}dl.meta dt{color:#555}
dl.meta dd{margin:0}svg{max-width:100%;height:auto}.legend{font-size:.85em;color:#444}
.swatch{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;vertical-align:-.1em}
footer{margin-top:3em;color:#666;font-size:.85em}
"""


def fmt(value: Value, column: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, int):
        return str(value) if column in IDENTIFIERS else f"{value:,}"
    return visible(str(value), 300)


def _num(v: Value) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0.0


def bars_svg(section: Section, chart: Chart) -> str:
    """The section's largest rows as bars (:func:`mxcensus.draw.bars`); the rows are read
    once, the first :data:`~mxcensus.draw.MAX_BARS` with a count kept."""
    li = [section.columns.index(c) for c in (chart.label, *chart.also)]
    vis = [section.columns.index(c) for c in chart.values]
    rows: list[Bar] = []
    more = 0
    for r in section.rows:
        total = sum(_num(r[i]) for i in vis)
        if total <= 0:
            continue
        if len(rows) < MAX_BARS:
            label = " · ".join(fmt(r[i], section.columns[i]) for i in li)
            rows.append(Bar(label, tuple(_num(r[i]) for i in vis), fmt(_shown(total))))
        else:
            more += 1
    return bars(section.title, chart.values, rows, more=more)


def _shown(total: float) -> Value:
    return int(total) if total == int(total) else total


def map_svg(section: Section, chart: Chart) -> str:
    """The section's countries on the world map (:func:`mxcensus.draw.world_map`)."""
    ci = 0
    vi = section.columns.index(chart.values[0])
    hi = section.columns.index("hosts") if "hosts" in section.columns else None
    places: dict[str, Place] = {}
    unmapped: list[Value] = []
    for r in section.rows:
        cc = r[ci]
        if on_map(cc):
            hosts = r[hi] if hi is not None else None
            tip = f"{fmt(r[vi])} {chart.values[0]} ({fmt(hosts)} hosts)"
            places[str(cc)] = Place(_num(r[vi]), tip)
        elif len(unmapped) < 20:
            unmapped.append(cc)
    top = max((p.value for p in places.values()), default=0.0)
    svg = world_map(f"{chart.values[0]} per country", places, top_label=fmt(top))
    if not unmapped:
        return svg
    extra = (
        f" Not on the map (no shape at this scale, or no country): "
        f"{esc(', '.join(fmt(u) for u in unmapped))}."
    )
    return svg.removesuffix("</p>") + f"{extra}</p>"


def table_html(section: Section) -> Iterator[str]:
    """The section's table, a row at a time."""
    head = "".join(f"<th>{esc(c)}</th>" for c in section.columns)
    yield f"<table><thead><tr>{head}</tr></thead><tbody>"
    for r in section.rows:
        tds = "".join(
            f'<td class="n">{esc(fmt(v, c))}</td>'
            if isinstance(v, int | float) and not isinstance(v, bool)
            else f"<td>{esc(fmt(v, c))}</td>"
            for v, c in zip(r, section.columns, strict=True)
        )
        yield f"<tr>{tds}</tr>"
    yield "</tbody></table>"


class HtmlFormat(Renders):
    name = "html"

    def write(self, doc: Document, out: BinaryIO) -> None:
        def put(*parts: str) -> None:
            out.write(("\n".join(parts) + "\n").encode("utf-8"))

        put(
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="referrer" content="no-referrer">',
            f"<title>{esc(visible(doc.title, 300))}</title>",
            f"<style>{CSS}</style></head><body>",
            f"<h1>{esc(visible(doc.title, 300))}</h1>",
            '<dl class="meta">',
            *(f"<dt>{esc(k)}</dt><dd>{esc(fmt(v))}</dd>" for k, v in doc.meta),
            "</dl>",
            '<h2 id="definitions">How we count</h2><ul>',
            *(f"<li>{esc(d)}</li>" for d in doc.definitions),
            "</ul>",
        )
        for s in doc.sections:
            put(f'<section id="{esc(s.key)}"><h2>{esc(visible(s.title, 300))}</h2>')
            rows = s.has_rows()
            if s.chart is not None and rows:
                draw = map_svg if s.chart.kind == "map" else bars_svg
                put(draw(s, s.chart))
            if s.notes:
                put(*(f'<p class="note">{esc(n)}</p>' for n in s.notes))
            if rows:
                chunk: list[str] = []
                for piece in table_html(s):
                    chunk.append(piece)
                    if len(chunk) >= 1000:
                        out.write("".join(chunk).encode("utf-8"))
                        chunk.clear()
                put("".join(chunk))
            else:
                put('<p class="note">No rows.</p>')
            put("</section>")
        put(f"<footer>Map: {esc(map_provenance())}</footer></body></html>")

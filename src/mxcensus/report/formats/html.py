"""A self-contained HTML report: inline CSS and inline SVG charts, no script, no network.

Every piece of text goes through :func:`html.escape` (banners, names, org strings are
hostile), and a Content-Security-Policy meta tag forbids scripts, remote loads and inline
event handlers anyway: a ``<script>`` or ``<img onerror>`` in the data shows as text.
The world map draws Natural Earth country shapes shipped in ``report/data/world.json``
(provenance inside that file and in the page footer). The page is written as it goes: a
section's rows are read once for its chart (the largest bars kept) and once for its table.
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Iterator
from importlib import resources
from typing import Any, BinaryIO

from mxcensus.report.document import IDENTIFIERS, Chart, Document, Section, Value
from mxcensus.report.interface import Renders
from mxcensus.text import visible

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'none'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'"
)
COLORS = {
    "vulnerable": "#b2182b",
    "potentially-vulnerable": "#ef8a62",
    "end-of-support services": "#7b3294",
    "at-risk hosts": "#b2182b",
}
DEFAULT_COLOR = "#2166ac"
MAX_BARS = 30
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


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


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


@functools.cache
def world() -> dict[str, Any]:
    text = resources.files("mxcensus.report").joinpath("data/world.json").read_text("ascii")
    data: dict[str, Any] = json.loads(text)
    return data


def _num(v: Value) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0.0


def bars_svg(section: Section, chart: Chart) -> str:
    li = [section.columns.index(c) for c in (chart.label, *chart.also)]
    vis = [section.columns.index(c) for c in chart.values]
    rows: list[tuple[Value, ...]] = []
    more = 0
    for r in section.rows:
        if sum(_num(r[i]) for i in vis) > 0:
            if len(rows) < MAX_BARS:
                rows.append(r)
            else:
                more += 1
    if not rows:
        return '<p class="note">Nothing to draw: every count is zero.</p>'
    top = max(sum(_num(r[i]) for i in vis) for r in rows)
    label_w, bar_w, row_h = 260, 560, 20
    height = row_h * len(rows) + 10
    out = [
        f'<svg class="chart bars" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {label_w + bar_w + 90} {height}" width="{label_w + bar_w + 90}" '
        f'height="{height}"><title>{esc(section.title)}</title>'
    ]
    for n, r in enumerate(rows):
        y = 5 + n * row_h
        label = " · ".join(fmt(r[i], section.columns[i]) for i in li)
        out.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">'
            f"{esc(label[:40])}</text>"
        )
        x = float(label_w)
        total = 0.0
        for i in vis:
            v = _num(r[i])
            w = bar_w * v / top if top else 0
            if w > 0:
                color = COLORS.get(section.columns[i], DEFAULT_COLOR)
                out.append(
                    f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{row_h - 5}" '
                    f'fill="{color}"><title>{esc(label)} — {esc(section.columns[i])}: '
                    f"{esc(fmt(r[i]))}</title></rect>"
                )
            x += w
            total += v
        shown: Value = int(total) if total == int(total) else total
        out.append(f'<text x="{x + 4:.1f}" y="{y + 14}" font-size="12">{esc(fmt(shown))}</text>')
    out.append("</svg>")
    legend = "".join(
        f'<span class="swatch" style="background:{COLORS.get(c, DEFAULT_COLOR)}"></span>{esc(c)}'
        for c in chart.values
    )
    tail = f" (the {MAX_BARS} largest; {more} more in the table)" if more > 0 else ""
    return "".join(out) + f'<p class="legend">{legend}{esc(tail)}</p>'


def _shade(t: float) -> str:
    """White-to-red scale for t in [0, 1]."""
    lo, hi = (0xFE, 0xE5, 0xD9), (0xA5, 0x0F, 0x15)
    r, g, b = (round(a + (c - a) * t) for a, c in zip(lo, hi, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def map_svg(section: Section, chart: Chart) -> str:
    geo = world()
    ci = section.columns.index(section.columns[0])
    vi = section.columns.index(chart.values[0])
    hi = section.columns.index("hosts") if "hosts" in section.columns else None
    values: dict[str, tuple[float, Value, Value]] = {}
    for r in section.rows:
        cc = r[ci]
        if isinstance(cc, str) and cc in geo["countries"]:
            values[cc] = (_num(r[vi]), r[vi], r[hi] if hi is not None else None)
    top = max((v for v, _, _ in values.values()), default=0.0)
    out = [
        f'<svg class="chart map" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {geo["width"]} {geo["height"]}" width="{geo["width"]}" '
        f'height="{geo["height"]}"><title>{esc(chart.values[0])} per country</title>'
        f'<rect width="{geo["width"]}" height="{geo["height"]}" fill="#eef4f8"/>'
    ]
    for cc, shape in geo["countries"].items():
        if cc in values:
            v, raw, hosts = values[cc]
            fill = _shade(v / top if top else 0.0)
            tip = f"{cc} {shape['name']}: {fmt(raw)} {chart.values[0]} ({fmt(hosts)} hosts)"
        else:
            fill = "#d9d9d9"
            tip = f"{cc} {shape['name']}: no hosts"
        out.append(
            f'<path data-cc="{esc(cc)}" d="{shape["d"]}" fill="{fill}" stroke="#fff" '
            f'stroke-width="0.5"><title>{esc(tip)}</title></path>'
        )
    out.append("</svg>")
    legend = (
        f'<span class="swatch" style="background:{_shade(0)}"></span>0'
        f'<span class="swatch" style="background:{_shade(1)}"></span>{esc(fmt(top))}'
        '<span class="swatch" style="background:#d9d9d9"></span>no hosts seen'
    )
    unmapped = [r[ci] for r in section.rows if r[ci] not in values]
    extra = (
        f" Not on the map (no shape at this scale, or no country): "
        f"{esc(', '.join(fmt(u) for u in unmapped[:20]))}."
        if unmapped
        else ""
    )
    return "".join(out) + f'<p class="legend">{legend}{extra}</p>'


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
        put(f"<footer>Map: {esc(world()['provenance'])}</footer></body></html>")

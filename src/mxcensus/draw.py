"""SVG drawing shared by the HTML report and the web service: stacked horizontal bars and
the world map, as self-contained SVG text (no script, no remote resource).

The primitives take plain values — labels, numbers, an optional link per bar or country —
and escape every piece of text they write (labels are hostile: a product, an organisation,
a banner may hold ``<script>``). Callers adapt their own rows to them: the report its
:class:`~mxcensus.report.document.Section`, the web service its aggregates. The world map
draws Natural Earth country shapes shipped in ``report/data/world.json`` (provenance
inside that file, :func:`map_provenance`).
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

COLORS = {
    "vulnerable": "#b2182b",
    "potentially-vulnerable": "#ef8a62",
    "end-of-support services": "#7b3294",
    "end-of-support": "#7b3294",
    "at-risk hosts": "#b2182b",
}
DEFAULT_COLOR = "#2166ac"
NO_DATA = "#d9d9d9"
MAX_BARS = 30


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


@functools.cache
def world() -> dict[str, Any]:
    text = resources.files("mxcensus.report").joinpath("data/world.json").read_text("ascii")
    data: dict[str, Any] = json.loads(text)
    return data


def map_provenance() -> str:
    return str(world()["provenance"])


def color_of(series: str) -> str:
    return COLORS.get(series, DEFAULT_COLOR)


def swatch(color: str) -> str:
    """A legend's colour square, drawn (a ``style`` attribute would need a looser
    Content-Security-Policy than the web service sends)."""
    return (
        '<svg class="swatch" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10" '
        f'width="10" height="10" aria-hidden="true"><rect width="10" height="10" '
        f'fill="{color}"/></svg>'
    )


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its label, one value per series (stacked in order), the total as shown,
    and an optional link (the web service's drill-down; the report has none)."""

    label: str
    values: tuple[float, ...]
    shown: str
    href: str | None = None


def bars(title: str, series: Sequence[str], rows: Sequence[Bar], *, more: int = 0) -> str:
    """Stacked horizontal bars (at most :data:`MAX_BARS`, as given) with their legend;
    ``more``: bars left out, named in the legend."""
    rows = [r for r in rows if sum(r.values) > 0][:MAX_BARS]
    if not rows:
        return '<p class="note">Nothing to draw: every count is zero.</p>'
    top = max(sum(r.values) for r in rows)
    label_w, bar_w, row_h = 260, 560, 20
    height = row_h * len(rows) + 10
    out = [
        f'<svg class="chart bars" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {label_w + bar_w + 90} {height}" width="{label_w + bar_w + 90}" '
        f'height="{height}"><title>{esc(title)}</title>'
    ]
    for n, r in enumerate(rows):
        y = 5 + n * row_h
        text = (
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">'
            f"{esc(r.label[:40])}</text>"
        )
        out.append(f'<a href="{esc(r.href)}">{text}</a>' if r.href else text)
        x = float(label_w)
        for name, v in zip(series, r.values, strict=True):
            w = bar_w * v / top if top else 0
            if w > 0:
                out.append(
                    f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{row_h - 5}" '
                    f'fill="{color_of(name)}"><title>{esc(r.label)} — {esc(name)}: '
                    f"{esc(_number(v))}</title></rect>"
                )
            x += w
        out.append(f'<text x="{x + 4:.1f}" y="{y + 14}" font-size="12">{esc(r.shown)}</text>')
    out.append("</svg>")
    legend = "".join(f"{swatch(color_of(c))}{esc(c)}" for c in series)
    tail = f" (the {MAX_BARS} largest; {more} more in the table)" if more > 0 else ""
    return "".join(out) + f'<p class="legend">{legend}{esc(tail)}</p>'


def shade(t: float) -> str:
    """White-to-red scale for t in [0, 1]."""
    lo, hi = (0xFE, 0xE5, 0xD9), (0xA5, 0x0F, 0x15)
    r, g, b = (round(a + (c - a) * t) for a, c in zip(lo, hi, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


@dataclass(frozen=True, slots=True)
class Place:
    """A country's value on the map (what shades it) and the words of its tooltip."""

    value: float
    tip: str


def world_map(
    title: str,
    places: Mapping[str, Place],
    *,
    top_label: str,
    href: Callable[[str], str] | None = None,
) -> str:
    """A choropleth of ``places`` (ISO 3166-1 alpha-2 → value), countries without a value
    grey; ``href``: a link per shaded country."""
    geo = world()
    top = max((p.value for p in places.values()), default=0.0)
    out = [
        f'<svg class="chart map" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {geo["width"]} {geo["height"]}" width="{geo["width"]}" '
        f'height="{geo["height"]}"><title>{esc(title)}</title>'
        f'<rect width="{geo["width"]}" height="{geo["height"]}" fill="#eef4f8"/>'
    ]
    for cc, shape in geo["countries"].items():
        place = places.get(cc)
        if place is not None:
            fill = shade(place.value / top if top else 0.0)
            tip = f"{cc} {shape['name']}: {place.tip}"
        else:
            fill, tip = NO_DATA, f"{cc} {shape['name']}: no hosts"
        path = (
            f'<path data-cc="{esc(cc)}" d="{shape["d"]}" fill="{fill}" stroke="#fff" '
            f'stroke-width="0.5"><title>{esc(tip)}</title></path>'
        )
        out.append(f'<a href="{esc(href(cc))}">{path}</a>' if href and place else path)
    out.append("</svg>")
    legend = f"{swatch(shade(0))}0{swatch(shade(1))}{esc(top_label)}{swatch(NO_DATA)}no hosts seen"
    return "".join(out) + f'<p class="legend">{legend}</p>'


def on_map(cc: object) -> bool:
    """Whether the map has a shape for ``cc``."""
    return isinstance(cc, str) and cc in world()["countries"]


def _number(v: float) -> str:
    return f"{int(v):,}" if v == int(v) else f"{v:.2f}"

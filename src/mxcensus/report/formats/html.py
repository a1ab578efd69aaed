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
from mxcensus.report.document import Chart, Document, Section, Value
from mxcensus.report.interface import Renders
from mxcensus.report.names import UNKNOWN_NOTE, UNKNOWN_PRODUCT, shown
from mxcensus.text import visible

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'none'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'"
)
CSS = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;
max-width:1200px;padding:1em 1.2em 3em;color:#1d1d1f;background:#fff}
h1{font-size:1.55em;margin:.2em 0 .1em}.sub{color:#555;margin:0 0 1em}
h2{font-size:1.15em;margin:2.2em 0 .5em;padding-bottom:.2em;border-bottom:1px solid #ddd}
.headline{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:.7em;
margin:1em 0 1.5em}.kpi{border:1px solid #e3e3e3;border-radius:8px;padding:.6em .8em;
background:#fafafa}.kpi b{display:block;font-size:1.9em;line-height:1.1;
font-variant-numeric:tabular-nums}.kpi span{color:#555;font-size:.9em}
.kpi.risk b{color:#b2182b}.kpi.warn b{color:#c0601e}.kpi.eol b{color:#7b3294}
nav.toc{font-size:.9em;color:#555;margin:0 0 1em}nav.toc a{color:#2166ac;margin-right:.9em;
text-decoration:none;white-space:nowrap}
.wrap{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;margin:.5em 0;max-width:100%}
td,th{border-bottom:1px solid #e6e6e6;padding:3px 9px;text-align:left;vertical-align:top;
overflow-wrap:break-word}th{background:#f4f4f4;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.note{color:#555;font-size:.88em;margin:.25em 0}
svg{max-width:100%;height:auto;display:block}.legend{font-size:.85em;color:#444}
.swatch{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;vertical-align:-.1em}
table.risk{width:100%;table-layout:fixed}table.risk td{font-size:.92em}
table.risk col.svc{width:10.5em}table.risk col.prod{width:12em}table.risk col.ver{width:8.5em}
table.risk col.where{width:8em}table.risk col.cves{width:auto}table.risk col.banner{width:20%}
details.more{display:inline}details.more summary{display:inline;cursor:pointer;color:#2166ac;
font-size:.85em;list-style:none}details.more[open] summary{display:none}
.chip{display:inline-block;font:11px/1.5 ui-monospace,SFMono-Regular,Menlo,monospace;
padding:0 5px;margin:1px 2px 1px 0;border-radius:9px;background:#eef1f5;color:#333;
white-space:nowrap}.chip.kev{background:#b2182b;color:#fff}.chip.kev::after{content:" ★"}
.verdict{font-weight:600}.v-vulnerable{color:#b2182b}.v-potentially-vulnerable{color:#c0601e}
.eolmark{color:#7b3294;font-size:.85em;display:block}
code.bn{font-size:.85em;overflow-wrap:anywhere}
details.banner summary{cursor:pointer;color:#333;font-family:ui-monospace,monospace;
font-size:.85em;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;list-style:none}
details.banner summary::-webkit-details-marker{display:none}
details.banner[open] summary{white-space:normal}
details.banner pre{white-space:pre-wrap;overflow-wrap:anywhere;font-size:.8em;margin:.3em 0;
background:#f6f6f6;padding:.4em}
details.fold{margin:1.5em 0}details.fold summary{cursor:pointer;font-weight:600}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:0 1em}dl.meta dt{color:#555}
dl.meta dd{margin:0;overflow-wrap:anywhere}
footer{margin-top:3em;color:#666;font-size:.85em}
@media (max-width:700px){body{font-size:14px;padding:.6em}
table.risk,table.risk tbody,table.risk tr,table.risk td{display:block;width:100%}
table.risk thead,table.risk colgroup{display:none}
table.risk tr{border:1px solid #e3e3e3;border-radius:6px;margin:.5em 0;padding:.3em .5em}
table.risk td{border:0;padding:1px 0}}
@media print{body{font-size:9pt;max-width:none;padding:0}nav.toc,.noprint{display:none}
h2{margin:1em 0 .3em;break-after:avoid}section{break-inside:auto}svg{max-height:11cm;
width:auto}td,th{padding:1px 4px}.kpi{padding:.2em .4em}.kpi b{font-size:1.4em}
details.banner{display:none}table.long tbody tr:nth-child(n+26){display:none}
table.long tfoot{display:table-footer-group}.print-only{display:block}}
.print-only,table.long tfoot{display:none}
"""


def fmt(value: Value, column: str = "") -> str:
    text = shown(value, column, limit=300)
    return "—" if text is None else text


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


LONG_TABLE = 25
"""Rows of a table shown on paper; the rest are on screen (and in csv/json/export)."""
BANNER_SHOWN = 60


def _numeric(v: Value) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def table_html(section: Section) -> Iterator[str]:
    """The section's table, a row at a time (numbers right-aligned; a long table is cut on
    paper, with a line saying so)."""
    head: list[str] | None = None
    n = 0
    unknown = False
    for r in section.rows:
        if head is None:
            head = [
                f'<th class="n">{esc(_head(c))}</th>'
                if _numeric(v)
                else f"<th>{esc(_head(c))}</th>"
                for v, c in zip(r, section.columns, strict=True)
            ]
            yield (
                f'<div class="wrap"><table class="long"><thead><tr>{"".join(head)}</tr>'
                "</thead><tbody>"
            )
        n += 1
        cells = []
        for v, c in zip(r, section.columns, strict=True):
            text = fmt(v, c)
            unknown = unknown or (text == UNKNOWN_PRODUCT and c in ("product", "product_line"))
            cells.append(
                f'<td class="n">{esc(text)}</td>' if _numeric(v) else f"<td>{esc(text)}</td>"
            )
        yield f"<tr>{''.join(cells)}</tr>"
    if head is None:
        return
    foot = (
        f'<tfoot><tr><td colspan="{len(head)}" class="note">On paper: the first {LONG_TABLE} '
        f"of {n:,} rows.</td></tr></tfoot>"
        if n > LONG_TABLE
        else ""
    )
    yield f"</tbody>{foot}</table></div>"
    if unknown:
        yield f'<p class="note">{esc(UNKNOWN_NOTE)}</p>'


CHIPS_SHOWN = 6


def _head(column: str) -> str:
    return column.replace("_", " ")


def _chip(cve: str, kev: set[str]) -> str:
    if cve in kev:
        return f'<span class="chip kev" title="{esc(cve)}: in CISA KEV">{esc(cve)}</span>'
    return f'<span class="chip">{esc(cve)}</span>'


def _chips(cves: Value, kev: set[str]) -> str:
    """CVE ids as chips, the known-exploited ones first and marked; past
    :data:`CHIPS_SHOWN`, the rest on demand."""
    ids = sorted(str(cves or "").split(), key=lambda c: (c not in kev, c))
    if not ids:
        return "—"
    shown = "".join(_chip(c, kev) for c in ids[:CHIPS_SHOWN])
    rest = ids[CHIPS_SHOWN:]
    if not rest:
        return shown
    more = "".join(_chip(c, kev) for c in rest)
    return f'{shown}<details class="more"><summary>+{len(rest)} more</summary>{more}</details>'


def _banner(value: Value) -> str:
    if not value:
        return "—"
    full = visible(str(value), 2000)
    short = full if len(full) <= BANNER_SHOWN else full[: BANNER_SHOWN - 1] + "…"
    if short == full:
        return f'<code class="bn">{esc(full)}</code>'
    return (
        f'<details class="banner"><summary title="show the whole banner">{esc(short)}</summary>'
        f"<pre>{esc(full)}</pre></details>"
    )


def at_risk_html(section: Section, kev: set[str]) -> Iterator[str]:
    """Services at risk, one row each: where, what, the verdict with EoL, CVEs as chips
    (KEV marked), the banner cut to a line with the whole text on demand."""
    yield (
        '<table class="risk long"><colgroup><col class="svc"><col class="prod">'
        '<col class="ver"><col class="cves"><col class="where"><col class="banner"></colgroup>'
        "<thead><tr><th>service</th><th>product</th><th>verdict</th><th>CVEs</th>"
        "<th>where</th><th>banner</th></tr></thead><tbody>"
    )
    n = 0
    for d in section.dicts():
        n += 1
        product = fmt(d.get("product"), "product")
        version = d.get("version")
        what = esc(product) + (f" <b>{esc(fmt(version))}</b>" if version else "")
        verdict = str(d.get("verdict") or "")
        eol = '<span class="eolmark">end of support</span>' if d.get("eol") else ""
        where = " · ".join(
            x for x in (fmt(d.get("country")) if d.get("country") else "",
                        f"AS{d['asn']}" if d.get("asn") else "") if x
        ) or "—"  # fmt: skip
        yield (
            f'<tr><td>{esc(d.get("ip"))}:{esc(d.get("port"))} <span class="note">'
            f"{esc(d.get('protocol') or '')}</span></td><td>{what}</td>"
            f'<td><span class="verdict v-{esc(verdict)}">{esc(verdict)}</span>{eol}</td>'
            f"<td>{_chips(d.get('cves'), kev)}</td><td>{esc(where)}</td>"
            f"<td>{_banner(d.get('banner'))}</td></tr>"
        )
    foot = (
        f'<tfoot><tr><td colspan="6" class="note">On paper: the first {LONG_TABLE} of {n:,} '
        "services; all of them on screen, in `mxcensus export` and `mxcensus notify`.</td></tr>"
        "</tfoot>"
        if n > LONG_TABLE
        else ""
    )
    yield f"</tbody>{foot}</table>"
    yield (
        '<p class="note"><span class="chip kev">KEV</span> in CISA\'s Known Exploited '
        "Vulnerabilities catalog; click a banner for the whole text.</p>"
    )


KPI_CLASS = {
    "hosts at risk": "risk",
    "vulnerable hosts": "risk",
    "potentially vulnerable hosts": "warn",
    "end-of-support hosts": "eol",
}


def headline_html(doc: Document, kev: int | None) -> str:
    items = list(doc.headline)
    if kev is not None:
        items.append(("known-exploited CVEs (KEV) at risk", kev))
    cards = "".join(
        f'<div class="kpi {KPI_CLASS.get(k, "")}"><b>{esc(fmt(v))}</b><span>{esc(k)}</span></div>'
        for k, v in items
    )
    return f'<section class="headline" id="headline">{cards}</section>'


def _kev(doc: Document) -> set[str] | None:
    for s in doc.sections:
        if s.key == "cves":
            return {str(r[0]) for r in s.rows if r[1]}
    return None


class HtmlFormat(Renders):
    name = "html"

    def write(self, doc: Document, out: BinaryIO) -> None:
        def put(*parts: str) -> None:
            out.write(("\n".join(parts) + "\n").encode("utf-8"))

        meta = dict(doc.meta)
        sub = " · ".join(
            esc(fmt(meta[k])) if k != "started" else f"started {esc(str(meta[k])[:16])}"
            for k in ("source", "started", "status")
            if meta.get(k)
        )
        kev = _kev(doc)
        put(
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="referrer" content="no-referrer">',
            f"<title>{esc(visible(doc.title, 300))}</title>",
            f"<style>{CSS}</style></head><body>",
            f"<header><h1>{esc(visible(doc.title, 300))}</h1>",
            f'<p class="sub">{sub}</p></header>' if sub else "</header>",
        )
        if doc.headline:
            put(headline_html(doc, None if kev is None else len(kev)))
        put(
            '<nav class="toc">'
            + " ".join(
                f'<a href="#{esc(s.key)}">{esc(_short_title(s.title))}</a>' for s in doc.sections
            )
            + ' <a href="#definitions">How we count</a></nav>'
        )
        for s in doc.sections:
            put(f'<section id="{esc(s.key)}"><h2>{esc(visible(s.title, 300))}</h2>')
            rows = s.has_rows()
            if s.chart is not None and rows:
                draw = map_svg if s.chart.kind == "map" else bars_svg
                put(draw(s, s.chart))
            if not rows:
                put('<p class="note">No rows.</p>')
            else:
                pieces = (
                    at_risk_html(s, kev or set()) if s.key == "at_risk_services" else table_html(s)
                )
                chunk: list[str] = []
                for piece in pieces:
                    chunk.append(piece)
                    if len(chunk) >= 1000:
                        out.write("".join(chunk).encode("utf-8"))
                        chunk.clear()
                put("".join(chunk))
            if s.notes:
                put(*(f'<p class="note">{esc(n)}</p>' for n in s.notes))
            put("</section>")
        put(
            '<details class="fold" id="definitions"><summary>How we count</summary><ul>',
            *(f"<li>{esc(d)}</li>" for d in doc.definitions),
            "</ul></details>",
            '<details class="fold" id="about"><summary>About this report</summary>',
            '<dl class="meta">',
            *(f"<dt>{esc(k)}</dt><dd>{esc(fmt(v))}</dd>" for k, v in doc.meta),
            "</dl></details>",
        )
        put(f"<footer>Map: {esc(map_provenance())}</footer></body></html>")


def _short_title(title: str) -> str:
    return title.split(" (", 1)[0].split(":", 1)[0]

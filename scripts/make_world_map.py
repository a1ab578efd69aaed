#!/usr/bin/env python3
"""Build src/mxcensus/report/data/world.json, the country shapes of the HTML report's map.

Input: ``countries-110m.json`` from the npm package world-atlas 2.0.2 (Natural Earth 4.1.0
admin-0 countries at 1:110m, public domain, as TopoJSON; package ISC-licensed) and
``codes.json`` from the npm package i18n-iso-countries (MIT), which maps ISO 3166-1 numeric
codes to alpha-2. Get them with ``npm pack world-atlas@2.0.2 i18n-iso-countries`` and unpack.

Output: one SVG path per alpha-2 code, equirectangular projection onto a 1000x460 box
(84N..60S; Antarctica dropped; rings crossing
the antimeridian shifted east as one piece and clipped by the view box), coordinates rounded to whole units, repeated points removed.

    python scripts/make_world_map.py countries-110m.json codes.json > world.json
"""

from __future__ import annotations

import json
import sys

WIDTH = 1000.0
NORTH, SOUTH = 84.0, -60.0
SCALE = WIDTH / 360.0
HEIGHT = round((NORTH - SOUTH) * SCALE)
UNNUMBERED = {"N. Cyprus": "CY", "Somaliland": "SO", "Kosovo": "XK"}


def main(topo_path: str, codes_path: str) -> None:
    topo = json.load(open(topo_path))
    codes = {row[2]: row[0] for row in json.load(open(codes_path))}
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        pts = []
        for dx, dy in arc:
            x += dx
            y += dy
            lon, lat = x * sx + tx, y * sy + ty
            lat = max(min(lat, NORTH), SOUTH)
            pts.append((round((lon + 180.0) * SCALE), round((NORTH - lat) * SCALE)))
        arcs.append(pts)

    def ring(indexes: list[int]) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for i in indexes:
            pts = arcs[i] if i >= 0 else arcs[~i][::-1]
            out.extend(pts if not out else pts[1:])
        xs = [x for x, _ in out]
        if xs and max(xs) - min(xs) > WIDTH / 2:  # crosses the antimeridian: keep it whole
            out = [(x + int(WIDTH), y) if x < WIDTH / 2 else (x, y) for x, y in out]
        dedup: list[tuple[int, int]] = []
        for p in out:
            if not dedup or dedup[-1] != p:
                dedup.append(p)
        return dedup

    paths: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for geo in topo["objects"]["countries"]["geometries"]:
        name = geo["properties"]["name"]
        cc = codes.get(geo.get("id") or "", UNNUMBERED.get(name, ""))
        if not cc or cc == "AQ":
            continue
        polys = geo["arcs"] if geo["type"] == "MultiPolygon" else [geo["arcs"]]
        for poly in polys:
            for r in poly:
                pts = ring(r)
                if len(pts) < 3:
                    continue
                d = "M" + "L".join(f"{x} {y}" for x, y in pts) + "Z"
                paths.setdefault(cc, []).append(d)
        names.setdefault(cc, name)
    out = {
        "provenance": (
            "Natural Earth 4.1.0 admin-0 countries 1:110m (public domain, naturalearthdata.com) "
            "via the npm package world-atlas 2.0.2 (ISC, Mike Bostock); ISO 3166-1 numeric to "
            "alpha-2 from the npm package i18n-iso-countries (MIT); projected equirectangular "
            "and rounded by scripts/make_world_map.py; Antarctica dropped; N. Cyprus drawn as "
            "CY, Somaliland as SO, Kosovo as XK."
        ),
        "width": int(WIDTH),
        "height": HEIGHT,
        "countries": {
            cc: {"name": names[cc], "d": "".join(ds)} for cc, ds in sorted(paths.items())
        },
    }
    json.dump(out, sys.stdout, separators=(",", ":"), ensure_ascii=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""The demo database's HTML report in real headless Chromium (Debian's, never a download),
at a desktop and a phone width, and printed to PDF."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.demo.conftest import Demo, run_in

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed")

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
MAX_PAGES = 10
"""A 300-host report on paper: the headline, the charts, the map and the first rows."""


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    with playwright.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1400, "height": 900},
        )  # fmt: skip
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def report(demo: Demo) -> Path:
    res = run_in(demo.cwd, "report", "--db", str(demo.db), "--format", "html", "-o", "r.html")
    assert res.returncode == 0, res.stderr
    return demo.cwd / "r.html"


GEOMETRY = """() => {
  const box = (el) => el ? el.getBoundingClientRect() : null;
  const head = box(document.querySelector('#headline'));
  const chart = box(document.querySelector('svg.chart'));
  const map = [...document.querySelectorAll('svg.chart.map path[data-cc]')];
  const rows = [...document.querySelectorAll('table.risk tbody tr')].map(r => box(r).height);
  return {
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
    headBottom: head ? head.bottom : null,
    chartTop: chart ? chart.top : null,
    colored: map.filter(p => p.getAttribute('fill') !== '#d9d9d9').length,
    shapes: map.length,
    rows: rows,
  };
}"""


@pytest.mark.parametrize(("width", "row_max"), [(1400, 90), (390, 260)])
def test_report_at_width(browser: object, report: Path, width: int, row_max: int) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    try:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(report.as_uri())
        g = page.evaluate(GEOMETRY)
    finally:
        page.close()
    assert g["scroll"] <= g["client"], g  # no horizontal overflow of the page
    assert g["headBottom"] is not None and g["chartTop"] is not None
    assert g["headBottom"] <= g["chartTop"]  # the headline numbers come first
    assert g["shapes"] > 150 and g["colored"] >= 8  # the map, countries shaded
    assert len(g["rows"]) >= 50  # the at-risk table: one row per service …
    assert max(g["rows"]) <= row_max, sorted(g["rows"])[-5:]  # … each a bounded height


def test_printed_report_is_a_few_pages(browser: object, report: Path, tmp_path: Path) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    try:
        page.goto(report.as_uri())
        pdf = page.pdf(format="A4", print_background=True)
    finally:
        page.close()
    pages = len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))
    assert 1 <= pages <= MAX_PAGES, pages

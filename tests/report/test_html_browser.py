"""The HTML report in real headless Chromium: charts are drawn, hostile banners stay text.

The fixture's banners carry ``<script>document.title='pwned'</script>`` and an
``<img onerror>`` that would append a ``<marquee>``: if either ran, the title would change or
the element would appear. A control page with the same payload unescaped proves this
browser would run it, so the main test can fail.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.report.fixture_store import XSS_BANNER

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed")


def dump_dom(page: Path, profile: Path) -> str:
    """The DOM after load and after scripts (if any) ran, as Chromium serialises it."""
    res = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=2000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def test_control_page_runs_the_payload(tmp_path: Path) -> None:
    page = tmp_path / "control.html"
    page.write_text(
        f"<!DOCTYPE html><html><head><title>clean</title></head><body>{XSS_BANNER}</body></html>"
    )
    dom = dump_dom(page, tmp_path / "profile")
    assert "<title>pwned</title>" in dom
    assert "<marquee>" in dom


def test_report_draws_charts_and_runs_nothing(mx: RunCli, fixture_db: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    res = mx(
        "report", "--db", str(fixture_db), "--scan", "april", "--format", "html", "-o", str(page)
    )
    assert res.returncode == 0, res.stderr
    html = page.read_text()
    assert "Content-Security-Policy" in html
    assert "script-src 'none'" in html
    assert "<script" not in html.replace("&lt;script", "")  # no script element of ours either
    for remote in ('src="http', "src='http", 'href="http', "url(http", "@import"):
        assert remote not in html  # nothing to fetch: the page is self-contained
    dom = dump_dom(page, tmp_path / "profile")
    assert "<title>mxcensus report — scan april</title>" in dom
    assert "pwned" not in dom.split("<body", 1)[0]
    assert "<marquee" not in dom
    # the payload is shown as text
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;&lt;img src=x onerror=" in dom
    # charts: bars for the breakdown, EoL, CVEs, continents; the world map with its shapes
    assert dom.count('<svg class="chart bars"') >= 4
    assert dom.count('<svg class="chart map"') == 1
    assert dom.count("<path data-cc=") > 150
    de = dom.split('data-cc="DE"', 1)[1].split(">", 1)[0]
    assert 'fill="#d9d9d9"' not in de  # Germany is shaded (hosts seen), not grey
    assert "DE Germany: 100.00 % at risk (2 hosts)" in dom


def test_screenshot_renders(mx: RunCli, fixture_db: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    res = mx(
        "report", "--db", str(fixture_db), "--scan", "november", "--format", "html", "-o", str(page)
    )
    assert res.returncode == 0, res.stderr
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,2400",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a drawn page, not a blank one

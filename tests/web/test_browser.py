"""The dashboard in real headless Chromium (Debian's, driven by Playwright; never a browser
download): the overview, a filter, a host page and a download, with screenshots; hostile
banners and organisation names run nothing, while a control page proves the same payloads
would run if unescaped. One browser for the module, fresh profile."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.census_data import HOSTILE, HOSTILE_ORG
from tests.web.conftest import WEEK1, Running

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with (
        tempfile.TemporaryDirectory(prefix="mxcensus-chromium-") as profile,
        sync_playwright() as p,
    ):
        context = p.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=ARGS,
            viewport={"width": 1400, "height": 1000}, accept_downloads=True,
        )  # fmt: skip
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.problems = []
    page.on("console", lambda m: page.problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    try:
        yield page
    finally:
        page.close()


def pwned(page: object) -> object:
    return page.evaluate("() => window.__pwned")  # type: ignore[attr-defined]


def test_control_page_runs_the_payloads(page: object) -> None:
    """The payloads are live: put in a page unescaped, each one runs."""
    for n, payload in ((1, HOSTILE[0]), (2, HOSTILE[1]), (4, HOSTILE_ORG)):
        page.set_content(f"<!DOCTYPE html><html><body>{payload}</body></html>")  # type: ignore[attr-defined]
        page.wait_for_function(f"() => window.__pwned === {n}", timeout=5000)  # type: ignore[attr-defined]
        assert pwned(page) == n


def test_overview(page: object, service: Running, tmp_path: Path) -> None:
    page.goto(f"{service.url}/?scan={WEEK1}")  # type: ignore[attr-defined]
    headline = page.locator("section.headline .card").first.inner_text()  # type: ignore[attr-defined]
    assert "exposed hosts" in headline
    assert page.locator("svg.map path[data-cc=DE]").get_attribute("fill") != "#d9d9d9"  # type: ignore[attr-defined]
    assert page.locator("svg.bars").count() >= 3  # type: ignore[attr-defined]
    page.screenshot(path=tmp_path / "overview.png", full_page=True)  # type: ignore[attr-defined]
    assert (tmp_path / "overview.png").stat().st_size > 10_000
    assert page.problems == []  # type: ignore[attr-defined]  # no CSP violation, no error


def test_a_filter_narrows_the_services(page: object, service: Running, tmp_path: Path) -> None:
    page.goto(f"{service.url}/services?scan={WEEK1}")  # type: ignore[attr-defined]
    before = page.locator("#counts strong").first.inner_text()  # type: ignore[attr-defined]
    page.fill("form.filters input[name=country]", "DE")  # type: ignore[attr-defined]
    page.select_option("form.filters select[name=verdict]", "vulnerable")  # type: ignore[attr-defined]
    page.click("form.filters button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url("**/services?*country=DE*")  # type: ignore[attr-defined]
    assert "seen_from=" not in page.url  # type: ignore[attr-defined]  # empty fields dropped
    after = page.locator("#counts strong").first.inner_text()  # type: ignore[attr-defined]
    assert int(after.replace(",", "")) < int(before.replace(",", ""))
    rows = page.locator("table.data tbody tr").all()  # type: ignore[attr-defined]
    assert rows
    for row in rows[-5:]:
        assert "vulnerable" in row.inner_text()
    # sorting by a column happens in the page
    page.click("table.sortable th:has-text('port')")  # type: ignore[attr-defined]
    page.screenshot(path=tmp_path / "services.png", full_page=True)  # type: ignore[attr-defined]
    assert page.problems == []  # type: ignore[attr-defined]


def test_host_page_shows_hostile_banners_as_text(
    page: object, service: Running, tmp_path: Path
) -> None:
    for ip, shown in (("192.0.2.1", "<script>window.__pwned=1</script>"),
                      ("100.64.1.1", "onerror"), ("198.51.100.2", "javascript:"),
                      ("203.0.113.2", "<script>window.__pwned=4"),
                      ("100.64.2.2", "=HYPERLINK")):  # fmt: skip
        page.goto(f"{service.url}/hosts/{ip}")  # type: ignore[attr-defined]
        page.wait_for_load_state("load")  # type: ignore[attr-defined]
        assert shown in page.inner_text("main")  # type: ignore[attr-defined]
        assert pwned(page) is None
        assert page.locator("main script, main img, main a[href^='javascript']").count() == 0  # type: ignore[attr-defined]
    assert "\u202e" not in page.content()  # type: ignore[attr-defined]
    page.screenshot(path=tmp_path / "host.png", full_page=True)  # type: ignore[attr-defined]
    assert page.problems == []  # type: ignore[attr-defined]


def test_pages_listing_hostile_rows_run_nothing(page: object, service: Running) -> None:
    for path in (f"/services?scan={WEEK1}", "/", "/scans", "/owners/asn/2516"):
        page.goto(service.url + path)  # type: ignore[attr-defined]
        page.wait_for_load_state("load")  # type: ignore[attr-defined]
        assert pwned(page) is None, path


def test_download_from_the_services_page(page: object, service: Running, tmp_path: Path) -> None:
    page.goto(f"{service.url}/services?scan={WEEK1}")  # type: ignore[attr-defined]
    with page.expect_download() as info:  # type: ignore[attr-defined]
        page.click("p.downloads a:text('csv')")  # type: ignore[attr-defined]
    download = info.value
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    lines = target.read_text().splitlines()
    assert lines[0].startswith("scan,ip,port")
    assert len(lines) > 50
    assert not any(line.split(",")[-1].startswith("=") for line in lines)

"""Regenerate the README's screenshots (docs/img/): the demo and `trend` in an 80-column
tmux pane, and the demo's HTML report in Debian's headless Chromium at 1400 and 390 px.

    .venv/bin/python scripts/screenshots.py        # from the repository root

Runs `mxcensus demo` in a temporary directory (loopback only, about half a minute).
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


def tmux_capture(cwd: Path, command: str, wait_for: str, timeout: float = 120) -> str:
    """``command`` in a fresh 80×50 tmux session; the pane's text once ``wait_for`` shows."""
    name = f"mxshot{os.getpid()}"
    bindir = Path(sys.executable).parent
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", "80", "-y", "50",
         f"cd {cwd} && PATH={bindir}:$PATH {command}; sleep 600"],
        check=True,
    )  # fmt: skip
    try:
        end = time.monotonic() + timeout
        text = ""
        while time.monotonic() < end:
            text = subprocess.run(
                ["tmux", "capture-pane", "-t", name, "-p"], capture_output=True, text=True,
                check=True,
            ).stdout  # fmt: skip
            if wait_for in text:
                return text.rstrip() + "\n"
            time.sleep(0.5)
        raise SystemExit(f"screenshots: {command!r} did not show {wait_for!r}")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], check=False)


def terminal_page(text: str, title: str) -> str:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><style>body{margin:0;"
        "background:#1e1e1e}pre{margin:0;padding:14px 16px;color:#e6e6e6;"
        "font:14px/1.3 'DejaVu Sans Mono',monospace;width:80ch}</style>"
        f"<title>{html.escape(title)}</title></head><body><pre>{html.escape(text)}</pre>"
        "</body></html>"
    )


def main() -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mxcensus-shots-") as tmp:
        work = Path(tmp)
        demo = tmux_capture(work, "mxcensus demo", "mxcensus notify")
        trend = tmux_capture(work, "COLUMNS=80 mxcensus trend --db mxcensus-demo.duckdb | head -32 "
                             "; true", "Exim 4")  # fmt: skip
        (OUT / "demo-terminal.txt").write_text(demo)
        subprocess.run(
            [sys.executable, "-m", "mxcensus", "report", "--db", "mxcensus-demo.duckdb",
             "--format", "html", "-o", "report.html"],
            cwd=work, check=True, capture_output=True,
        )  # fmt: skip
        pages = {"demo-terminal": demo, "trend-terminal": trend}
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                str(work / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS
            )
            page = ctx.new_page()
            for name, text in pages.items():
                (work / f"{name}.html").write_text(terminal_page(text, name))
                page.set_viewport_size({"width": 720, "height": 400})
                page.goto((work / f"{name}.html").as_uri())
                page.locator("pre").screenshot(path=str(OUT / f"{name}.png"))
            for name, width, height in (("report", 1400, 1700), ("report-phone", 390, 1500)):
                page.set_viewport_size({"width": width, "height": height})
                page.goto((work / "report.html").as_uri())
                page.screenshot(path=str(OUT / f"{name}.png"))
            ctx.close()
    sys.stdout.write(f"screenshots: written to {OUT}\n")


if __name__ == "__main__":
    main()

"""The README's picture: `mxcensus serve` on the demo database, its overview in Debian's
headless Chromium (Playwright with /usr/bin/chromium and a fresh profile; never a browser
download), written to docs/serve-overview.png.

    .venv/bin/python scripts/serve_screenshot.py [--db mxcensus-demo.duckdb] [--out PNG]

Without the database it runs `mxcensus demo` first (the lab and its scan stay on
127.0.0.0/8); the service listens on a free loopback port and stops at the end.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, default=Path("mxcensus-demo.duckdb"))
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "serve-overview.png")
    args = ap.parse_args()
    exe = [sys.executable, "-m", "mxcensus"]
    env = {**os.environ, "MXCENSUS_DB": ""}
    if not args.db.exists():
        subprocess.run([*exe, "demo", "--db", str(args.db)], check=True, env=env,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = subprocess.Popen([*exe, "serve", "--db", str(args.db), "--port", str(port),
                             "--no-watches"], env=env)  # fmt: skip
    try:
        for _ in range(300):  # up to 30 s for the service to answer
            try:
                httpx.get(url + "api/v1/scans", timeout=5).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            sys.stderr.write(f"the service did not answer on {url}\n")
            return 1
        from playwright.sync_api import sync_playwright

        with tempfile.TemporaryDirectory(prefix="mxcensus-chromium-") as profile, \
                sync_playwright() as p:  # fmt: skip
            browser = p.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=ARGS,
                viewport={"width": 1400, "height": 1000},
            )  # fmt: skip
            try:
                page = browser.new_page()
                page.goto(url)
                page.wait_for_selector("svg.map")
                page.screenshot(path=str(args.out), full_page=False)
            finally:
                browser.close()
    finally:
        proc.terminate()
        proc.wait(30)
    sys.stdout.write(f"wrote {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Screenshot the running dashboard in headless Chromium (Debian's), light and dark.

python scripts/screenshot.py http://127.0.0.1:8050 docs/screenshot   # writes -light/-dark.png
"""

from __future__ import annotations

import shutil
import sys

from playwright.sync_api import sync_playwright

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def main(url: str, prefix: str, width: int = 1280, height: int = 900) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(url)
        page.wait_for_selector("#kpi-sessions", timeout=60_000)
        page.wait_for_selector("#fig-annotations .main-svg", timeout=60_000)
        page.wait_for_timeout(800)
        page.screenshot(path=f"{prefix}-light.png", full_page=True)
        page.click("#theme-switch")
        page.wait_for_function("document.documentElement.getAttribute('data-bs-theme') === 'dark'")
        page.wait_for_timeout(1200)
        page.screenshot(path=f"{prefix}-dark.png", full_page=True)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:5]))

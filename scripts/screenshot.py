"""Screenshot every tab of the running dashboard in headless Chromium (Debian's): light and
dark, desktop (1280 px) and phone (390 px).

python scripts/screenshot.py http://127.0.0.1:8050 docs/screenshots
    # writes docs/screenshots/<tab>-<theme>-<device>.png, e.g. overview-dark-phone.png
python scripts/screenshot.py http://127.0.0.1:8050 /tmp/shots overview,sessions   # some tabs
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

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
TABS = {
    "overview": "Overview",
    "quality": "Quality & versions",
    "engagement": "Engagement",
    "cost": "Cost",
    "sessions": "Sessions",
}
DEVICES = {"desktop": (1280, 900), "phone": (390, 844)}
THEMES = ("light", "dark")
DRAWN = """() => [...document.querySelectorAll('.tab-pane.active .js-plotly-plot')]
    .every(g => g.querySelector('.main-svg'))"""


def shoot(browser, url: str, out: Path, tabs: list[str], device: str, theme: str) -> None:
    width, height = DEVICES[device]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(90_000)
    page.goto(url)
    page.wait_for_selector("#kpi-sessions")
    page.wait_for_selector("#fig-time .main-svg")
    if theme == "dark":
        page.click("#theme-switch")
        page.wait_for_function("document.documentElement.getAttribute('data-bs-theme') === 'dark'")
    for tab in tabs:
        page.get_by_role("tab", name=TABS[tab], exact=True).click()
        if tab == "sessions":
            page.wait_for_selector("#sessions-table tbody tr td a")
        else:
            page.wait_for_function(DRAWN)
        page.wait_for_timeout(1200)  # charts resize to their card and the theme settles
        path = out / f"{tab}-{theme}-{device}.png"
        page.screenshot(path=str(path), full_page=True)
        print(path)
    context.close()


def main(url: str, out_dir: str, tabs: str = ",".join(TABS)) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chosen = [t for t in tabs.split(",") if t]
    unknown = [t for t in chosen if t not in TABS]
    if unknown:
        raise SystemExit(f"unknown tab(s) {', '.join(unknown)}; choose from {', '.join(TABS)}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
        for device in DEVICES:
            for theme in THEMES:
                shoot(browser, url, out, chosen, device, theme)
        browser.close()


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    main(*sys.argv[1:4])

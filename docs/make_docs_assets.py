"""Make the accessibility evidence under docs/ from a running flight deck.

- ``docs/flight-deck-greyscale.png``: the flight deck as a greyscale screenshot, to
  show that nothing on it depends on colour alone.
- ``docs/kpi-page-print.pdf``: the KPI page printed with the print stylesheet
  (A4 landscape, no navigation or controls, labels and source lines kept).
- ``docs/flight-deck-glance.png``: the first screen of the flight deck at 1366 x 768
  (a common force laptop): the headline strip and every KPI in the summary matrix.
- ``docs/flight-deck-print.png``: the flight deck's first printed page (A4 landscape,
  the print stylesheet): the summary matrix.
- ``docs/scrutiny.png``: the scrutiny page for a meeting.

Run it against a live server over a demonstration database::

    python -m kpis.cli demo --db /tmp/a11y/fd.duckdb --end 2025-09 --seed 7
    FLIGHTDECK_DB=/tmp/a11y/fd.duckdb FLIGHTDECK_PORT=8070 python app.py &
    python docs/make_docs_assets.py --url http://127.0.0.1:8070
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image, ImageOps
from playwright.sync_api import Page, sync_playwright

DOCS = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
QUERY = "?force=kent&period=2025-09"
TIMEOUT_MS = 30_000


def settle(page: Page) -> None:
    """Wait for the page content, its charts and the light theme."""
    page.wait_for_selector("#main-content h1", timeout=TIMEOUT_MS)
    page.wait_for_function(
        "() => document.documentElement.getAttribute('data-bs-theme') === 'light'",
        timeout=TIMEOUT_MS)
    if page.locator(".chart-block").count():
        page.wait_for_selector(".chart-block .main-svg", timeout=TIMEOUT_MS)
    page.wait_for_load_state("networkidle")


def greyscale_flight_deck(page: Page, url: str, out: Path) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(url + "/" + QUERY)
    settle(page)
    shot = page.screenshot(full_page=True)
    ImageOps.grayscale(Image.open(io.BytesIO(shot))).save(out, optimize=True)


def glance(page: Page, url: str, out: Path) -> None:
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(url + "/" + QUERY)
    settle(page)
    page.screenshot(path=str(out))


def printed_flight_deck(page: Page, url: str, out: Path) -> None:
    # A4 landscape less the print margins, at 96 px an inch: one printed page.
    width, height = round((297 - 24) / 25.4 * 96), round((210 - 26) / 25.4 * 96)
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": width, "height": height})
    page.goto(url + "/" + QUERY)
    settle(page)
    page.emulate_media(media="print")
    page.screenshot(path=str(out), clip={"x": 0, "y": 0, "width": width, "height": height})


def scrutiny(page: Page, url: str, out: Path) -> None:
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(url + "/scrutiny?force=cleveland&period=2025-08&since=2025-03")
    settle(page)
    page.screenshot(path=str(out))


def printed_kpi_page(page: Page, url: str, out: Path) -> None:
    # About the width of an A4 landscape page, so the charts are drawn to fit it.
    page.set_viewport_size({"width": 1060, "height": 900})
    page.goto(url + "/kpi/ho_rape_charge_rate" + QUERY)
    settle(page)
    page.emulate_media(media="print")
    page.pdf(path=str(out), landscape=True, format="A4", prefer_css_page_size=True,
             print_background=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8070",
                        help="the running flight deck (default %(default)s)")
    parser.add_argument("--out", type=Path, default=DOCS, help="folder for the files")
    args = parser.parse_args()
    url = args.url.rstrip("/")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context()
        # Light theme whatever the browser profile remembers.
        context.add_cookies([{"name": "flightdeck_theme", "value": "light", "url": url}])
        page = context.new_page()
        greyscale_flight_deck(page, url, args.out / "flight-deck-greyscale.png")
        printed_kpi_page(page, url, args.out / "kpi-page-print.pdf")
        glance(page, url, args.out / "flight-deck-glance.png")
        printed_flight_deck(page, url, args.out / "flight-deck-print.png")
        scrutiny(page, url, args.out / "scrutiny.png")
        browser.close()
    print(f"wrote flight-deck-greyscale.png, kpi-page-print.pdf, flight-deck-glance.png, "
          f"flight-deck-print.png and scrutiny.png in {args.out}")


if __name__ == "__main__":
    main()

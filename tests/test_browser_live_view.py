"""Force and period switches drawn in place, in Chromium (layouts/_live.py).

The page is not replaced: the tiles and charts stay the same elements, their contents
become what a fresh load of the new address shows, the address follows (reload and
Back work), links inside the markup navigate within the app, and the console is empty.
"""

from __future__ import annotations

from playwright.sync_api import Browser, Page

from tests.conftest import LiveServer
from tests.pages import DEFAULT_TIMEOUT_MS, AppPage, open_app
from web import ids

# The text a view shows, without the menus (their labels change on the pick itself)
# and without charts off the screen (drawn when they come near it).
VIEW_TEXT = """(selector) => {
  const main = document.querySelector(selector);
  const off = [...main.querySelectorAll('.js-plotly-plot')].map((chart) => {
    const box = chart.getBoundingClientRect();
    return box.bottom < 0 || box.top > window.innerHeight;
  });
  const copy = main.cloneNode(true);
  copy.querySelectorAll('.controls').forEach((n) => n.remove());
  copy.querySelectorAll('.js-plotly-plot').forEach((n, i) => { if (off[i]) n.remove(); });
  return copy.textContent.replace(/\\s+/g, ' ').trim();
}"""
MAIN = f"#{ids.MAIN}"
# Each tile's sparkline: its name and its paths (attributes, not text).
SPARKLINES = """() => [...document.querySelectorAll('.kpi-tile')].map((tile) => {
  const spark = tile.querySelector('svg.tile-spark');
  return [tile.parentElement.id, spark && spark.getAttribute('aria-label'),
          spark && [...spark.querySelectorAll('path')].map((p) => p.getAttribute('d'))];
})"""


def fresh_page(chromium: Browser, base: str, address: str, ready: str) -> Page:
    """A new tab opened on ``address``, once ``ready`` is on screen."""
    other = open_app(chromium, base)
    other.goto(address)
    other.page.wait_for_selector(ready, timeout=DEFAULT_TIMEOUT_MS)
    other.page.wait_for_load_state("networkidle")
    return other.page


def fresh_text(chromium: Browser, base: str, address: str, ready: str) -> str:
    """What a new tab opened on ``address`` shows, once ``ready`` is on screen."""
    return str(fresh_page(chromium, base, address, ready).evaluate(VIEW_TEXT, MAIN))


def keep(page: Page, selector: str) -> None:
    """Hold on to an element, to ask later whether it is still the one on screen."""
    page.evaluate("(s) => { window.__kept = document.querySelector(s); }", selector)


def still_kept(page: Page, selector: str) -> bool:
    return bool(page.evaluate(
        "(s) => window.__kept !== null && window.__kept === document.querySelector(s)",
        selector))


def wait_for_view_text(app: AppPage, expected: str) -> None:
    app.page.wait_for_function(f"(e) => ({VIEW_TEXT})('{MAIN}') === e", arg=expected,
                               timeout=DEFAULT_TIMEOUT_MS)


def test_a_force_switch_on_the_flight_deck_updates_the_tiles_in_place(
        chromium: Browser, live_server: LiveServer) -> None:
    tile = f"#{ids.KPI_TILE.format(kpi_id='suspect_contact_30d')}"
    fresh = fresh_page(chromium, live_server.url, "/?force=durham&period=2025-09", tile)
    durham, durham_lines = fresh.evaluate(VIEW_TEXT, MAIN), fresh.evaluate(SPARKLINES)
    app = open_app(chromium, live_server.url)
    app.goto("/?force=kent&period=2025-09")
    kent = str(app.page.evaluate(VIEW_TEXT, MAIN))
    kent_lines = app.page.evaluate(SPARKLINES)
    keep(app.page, tile)
    app.choose(ids.FORCE, "Durham")
    app.wait_for_url_containing("force=durham")
    wait_for_view_text(app, durham)
    # The same tile element, now showing Durham's figures: the page was not replaced.
    assert still_kept(app.page, tile)
    # Every tile's sparkline is Durham's as a fresh load draws it (a drawing, not text).
    assert app.page.evaluate(SPARKLINES) == durham_lines != kent_lines
    assert sum(1 for _, name, paths in durham_lines if name and paths) >= 30
    assert app.heading() == "Flight deck: Durham"
    # Reload: the address holds the view.
    app.page.reload()
    app.wait_for_page()
    assert str(app.page.evaluate(VIEW_TEXT, MAIN)) == durham
    # Back: Kent again, drawn in full from its address.
    app.page.go_back()
    app.wait_for_heading("Kent")
    wait_for_view_text(app, kent)
    assert app.console_errors() == []


def test_a_link_in_the_switched_markup_opens_its_page_within_the_app(
        chromium: Browser, live_server: LiveServer) -> None:
    app = open_app(chromium, live_server.url)
    app.goto("/?force=kent&period=2025-09")
    app.choose(ids.FORCE, "Durham")
    app.wait_for_heading("Durham")
    app.page.evaluate("() => { window.__sameDocument = true; }")
    app.page.click(f"#{ids.KPI_TILE.format(kpi_id='suspect_contact_30d')} a.tile-link")
    app.wait_for_url_containing("/kpi/suspect_contact_30d")
    app.wait_for_heading("Durham")
    # Navigated by the app, not by a new page load (which would clear the flag).
    assert app.page.evaluate("() => window.__sameDocument") is True
    assert "force=durham" in app.page.url
    assert app.console_errors() == []


def test_a_period_switch_on_a_pillar_page_redraws_its_charts_in_place(
        chromium: Browser, live_server: LiveServer) -> None:
    chart = "#trend-repeat_suspects_identified .js-plotly-plot"
    address = "/pillar/2?force=kent&period={period}"
    june = fresh_text(chromium, live_server.url, address.format(period="2025-06"),
                      f"{chart} .main-svg")
    app = open_app(chromium, live_server.url)
    app.goto(address.format(period="2025-09"))
    app.page.wait_for_selector(f"{chart} .main-svg", timeout=DEFAULT_TIMEOUT_MS)
    keep(app.page, chart)
    asked: list[str] = []  # the callbacks' requests, by their output
    app.page.on("request", lambda r: asked.append(str((r.post_data_json or {}).get("output")))
                if "/_dash-update-component" in r.url else None)
    app.choose(ids.PERIOD, "Jun 2025")
    app.wait_for_url_containing("period=2025-06")
    wait_for_view_text(app, june)
    assert still_kept(app.page, chart)
    # No table was open: the switch asked for nothing more than the view.
    app.page.wait_for_load_state("networkidle")
    assert asked and not [o for o in asked if "trend-table-body" in o], asked
    # The chart's table, opened after the switch, holds the new view's figures.
    block = app.page.locator("#trend-repeat_suspects_identified").locator("xpath=ancestor::figure")
    block.locator("summary").click()
    table = block.locator("details table")
    table.wait_for(timeout=DEFAULT_TIMEOUT_MS)
    assert table.locator("tbody tr").first.locator("th").inner_text() == "June 2025"
    # A table left open stays open through the next switch, with that view's figures.
    asked.clear()
    app.choose(ids.PERIOD, "Mar 2025")
    app.wait_for_url_containing("period=2025-03")
    app.page.wait_for_function(
        "() => document.querySelector('#trend-table-repeat_suspects_identified tbody th')"
        "?.textContent === 'March 2025'", timeout=DEFAULT_TIMEOUT_MS)
    assert block.locator("details").get_attribute("open") is not None
    assert [o for o in asked if "trend-table-body" in o and "ALL" in o]
    assert app.console_errors() == []


def test_a_force_switch_on_a_kpi_page_moves_the_highlight_and_the_commentary(
        chromium: Browser, live_server: LiveServer) -> None:
    chart = "#kpi-spc-chart .js-plotly-plot"
    address = "/kpi/suspect_contact_30d?force={force}&period=2025-09"
    gwent = fresh_text(chromium, live_server.url, address.format(force="gwent"),
                       f"{chart} .main-svg")
    app = open_app(chromium, live_server.url)
    app.goto(address.format(force="kent"))
    app.page.wait_for_selector(f"{chart} .main-svg", timeout=DEFAULT_TIMEOUT_MS)
    keep(app.page, chart)
    app.choose(ids.FORCE, "Gwent")
    app.wait_for_url_containing("force=gwent")
    wait_for_view_text(app, gwent)
    assert still_kept(app.page, chart)
    assert app.page.inner_text("#kpi-ranking tr.table-active th") == "Gwent"
    assert app.console_errors() == []


def test_back_and_forward_after_switches_in_place_draw_each_view_again(
        chromium: Browser, live_server: LiveServer) -> None:
    """Two switches in place, then Back twice and Forward: each step shows what its
    address shows (the router stands aside only for the address a switch wrote)."""
    app = open_app(chromium, live_server.url)
    app.goto("/?force=kent&period=2025-09")
    kent = str(app.page.evaluate(VIEW_TEXT, MAIN))
    app.choose(ids.FORCE, "Durham")
    app.wait_for_url_containing("force=durham")
    app.wait_for_heading("Durham")
    app.page.wait_for_load_state("networkidle")
    durham = str(app.page.evaluate(VIEW_TEXT, MAIN))
    app.choose(ids.FORCE, "Gwent")
    app.wait_for_url_containing("force=gwent")
    app.wait_for_heading("Gwent")
    app.page.go_back()
    app.wait_for_url_containing("force=durham")
    app.wait_for_heading("Durham")
    wait_for_view_text(app, durham)
    app.page.go_back()
    app.wait_for_heading("Kent")
    wait_for_view_text(app, kent)
    app.page.go_forward()
    app.wait_for_heading("Durham")
    wait_for_view_text(app, durham)
    assert durham != kent
    assert app.console_errors() == []

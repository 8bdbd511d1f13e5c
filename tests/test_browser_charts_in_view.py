"""Charts on the screen first (assets/06-charts-in-view-first.js), in Chromium.

A new figure for a chart on the screen is drawn at once; one for a chart off the screen
waits until the chart comes near the screen (or the browser is idle). Which charts are
on the screen is what the browser saw at its last frame, so a scroll counts from the
next frame on. Idle drawing is switched off in these tests (requestIdleCallback never
calls back), so that only the screen decides.
"""

from __future__ import annotations

from playwright.sync_api import Browser, Page

from tests.conftest import LiveServer
from tests.pages import DEFAULT_TIMEOUT_MS, AppPage, open_app
from web import ids

FIRST = "#trend-repeat_suspects_identified .js-plotly-plot"
LAST_BLOCK = "#trend-s63g_granted_share"  # the chart's wrapper, there before it is drawn
LAST = f"{LAST_BLOCK} .js-plotly-plot"
ADDRESS = "/pillar/2?force=kent&period=2025-09"
NO_IDLE = "window.requestIdleCallback = () => 0;"

# Give the chart a new title through Plotly.react (as dcc.Graph draws every figure) and
# say whether the title is drawn when the call returns: Plotly draws synchronously, so
# only a chart left waiting for the screen is not.
RETITLE = """([selector, title]) => {
  const chart = document.querySelector(selector);
  const layout = Object.assign({}, chart.layout, {title: {text: title}});
  window.Plotly.react(chart, chart.data, layout, chart._context);
  return chart.textContent.includes(title);
}"""


def without_idle_drawing(chromium: Browser, base: str, address: str) -> AppPage:
    """A new tab on ``address`` where idle time draws nothing, once its first chart is
    drawn."""
    app = open_app(chromium, base)
    app.page.add_init_script(NO_IDLE)
    app.goto(address)
    app.page.wait_for_selector(f"{FIRST} .main-svg", timeout=DEFAULT_TIMEOUT_MS)
    return app


def chart_text(page: Page, selector: str) -> str:
    return str(page.evaluate("(s) => document.querySelector(s).textContent", selector))


def after_two_frames(page: Page) -> None:
    """Wait until the browser has drawn a frame since now (its observers have run)."""
    page.evaluate("() => new Promise((done) => requestAnimationFrame("
                  "() => requestAnimationFrame(done)))")


# Instant scrolls: the page scrolls smoothly (Bootstrap), and a smooth scroll passes
# every chart on the way, drawing them all.
def scroll_to(page: Page, selector: str) -> None:
    page.evaluate("(s) => document.querySelector(s)"
                  ".scrollIntoView({block: 'center', behavior: 'instant'})", selector)
    after_two_frames(page)


def scroll_to_top(page: Page) -> None:
    page.evaluate("() => window.scrollTo({top: 0, behavior: 'instant'})")
    after_two_frames(page)


def test_a_figure_for_a_chart_on_the_screen_is_drawn_at_once_and_one_off_it_waits(
        chromium: Browser, live_server: LiveServer) -> None:
    app = without_idle_drawing(chromium, live_server.url, ADDRESS)
    # The last chart is far below the first screen: not drawn until it comes near, its
    # place on the page kept at the height it will have (no jump when it is drawn).
    assert app.page.locator(f"{LAST} .main-svg").count() == 0
    height = "(s) => document.querySelector(s).getBoundingClientRect().height"
    assert app.page.evaluate(height, LAST_BLOCK) == app.page.evaluate(
        height, FIRST.split()[0])
    scroll_to(app.page, LAST_BLOCK)
    app.page.wait_for_selector(f"{LAST} .main-svg", timeout=DEFAULT_TIMEOUT_MS)

    # On the screen (as the last frame saw it): drawn within the call.
    assert app.page.evaluate(RETITLE, [LAST, "Drawn at once"]) is True
    # Off the screen since the last frame: it waits, and the chart on screen now is
    # drawn at once.
    scroll_to_top(app.page)
    assert app.page.evaluate(RETITLE, [LAST, "Drawn on the way"]) is False
    assert app.page.evaluate(RETITLE, [FIRST, "Drawn at the top"]) is True
    # A later figure replaces the one waiting; it is drawn when the chart comes near.
    assert app.page.evaluate(RETITLE, [LAST, "The later one"]) is False
    scroll_to(app.page, LAST_BLOCK)
    app.page.wait_for_function(
        "(s) => document.querySelector(s).textContent.includes('The later one')",
        arg=LAST, timeout=DEFAULT_TIMEOUT_MS)
    assert "Drawn on the way" not in str(app.page.evaluate(
        "(s) => document.querySelector(s).textContent", LAST))
    assert app.console_errors() == []


def test_a_chart_below_the_screen_shows_the_new_view_once_scrolled_to(
        chromium: Browser, live_server: LiveServer) -> None:
    june = without_idle_drawing(chromium, live_server.url, ADDRESS.replace("2025-09", "2025-06"))
    expected_first = chart_text(june.page, FIRST)
    scroll_to(june.page, LAST_BLOCK)
    june.page.wait_for_selector(f"{LAST} .main-svg", timeout=DEFAULT_TIMEOUT_MS)
    expected = chart_text(june.page, LAST)

    app = without_idle_drawing(chromium, live_server.url, ADDRESS)
    scroll_to(app.page, LAST_BLOCK)
    app.page.wait_for_selector(f"{LAST} .main-svg", timeout=DEFAULT_TIMEOUT_MS)
    september = chart_text(app.page, LAST)
    assert september != expected  # the test can tell the two views' charts apart
    scroll_to_top(app.page)
    app.choose(ids.PERIOD, "Jun 2025")
    app.wait_for_url_containing("period=2025-06")
    # The chart on the screen shows June at once ...
    app.page.wait_for_function("([s, e]) => document.querySelector(s).textContent === e",
                               arg=[FIRST, expected_first], timeout=DEFAULT_TIMEOUT_MS)
    # ... the one below it still shows September (its figure waits) ...
    assert chart_text(app.page, LAST) == september
    # ... and June's once it comes near the screen.
    scroll_to(app.page, LAST_BLOCK)
    app.page.wait_for_function("([s, e]) => document.querySelector(s).textContent === e",
                               arg=[LAST, expected], timeout=DEFAULT_TIMEOUT_MS)
    assert app.console_errors() == []


def test_every_chart_still_waiting_is_drawn_before_the_page_is_printed(
        chromium: Browser, live_server: LiveServer) -> None:
    app = without_idle_drawing(chromium, live_server.url, ADDRESS)
    assert app.page.locator(f"{LAST} .main-svg").count() == 0
    app.page.evaluate("() => window.dispatchEvent(new Event('beforeprint'))")
    drawn = "() => [...document.querySelectorAll('.chart-graph')].map((b) => " \
            "Boolean(b.querySelector('.main-svg')))"
    assert all(app.page.evaluate(drawn))
    assert app.console_errors() == []

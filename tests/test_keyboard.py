"""Keyboard only, in the real Chromium: no mouse clicks anywhere in these tests.

A skip link first, a visible focus outline, a KPI page reached from its tile, the force
changed through its selector, and the dark-mode switch operated with the space bar.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from layouts._shell import THEME_TOGGLE
from tests.conftest import LiveServer
from tests.pages import DEFAULT_TIMEOUT_MS, AppPage, open_app
from web import ids

pytestmark = pytest.mark.browser

MAX_TABS = 80
ACTIVE = """() => {
    const e = document.activeElement;
    return {tag: e.tagName, id: e.id, text: (e.innerText || '').trim().slice(0, 80),
            href: e.getAttribute('href') || ''};
}"""


def active(page: Page) -> dict[str, str]:
    return page.evaluate(ACTIVE)


def tab_until(page: Page, wanted: str, shift: bool = False) -> dict[str, str]:
    """Press Tab until the focused element matches the JS predicate ``wanted``
    (given the element), failing if the focus falls on <body> or never arrives."""
    key = "Shift+Tab" if shift else "Tab"
    visited = []
    for _ in range(MAX_TABS):
        page.keyboard.press(key)
        focused = active(page)
        visited.append(f"{focused['tag']}#{focused['id']} {focused['text'][:30]}")
        assert focused["tag"] != "BODY", "focus fell on <body> after:\n" + "\n".join(visited)
        if page.evaluate(f"e => ({wanted})(document.activeElement)", None):
            return focused
    raise AssertionError("never reached the element; visited:\n" + "\n".join(visited))


def wait_for_focused_option(page: Page, text: str) -> None:
    """Wait until the focus is on the option of an open dropdown showing ``text``."""
    page.wait_for_function(
        "text => (document.activeElement.closest('[role=option]')?.innerText || '')"
        ".trim() === text", arg=text, timeout=DEFAULT_TIMEOUT_MS)


def fresh(chromium: Browser, live_server: LiveServer, path: str) -> AppPage:
    app = open_app(chromium, live_server.url)
    app.goto(path)
    return app


def test_the_first_tab_stop_is_a_visible_skip_link_to_main(
    chromium: Browser, live_server: LiveServer
) -> None:
    app = fresh(chromium, live_server, "/?force=kent&period=2025-09")
    page = app.page
    page.keyboard.press("Tab")
    focused = active(page)
    assert focused["id"] == ids.SKIP_LINK
    assert focused["text"] == "Skip to main content"
    box = page.locator(f"#{ids.SKIP_LINK}").bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0 and box["width"] > 50
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => document.activeElement.id === '{ids.MAIN}'",
                           timeout=DEFAULT_TIMEOUT_MS)
    # The next Tab goes into the page, not back to the navigation.
    page.keyboard.press("Tab")
    assert page.evaluate(f"() => document.getElementById('{ids.MAIN}')"
                         ".contains(document.activeElement)")
    assert app.console_errors() == []


@pytest.mark.parametrize("target", ["a.nav-link", "button.dash-dropdown", "a.tile-link"])
def test_focus_is_visible_as_a_thick_outline(
    chromium: Browser, live_server: LiveServer, target: str
) -> None:
    app = fresh(chromium, live_server, "/?force=kent&period=2025-09")
    tab_until(app.page, f"e => e.matches('{target}')")
    style = app.page.evaluate("""() => {
        const s = getComputedStyle(document.activeElement);
        return {style: s.outlineStyle, width: parseFloat(s.outlineWidth),
                colour: s.outlineColor, shadow: s.boxShadow};
    }""")
    assert style["style"] == "solid", style
    assert style["width"] >= 2, style
    assert style["colour"] == "rgb(255, 221, 0)", style
    assert style["shadow"] != "none", style  # the dark ring that keeps it visible on white


def test_tab_to_a_kpi_tile_and_open_its_page(chromium: Browser, live_server: LiveServer
                                             ) -> None:
    app = fresh(chromium, live_server, "/?force=kent&period=2025-09")
    tile = f"#{ids.KPI_TILE.format(kpi_id='ho_rape_charge_rate')} a.tile-link"
    tab_until(app.page, f"e => e.matches('{tile}')")
    app.page.keyboard.press("Enter")
    app.wait_for_url_containing("/kpi/ho_rape_charge_rate")
    app.wait_for_heading("Rape charge/summons rate: Kent")
    assert "period=2025-09" in app.page.url
    app.page.wait_for_selector("#kpi-spc-chart .js-plotly-plot", timeout=DEFAULT_TIMEOUT_MS)
    assert app.console_errors() == []


def test_change_the_force_with_the_keyboard_and_keep_the_focus(
    chromium: Browser, live_server: LiveServer
) -> None:
    app = fresh(chromium, live_server, "/?force=kent&period=2025-09")
    page = app.page
    focused = tab_until(page, f"e => e.id === '{ids.FORCE}'")
    assert focused["tag"] == "BUTTON"
    # Typing on the closed selector opens it with the text in its search box.
    page.keyboard.type("Durham")
    # (as a user would, wait for the list to show the match before moving down to it; a
    # keystroke that lands while the list is still being drawn can be lost on a loaded
    # machine, and a person would then type the name again in the open search box)
    match = page.locator(".dash-dropdown-content").get_by_role("option", name="Durham")
    try:
        match.wait_for(timeout=DEFAULT_TIMEOUT_MS // 2)
    except PlaywrightTimeout:
        page.locator(".dash-dropdown-search").fill("Durham")
        match.wait_for(timeout=DEFAULT_TIMEOUT_MS)
    page.wait_for_function("() => document.activeElement.matches('.dash-dropdown-search')"
                           " && document.activeElement.value === 'Durham'",
                           timeout=DEFAULT_TIMEOUT_MS)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    app.wait_for_url_containing("force=durham")
    app.wait_for_heading("Flight deck: Durham")
    # The page was drawn again: the focus is back on the force selector, and the next
    # Tab goes to the period selector, not to <body>.
    page.wait_for_function(f"() => document.activeElement.id === '{ids.FORCE}'",
                           timeout=DEFAULT_TIMEOUT_MS)
    page.keyboard.press("Tab")
    assert active(page)["id"] == ids.PERIOD
    # Arrow keys work too: open the period list with Enter, move down one month.
    page.keyboard.press("Enter")
    wait_for_focused_option(page, "Sep 2025")
    page.keyboard.press("ArrowDown")
    wait_for_focused_option(page, "Aug 2025")
    page.keyboard.press("Enter")
    app.wait_for_url_containing("period=2025-08")
    app.wait_for_text(f"#{ids.PERIOD}", "Aug 2025")
    assert app.console_errors() == []


def test_the_dropdowns_are_named_by_their_labels(chromium: Browser, live_server: LiveServer
                                                 ) -> None:
    app = fresh(chromium, live_server, "/?force=kent&period=2025-09")
    force = app.page.get_by_role("button", name="Force Kent")
    force.wait_for(timeout=DEFAULT_TIMEOUT_MS)
    assert force.get_attribute("id") == ids.FORCE
    assert app.page.get_by_role("button", name="Period Sep 2025").count() == 1


def test_dark_mode_switch_with_the_space_bar_survives_a_reload(
    chromium: Browser, live_server: LiveServer
) -> None:
    app = fresh(chromium, live_server, "/kpi/ho_rape_charge_rate?force=kent&period=2025-09")
    page = app.page
    page.wait_for_selector("#kpi-spc-chart .main-svg", timeout=DEFAULT_TIMEOUT_MS)
    assert page.get_attribute("html", "data-bs-theme") == "light"
    assert chart_background(page) == "rgb(255, 255, 255)"
    tab_until(page, f"e => e.id === '{THEME_TOGGLE}'")
    with page.expect_navigation(timeout=DEFAULT_TIMEOUT_MS):
        page.keyboard.press("Space")  # the page reloads to draw the figures dark
    page.wait_for_function(
        "() => document.documentElement.getAttribute('data-bs-theme') === 'dark'"
        " && document.querySelector('#kpi-spc-chart .main-svg')",
        timeout=DEFAULT_TIMEOUT_MS)
    page.wait_for_load_state("networkidle")
    page.wait_for_function(
        f"() => document.activeElement.id === '{THEME_TOGGLE}'", timeout=DEFAULT_TIMEOUT_MS)
    assert chart_background(page) == "rgb(33, 37, 41)"
    assert page.is_checked(f"#{THEME_TOGGLE}")
    page.reload()
    app.wait_for_page()
    page.wait_for_selector("#kpi-spc-chart .main-svg", timeout=DEFAULT_TIMEOUT_MS)
    assert page.get_attribute("html", "data-bs-theme") == "dark"
    assert chart_background(page) == "rgb(33, 37, 41)"
    assert page.evaluate("() => window.localStorage.getItem('theme-store')") == '"dark"'
    # And back to light, again with the keyboard.
    page.focus(f"#{THEME_TOGGLE}")
    with page.expect_navigation(timeout=DEFAULT_TIMEOUT_MS):  # the reload, not the old page
        page.keyboard.press("Space")
    page.wait_for_function(
        "() => document.documentElement.getAttribute('data-bs-theme') === 'light'"
        " && document.querySelector('#kpi-spc-chart .main-svg')",
        timeout=DEFAULT_TIMEOUT_MS)
    page.wait_for_load_state("networkidle")
    assert chart_background(page) == "rgb(255, 255, 255)"
    assert app.console_errors() == []


def chart_background(page: Page) -> str:
    """The fill of the Plotly paper behind the SPC chart."""
    return page.evaluate(
        "() => getComputedStyle(document.querySelector('#kpi-spc-chart .main-svg'))"
        ".backgroundColor")

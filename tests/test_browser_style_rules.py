"""What the page's style rules cost Chromium when a menu opens and closes.

A menu's list is a child of <body> (Dash's dropdown draws it in a portal). A sibling rule
whose subject is any element, such as Bootstrap's `legend+*{clear:left}`, made Chromium
restyle the whole page each time such a child came or went: 1,550 elements and 8 ms on
a KPI page between the pick of a force and the request leaving (our copy of Bootstrap
lacks that rule: assets/10-flightdeck.css).
"""

from __future__ import annotations

import json

from playwright.sync_api import Browser

from tests.conftest import LiveServer
from tests.pages import DEFAULT_TIMEOUT_MS, AppPage, open_app
from web import ids

KPI_PAGE = "/kpi/ho_rape_charge_rate?force=kent&period=2025-09"

# Every style rule's selector on the page, @media and @supports blocks included (the
# Dash components' own styles are added by their scripts, so read them in the page).
SELECTORS = """() => {
  const out = [];
  const walk = (rules) => {
    for (const rule of rules) {
      if (rule.selectorText) out.push(rule.selectorText);
      if (rule.cssRules) walk(rule.cssRules);
    }
  };
  for (const sheet of document.styleSheets) {
    try { walk(sheet.cssRules); } catch (error) { out.push('unreadable: ' + sheet.href); }
  }
  return out;
}"""


def open_and_close_the_force_menu(app: AppPage) -> None:
    app.page.click(f"#{ids.FORCE}")
    app.page.locator(".dash-dropdown-content").wait_for(timeout=DEFAULT_TIMEOUT_MS)
    app.page.keyboard.press("Escape")
    app.page.locator(".dash-dropdown-content").wait_for(state="detached",
                                                        timeout=DEFAULT_TIMEOUT_MS)


def universal_after_sibling(selector: str) -> bool:
    """Whether a selector's subject is any element straight after a sibling
    combinator (``a + *``, ``a ~ *``, ``a + *:hover``)."""
    last = selector.replace(">", " > ").replace("+", " + ").replace("~", " ~ ").split()
    return len(last) >= 2 and last[-2] in ("+", "~") and last[-1].split(":")[0] in ("*", "")


def test_no_style_rule_picks_any_element_after_a_sibling(
        chromium: Browser, live_server: LiveServer) -> None:
    assert universal_after_sibling("legend+*") and universal_after_sibling("a ~ *:hover")
    assert not universal_after_sibling(".btn-group > .btn + .btn")
    app = open_app(chromium, live_server.url)
    app.goto(KPI_PAGE)
    open_and_close_the_force_menu(app)  # the menu's styles are on the page from now on
    selectors = [part.strip() for selector in app.page.evaluate(SELECTORS)
                 for part in selector.split(",")]
    assert len(selectors) > 1000  # Bootstrap's, Dash's and ours
    assert not [s for s in selectors if s.startswith("unreadable")]
    assert [s for s in selectors if universal_after_sibling(s)] == []
    assert app.console_errors() == []


def test_closing_a_menu_restyles_a_small_part_of_the_page(
        chromium: Browser, live_server: LiveServer) -> None:
    app = open_app(chromium, live_server.url)
    app.goto(KPI_PAGE)
    open_and_close_the_force_menu(app)  # once untraced: everything loaded
    elements = int(app.page.evaluate("() => document.querySelectorAll('*').length"))
    chromium.start_tracing(page=app.page, categories=["devtools.timeline"])
    open_and_close_the_force_menu(app)
    app.page.evaluate("() => new Promise((done) => requestAnimationFrame("
                      "() => requestAnimationFrame(done)))")
    trace = json.loads(chromium.stop_tracing())
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    restyled = [int(e["args"]["elementCount"]) for e in events
                if e.get("name") == "UpdateLayoutTree" and "elementCount" in e.get("args", {})]
    assert restyled  # the menu was drawn and taken away
    assert elements > 1000
    # With the rule, closing the menu restyled every element on the page (1,548 of
    # 1,553); without it, the menu and the control.
    assert max(restyled) < elements / 4, (max(restyled), elements)
    assert app.console_errors() == []

"""axe-core in the real Chromium on every page, light and dark: zero WCAG 2.2 AA violations.

axe-core comes from the ``axe-playwright-python`` wheel (which bundles ``axe.min.js``):
nothing is downloaded when the tests run.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import pytest
from playwright.sync_api import Browser

from layouts._shell import THEME_COOKIE
from tests.conftest import LiveServer
from tests.pages import AppPage, open_app

pytestmark = pytest.mark.browser

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
QUERY = "?force=kent&period=2025-09"
PAGES = [
    "/",
    "/pillar/1",
    "/kpi/ho_rape_charge_rate",
    "/compare",
    "/definitions",
    "/data",
    "/upload",
    "/scrutiny",
    "/board-pack",
    "/subscriptions",
    "/definitions/edit?kpi=cps_referrals",
    "/data-feeds",
    "/accounts",  # the demonstration's refusal (tests/test_browser_accounts.py: the forms)
]


@cache
def axe_script() -> str:
    return resources.files("axe_playwright_python").joinpath("axe.min.js").read_text("utf-8")


def open_themed(chromium: Browser, base_url: str, theme: str, width: int = 1280) -> AppPage:
    """A tab with the theme cookie the navbar switch would have set."""
    app = open_app(chromium, base_url, width=width)
    app.page.context.add_cookies([{"name": THEME_COOKIE, "value": theme, "url": base_url}])
    return app


def wait_until_settled(app: AppPage, theme: str) -> None:
    """The theme applied, charts drawn, nothing loading."""
    app.page.wait_for_function(
        "theme => document.documentElement.getAttribute('data-bs-theme') === theme",
        arg=theme, timeout=20_000,
    )
    if app.page.locator(".chart-block").count():
        app.page.wait_for_selector(".chart-block .main-svg", timeout=20_000)
    app.page.wait_for_load_state("networkidle")
    app.page.wait_for_function(
        "() => !document.querySelector('[data-dash-is-loading=\"true\"]')", timeout=20_000)


def run_axe(app: AppPage) -> list[dict[str, Any]]:
    app.page.evaluate(axe_script())
    results = app.page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})",
        WCAG_TAGS,
    )
    return list(results["violations"])


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:8]:
            lines.append(f"    {node['target']}: {node.get('failureSummary', '')!r}"[:400])
        if len(violation["nodes"]) > 8:
            lines.append(f"    ... and {len(violation['nodes']) - 8} more")
    return "\n".join(lines)


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("path", PAGES)
def test_page_has_no_wcag_22_aa_violations(
    chromium: Browser, live_server: LiveServer, path: str, theme: str
) -> None:
    app = open_themed(chromium, live_server.url, theme)
    app.goto(path + QUERY)
    wait_until_settled(app, theme)
    violations = run_axe(app)
    assert violations == [], f"axe found on {path} ({theme}):\n{describe(violations)}"
    assert app.console_errors() == []


def test_axe_catches_a_planted_violation(chromium: Browser, live_server: LiveServer) -> None:
    """The check itself works: an unlabelled input and grey-on-grey text are reported."""
    app = open_themed(chromium, live_server.url, "light")
    app.goto("/definitions")
    wait_until_settled(app, "light")
    app.page.evaluate("""() => {
        const main = document.getElementById('main-content');
        main.insertAdjacentHTML('beforeend',
            '<input type="text"><p style="color:#bbb;background:#fff">faint</p>');
    }""")
    ids = {v["id"] for v in run_axe(app)}
    assert {"label", "color-contrast"} <= ids


@pytest.mark.parametrize("width", [1024, 1280, 1920])
@pytest.mark.parametrize("path", ["/", "/kpi/ho_rape_charge_rate"])
def test_no_horizontal_scroll_at_common_widths(
    chromium: Browser, live_server: LiveServer, path: str, width: int
) -> None:
    app = open_themed(chromium, live_server.url, "light", width=width)
    app.goto(path + QUERY)
    wait_until_settled(app, "light")
    overflow = app.page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {width}px"


def test_pillar_charts_offer_their_data_as_a_table(chromium: Browser, live_server: LiveServer
                                                    ) -> None:
    app = open_themed(chromium, live_server.url, "light")
    app.goto("/pillar/1" + QUERY)
    wait_until_settled(app, "light")
    blocks = app.page.locator(".chart-block")
    assert blocks.count() > 0
    assert app.page.locator(".chart-block details.chart-table").count() == blocks.count()
    first = blocks.first
    # Built when first opened (from the keyboard here), so it costs nothing until then.
    assert first.locator("details table").count() == 0
    first.locator("summary").focus()
    app.page.keyboard.press("Enter")
    table = first.locator("details table")
    table.wait_for(timeout=20_000)
    assert table.locator("thead th").first.inner_text() == "Period"
    assert table.locator("tbody tr").count() > 12
    # The chart is named by its caption, the plain-English summary.
    caption_id = first.locator("[role=group]").get_attribute("aria-labelledby")
    assert caption_id and first.locator(f"figcaption#{caption_id}").inner_text().strip()


def test_print_hides_navigation_and_controls_and_keeps_the_labels(
    chromium: Browser, live_server: LiveServer
) -> None:
    app = open_themed(chromium, live_server.url, "light")
    app.goto("/kpi/ho_rape_charge_rate" + QUERY)
    wait_until_settled(app, "light")
    app.page.emulate_media(media="print")
    for hidden in ("#skip-link", "#navbar", ".controls", "#kpi-baseline", ".modebar-container"):
        assert not app.page.locator(hidden).first.is_visible(), hidden
    assert app.page.locator("#demo-banner").is_visible()
    assert "Source:" in app.page.inner_text("#kpi-spc-chart")
    assert app.page.evaluate(
        "() => getComputedStyle(document.querySelector('.chart-block')).breakInside") == "avoid"
    pdf = app.page.pdf(prefer_css_page_size=True, print_background=True)
    assert pdf.startswith(b"%PDF")


@pytest.mark.parametrize("path", ["/", "/kpi/ho_rape_charge_rate", "/compare"])
def test_content_reflows_at_200_percent_zoom_of_a_1280px_screen(
    chromium: Browser, live_server: LiveServer, path: str
) -> None:
    # 200% zoom of a 1280 px window leaves 640 CSS px: nothing may need sideways scrolling
    # of the page (WCAG 1.4.10), and the main heading stays readable.
    app = open_themed(chromium, live_server.url, "light", width=640)
    app.goto(path + QUERY)
    wait_until_settled(app, "light")
    overflow = app.page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 200% zoom"
    assert app.page.locator("#main-content h1").is_visible()
    assert app.console_errors() == []

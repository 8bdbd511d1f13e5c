"""The Definitions and Data pages in a real headless Chromium.

Search filters the catalogue and the search survives a reload; a #kpi- link lands
on its KPI; the Data page draws the coverage grid, its key and the load history.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from kpis.domain.catalogue import read_catalogue
from kpis.settings import CATALOGUE_FILE
from kpis.storage.coverage import LOAD_HISTORY_ROWS
from tests.conftest import LiveServer
from tests.pages import DEFAULT_TIMEOUT_MS, AppPage, open_app

pytestmark = pytest.mark.browser

SEARCH_LABEL = "Search the definitions"
RESULT_COUNT = "#definitions-count"
CARDS = "article.definition"


def visible_titles(app: AppPage) -> list[str]:
    return app.page.locator(f"{CARDS}:visible h3").all_inner_texts()


def wait_for_count_text(app: AppPage, text: str) -> None:
    app.page.wait_for_function(
        "([selector, text]) => document.querySelector(selector)?.innerText.includes(text)",
        arg=[RESULT_COUNT, text], timeout=DEFAULT_TIMEOUT_MS,
    )


def test_search_filters_the_definitions_and_survives_a_reload(
    chromium: Browser, live_server: LiveServer
) -> None:
    kpi_count = len({k.kpi_id for k in read_catalogue(CATALOGUE_FILE).kpis})
    app = open_app(chromium, live_server.url)
    app.goto("/definitions")
    assert app.heading() == "KPI definitions"
    assert app.page.locator(f"{CARDS}:visible").count() == kpi_count

    app.page.get_by_label(SEARCH_LABEL).fill("digital strategy")
    app.wait_for_url_containing("q=digital+strategy")
    wait_for_count_text(app, "1 of")
    titles = visible_titles(app)
    assert len(titles) == 1 and "Cases with a proportionate digital strategy" in titles[0]
    assert app.page.get_by_role("heading", name="1. Suspect-focused investigations").is_hidden()

    app.page.reload()
    app.wait_for_page()
    assert app.page.get_by_label(SEARCH_LABEL).input_value() == "digital strategy"
    assert visible_titles(app) == titles

    app.page.get_by_label(SEARCH_LABEL).fill("")
    wait_for_count_text(app, f"Showing all {kpi_count} KPIs")
    app.page.wait_for_function("() => !window.location.search.includes('q=')",
                               timeout=DEFAULT_TIMEOUT_MS)
    assert app.page.locator(f"{CARDS}:visible").count() == kpi_count
    assert app.console_errors() == []


def test_a_kpi_anchor_link_lands_on_that_kpi_with_its_draft_version(
    chromium: Browser, live_server: LiveServer
) -> None:
    app = open_app(chromium, live_server.url)
    app.goto("/definitions#kpi-digital_strategy_share")
    app.page.wait_for_function(
        "() => document.activeElement?.id === 'kpi-digital_strategy_share'",
        timeout=DEFAULT_TIMEOUT_MS,
    )
    card = app.page.locator("#kpi-digital_strategy_share")
    # The last KPI of the page: scrolled down as far as it goes, with the card in view.
    assert card.evaluate("element => element.getBoundingClientRect().top < window.innerHeight")
    assert app.page.evaluate("() => window.scrollY") > 0
    versions = card.get_by_role("table", name="Versions of the definition")
    assert "Draft" in versions.get_by_role("row", name="Version 2").inner_text()
    kpi_page = card.get_by_role("link", name="Open the KPI page", exact=False)
    assert kpi_page.get_attribute("href") == "/kpi/digital_strategy_share"
    assert app.console_errors() == []


def test_navigation_reaches_both_pages(chromium: Browser, live_server: LiveServer) -> None:
    app = open_app(chromium, live_server.url)
    app.goto("/")
    navigation = app.page.get_by_role("navigation")
    navigation.get_by_role("link", name="Definitions", exact=True).click()
    app.wait_for_heading("KPI definitions")
    navigation.get_by_role("link", name="Data", exact=True).click()
    app.wait_for_heading("Data")
    assert app.page.url.split("?")[0].endswith("/data")
    assert app.console_errors() == []


def test_data_page_shows_the_coverage_grid_its_key_and_the_load_history(
    chromium: Browser, live_server: LiveServer
) -> None:
    app = open_app(chromium, live_server.url)
    app.goto("/data")
    assert app.heading() == "Data"
    assert "September 2025" in app.page.inner_text("#data-as-of")

    grid = app.page.get_by_role("table", name="Force monthly returns by force and month")
    grid.wait_for(timeout=DEFAULT_TIMEOUT_MS)
    assert grid.get_by_role("columnheader").count() == 1 + 24
    assert grid.get_by_role("rowheader", name="Kent", exact=True).is_visible()
    # A status reads as a symbol on screen and as words to a screen reader.
    late = grid.get_by_role("cell").filter(has_text="Late").first
    assert late.inner_text().startswith("L")
    on_time = grid.get_by_role("cell").filter(has_text="In on time").first
    assert on_time.inner_text().startswith("✓")
    # The grid scrolls inside its own region, not the whole page.
    region = app.page.get_by_role("region", name="Coverage grid (scrolls sideways)")
    assert region.evaluate("element => element.scrollWidth > element.clientWidth")
    assert app.page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")

    legend = app.page.locator("#data-coverage-legend").inner_text()
    for label in ("In on time", "Late", "Missing", "Not yet due"):
        assert label in legend

    history = app.page.get_by_role("table", name="Every load of data")
    # The header and the newest loads, up to the page's limit (the demo has more).
    assert history.get_by_role("row").count() == 1 + LOAD_HISTORY_ROWS
    text = history.inner_text()
    assert "demo_ho_outcomes.csv" in text and "demo_return_2025-09.csv" in text
    assert app.console_errors() == []

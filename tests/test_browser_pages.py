"""Every page in a real headless Chromium: controls, deep links, reloads, clean console."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from tests.conftest import LiveServer
from tests.pages import open_app
from web import ids

pytestmark = pytest.mark.browser

PAGES = [
    ("/", "Flight deck: Kent"),
    ("/pillar/1", "Pillar 1: Suspect-focused investigations"),
    ("/kpi/ho_rape_charge_rate", "Rape charge/summons rate: Kent"),
    ("/compare", "Compare forces: Rape charge/summons rate"),
]


@pytest.mark.parametrize(("path", "heading"), PAGES)
def test_page_renders_its_heading_and_charts_with_a_clean_console(
    chromium: Browser, live_server: LiveServer, path: str, heading: str
) -> None:
    app = open_app(chromium, live_server.url)
    app.goto(f"{path}?force=kent&period=2025-09")
    assert heading in app.heading()
    assert app.page.locator(f"#{ids.DEMO_BANNER}").is_visible()
    if path != "/":
        app.page.wait_for_selector(".js-plotly-plot", timeout=20_000)
    assert app.console_errors() == []


def test_following_a_tile_opens_its_kpi_page_for_the_same_force_and_period(
    chromium: Browser, live_server: LiveServer
) -> None:
    app = open_app(chromium, live_server.url)
    app.goto("/?force=durham&period=2025-06")
    tile = app.page.locator(f"#{ids.KPI_TILE.format(kpi_id='suspect_contact_30d')} a")
    tile.click()
    app.wait_for_url_containing("/kpi/suspect_contact_30d")
    app.wait_for_heading("Suspect arrested or interviewed within 30 days: Durham")
    assert "period=2025-06" in app.page.url
    app.page.wait_for_selector("#kpi-spc-chart .js-plotly-plot", timeout=20_000)
    assert app.console_errors() == []


def test_changing_period_and_comparator_on_the_kpi_page_survives_a_reload(
    chromium: Browser, live_server: LiveServer
) -> None:
    app = open_app(chromium, live_server.url)
    app.goto("/kpi/victims_code_compliance?force=kent&period=2025-09")
    app.choose(ids.PERIOD, "Mar 2024")
    app.wait_for_url_containing("period=2024-03")
    app.wait_for_text("#kpi-numbers tbody tr:first-child th", "March 2024")
    app.choose(ids.COMPARATOR, "Region")
    app.wait_for_url_containing("comparator=region")
    app.wait_for_text(f"#{ids.COMPARATOR}", "Region")
    app.page.reload()
    app.wait_for_page()
    app.page.wait_for_selector("#kpi-numbers", timeout=20_000)
    assert app.page.inner_text("#kpi-numbers tbody tr:first-child th") == "March 2024"
    assert "comparator=region" in app.page.url
    assert app.console_errors() == []


WHOLE_SERIES = "Show limits from the whole series (not re-based at NOM adoption)"


def test_the_spc_baseline_choice_is_kept_in_the_url(chromium: Browser, live_server: LiveServer
                                                    ) -> None:
    app = open_app(chromium, live_server.url)
    app.goto("/kpi/suspect_contact_30d?force=kent&period=2025-09")
    # By default the limits are re-based at Kent's NOM adoption, and the chart says so.
    app.wait_for_text("#kpi-spc-chart", "Limits re-based at NOM adoption")
    app.page.get_by_label(WHOLE_SERIES).check()
    app.wait_for_url_containing("baseline=all")
    app.wait_for_text("#kpi-spc-chart", "(the whole series)")
    app.page.reload()
    app.wait_for_page()
    assert app.page.get_by_label(WHOLE_SERIES).is_checked()
    assert app.console_errors() == []


def test_compare_page_switches_to_a_funnel_for_a_region_and_keeps_it_on_reload(
    chromium: Browser, live_server: LiveServer
) -> None:
    app = open_app(chromium, live_server.url)
    app.goto("/compare?force=kent&period=2025-09")
    # The radio button by role and exact name: once the funnel is drawn, the chart's own
    # label ("Funnel plot for ...") matches a bare get_by_label("Funnel plot") too.
    app.page.get_by_role("radio", name="Funnel plot", exact=True).check()
    app.wait_for_url_containing("view=funnel")
    app.wait_for_text("#compare-chart", "95% limits")
    app.choose("compare-group", "South East (region)")
    app.wait_for_url_containing("group=region-south-east")
    app.page.wait_for_selector("text=95% limits", timeout=20_000)
    app.page.reload()
    app.wait_for_page()
    app.page.wait_for_selector("#compare-chart .js-plotly-plot", timeout=20_000)
    assert "Rape charge/summons rate: South East" in app.page.inner_text("#compare-chart")
    assert app.console_errors() == []


def test_an_unknown_kpi_shows_a_clear_message_not_a_blank_page(
    chromium: Browser, live_server: LiveServer
) -> None:
    app = open_app(chromium, live_server.url)
    app.goto("/kpi/no_such_kpi")
    assert app.heading() == "KPI not found"
    assert app.console_errors() == []

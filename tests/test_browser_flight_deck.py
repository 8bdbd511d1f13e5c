"""The flight deck in a real headless Chromium: renders, changes force, keeps the URL."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from kpis.domain.catalogue import read_catalogue
from kpis.settings import CATALOGUE_FILE
from tests.conftest import LiveServer
from tests.pages import open_app
from web import ids

pytestmark = pytest.mark.browser


def test_flight_deck_shows_every_pillar_and_the_demo_label(
    chromium: Browser, live_server: LiveServer
) -> None:
    app = open_app(chromium, live_server.url)
    app.goto("/?force=kent&period=2025-09")
    assert app.heading() == "Flight deck: Kent"
    for pillar in read_catalogue(CATALOGUE_FILE).pillars:
        heading = f"{pillar.number}. {pillar.name}"
        # Once in the summary matrix (level 3), once over its tiles (level 2).
        assert app.page.get_by_role("heading", name=heading, level=2).is_visible()
        assert app.page.get_by_role("heading", name=heading, level=3).is_visible()
    assert "DEMONSTRATION DATA" in app.page.inner_text(f"#{ids.DEMO_BANNER}")
    assert app.console_errors() == []


def test_changing_the_force_updates_the_url_and_survives_a_reload(
    chromium: Browser, live_server: LiveServer
) -> None:
    app = open_app(chromium, live_server.url)
    app.goto("/?force=kent&period=2025-09")
    app.choose(ids.FORCE, "Durham")
    app.wait_for_url_containing("force=durham")
    app.wait_for_heading("Durham")
    app.page.reload()
    app.wait_for_page()
    assert app.heading() == "Flight deck: Durham"
    assert "period=2025-09" in app.page.url
    assert app.console_errors() == []


def test_the_last_force_chosen_opens_next_time_unless_the_address_names_one(
    chromium: Browser, live_server: LiveServer
) -> None:
    app = open_app(chromium, live_server.url)
    app.goto("/?period=2025-09")
    assert app.heading() == "Flight deck: England and Wales"
    app.choose(ids.FORCE, "Durham")
    app.wait_for_heading("Durham")
    app.page.wait_for_function(
        "() => window.localStorage.getItem('flightdeck-force') === 'durham'")
    # A new visit with no force in the address opens on Durham, and says so in it.
    app.goto("/pillar/2")
    app.wait_for_url_containing("force=durham")
    app.wait_for_heading("Durham")
    # An address that names a force always wins.
    app.goto("/?force=kent&period=2025-09")
    assert app.heading() == "Flight deck: Kent"
    assert "force=kent" in app.page.url
    assert app.console_errors() == []

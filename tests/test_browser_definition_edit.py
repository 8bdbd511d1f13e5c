"""A KPI definition edited, checked and published in the browser appears on the flight
deck (the unsecured demonstration's visitor is an administrator)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from tests.conftest import LiveServer
from tests.pages import open_app

pytestmark = pytest.mark.browser

NEW_TITLE = "Police referrals to the Crown Prosecution Service"


def test_a_definition_edited_checked_and_published_appears_on_the_flight_deck(
    chromium: Browser, writable_server: LiveServer
) -> None:
    app = open_app(chromium, writable_server.url)
    app.goto("/definitions?q=referrals")
    app.page.get_by_role("link", name="Edit the definition of Police referrals to CPS").click()
    # Not wait_for_page: the list's own heading is on screen until the new page is drawn.
    app.wait_for_heading("Edit a KPI definition")
    app.wait_for_page()
    assert app.heading() == "Edit a KPI definition"
    title = app.page.get_by_label("Title", exact=True)
    # A broken edit first: the file's rules name the problem and nothing is saved.
    app.page.get_by_label("Numerator").fill("no_such_measure")
    app.page.get_by_role("button", name="Check").click()
    app.wait_for_text("#definition-edit-result", "unknown measure")
    app.page.get_by_label("Numerator").fill("cps_referrals")
    title.fill(NEW_TITLE)
    app.page.get_by_role("button", name="Check").click()
    app.wait_for_text("#definition-edit-result", "No problems")
    assert NEW_TITLE in app.page.inner_text("#definition-edit-result")
    app.page.get_by_role("button", name="Save the draft").click()
    app.wait_for_text("#definition-edit-result", "Saved version 2 as a draft")
    app.wait_for_text("#definition-edit-history", "Draft")
    app.page.get_by_role("button", name="Publish version 2").click()
    app.wait_for_text("#definition-edit-result", "Published version 2")
    history = app.page.inner_text("#definition-edit-history")
    assert "Version 2" in history and NEW_TITLE in history
    # On the flight deck now (a new data version: the first page reads it).
    app.goto("/?force=kent&period=2025-09")
    app.page.wait_for_selector(f"text={NEW_TITLE}", timeout=60_000)
    assert app.console_errors() == []

"""The recommendations page in a real browser: the table, and recording progress
(national, and for the force the page shows)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from kpis.storage import annotations
from kpis.storage.duckdb_file import Reader
from tests.conftest import LiveServer
from tests.pages import open_app

pytestmark = pytest.mark.browser


def test_recording_progress_on_r2_shows_in_the_table(chromium: Browser,
                                                     writable_server: LiveServer) -> None:
    app = open_app(chromium, writable_server.url)
    app.goto("/recommendations")
    assert app.heading() == "Recommendations: England and Wales"
    rows = app.page.locator("#recommendations-table tbody tr")
    assert rows.count() == 5
    r2 = app.page.locator("#rec-row-R2")
    assert "31 Jul 2025" in r2.inner_text()
    # Linked KPIs by title, each with its variation icon, opening the KPI for the force.
    link = r2.get_by_role("link", name="Repeat suspects identified", exact=True)
    assert (link.get_attribute("href") or "").startswith(
        "/kpi/repeat_suspects_identified?force=england-and-wales&period=")
    assert r2.locator("#rec-kpi-R2-repeat_suspects_identified img").get_attribute("alt")
    # Every deadline has passed on this machine's clock and nothing is complete yet:
    # overdue is said in words, not only by colour.
    assert "Overdue" in r2.inner_text() and "Deadline passed" in r2.inner_text()

    # A note without a name is refused with a clear message.
    app.page.select_option("#progress-recommendation", "R2")
    app.page.select_option("#progress-status", "complete")
    app.page.fill("#progress-note", "Repeat suspect definition adopted force-wide.")
    app.page.get_by_role("button", name="Record progress").click()
    app.wait_for_text("#progress-message", "Not recorded")
    assert "author must not be empty" in app.page.inner_text("#progress-message")

    app.page.fill("#progress-author", "Ana Analyst")
    app.page.get_by_role("button", name="Record progress").click()
    app.wait_for_text("#progress-message", "Recorded R2 as complete nationally")
    app.wait_for_text("#rec-row-R2", "Repeat suspect definition adopted")
    row = app.page.locator("#rec-row-R2").inner_text()
    assert "Complete" in row and "Ana Analyst" in row and "Overdue" not in row
    assert "Overdue" in app.page.locator("#rec-row-R1").inner_text()

    # It was written to the database, and survives a reload.
    reader = Reader(writable_server.db)
    try:
        stored = {r.rec_id: r for r in annotations.recommendation_status(reader)}["R2"]
    finally:
        reader.close()
    assert (stored.status, stored.author, stored.area) == (
        "complete", "Ana Analyst", "england-and-wales")
    app.goto("/recommendations")
    assert "Ana Analyst" in app.page.locator("#rec-row-R2").inner_text()
    assert app.console_errors() == []


def test_progress_recorded_for_kent_is_kents_own(chromium: Browser,
                                                writable_server: LiveServer) -> None:
    app = open_app(chromium, writable_server.url)
    app.goto("/recommendations?force=kent")
    assert app.heading() == "Recommendations: Kent"
    assert app.page.inner_text("#main-content h2.h5") == "Record progress for Kent"
    app.page.select_option("#progress-recommendation", "R4")
    app.page.select_option("#progress-status", "in progress")
    app.page.fill("#progress-note", "Kent s.63G applications reviewed weekly.")
    app.page.fill("#progress-author", "Kay Analyst")
    app.page.get_by_role("button", name="Record progress").click()
    app.wait_for_text("#progress-message", "Recorded R4 as in progress for Kent")
    app.wait_for_text("#rec-row-R4", "Kent s.63G applications reviewed weekly.")
    # Another force, chosen in the control bar, has recorded nothing.
    app.choose("control-force", "West Midlands")
    app.wait_for_heading("Recommendations: West Midlands")
    row = app.page.locator("#rec-row-R4").inner_text()
    assert "No progress recorded for West Midlands yet" in row and "Kent s.63G" not in row
    reader = Reader(writable_server.db)
    try:
        [stored] = annotations.progress_history(reader, "R4")
    finally:
        reader.close()
    assert (stored["area"], stored["author"]) == ("kent", "Kay Analyst")
    assert app.console_errors() == []


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_recommendations_page_has_no_wcag_22_aa_violations(
    chromium: Browser, live_server: LiveServer, theme: str
) -> None:
    from tests.test_accessibility import describe, open_themed, run_axe, wait_until_settled

    app = open_themed(chromium, live_server.url, theme)
    app.goto("/recommendations?force=kent&period=2025-09")
    wait_until_settled(app, theme)
    violations = run_axe(app)
    assert violations == [], f"axe found ({theme}):\n{describe(violations)}"
    assert app.console_errors() == []

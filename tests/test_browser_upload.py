"""The upload page: validate, show the report, load on confirmation, and the running
dashboard picks up the new data without a restart."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Browser

from tests.conftest import LiveServer
from tests.pages import open_app

pytestmark = pytest.mark.browser


def test_a_bad_file_is_reported_with_row_column_and_rule_and_cannot_be_loaded(
    chromium: Browser, writable_server: LiveServer, tmp_path: Path
) -> None:
    bad = tmp_path / "kent_september.csv"
    bad.write_text("force,month,measure,value\nkent,2025-09,rape_reports,lots\n",
                   encoding="utf-8")
    before = writable_server.db.read_bytes()
    app = open_app(chromium, writable_server.url)
    app.goto("/upload")
    app.upload(bad)
    app.wait_for_text("#upload-report", "cannot be loaded")
    row = app.page.locator("#upload-findings tbody tr").first.inner_text()
    for part in ("error", "kent_september.csv", "2", "value", "lots", "not a number"):
        assert part in row
    # Nothing to load: the Load button is not offered at all.
    assert app.page.locator("#upload-confirm").is_hidden()
    assert app.page.locator("#upload-confirm").is_disabled()
    assert writable_server.db.read_bytes() == before
    assert app.console_errors() == []


def test_a_good_file_loads_on_confirmation_and_the_flight_deck_shows_it(
    chromium: Browser, writable_server: LiveServer, tmp_path: Path
) -> None:
    good = tmp_path / "durham_correction.csv"
    good.write_text("force,month,measure,value\n"
                    "durham,2025-09,rasso_investigators,50\n"
                    "durham,2025-09,investigators_accredited_or_pathway,25\n",
                    encoding="utf-8")
    app = open_app(chromium, writable_server.url)
    app.goto("/upload")
    app.upload(good)
    app.wait_for_text("#upload-report", "No errors")
    app.page.get_by_role("button", name="Load these files").click()
    app.wait_for_text("#upload-result", "Loaded 1 file(s)")
    # 25 of 50 investigators accredited: 50.0%, on the running dashboard, no restart.
    app.goto("/?force=durham&period=2025-09")
    tile = app.page.locator("#kpi-tile-investigators_accredited")
    assert "50.0%" in tile.inner_text()
    assert app.console_errors() == []


def test_the_home_office_files_as_published_upload_check_and_load(
    chromium: Browser, writable_server: LiveServer, tmp_path: Path
) -> None:
    from tests.conftest import dataset_of
    from tests.published import outcomes_workbook, pfa_workbook, recorded
    from tests.test_home_office_published import OUTCOME_ROWS, Q1, SHEET

    outcomes = outcomes_workbook(tmp_path / "prc-outcomes-open-data-mar2025-tables.xlsx",
                                 OUTCOME_ROWS, data_sheet=SHEET)
    pfa = pfa_workbook(tmp_path / "prc-pfa-mar2013-onwards-tables.ods", {
        "2024_25": [recorded("2024/25", "Q1", "Kent", "19C", 61),
                    recorded("2024/25", "Q1", "British Transport Police", "19C", 5)]})
    app = open_app(chromium, writable_server.url)
    app.goto("/upload")
    app.upload(outcomes, pfa)
    app.wait_for_text("#upload-report", "No errors, but")
    app.wait_for_text("#upload-status", "Checked 2 file(s)")
    # Each file's summary, as the CLI prints it (worked out in test_home_office_published).
    app.wait_for_text("#upload-summaries", "3 cells read as no count (N/A: not applicable")
    app.page.get_by_role("button", name="Load these files").click()
    app.wait_for_text("#upload-result", "Loaded 2 file(s)")
    # Worked out in tests/test_home_office_published.py: Kent's Q1 rape outcomes on the
    # recorded basis 13, charged 4; and 61 rapes recorded in the police force area table.
    ds = dataset_of(writable_server.db)
    cells = ds.cube
    kent = list(ds.forces["slug"]).index("kent")
    column = list(cells.periods).index(pd.Timestamp(Q1))
    assert cells.measure("ho_rape_outcomes_recorded_all")[kent, column] == 13
    assert cells.measure("ho_rape_outcome1_recorded")[kent, column] == 4
    assert cells.measure("ho_rape_offences")[kent, column] == 61
    assert app.console_errors() == []


def test_the_check_shows_what_the_load_would_change_then_the_primary_load_button(
    chromium: Browser, writable_server: LiveServer, tmp_path: Path
) -> None:
    from kpis.service import FlightDeckService
    from tests.test_plausibility import stored_values

    good = tmp_path / "durham_correction.csv"
    good.write_text("force,month,measure,value\n"
                    "durham,2025-09,rasso_investigators,50\n"
                    "durham,2025-09,investigators_accredited_or_pathway,25\n",
                    encoding="utf-8")
    september = pd.Timestamp("2025-09-01").date()
    stored = stored_values(writable_server.db, "durham")
    old = {m: stored[(m, september)]
           for m in ("rasso_investigators", "investigators_accredited_or_pathway")}
    expected = FlightDeckService(writable_server.db).preview_load([good]).kpi_changes
    assert expected  # 50 investigators, not about 20: some KPI's state changes
    before = writable_server.db.read_bytes()
    app = open_app(chromium, writable_server.url)
    app.goto("/upload")
    button = app.page.locator("#upload-confirm")
    assert button.is_hidden()  # nothing checked yet: nothing to load
    app.upload(good)
    app.wait_for_text("#upload-preview", "September 2025")
    rows = [row.split("\t") for row in
            app.page.locator("#upload-preview tbody tr").all_inner_texts()]
    assert rows == [
        ["Durham", "RASSO investigators in post at month end", "September 2025",
         f"{old['rasso_investigators']:g}", "50"],
        ["Durham", "Of those, accredited detectives or on the pathway", "September 2025",
         f"{old['investigators_accredited_or_pathway']:g}", "25"],
    ]
    assert "replaces 2 stored values" in app.page.inner_text("#upload-preview-summary")
    states = app.page.inner_text("#upload-kpi-changes")
    for change in expected:
        assert f"Durham: {change.title}: {change.before} → {change.after}" in states
    # The one primary action, solid and enabled, after the preview.
    assert button.is_visible() and button.is_enabled()
    assert {"btn-primary", "btn-lg"} <= set(str(button.get_attribute("class")).split())
    assert button.evaluate("b => { const s = getComputedStyle(b); "
                           "return [s.backgroundColor, s.color, s.opacity]; }") == [
        "rgb(18, 67, 109)", "rgb(255, 255, 255)", "1"]
    preview_box = app.page.locator("#upload-preview-section").bounding_box()
    button_box = button.bounding_box()
    assert preview_box and button_box and button_box["y"] > preview_box["y"]
    assert writable_server.db.read_bytes() == before  # nothing written until confirmed
    from tests.test_accessibility import describe, run_axe

    violations = run_axe(app)  # the report, the preview and the button, as shown
    assert violations == [], describe(violations)
    button.click()
    app.wait_for_text("#upload-result", "Loaded 1 file(s)")
    assert stored_values(writable_server.db, "durham")[
        ("rasso_investigators", september)] == 50
    assert app.console_errors() == []

"""The upload page: validate, show the report, load on confirmation, and the running
dashboard picks up the new data without a restart."""

from __future__ import annotations

from pathlib import Path

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
    app.page.set_input_files("#upload-files input[type=file]", str(bad))
    app.wait_for_text("#upload-report", "cannot be loaded")
    row = app.page.locator("#upload-findings tbody tr").first.inner_text()
    for part in ("error", "kent_september.csv", "2", "value", "lots", "not a number"):
        assert part in row
    assert app.page.get_by_role("button", name="Load these files").is_disabled()
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
    app.page.set_input_files("#upload-files input[type=file]", str(good))
    app.wait_for_text("#upload-report", "No errors")
    app.page.get_by_role("button", name="Load these files").click()
    app.wait_for_text("#upload-result", "Loaded 1 file(s)")
    # 25 of 50 investigators accredited: 50.0%, on the running dashboard, no restart.
    app.goto("/?force=durham&period=2025-09")
    tile = app.page.locator("#kpi-tile-investigators_accredited")
    assert "50.0%" in tile.inner_text()
    assert app.console_errors() == []

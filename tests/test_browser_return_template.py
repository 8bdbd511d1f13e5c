"""The upload page offers a return template for the force and months chosen, blank or
pre-filled with the force's figures, which opens in Excel's format."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import Browser

from tests.conftest import LiveServer
from tests.pages import DEFAULT_TIMEOUT_MS, open_app

pytestmark = pytest.mark.browser


def test_the_upload_page_downloads_a_prefilled_template(
    chromium: Browser, live_server: LiveServer, tmp_path: Path
) -> None:
    app = open_app(chromium, live_server.url)
    app.goto("/upload")
    app.page.get_by_text("Download a return template to fill in").click()
    app.page.locator("#template-force").select_option("kent")
    app.page.get_by_label("First month").fill("2025-08")
    app.page.get_by_label("Last month").fill("2025-09")
    app.page.get_by_label("Pre-fill with the force's figures", exact=False).check()
    link = app.page.get_by_role("link", name="Download the template")
    app.page.wait_for_function(
        "() => document.getElementById('template-link').href.includes('prefill=1')")
    with app.page.expect_download(timeout=DEFAULT_TIMEOUT_MS) as download:
        link.click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == "return-kent-2025-08-to-2025-09-prefilled.xlsx"
    sheet = openpyxl.load_workbook(saved).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert [r[:2] for r in rows[2:]] == [["kent", "2025-08"], ["kent", "2025-09"]]
    # Loaded months keep their figures: every measure of Kent's September return is a number.
    assert any(isinstance(v, int | float) for v in rows[3][2:])
    assert app.console_errors() == []

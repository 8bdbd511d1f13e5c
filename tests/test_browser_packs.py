"""Board pack and scrutiny pages: build a pack in the browser and open what downloads."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser
from pptx import Presentation
from pypdf import PdfReader

from tests.conftest import LiveServer
from tests.pages import DEFAULT_TIMEOUT_MS, open_app

pytestmark = pytest.mark.browser


def test_board_pack_page_builds_a_marked_pdf_for_one_pillar(
    chromium: Browser, live_server: LiveServer, tmp_path: Path
) -> None:
    app = open_app(chromium, live_server.url)
    app.goto("/board-pack?force=kent&period=2025-09")
    assert app.heading() == "Board pack: Kent"
    for number in (1, 2, 3, 4, 5):  # keep pillar 6 only: three KPIs
        app.page.locator("#pack-pillars input").nth(number - 1).uncheck()
    app.page.get_by_label("PDF").check()
    app.page.get_by_label("Protective marking").fill("OFFICIAL")
    with app.page.expect_download(timeout=DEFAULT_TIMEOUT_MS * 3) as download:
        app.page.get_by_role("button", name="Build the pack").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == "board-pack-kent-2025-09.pdf"
    pages = PdfReader(saved).pages
    # Title, pillar 6 summary, its three KPI charts, inspection recommendations,
    # sources: seven pages.
    assert len(pages) == 7
    for page in pages:
        assert "OFFICIAL" in page.extract_text()
    assert "Digital forensics" in pages[1].extract_text()
    app.wait_for_text("#pack-status", "Built board-pack-kent-2025-09.pdf")
    assert app.console_errors() == []


def test_scrutiny_page_lists_exceptions_and_exports_them_as_slides(
    chromium: Browser, live_server: LiveServer, tmp_path: Path
) -> None:
    app = open_app(chromium, live_server.url)
    app.goto("/scrutiny?force=lancashire&period=2025-09")
    assert app.heading() == "Scrutiny: Lancashire"
    app.choose("scrutiny-since", "Sep 2024")
    app.wait_for_url_containing("since=2024-09")
    app.wait_for_text("#scrutiny-exceptions caption", "since September 2024")
    titles = app.page.locator("#scrutiny-exceptions tbody th[scope=row]").all_inner_texts()
    assert titles, "a year of demo data has special-cause signals for Lancashire"
    assert "England and Wales" in app.page.inner_text("#scrutiny-comparison")
    with app.page.expect_download(timeout=DEFAULT_TIMEOUT_MS * 6) as download:
        app.page.get_by_role("button", name="Export as a scrutiny pack").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    slides = list(Presentation(str(saved)).slides)
    text = " ".join(shape.text_frame.text for slide in slides for shape in slide.shapes
                    if shape.has_text_frame)
    for title in titles:
        assert title in text
    # In the page's order (concerns, then targets failed, then improvements), not the
    # catalogue's: each title first appears after the one before it.
    firsts = [text.index(title) for title in titles]
    assert firsts == sorted(firsts)
    assert "RASSO scrutiny pack" in text
    assert "OFFICIAL-SENSITIVE" in text
    assert app.console_errors() == []

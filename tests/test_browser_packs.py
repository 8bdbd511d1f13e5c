"""Board pack and scrutiny pages: a pack built as a background job in the browser, its
progress followed, cancelled, or downloaded and opened; chart downloads served while a
pack is being built."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from pptx import Presentation
from pypdf import PdfReader

from tests.conftest import LiveServer
from tests.pages import DEFAULT_TIMEOUT_MS, open_app

pytestmark = pytest.mark.browser

CHART = "/download/chart/spc/suspect_contact_30d.png?force={force}&period=2025-09"


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
    app.page.get_by_role("button", name="Build the pack").click()
    link = app.page.get_by_role("link", name="Download board-pack-kent-2025-09.pdf")
    link.wait_for(timeout=DEFAULT_TIMEOUT_MS * 6)
    assert "Built board-pack-kent-2025-09.pdf" in app.page.inner_text("#pack-status")
    with app.page.expect_download(timeout=DEFAULT_TIMEOUT_MS * 2) as download:
        link.click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == "board-pack-kent-2025-09.pdf"
    reader = PdfReader(saved)
    assert bool(reader.trailer["/Root"]["/MarkInfo"]["/Marked"])
    first = reader.pages[0].extract_text()
    assert "OFFICIAL" in first and "Digital forensics" in first
    for page in reader.pages:
        assert "OFFICIAL" in page.extract_text()
    # The marking below OFFICIAL-SENSITIVE applied disclosure control.
    assert "Disclosure control applied" in first
    assert app.console_errors() == []


def test_a_chart_downloads_while_a_pack_is_built_and_the_pack_can_be_cancelled(
    chromium: Browser, live_server: LiveServer
) -> None:
    app = open_app(chromium, live_server.url)
    request = app.page.request
    # The server's renderer is started first, as on a server that has drawn a chart.
    assert request.get(live_server.url + CHART.format(force="kent")).status == 200
    app.goto("/board-pack?force=kent&period=2025-09")
    app.page.get_by_label("PDF").check()
    app.page.get_by_label("A chart for every KPI (a full pack, longer)").check()
    app.page.get_by_role("button", name="Build the pack").click()
    # The job reports its steps; once it is drawing its 36 charts, download one.
    app.wait_for_text("#pack-status", "Drawing")
    start = time.monotonic()
    answer = request.get(live_server.url + CHART.format(force="essex"))
    took = time.monotonic() - start
    assert answer.status == 200 and answer.body()[:8] == b"\x89PNG\r\n\x1a\n"
    # Served while the pack is still being built: it did not wait for the job.
    assert "Drawing" in app.page.inner_text("#pack-status"), took
    app.page.get_by_role("button", name="Cancel").click()
    app.wait_for_text("#pack-status", "Cancelled: no pack was built.")
    assert not app.page.get_by_role("link", name="Download").count()
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
    app.page.get_by_role("button", name="Export as a scrutiny pack").click()
    link = app.page.get_by_role("link", name="Download scrutiny-lancashire-2025-09.pptx")
    link.wait_for(timeout=DEFAULT_TIMEOUT_MS * 6)
    with app.page.expect_download(timeout=DEFAULT_TIMEOUT_MS * 2) as download:
        link.click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    slides = list(Presentation(str(saved)).slides)
    exceptions = slides[1]
    rows = [row.cells[0].text for shape in exceptions.shapes if shape.has_table
            for row in list(shape.table.rows)[1:]]
    # In the page's order (concerns, then targets failed, then improvements).
    assert rows == titles[:len(rows)] and rows
    text = " ".join(shape.text_frame.text for slide in slides for shape in slide.shapes
                    if shape.has_text_frame)
    assert "RASSO scrutiny pack" in text
    assert "OFFICIAL-SENSITIVE" in text
    assert app.console_errors() == []

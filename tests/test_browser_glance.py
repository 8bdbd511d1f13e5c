"""The flight deck at a glance, in a real headless Chromium at a common force laptop's
1366 x 768: every published KPI's variation icon in the first viewport, named in the
Making Data Count words, and a headline strip that agrees with the matrix."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser

from kpis.domain.vocabulary import ASSURANCE_PHRASE, LIMIT_STATE_PHRASE, VARIATION_PHRASE
from tests.conftest import LiveServer
from tests.pages import open_app
from web import ids

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1366, 768
VARIATION_WORDS = (*VARIATION_PHRASE.values(), LIMIT_STATE_PHRASE["too_few"],
                   "No SPC for this period", "SPC withheld")


def published_kpis(live_server: LiveServer) -> list[str]:
    from tests.conftest import dataset_of

    return list(dataset_of(live_server.db).kpis)


def test_every_kpis_variation_icon_is_in_the_first_viewport(
        chromium: Browser, live_server: LiveServer) -> None:
    app = open_app(chromium, live_server.url, width=WIDTH, height=HEIGHT)
    app.goto("/?force=kent&period=2025-09")
    page = app.page
    kpis = published_kpis(live_server)
    assert page.locator(".glance-row").count() == len(kpis)
    for kpi_id in kpis:
        icon = page.locator(f"#{ids.GLANCE_ROW.format(kpi_id=kpi_id)} img").first
        name = icon.get_attribute("alt") or ""
        assert name.startswith(VARIATION_WORDS), (kpi_id, name)
        assert page.get_by_role("img", name=name).first.is_visible()
        box = icon.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= HEIGHT, (
            kpi_id, box)
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    assert app.console_errors() == []


def test_the_headline_counts_what_the_matrix_shows(chromium: Browser,
                                                   live_server: LiveServer) -> None:
    app = open_app(chromium, live_server.url, width=WIDTH, height=HEIGHT)
    app.goto("/?force=kent&period=2025-09")
    page = app.page
    names = page.eval_on_selector_all(".glance-row img", "els => els.map(e => e.alt)")
    concerns = sum(n.startswith(VARIATION_PHRASE["concern"]) for n in names)
    failing = sum(n == ASSURANCE_PHRASE["fail"] for n in names)
    late = page.locator(".glance-late").count()
    strip = page.inner_text(f"#{ids.HEADLINE}")
    assert re.search(rf"\b{concerns} concerns?\b", strip), strip
    assert re.search(rf"\b{failing} consistently failing target\b", strip), strip
    assert re.search(rf"\b{late} returns? missing\b", strip), strip
    assert re.search(r"data to September 2025, loaded \d{1,2} \w+ 20\d\d", strip), strip
    # Each count opens the list of the KPIs behind it, each a link to its page.
    page.locator(f"#{ids.HEADLINE}-concerns summary").click()
    links = page.locator(f"#{ids.HEADLINE}-concerns a")
    assert links.count() == concerns
    if concerns:
        links.first.click()
        app.wait_for_url_containing("/kpi/")
    assert app.console_errors() == []


# A4 landscape (297 mm) less the print stylesheet's 12 mm margins, at 96 px an inch.
PRINT_WIDTH = round((297 - 24) / 25.4 * 96)


def test_printing_the_flight_deck_overlaps_nothing_and_starts_with_the_matrix(
        chromium: Browser, live_server: LiveServer) -> None:
    app = open_app(chromium, live_server.url, width=PRINT_WIDTH, height=900)
    app.goto("/?force=kent&period=2025-09")
    page = app.page
    page.emulate_media(media="print")
    boxes = page.eval_on_selector_all(
        ".glance-row, .kpi-tile, .pillar > h2, .headline",
        "els => els.map(e => { const r = e.getBoundingClientRect();"
        " return [e.className, r.left, r.top, r.right, r.bottom]; })")
    assert len(boxes) > 72  # 36 matrix rows, 36 tiles and more

    def overlap(a: list, b: list) -> bool:
        return (min(a[3], b[3]) - max(a[1], b[1]) > 1) and (min(a[4], b[4]) - max(a[2], b[2]) > 1)

    clashes = [(a[0], b[0]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
               if overlap(a, b)]
    assert clashes == []
    assert all(b[3] <= PRINT_WIDTH + 1 for b in boxes)  # nothing cut off at the edge
    # The matrix is the first printed page: it breaks after itself, and fits one page.
    assert page.evaluate(
        "() => getComputedStyle(document.querySelector('#glance')).breakAfter") == "page"
    matrix = page.locator("#glance").bounding_box()
    # A4 landscape's height less its 12 and 14 mm margins: the banner, the heading, the
    # headline and the matrix all on page one.
    assert matrix is not None and matrix["y"] + matrix["height"] < round(
        (210 - 26) / 25.4 * 96)
    pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    assert pdf.startswith(b"%PDF")
    assert app.console_errors() == []

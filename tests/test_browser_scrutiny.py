"""The scrutiny page in a real headless Chromium, as a PCC's meeting runs it: concerns,
then targets failed, then improvements; rules in plain words; the figure at the last
meeting and now; the force, its region and England and Wales under headings of their own.
Numbers are checked against the engine's own rows for the same force and months."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import Browser

from kpis.domain.vocabulary import RULE_PHRASE
from kpis.engine.measures import cached_table
from kpis.engine.views import SCRUTINY_GROUPS, scrutiny_rows
from tests.conftest import LiveServer, dataset_of
from tests.pages import open_app

pytestmark = pytest.mark.browser

FORCE, PERIOD, SINCE = "cleveland", dt.date(2025, 8, 1), dt.date(2025, 3, 1)
PLAIN = re.compile(r"(months? in a row (above|below) the average|months in a row "
                   r"(rising|falling)|above the upper limit|below the lower limit|two of "
                   r"three months close to the (upper|lower) limit)")


def test_a_meeting_reads_concerns_first_in_plain_words_then_and_now(
        chromium: Browser, live_server: LiveServer) -> None:
    ds = dataset_of(live_server.db)
    expected = scrutiny_rows(cached_table(ds, None, [FORCE], end=PERIOD), ds, SINCE, PERIOD)
    counts = expected["group"].value_counts()
    assert set(counts.index) == {"concern", "failing", "improvement"}
    app = open_app(chromium, live_server.url)
    app.goto(f"/scrutiny?force={FORCE}&period=2025-08&since=2025-03")
    page = app.page
    headline = page.inner_text("#scrutiny-headline")
    assert headline == (f"{counts['concern']} concern{'s' if counts['concern'] > 1 else ''}, "
                        f"{counts['failing']} targets consistently failed and "
                        f"{counts['improvement']} improvements since March 2025.")
    # Groups in the meeting's order, each with as many rows as the engine finds.
    groups = page.locator("#scrutiny-exceptions .scrutiny-group").all_inner_texts()
    assert groups == [f"{heading} ({counts[code]})" for code, heading in SCRUTINY_GROUPS]
    titles = page.locator("#scrutiny-exceptions tbody th[scope=row]").all_inner_texts()
    assert titles == [ds.kpis[k].title for k in expected["kpi"]]
    # Column headings all differ: the force, its region and England and Wales labelled.
    headings = page.locator("#scrutiny-exceptions thead th").all_inner_texts()
    assert len(set(headings)) == len(headings)
    assert "North East (region)" in headings and "England and Wales" in headings
    assert "Cleveland at the previous meeting" in headings and "Cleveland now" in headings
    # Signals in plain words, never the rule codes; then and now both given.
    for row in page.locator("#scrutiny-exceptions tr.scrutiny-concern, "
                            "#scrutiny-exceptions tr.scrutiny-improvement").all():
        cells = row.locator("td").all_inner_texts()
        assert PLAIN.search(cells[1]) or any(p in cells[1] for p in RULE_PHRASE.values()), cells
        assert "two_of_three" not in cells[1] and "shift" not in cells[1]
        assert re.search(r"\((\w{3} \d{2}|Q\d \d{2}/\d{2})\)$", cells[2]), cells
        assert re.search(r"\((\w{3} \d{2}|Q\d \d{2}/\d{2})\)$", cells[3]), cells
    first = page.locator("#scrutiny-exceptions tr.scrutiny-concern img").first
    assert (first.get_attribute("alt") or "").startswith("Special cause concern")
    assert app.console_errors() == []

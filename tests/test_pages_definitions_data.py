"""The Definitions and Data pages over HTTP: what the server sends for each page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from kpis.domain.catalogue import read_catalogue
from kpis.domain.formatting import format_value
from kpis.engine.dataset import Dataset
from kpis.settings import CATALOGUE_FILE
from kpis.storage.coverage import LOAD_HISTORY_ROWS, cached_submissions, coverage, status_counts
from kpis.storage.duckdb_file import Reader
from tests.conftest import LiveServer
from tests.test_app import render_page

Component = dict[str, Any]


def components(tree: Any) -> Iterator[Component]:
    """Every component in a rendered tree, depth first."""
    if isinstance(tree, list):
        for item in tree:
            yield from components(item)
    elif isinstance(tree, dict):
        if "type" in tree and "props" in tree:
            yield tree
        for value in tree.values():
            yield from components(value)


def find(tree: Any, test: Callable[[Component], bool]) -> list[Component]:
    return [c for c in components(tree) if test(c)]


def by_id(tree: Any, component_id: object) -> Component:
    found = find(tree, lambda c: c["props"].get("id") == component_id)
    assert len(found) == 1, f"{len(found)} components with id {component_id!r}"
    return found[0]


def words(tree: Any) -> str:
    """The text a reader sees: the strings among components' children, not their props."""
    if isinstance(tree, str):
        return tree
    if isinstance(tree, list):
        return " ".join(words(item) for item in tree)
    if isinstance(tree, dict) and "props" in tree:
        return words(tree["props"].get("children"))
    if isinstance(tree, dict):  # the callback response around the page
        return " ".join(words(value) for value in tree.values())
    return ""


def visible_entries(tree: Any) -> set[str]:
    """The ids of the KPIs the definitions page shows (the others are hidden)."""
    entries = find(tree, lambda c: isinstance(c["props"].get("id"), dict)
                   and c["props"]["id"].get("type") == "definition-entry")
    return {e["props"]["id"]["kpi"] for e in entries if not e["props"].get("hidden")}


# ----------------------------------------------------------------------------- definitions

@pytest.fixture(scope="module")
def definitions(live_server: LiveServer) -> Any:
    return render_page(live_server, "/definitions")


def test_every_kpi_appears_with_its_anchor_and_every_pillar_as_a_heading(definitions: Any) -> None:
    catalogue = read_catalogue(CATALOGUE_FILE)
    for kpi in catalogue.published():
        card = by_id(definitions, f"kpi-{kpi.kpi_id}")
        text = words(card)
        assert kpi.title in text and kpi.kpi_id in text
    headings = [words(c) for c in find(definitions, lambda c: c["type"] == "H2")]
    for pillar in catalogue.pillars:
        assert f"{pillar.number}. {pillar.name}" in headings


def test_a_kpi_shows_its_measures_by_title_polarity_in_words_and_a_link(definitions: Any) -> None:
    catalogue = read_catalogue(CATALOGUE_FILE)
    measures = {m.measure_id: m.title for m in catalogue.measures}
    kpi = next(k for k in catalogue.published() if k.kpi_id == "ho_rape_charge_rate")
    text = words(by_id(definitions, "kpi-ho_rape_charge_rate"))
    for measure_id in kpi.numerator + kpi.denominator:
        assert measures[measure_id] in text
    assert "Higher is better" in text
    assert "Quarterly" in text and kpi.source in text and "1 April 2019" in text
    links = find(by_id(definitions, "kpi-ho_rape_charge_rate"),
                 lambda c: c["type"] == "Link")
    # The KPI page, and (the demonstration's visitor is an administrator) the edit page.
    assert [link["props"]["href"] for link in links] == [
        "/kpi/ho_rape_charge_rate", "/definitions/edit?kpi=ho_rape_charge_rate"]


def test_a_target_is_formatted_in_the_kpis_unit(definitions: Any) -> None:
    catalogue = read_catalogue(CATALOGUE_FILE)
    with_target = [k for k in catalogue.published() if k.target is not None]
    assert with_target, "the catalogue has no published KPI with a target"
    for kpi in with_target:
        facts = find(by_id(definitions, f"kpi-{kpi.kpi_id}"), lambda c: c["type"] == "Dl")
        assert format_value(kpi, kpi.target) in words(facts)


def test_the_draft_version_of_digital_strategy_share_is_shown_as_draft(definitions: Any) -> None:
    card = by_id(definitions, "kpi-digital_strategy_share")
    rows = find(card, lambda c: c["type"] == "Tr" and "Version" in words(c)
                and "Effective from" not in words(c))
    by_version = {words(row).split()[1]: words(row) for row in rows}
    assert set(by_version) == {"1", "2"}
    assert "Draft" in by_version["2"] and "1 April 2026" in by_version["2"]
    assert "95.0%" in by_version["2"]
    assert "Published" in by_version["1"]
    # The definition in force is still the published version 1: no target yet.
    facts = words(find(card, lambda c: c["type"] == "Dl")[0])
    assert "None set" in facts and "Published" in facts


def test_search_text_in_the_url_filters_the_list(live_server: LiveServer) -> None:
    tree = render_page(live_server, "/definitions", "?q=digital+strategy")
    assert by_id(tree, "definitions-search")["props"]["value"] == "digital strategy"
    assert visible_entries(tree) == {"digital_strategy_share"}
    groups = find(tree, lambda c: isinstance(c["props"].get("id"), dict)
                  and c["props"]["id"].get("type") == "definition-pillar")
    assert [g["props"]["id"]["pillar"] for g in groups if not g["props"].get("hidden")] == [6]
    assert "1 of " in words(by_id(tree, "definitions-count"))


def test_search_words_match_the_starts_of_words_and_whole_numbers(
    live_server: LiveServer,
) -> None:
    catalogue = read_catalogue(CATALOGUE_FILE)
    pillar_six = {k.kpi_id for k in catalogue.kpis if k.pillar == 6}
    # "6" must not find "63G" (pillar 2's section 63G KPIs) nor "365 days".
    assert visible_entries(render_page(live_server, "/definitions", "?q=pillar+6")) == pillar_six
    found = visible_entries(render_page(live_server, "/definitions", "?q=CHARG"))
    assert {"ho_rape_charge_rate", "charges_within_365d"} <= found
    assert "digital_strategy_share" not in found


def test_a_search_matching_nothing_says_so(live_server: LiveServer) -> None:
    tree = render_page(live_server, "/definitions", "?q=zebra")
    assert "No KPI matches “zebra”" in words(by_id(tree, "definitions-count"))


# ------------------------------------------------------------------------------------ data

@pytest.fixture(scope="module")
def data_page(live_server: LiveServer) -> Any:
    return render_page(live_server, "/data")


@pytest.fixture(scope="module")
def demo_coverage(demo_db_readonly: Path, demo_dataset: Dataset) -> pd.DataFrame:
    """The coverage the server should show, computed here from the same demo database."""
    reader = Reader(demo_db_readonly)
    try:
        return coverage(demo_dataset, cached_submissions(reader, demo_dataset.data_version),
                        today=dt.date.today())
    finally:
        reader.close()


def test_data_page_shows_the_as_of_month_and_latest_load(data_page: Any) -> None:
    text = words(by_id(data_page, "data-as-of"))
    assert "September 2025" in text  # the demo database ends in September 2025
    # The last load: September's late returns, 40 days after the month's end at 09:00.
    latest = dt.datetime(2025, 10, 1, 9, 0) + dt.timedelta(days=40)
    assert f"{latest.day} {latest:%B %Y at %H:%M}" in text


def test_coverage_grid_is_an_accessible_table_of_every_force_and_24_months(
    data_page: Any, demo_dataset: Dataset, demo_coverage: pd.DataFrame
) -> None:
    ds, frame = demo_dataset, demo_coverage
    table = find(by_id(data_page, "data-coverage"), lambda c: c["type"] == "Table")[0]
    caption = words(find(table, lambda c: c["type"] == "Caption")[0])
    assert "October 2023 to September 2025" in caption
    column_heads = find(table, lambda c: c["type"] == "Th" and c["props"].get("scope") == "col")
    row_heads = find(table, lambda c: c["type"] == "Th" and c["props"].get("scope") == "row")
    assert len(column_heads) == 1 + 24
    assert [words(h) for h in row_heads] == list(ds.forces["name"])
    cells = find(table, lambda c: c["type"] == "Td")
    assert len(cells) == len(ds.forces) * 24
    # Every cell has a visible symbol and a word, as well as its colour class.
    for cell in cells:
        symbol, hidden = cell["props"]["children"]
        assert symbol.strip() and words(hidden)
    shown = [c["props"]["className"].removeprefix("coverage-").replace("-", " ") for c in cells]
    assert shown == list(frame["status"])
    assert status_counts(frame)["missing"] == 3  # the demo's three late September returns


def test_coverage_legend_names_every_status(data_page: Any) -> None:
    legend = words(by_id(data_page, "data-coverage-legend"))
    for label in ("In on time", "Late", "Missing", "Not yet due"):
        assert label in legend


def test_load_history_lists_every_load_with_a_short_checksum(
    data_page: Any, demo_dataset: Dataset
) -> None:
    ds = demo_dataset
    history = by_id(data_page, "data-load-history")
    rows = find(history, lambda c: c["type"] == "Tr")[1:]  # after the header row
    # The newest loads first, up to the page's limit.
    shown = ds.loads.sort_values("load_id", ascending=False).head(LOAD_HISTORY_ROWS)
    assert len(rows) == len(shown) == min(len(ds.loads), LOAD_HISTORY_ROWS)
    text = words(history)
    for name, sha in zip(shown["file_name"], shown["sha256"], strict=True):
        assert name in text and sha[:12] in text
    assert "demonstration data generator" in text and "Force monthly return" in text

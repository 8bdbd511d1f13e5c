"""Comparators that compare like with like: one force's early return does not count.

Four forces (Durham, Cleveland and Northumbria, the whole North East region, and Kent)
load 20 months of a count (repeat suspects identified), January 2024 to August 2025;
then Durham alone loads September 2025. By hand, for September:

* England and Wales and the North East are *incomplete*: forces that reported in the
  year before have not reported; they show "1 of 43" and "1 of 3" forces;
* the incomplete month takes no part in SPC, the change on a year earlier, the rolling
  year or the ranks (Durham would otherwise rank "1st of 1");
* no page opens on September: the default is August, the latest complete month.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest

from kpis.domain.periods import add_months
from kpis.engine.measures import flight_deck_table
from kpis.engine.summary import summarise
from kpis.engine.views import default_period
from layouts._state import read_state
from tests.conftest import app_over, dataset_of
from tests.test_downloads import components, render_page
from tests.test_measures import load_return
from web import ids

FORCES = {"durham": 10, "cleveland": 20, "northumbria": 30, "kent": 40}
AUGUST, SEPTEMBER = dt.date(2025, 8, 1), dt.date(2025, 9, 1)
MONTHS = [add_months(dt.date(2024, 1, 1), i) for i in range(20)]  # to August 2025


@pytest.fixture(scope="module")
def early_durham_file(empty_db_template: Path, tmp_path_factory: pytest.TempPathFactory
                      ) -> Path:
    """Built once for the module (two loads); each test gets its own copy."""
    folder = tmp_path_factory.mktemp("early_durham")
    path = folder / "early.duckdb"
    shutil.copyfile(empty_db_template, path)
    rows = [(force, when, "repeat_suspects_identified", base + i % 2)
            for force, base in FORCES.items() for i, when in enumerate(MONTHS)]
    load_return(path, folder, rows)
    load_return(path, folder, [("durham", SEPTEMBER, "repeat_suspects_identified", 99)])
    return path


@pytest.fixture
def early_durham(early_durham_file: Path, tmp_path: Path) -> Path:
    path = tmp_path / "early.duckdb"
    shutil.copyfile(early_durham_file, path)
    return path


def row(table: pd.DataFrame, area: str, when: dt.date) -> pd.Series:
    found = table[(table["area"] == area) & (table["period_start"] == pd.Timestamp(when))]
    assert len(found) == 1
    return found.iloc[0]


def test_the_early_month_is_incomplete_for_england_and_wales_and_the_region(early_durham):
    ds = dataset_of(early_durham)
    table = flight_deck_table(ds, ["repeat_suspects_identified"])
    national = row(table, "england-and-wales", SEPTEMBER)
    assert national["value"] == 99 and not national["complete"]
    assert (national["forces_reporting"], national["forces_in_area"]) == (1, 43)
    region = row(table, "region-north-east", SEPTEMBER)
    assert not region["complete"] and region["forces_reporting"] == 1
    # August: every force that reported in the year before reported: complete (4 of 43
    # forces report at all, but none is missing).
    assert row(table, "england-and-wales", AUGUST)["complete"]
    # 10 + 20 + 30 + 40 + (0 + 1 + 1 + 1 ... ) : August is month 20, i % 2 = 1 each.
    assert row(table, "england-and-wales", AUGUST)["value"] == 11 + 21 + 31 + 41


def test_an_incomplete_month_takes_no_part_in_spc_change_rolling_year_or_ranks(early_durham):
    ds = dataset_of(early_durham)
    table = flight_deck_table(ds, ["repeat_suspects_identified"])
    national = row(table, "england-and-wales", SEPTEMBER)
    assert pd.isna(national["variation"]) and national["spc_rule"] in ("", None)
    assert pd.isna(national["change"]) and pd.isna(national["rolling_value"])
    # The national SPC has limits from the 20 complete months only: their mean is
    # (10 + 11) / 2 + (20 + 21) / 2 + ... = 10.5 + 20.5 + 30.5 + 40.5 = 102.
    assert national["spc_mean"] == pytest.approx(102)
    assert national["spc_points"] == 20
    durham = row(table, "durham", SEPTEMBER)
    # Durham's own figure is its own: shown, with SPC, but not ranked "1 of 1".
    assert durham["value"] == 99 and durham["variation"] == "improvement"
    assert pd.isna(durham["rank"]) and pd.isna(durham["ranked_forces"])
    assert not durham["national_complete"] and not durham["peer_complete"]
    assert (durham["national_reporting"], durham["national_in_area"]) == (1, 43)
    assert (durham["peer_reporting"], durham["peer_in_area"]) == (1, 3)
    # In August the four forces are ranked: Kent (41) first, Durham (11) last.
    august = row(table, "durham", AUGUST)
    assert (august["rank"], august["ranked_forces"]) == (4, 4)
    # A year on year change needs both years complete: September 2025 has none, and
    # January 2025 (complete, against complete January 2024) has one.
    january = row(table, "england-and-wales", dt.date(2025, 1, 1))
    assert january["change"] == pytest.approx(0)


def test_the_words_say_the_comparator_is_incomplete(early_durham):
    ds = dataset_of(early_durham)
    table = flight_deck_table(ds, ["repeat_suspects_identified"])
    text = summarise(ds, row(table, "durham", SEPTEMBER).to_dict())
    # A count is compared per 100,000 people: 99 / 640,000 (Durham, the only force
    # reporting) = 15.5 for the force, England and Wales and the region alike.
    assert "England and Wales (15.5; incomplete, 1 of 43 forces)" in text
    assert "the region, North East (15.5; incomplete, 1 of 3 forces)" in text
    assert "ranked" not in text
    national = summarise(ds, row(table, "england-and-wales", SEPTEMBER).to_dict())
    assert "(1 of 43 forces reporting; incomplete)" in national


@pytest.mark.slow  # renders every page (about 2.5 s)
def test_no_page_defaults_to_the_early_month(early_durham):
    ds = dataset_of(early_durham)
    opening = default_period(ds)
    assert opening.period == AUGUST
    assert "September 2025" in opening.reason
    assert read_state(ds).period == AUGUST
    # The month can still be asked for.
    assert read_state(ds, period="2025-09").period == SEPTEMBER
    client = app_over(early_durham).server.test_client()
    for path in ("/", "/pillar/1", "/kpi/repeat_suspects_identified", "/compare", "/scrutiny"):
        tree = render_page(client, path, "")
        periods = [c for kind in ("Dropdown", "Select") for c in components(tree, kind)
                   if c.get("id") == ids.PERIOD]
        assert periods and periods[0]["value"] == "2025-08", path


def test_one_force_install_opens_on_that_forces_latest_month(empty_db, tmp_path):
    load_return(empty_db, tmp_path, [("durham", when, "repeat_suspects_identified", 10)
                                     for when in [*MONTHS, SEPTEMBER]])
    # Durham alone: its September is not late against anyone.
    assert default_period(dataset_of(empty_db)).period == SEPTEMBER


# --- stocks and missing returns: catalogue rules for measures -----------------------------


def test_a_stock_is_summed_over_forces_but_its_year_is_its_latest_value(empty_db, tmp_path):
    # Devices awaiting examination at month end (a stock): Durham 10, 11, ... 22 over 13
    # months to January 2025; Cleveland 100 every month.
    months = [add_months(dt.date(2024, 1, 1), i) for i in range(13)]
    rows = [("durham", when, "devices_awaiting_examination", 10 + i)
            for i, when in enumerate(months)]
    rows += [("cleveland", when, "devices_awaiting_examination", 100) for when in months]
    ds = load_return(empty_db, tmp_path, rows)
    assert next(m for m in ds.catalogue.measures
                if m.measure_id == "devices_awaiting_examination").stock
    table = flight_deck_table(ds, ["devices_awaiting_examination"])
    last = row(table, "durham", months[-1])
    # The rolling year of a stock is the latest value (22), never 10 + 11 + ... + 22.
    assert last["value"] == 22 and last["rolling_value"] == 22
    region = row(table, "region-north-east", months[-1])
    assert region["value"] == 122 and region["rolling_value"] == 122
    from kpis.engine.measures import financial_year_totals
    years = financial_year_totals(ds, "devices_awaiting_examination", "durham")
    # 2023/24: January to March 2024 (10, 11, 12): its latest value is March's 12.
    # 2024/25: April 2024 to January 2025: January's 22.
    assert list(years["numerator"]) == [12, 22]


def test_a_missing_monthly_return_counts_as_missing_in_data_return_completeness(
        empty_db, tmp_path):
    # Durham returns one measure a month, January to August 2025, except June.
    months = [dt.date(2025, m, 1) for m in (1, 2, 3, 4, 5, 7, 8)]
    ds = load_return(empty_db, tmp_path, [("durham", when, "repeat_suspects_identified", 5)
                                          for when in months])
    table = flight_deck_table(ds, ["data_return_completeness"])
    durham = table[table["area"] == "durham"].set_index("period_start")
    expected = durham.loc[pd.Timestamp(2025, 1, 1), "denominator"]
    assert expected > 1  # the measures a full monthly return supplies
    assert durham.loc[pd.Timestamp(2025, 1, 1), "numerator"] == 1
    # June is there, as 0 of the measures expected: 0%, not a gap.
    june = durham.loc[pd.Timestamp(2025, 6, 1)]
    assert june["numerator"] == 0 and june["denominator"] == expected and june["value"] == 0
    assert len(durham) == 8


# --- counts are compared per 100,000 people, with the population of the period's year ----


def test_a_count_is_ranked_and_compared_per_100000_people(empty_db, tmp_path):
    # Durham (population 640,000) 64 referrals: 10.0 per 100,000; Kent (1,870,000) 100:
    # 5.35 per 100,000. Kent has more referrals, Durham more per head: Durham ranks 1st.
    when = dt.date(2025, 8, 1)
    ds = load_return(empty_db, tmp_path, [("durham", when, "repeat_suspects_identified", 64),
                                          ("kent", when, "repeat_suspects_identified", 100)])
    table = flight_deck_table(ds, ["repeat_suspects_identified"])
    durham, kent = row(table, "durham", when), row(table, "kent", when)
    assert durham["comparison"] == pytest.approx(10.0)
    assert kent["comparison"] == pytest.approx(100 / 1_870_000 * 100_000)
    assert (durham["rank"], kent["rank"]) == (1, 2)
    # England and Wales per head: 164 over the two forces' 2,510,000 people.
    assert durham["national_comparison"] == pytest.approx(164 / 2_510_000 * 100_000)
    assert durham["value"] == 64 and durham["national_value"] == 164
    text = summarise(ds, durham.to_dict())
    assert "per 100,000 people (10.0) it is higher than England and Wales" in text
    assert "ranked 1st of 2 forces (1st is best)" in text


def test_populations_by_year_come_from_the_loaded_estimates(empty_db, tmp_path):
    import sqlalchemy as sa

    from kpis.storage import schema
    from kpis.storage.duckdb_file import write_transaction
    months = [dt.date(2023, 12, 1), dt.date(2024, 12, 1), dt.date(2025, 9, 1)]
    load_return(empty_db, tmp_path,
                [("durham", when, "repeat_suspects_identified", 70) for when in months])
    with write_transaction(empty_db) as conn:
        conn.execute(sa.insert(schema.force_populations), [
            {"force_slug": "durham", "year": 2023, "population": 700_000, "source": "t"},
            {"force_slug": "durham", "year": 2024, "population": 350_000, "source": "t"},
        ])
    table = flight_deck_table(dataset_of(empty_db), ["repeat_suspects_identified"])
    # 2023: 70 / 700,000 = 10 per 100,000; 2024: 70 / 350,000 = 20; 2025 has no estimate
    # yet: the latest one (2024) stands in.
    assert [row(table, "durham", m)["comparison"] for m in months] == [
        pytest.approx(10.0), pytest.approx(20.0), pytest.approx(20.0)]
    # A force without estimates keeps the approximate population of data/forces.csv.
    assert row(table, "england-and-wales", months[0])["population"] == 700_000


def test_the_spc_chart_draws_an_incomplete_month_as_an_open_marker(early_durham):
    from kpis.charts.specs import spc_export
    ds = dataset_of(early_durham)
    export = spc_export(ds, "repeat_suspects_identified", "england-and-wales", SEPTEMBER)
    partial = [t for t in export.figure["data"] if t["name"].startswith("Incomplete")]
    assert len(partial) == 1
    assert partial[0]["x"] == ["2025-09-01"] and partial[0]["y"] == [99.0]
    assert partial[0]["marker"]["symbol"] == "circle-open"
    assert partial[0]["customdata"] == [["1 of 43 forces"]]
    # The 20 complete months are drawn with their SPC markers, September is not.
    marked = [x for t in export.figure["data"] if t.get("mode") == "markers"
              and not t["name"].startswith("Incomplete") for x in t["x"]]
    assert len(marked) == 20 and "2025-09-01" not in marked


def test_the_trend_chart_draws_an_incomplete_month_open(early_durham):
    from kpis.charts.specs import trend_export
    ds = dataset_of(early_durham)
    export = trend_export(ds, "repeat_suspects_identified", "england-and-wales", SEPTEMBER, None)
    values = export.figure["data"][0]
    assert values["x"][-1] == "2025-09-01"
    assert values["marker"]["symbol"] == ["circle"] * 20 + ["circle-open"]


def test_a_most_similar_group_is_a_peer_group_and_incomplete_without_a_member(
        early_durham, tmp_path):
    from tests.conftest import write_peer_groups

    # Durham and Kent as a most-similar group; only Durham has reported September.
    # (Two forces: written directly, as `flightdeck peer-groups` now asks for three.)
    write_peer_groups(early_durham, {"Similar": ["durham", "kent"]})
    ds = dataset_of(early_durham)
    assert ds.comparator_label("group-similar") == "Similar (peer group)"
    assert ds.comparator_label("region-north-east") == "North East (region)"
    table = flight_deck_table(ds, ["repeat_suspects_identified"], peer_group="group-similar")
    durham = row(table, "durham", SEPTEMBER)
    assert not durham["peer_complete"]
    assert (durham["peer_reporting"], durham["peer_in_area"]) == (1, 2)
    # August: both reported; Durham 11 and Kent 41 over 640,000 + 1,870,000 people.
    august = row(table, "durham", AUGUST)
    assert august["peer_complete"] and august["peer_value"] == 11 + 41
    assert august["peer_comparison"] == pytest.approx(52 / 2_510_000 * 100_000)
    text = summarise(ds, durham.to_dict())
    assert "its peer group, Similar (15.5; incomplete, 1 of 2 forces)" in text

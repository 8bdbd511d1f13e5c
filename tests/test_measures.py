"""Tests for kpis.engine.measures (and the CLI table, kpis.exports.kpi_csv) on small databases.

Each test writes a tiny monthly return (long layout: force, month, measure, value) or a
Home Office recorded-crime table, loads it through ``load_files`` into a fresh database,
and checks the flight-deck table against figures worked out by hand in the test.

Forces used: Durham (population 640,000) and Cleveland (570,000), both in the North
East region with Northumbria (which has no data here), and Kent (1,870,000, South East).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kpis.domain.periods import add_months
from kpis.engine.dataset import Dataset
from kpis.engine.measures import (
    TABLE_COLUMNS,
    Baseline,
    SpcOptions,
    arrays_of,
    cached_table,
    financial_year_totals,
    flight_deck_table,
    latest_period,
    prime_tables,
)
from kpis.engine.spc import SpcRules
from kpis.exports.kpi_csv import CLI_COLUMNS, kpi_table_for_cli, write_table
from kpis.ingest.loader import load_files
from tests.conftest import dataset_of
from tests.spc_reference import xmr

NOW = dt.datetime(2025, 10, 15, 9, 0)
NATIONAL = "england-and-wales"
NORTH_EAST = "region-north-east"
SOUTH_EAST = "region-south-east"
POPULATION = {"durham": 640_000, "cleveland": 570_000, "kent": 1_870_000}

# The columns other code (CLI, dashboard pages) is written against.
REQUIRED_COLUMNS = (
    "kpi", "area", "period_start", "numerator", "denominator", "value", "population",
    "rolling_numerator", "rolling_denominator", "rolling_value", "prior_value", "change",
    "national_value", "peer_group", "peer_value", "rank", "ranked_forces", "spc_mean",
    "spc_lower", "spc_upper", "spc_rule", "variation", "assurance", "suppressed",
)


def month(year: int, number: int) -> dt.date:
    return dt.date(year, number, 1)


def months_from(start: dt.date, count: int) -> list[dt.date]:
    return [add_months(start, i) for i in range(count)]


def load_return(db: Path, tmp_path: Path,
                rows: list[tuple[str, dt.date, str, float]]) -> Dataset:
    """Load a long monthly return of (force, month, measure, value) rows."""
    path = tmp_path / f"return-{len(list(tmp_path.iterdir()))}.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["force", "month", "measure", "value"])
        for force, when, measure, value in rows:
            writer.writerow([force, f"{when:%Y-%m}", measure, value])
    load_files(db, [path], user="test", now=NOW, today=NOW.date())
    return dataset_of(db)


def load_recorded(db: Path, tmp_path: Path,
                  rows: list[tuple[str, str, int, str, int]]) -> Dataset:
    """Load a Home Office recorded-crime table of (force name, year, quarter, code, count)."""
    path = tmp_path / "recorded.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Financial Year", "Financial Quarter", "Force Name",
                         "Offence Description", "Offence Group", "Offence Subgroup",
                         "Offence Code", "Number of Offences"])
        for force, year, quarter, code, count in rows:
            writer.writerow([year, quarter, force, f"Offence {code}", "Sexual offences", "",
                             code, count])
    load_files(db, [path], user="test", now=NOW, today=NOW.date())
    return dataset_of(db)


def row_of(table: pd.DataFrame, kpi: str, area: str, when: dt.date) -> pd.Series:
    rows = table[(table["kpi"] == kpi) & (table["area"] == area)
                 & (table["period_start"] == pd.Timestamp(when))]
    assert len(rows) == 1, f"expected one row for {kpi} {area} {when}, got {len(rows)}"
    return rows.iloc[0]


def series_of(table: pd.DataFrame, kpi: str, area: str) -> pd.DataFrame:
    return table[(table["kpi"] == kpi) & (table["area"] == area)]


# --- the table's shape --------------------------------------------------------------------


def test_table_has_every_column_the_cli_and_pages_use_in_order(empty_db, tmp_path):
    ds = load_return(empty_db, tmp_path, [("durham", month(2024, 4), "cps_referrals", 7)])
    table = flight_deck_table(ds)
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert list(table.columns[: len(REQUIRED_COLUMNS)]) == list(REQUIRED_COLUMNS)


def test_an_empty_database_gives_an_empty_table_with_every_column(empty_db):
    ds = dataset_of(empty_db)
    table = flight_deck_table(ds)
    assert len(table) == 0
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert ds.as_of is None
    assert latest_period(ds, "cps_referrals") is None


def test_unknown_kpi_area_or_peer_group_is_a_key_error(empty_db, tmp_path):
    ds = load_return(empty_db, tmp_path, [("durham", month(2024, 4), "cps_referrals", 7)])
    with pytest.raises(KeyError, match="nonsense"):
        flight_deck_table(ds, ["nonsense"])
    with pytest.raises(KeyError, match="atlantis"):
        flight_deck_table(ds, areas=["atlantis"])
    with pytest.raises(KeyError, match="group-nobody"):
        flight_deck_table(ds, peer_group="group-nobody")
    with pytest.raises(KeyError):
        flight_deck_table(ds, [])


# --- rates, counts and rates per head -----------------------------------------------------


def test_a_rate_sums_numerators_and_denominators_first_never_averages_rates(
        empty_db, tmp_path):
    # Durham: 1 of 10 suspects contacted (10%); Cleveland: 90 of 100 (90%).
    when = month(2024, 4)
    ds = load_return(empty_db, tmp_path, [
        ("durham", when, "suspect_arrested_interviewed_30d", 1),
        ("durham", when, "reports_named_suspect", 10),
        ("cleveland", when, "suspect_arrested_interviewed_30d", 90),
        ("cleveland", when, "reports_named_suspect", 100),
    ])
    table = flight_deck_table(ds, ["suspect_contact_30d"])
    assert row_of(table, "suspect_contact_30d", "durham", when)["value"] == pytest.approx(0.1)
    assert row_of(table, "suspect_contact_30d", "cleveland", when)["value"] == pytest.approx(0.9)
    national = row_of(table, "suspect_contact_30d", NATIONAL, when)
    # (1 + 90) / (10 + 100) = 91 / 110 = 82.7%, not the mean of the rates (50%).
    assert national["numerator"] == 91
    assert national["denominator"] == 110
    assert national["value"] == pytest.approx(91 / 110)
    assert national["value"] != pytest.approx((0.1 + 0.9) / 2)
    assert national["forces_reporting"] == 2 and national["forces_in_area"] == 43
    # The same pooled figure is every force's England and Wales comparator.
    assert row_of(table, "suspect_contact_30d", "durham", when)["national_value"] == (
        pytest.approx(91 / 110))


def test_a_count_kpi_is_the_count_and_aggregates_are_sums(empty_db, tmp_path):
    when = month(2024, 4)
    ds = load_return(empty_db, tmp_path, [
        ("durham", when, "cps_referrals", 7),
        ("cleveland", when, "cps_referrals", 12),
        ("kent", when, "cps_referrals", 30),
    ])
    table = flight_deck_table(ds, ["cps_referrals"])
    kent = row_of(table, "cps_referrals", "kent", when)
    assert kent["value"] == 30 and kent["numerator"] == 30
    assert math.isnan(kent["denominator"])
    assert row_of(table, "cps_referrals", NATIONAL, when)["value"] == 7 + 12 + 30
    assert row_of(table, "cps_referrals", NORTH_EAST, when)["value"] == 7 + 12
    assert row_of(table, "cps_referrals", SOUTH_EAST, when)["value"] == 30


def test_days_and_ratio_kpis_divide_summed_parts(empty_db, tmp_path):
    when = month(2024, 4)
    ds = load_return(empty_db, tmp_path, [
        # Durham: 300 days over 4 devices (75 days); Cleveland 100 days over 1 device.
        ("durham", when, "device_return_days", 300), ("durham", when, "devices_returned", 4),
        ("cleveland", when, "device_return_days", 100),
        ("cleveland", when, "devices_returned", 1),
        ("durham", when, "open_investigations", 52), ("durham", when, "rasso_investigators", 10),
    ])
    table = flight_deck_table(ds, ["device_return_days", "caseload_per_investigator"])
    assert row_of(table, "device_return_days", "durham", when)["value"] == 75
    # (300 + 100) / (4 + 1) = 80 days, not the mean of 75 and 100.
    assert row_of(table, "device_return_days", NATIONAL, when)["value"] == 80
    assert row_of(table, "caseload_per_investigator", "durham", when)["value"] == 5.2


def test_rate_per_100k_uses_the_population_of_the_forces_with_data(empty_db, tmp_path):
    # 2024/25 Q1 is April to June 2024. Durham 64 rapes / 640,000 people = 10.0 per 100,000;
    # Cleveland 114 / 570,000 = 20.0 per 100,000.
    ds = load_recorded(empty_db, tmp_path, [
        ("Durham", "2024/25", 1, "19C", 40), ("Durham", "2024/25", 1, "19F", 24),
        ("Cleveland", "2024/25", 1, "19C", 114),
    ])
    table = flight_deck_table(ds, ["ho_rape_rate_per_100k"])
    q1 = month(2024, 4)
    assert row_of(table, "ho_rape_rate_per_100k", "durham", q1)["value"] == pytest.approx(10.0)
    assert row_of(table, "ho_rape_rate_per_100k", "cleveland", q1)["value"] == pytest.approx(20.0)
    national = row_of(table, "ho_rape_rate_per_100k", NATIONAL, q1)
    # Only Durham and Cleveland supplied figures: (64 + 114) / (640,000 + 570,000).
    assert national["population"] == 640_000 + 570_000
    assert national["value"] == pytest.approx((64 + 114) / 1_210_000 * 100_000)


def test_rolling_rate_per_100k_is_a_years_count_per_head(empty_db, tmp_path):
    # Four quarters of 2024/25 for Durham: 64, 32, 64, 32 = 192 offences in the year.
    ds = load_recorded(empty_db, tmp_path, [
        ("Durham", "2024/25", q, "19C", count) for q, count in ((1, 64), (2, 32), (3, 64), (4, 32))
    ])
    table = series_of(flight_deck_table(ds, ["ho_rape_rate_per_100k"]),
                      "ho_rape_rate_per_100k", "durham")
    assert list(table["period_start"].dt.month) == [4, 7, 10, 1]
    assert table["rolling_value"].iloc[:3].isna().all()  # fewer than 4 quarters
    assert table["rolling_numerator"].iloc[3] == 192
    assert table["rolling_value"].iloc[3] == pytest.approx(192 / 640_000 * 100_000)  # 30.0


# --- rolling year, change, financial years ------------------------------------------------


def test_rolling_twelve_months_needs_twelve_complete_months(empty_db, tmp_path):
    start = month(2023, 4)
    months = months_from(start, 15)  # April 2023 to June 2024
    rows = []
    for i, when in enumerate(months):
        rows += [("durham", when, "suspect_arrested_interviewed_30d", i),
                 ("durham", when, "reports_named_suspect", 20)]
        if when != month(2023, 10):  # Cleveland misses October 2023
            rows += [("cleveland", when, "suspect_arrested_interviewed_30d", 5),
                     ("cleveland", when, "reports_named_suspect", 10)]
    ds = load_return(empty_db, tmp_path, rows)
    table = flight_deck_table(ds, ["suspect_contact_30d"])
    durham = series_of(table, "suspect_contact_30d", "durham").set_index("period_start")
    assert durham["rolling_value"].iloc[:11].isna().all()  # April 2023 .. February 2024
    # March 2024 closes the first complete year: months 0..11, numerators 0 + 1 + ... + 11.
    march = durham.loc[pd.Timestamp(month(2024, 3))]
    assert march["rolling_numerator"] == sum(range(12)) == 66
    assert march["rolling_denominator"] == 12 * 20
    assert march["rolling_value"] == pytest.approx(66 / 240)
    june = durham.loc[pd.Timestamp(month(2024, 6))]
    assert june["rolling_numerator"] == sum(range(3, 15))  # July 2023 .. June 2024
    # Cleveland's gap in October 2023 leaves every year containing it incomplete.
    cleveland = series_of(table, "suspect_contact_30d", "cleveland")
    assert cleveland["rolling_value"].isna().all()


def test_change_is_against_the_same_period_a_year_earlier(empty_db, tmp_path):
    rows = [("durham", month(2023, 5), "suspect_arrested_interviewed_30d", 5),
            ("durham", month(2023, 5), "reports_named_suspect", 20),  # 25%
            ("durham", month(2024, 4), "suspect_arrested_interviewed_30d", 9),
            ("durham", month(2024, 4), "reports_named_suspect", 10),  # no April 2023
            ("durham", month(2024, 5), "suspect_arrested_interviewed_30d", 8),
            ("durham", month(2024, 5), "reports_named_suspect", 20)]  # 40%
    ds = load_return(empty_db, tmp_path, rows)
    table = flight_deck_table(ds, ["suspect_contact_30d"])
    may = row_of(table, "suspect_contact_30d", "durham", month(2024, 5))
    assert may["prior_value"] == pytest.approx(0.25)
    assert may["change"] == pytest.approx(0.40 - 0.25)  # +15 percentage points
    april = row_of(table, "suspect_contact_30d", "durham", month(2024, 4))
    assert math.isnan(april["prior_value"]) and math.isnan(april["change"])


def test_financial_year_totals_run_april_to_march(empty_db, tmp_path):
    # January 2023 to May 2024: numerator = the month's number, denominator 20 a month.
    rows = []
    for when in months_from(month(2023, 1), 17):
        rows += [("durham", when, "suspect_arrested_interviewed_30d", when.month),
                 ("durham", when, "reports_named_suspect", 20),
                 ("durham", when, "cps_referrals", 2)]
    ds = load_return(empty_db, tmp_path, rows)
    totals = financial_year_totals(ds, "suspect_contact_30d", "durham")
    assert list(totals["label"]) == ["2022/23", "2023/24", "2024/25"]
    assert list(totals["periods"]) == [3, 12, 2]  # Jan-Mar 2023; Apr 2023-Mar 2024; Apr-May
    assert list(totals["complete"]) == [False, True, False]
    assert list(totals["numerator"]) == [1 + 2 + 3, sum(range(1, 13)), 4 + 5]
    assert list(totals["denominator"]) == [60, 240, 40]
    assert totals["value"].tolist() == pytest.approx([6 / 60, 78 / 240, 9 / 40])
    counts = financial_year_totals(ds, "cps_referrals", "durham")
    assert counts["value"].tolist() == [6, 24, 4]
    assert counts["denominator"].isna().all()


# --- comparators and rank -----------------------------------------------------------------


def share_rows(when: dt.date, figures: dict[str, tuple[int, int]], numerator: str,
               denominator: str) -> list[tuple[str, dt.date, str, float]]:
    return [row for force, (num, den) in figures.items()
            for row in ((force, when, numerator, num), (force, when, denominator, den))]


def test_peer_value_is_the_regions_pooled_rate(empty_db, tmp_path):
    when = month(2024, 4)
    ds = load_return(empty_db, tmp_path, share_rows(
        when, {"durham": (10, 40), "cleveland": (30, 60), "kent": (5, 50)},
        "suspect_arrested_interviewed_30d", "reports_named_suspect"))
    table = flight_deck_table(ds, ["suspect_contact_30d"])
    durham = row_of(table, "suspect_contact_30d", "durham", when)
    assert durham["peer_group"] == NORTH_EAST
    # North East: Durham and Cleveland (Northumbria sent nothing): (10 + 30) / (40 + 60).
    assert durham["peer_value"] == pytest.approx(40 / 100)
    assert row_of(table, "suspect_contact_30d", "kent", when)["peer_value"] == pytest.approx(0.1)
    region = row_of(table, "suspect_contact_30d", NORTH_EAST, when)
    assert region["value"] == pytest.approx(0.4)
    assert region["forces_reporting"] == 2 and region["forces_in_area"] == 3
    # Aggregates have no peer group, rank or ranked-forces count.
    assert pd.isna(region["peer_group"]) and math.isnan(region["peer_value"])
    assert math.isnan(region["rank"]) and math.isnan(region["ranked_forces"])
    # Asking for another comparator replaces the region for every force.
    other = flight_deck_table(ds, ["suspect_contact_30d"], peer_group=SOUTH_EAST)
    assert row_of(other, "suspect_contact_30d", "durham", when)["peer_value"] == (
        pytest.approx(0.1))


def test_rank_one_is_best_for_a_lower_is_better_kpi(empty_db, tmp_path):
    when = month(2024, 4)
    # Open investigations older than 12 months (lower is better): 10%, 30%, 20%.
    ds = load_return(empty_db, tmp_path, share_rows(
        when, {"durham": (10, 100), "cleveland": (30, 100), "kent": (20, 100)},
        "open_investigations_over_12m", "open_investigations"))
    table = flight_deck_table(ds, ["open_investigations_over_12m"])
    ranks = {f: row_of(table, "open_investigations_over_12m", f, when)["rank"]
             for f in ("durham", "kent", "cleveland")}
    assert ranks == {"durham": 1, "kent": 2, "cleveland": 3}
    assert row_of(table, "open_investigations_over_12m", "durham", when)["ranked_forces"] == 3


def test_rank_one_is_best_for_a_higher_is_better_kpi_and_ties_share_a_rank(empty_db, tmp_path):
    when = month(2024, 4)
    ds = load_return(empty_db, tmp_path, share_rows(
        when, {"durham": (10, 100), "cleveland": (30, 100), "kent": (30, 100)},
        "suspect_arrested_interviewed_30d", "reports_named_suspect"))
    table = flight_deck_table(ds, ["suspect_contact_30d"])
    ranks = {f: row_of(table, "suspect_contact_30d", f, when)["rank"]
             for f in ("durham", "kent", "cleveland")}
    assert ranks == {"cleveland": 1, "kent": 1, "durham": 3}


def test_a_neutral_kpi_is_not_ranked(empty_db, tmp_path):
    when = month(2024, 4)
    ds = load_return(empty_db, tmp_path, [("durham", when, "bail_breaches_recorded", 9),
                                          ("kent", when, "bail_breaches_recorded", 20)])
    table = flight_deck_table(ds, ["bail_breaches_recorded"])
    assert table["rank"].isna().all() and table["ranked_forces"].isna().all()


# --- SPC ----------------------------------------------------------------------------------


SPC_VALUES = [20, 22, 19, 21, 23, 20, 22, 21, 30, 31, 32, 33, 34, 35, 36, 20, 21, 40, 22, 21]


@pytest.fixture
def spc_dataset(empty_db: Path, tmp_path: Path) -> Dataset:
    """20 months of Durham referrals (a count KPI), April 2023 to November 2024."""
    rows = [("durham", when, "cps_referrals", v)
            for when, v in zip(months_from(month(2023, 4), 20), SPC_VALUES, strict=True)]
    return load_return(empty_db, tmp_path, rows)


def assert_spc_matches(frame: pd.DataFrame, expected) -> None:
    np.testing.assert_allclose(frame["spc_mean"], expected.mean, rtol=1e-12)
    np.testing.assert_allclose(frame["spc_lower"], expected.lower, rtol=1e-12)
    np.testing.assert_allclose(frame["spc_upper"], expected.upper, rtol=1e-12)
    assert list(frame["spc_rule"].fillna("")) == expected.rules
    assert [None if pd.isna(v) else v for v in frame["variation"]] == expected.variation
    assert list(frame["spc_limits"]) == expected.limits
    assert set(frame["assurance"].fillna("none")) == {expected.assurance or "none"}


def set_adoption(db: Path, adopted: dict[str, dt.date]) -> Dataset:
    import sqlalchemy as sa

    from kpis.storage import schema
    from kpis.storage.duckdb_file import write_transaction
    with write_transaction(db) as conn:
        for slug, when in adopted.items():
            conn.execute(sa.update(schema.forces).where(schema.forces.c.slug == slug)
                         .values(nom_adoption=when))
    return dataset_of(db)


def test_spc_columns_are_xmr_of_the_series(spc_dataset):
    durham = series_of(flight_deck_table(spc_dataset, ["cps_referrals"]), "cps_referrals",
                       "durham")
    assert list(durham["value"]) == SPC_VALUES
    assert_spc_matches(durham, xmr([float(v) for v in SPC_VALUES], "higher"))
    # Worked by hand: 168 + 231 + 124 = 523, mean = 523 / 20 = 26.15.
    assert durham["spc_mean"].iloc[0] == pytest.approx(26.15)
    assert "shift" in durham["spc_rule"].iloc[10]  # 30..36 run above the mean
    assert durham["variation"].iloc[10] == "improvement"  # higher is better
    # Where the limits come from: all 20 points, as no adoption month is known.
    assert set(durham["spc_basis"]) == {"no_adoption_month"}
    assert set(durham["spc_points"]) == {20.0}
    assert set(durham["spc_from"]) == {pd.Timestamp(2023, 4, 1)}
    assert set(durham["spc_to"]) == {pd.Timestamp(2024, 11, 1)}


def test_spc_is_computed_on_the_whole_series_and_cut_to_the_window(spc_dataset):
    start, end = month(2023, 10), month(2024, 9)
    whole = series_of(flight_deck_table(spc_dataset, ["cps_referrals"]), "cps_referrals",
                      "durham")
    window = series_of(flight_deck_table(spc_dataset, ["cps_referrals"], start=start, end=end),
                       "cps_referrals", "durham")
    assert len(window) == 12
    expected = whole.iloc[6:18].reset_index(drop=True)
    pd.testing.assert_frame_equal(window.reset_index(drop=True), expected)
    # The window's limits are the 20-point ones, not those of its own 12 points (which
    # would be too few for any).
    assert set(window["spc_limits"]) == {"limits"}
    assert window["spc_mean"].iloc[0] == pytest.approx(26.15)


def test_baseline_options_and_rules_reach_the_engine(spc_dataset):
    values = [float(v) for v in SPC_VALUES]
    first = SpcOptions(baseline=Baseline.parse("first:15"),
                       rules=SpcRules(shift_length=6, two_of_three=False))
    durham = series_of(flight_deck_table(spc_dataset, ["cps_referrals"], spc=first),
                       "cps_referrals", "durham")
    assert_spc_matches(durham, xmr(values, "higher", baseline=15, rules=first.rules))
    assert set(durham["spc_basis"]) == {"first_points"} and set(durham["spc_points"]) == {15}
    assert set(durham["spc_to"]) == {pd.Timestamp(2024, 6, 1)}  # the 15th month
    everything = SpcOptions(baseline=Baseline.parse("all"))
    durham = series_of(flight_deck_table(spc_dataset, ["cps_referrals"], spc=everything),
                       "cps_referrals", "durham")
    assert_spc_matches(durham, xmr(values, "higher"))
    assert set(durham["spc_basis"]) == {"whole_series"}


@pytest.mark.parametrize("text", ["first:14", "first:", "last:20", "nom ", "ALL"])
def test_baseline_text_is_checked(text):
    if text.strip().lower() in ("nom", "all"):
        assert str(Baseline.parse(text)) == text.strip().lower()
    else:
        with pytest.raises(ValueError, match="nom, all or first:N"):
            Baseline.parse(text)


def test_the_default_baseline_re_bases_at_nom_adoption_with_15_points_after_it(
        empty_db, tmp_path):
    # Durham and Cleveland: 40 months from April 2022 of 20, 22, ... then 30, 32, ...
    values = [20.0, 22.0] * 10 + [30.0, 32.0] * 10
    rows = [(force, when, "cps_referrals", v) for force in ("durham", "cleveland")
            for when, v in zip(months_from(month(2022, 4), 40), values, strict=True)]
    load_return(empty_db, tmp_path, rows)
    # Durham adopted in month 20 (December 2023): 20 points after, re-based there.
    # Cleveland adopted in month 30 (October 2024): 10 points after, too few.
    ds = set_adoption(empty_db, {"durham": month(2023, 12), "cleveland": month(2024, 10)})
    table = flight_deck_table(ds, ["cps_referrals"])
    durham = series_of(table, "cps_referrals", "durham")
    assert_spc_matches(durham, xmr(values, "higher", rebase_at=[20]))
    assert list(durham["spc_basis"]) == ["before_nom"] * 20 + ["nom_adoption"] * 20
    assert durham["spc_mean"].iloc[0] == pytest.approx(21)
    assert durham["spc_mean"].iloc[-1] == pytest.approx(31)
    assert set(durham["spc_from"].iloc[20:]) == {pd.Timestamp(2023, 12, 1)}
    cleveland = series_of(table, "cps_referrals", "cleveland")
    assert_spc_matches(cleveland, xmr(values, "higher"))
    assert set(cleveland["spc_basis"]) == {"too_few_since_adoption"}
    # Aggregates: whole-series limits.
    national = series_of(table, "cps_referrals", NATIONAL)
    assert set(national["spc_basis"]) == {"whole_series"}
    assert_spc_matches(national, xmr([2 * v for v in values], "higher"))


def test_a_catalogue_baseline_of_the_first_n_points_replaces_the_nom_re_base(
        empty_db, tmp_path):
    import dataclasses
    values = [20.0, 22.0] * 10 + [30.0, 32.0] * 10
    load_return(empty_db, tmp_path, [("durham", when, "cps_referrals", v) for when, v in
                                     zip(months_from(month(2022, 4), 40), values, strict=True)])
    ds = set_adoption(empty_db, {"durham": month(2023, 12)})
    catalogue = dataclasses.replace(ds.catalogue, kpis=[
        dataclasses.replace(k, spc_baseline_points=24, spc_run_length=6)
        if k.kpi_id == "cps_referrals" else k for k in ds.catalogue.kpis])
    fixed = dataclasses.replace(ds, catalogue=catalogue)
    durham = series_of(flight_deck_table(fixed, ["cps_referrals"]), "cps_referrals", "durham")
    rules = SpcRules(shift_length=6, trend_length=6)
    assert_spc_matches(durham, xmr(values, "higher", baseline=24, rules=rules))
    assert set(durham["spc_basis"]) == {"first_points"}
    # Mean of the first 24 points: (20 x 10 + 22 x 10 + 30 x 2 + 32 x 2) / 24.
    assert durham["spc_mean"].iloc[0] == pytest.approx((200 + 220 + 60 + 64) / 24)


def test_spc_none_leaves_the_spc_columns_empty(spc_dataset):
    table = flight_deck_table(spc_dataset, ["cps_referrals"], spc=None)
    assert table["spc_mean"].isna().all() and table["variation"].isna().all()


def test_spc_on_the_demo_matches_xmr_per_series_with_targets_and_adoption(demo_dataset):
    kpis = ["repeat_suspects_managed", "ho_rape_charge_rate", "bail_breaches_recorded",
            "device_return_days"]
    table = flight_deck_table(demo_dataset, kpis)
    adoption = dict(zip(demo_dataset.forces["slug"], demo_dataset.forces["nom_adoption"],
                        strict=True))
    checked = rebased = 0
    for (kpi_id, area), series in table.groupby(["kpi", "area"], sort=False):
        kpi = demo_dataset.kpis[kpi_id]
        # An incomplete aggregate month (a member force's return not yet in) and a
        # provisional Home Office quarter are left out.
        usable = (series["complete"] & ~series["provisional"]).to_numpy()
        values = series["value"].where(usable).to_numpy()
        rebase = []
        if area in adoption:
            since = (series["period_start"] >= pd.Timestamp(adoption[area])).to_numpy()
            after = np.flatnonzero(since)
            # Re-based when at least 15 usable points follow adoption.
            if (since & usable).sum() >= 15 and after[0] > 0:
                rebase = [int(after[0])]
                rebased += 1
        expected = xmr(values, kpi.polarity, target=kpi.target, rebase_at=rebase)
        assert_spc_matches(series, expected)
        checked += 1
    assert checked == 4 * len(demo_dataset.cube.area_ids)
    assert rebased > 43  # most forces' monthly series are re-based


# --- disclosure control -------------------------------------------------------------------


def test_home_office_open_data_is_never_suppressed(empty_db, tmp_path):
    # 3 rapes recorded in Durham's quarter: a small count, but the Home Office has
    # published it already. A force return's 3 referrals in the same database is hidden.
    quarter = dt.date(2024, 4, 1)
    load_recorded(empty_db, tmp_path, [("Durham", "2024/25", "Q1", "19C", 3),
                                       ("Kent", "2024/25", "Q1", "19C", 40)])
    ds = load_return(empty_db, tmp_path, [("durham", quarter, "cps_referrals", 3)])
    table = flight_deck_table(ds, ["ho_rape_rate_per_100k", "cps_referrals"], ["durham"],
                              start=quarter, end=quarter, suppress=True)
    rate = row_of(table, "ho_rape_rate_per_100k", "durham", quarter)
    population = int(ds.forces.set_index("slug").loc["durham", "population"])
    assert not rate["suppressed"] and rate["suppressed_parts"] in ("", None)
    assert rate["numerator"] == 3
    assert rate["value"] == pytest.approx(3 / population * 100_000)
    assert row_of(table, "cps_referrals", "durham", quarter)["suppressed"]


def test_counts_one_to_four_are_hidden_marked_and_never_zero(empty_db, tmp_path):
    when = month(2024, 4)
    ds = load_return(empty_db, tmp_path, [("durham", when, "cps_referrals", 3),
                                          ("cleveland", when, "cps_referrals", 0),
                                          ("kent", when, "cps_referrals", 5)])
    table = flight_deck_table(ds, ["cps_referrals"], suppress=True)
    durham = row_of(table, "cps_referrals", "durham", when)
    assert durham["suppressed"]
    assert {"value", "numerator"} <= set(durham["suppressed_parts"].split(","))
    for column in ("numerator", "value", "rank"):
        assert math.isnan(durham[column]), column  # missing, not 0
    assert not row_of(table, "cps_referrals", "cleveland", when)["suppressed"]  # 0 is shown
    assert row_of(table, "cps_referrals", "cleveland", when)["value"] == 0
    # England and Wales (8) minus Kent (5) minus Cleveland (0) would give Durham's 3, so
    # Kent is hidden too; then the South East (Kent alone) would give Kent, so it goes as
    # well. England and Wales stays: Durham and Kent could be anything adding up to 8.
    assert row_of(table, "cps_referrals", "kent", when)["suppressed"]
    assert row_of(table, "cps_referrals", SOUTH_EAST, when)["suppressed"]
    assert row_of(table, "cps_referrals", "england-and-wales", when)["value"] == 8
    # Without suppression every figure is shown.
    plain = flight_deck_table(ds, ["cps_referrals"])
    assert row_of(plain, "cps_referrals", "durham", when)["value"] == 3
    assert row_of(plain, "cps_referrals", "kent", when)["value"] == 5
    assert not plain["suppressed"].any()


def test_a_rate_with_a_hidden_part_is_hidden(empty_db, tmp_path):
    when = month(2024, 4)
    ds = load_return(empty_db, tmp_path, share_rows(
        when, {"durham": (3, 50), "cleveland": (4, 4), "kent": (20, 50)},
        "suspect_arrested_interviewed_30d", "reports_named_suspect"))
    table = flight_deck_table(ds, ["suspect_contact_30d"], suppress=True)
    # Numerators: Durham 3 and Cleveland 4 hidden; the North East's 7 protects both.
    # Denominators: Cleveland's 4 hidden, and Durham's 50 with it (the North East's 54
    # minus 50 would give the 4).
    for force in ("durham", "cleveland"):
        row = row_of(table, "suspect_contact_30d", force, when)
        assert row["suppressed"]
        assert math.isnan(row["numerator"]) and math.isnan(row["denominator"])
        assert math.isnan(row["value"])
    north_east = row_of(table, "suspect_contact_30d", "region-north-east", when)
    assert north_east["numerator"] == 7 and north_east["denominator"] == 54
    kent = row_of(table, "suspect_contact_30d", "kent", when)
    assert not kent["suppressed"] and kent["value"] == pytest.approx(0.4)


def test_a_count_that_is_not_sensitive_is_shown_beside_a_hidden_rate(empty_db, tmp_path):
    # Durham's numerator is 3 (hidden, with Cleveland's 6 as its partner: the North
    # East's 9 minus 6 would give it). Its denominator, 61, is neither small nor needed to
    # protect anything: it is shown, while the rate built on the 3 is not.
    when = month(2024, 4)
    ds = load_return(empty_db, tmp_path, share_rows(
        when, {"durham": (3, 61), "cleveland": (6, 40), "kent": (20, 50)},
        "suspect_arrested_interviewed_30d", "reports_named_suspect"))
    table = flight_deck_table(ds, ["suspect_contact_30d"], suppress=True)
    durham = row_of(table, "suspect_contact_30d", "durham", when)
    assert durham["suppressed"] and math.isnan(durham["value"])
    assert math.isnan(durham["numerator"]) and durham["denominator"] == 61
    assert set(durham["suppressed_parts"].split(",")) >= {"value", "numerator"}
    assert "denominator" not in durham["suppressed_parts"].split(",")
    cleveland = row_of(table, "suspect_contact_30d", "cleveland", when)
    assert math.isnan(cleveland["numerator"]) and cleveland["denominator"] == 40
    assert math.isnan(cleveland["value"])
    north_east = row_of(table, "suspect_contact_30d", "region-north-east", when)
    assert north_east["numerator"] == 9 and north_east["value"] == pytest.approx(9 / 101)


def test_a_small_count_does_not_escape_through_comparator_or_prior_columns(
        empty_db, tmp_path):
    last_year, this_year = month(2023, 4), month(2024, 4)
    ds = load_return(empty_db, tmp_path, [
        ("durham", last_year, "cps_referrals", 2),  # hidden a year earlier
        ("durham", this_year, "cps_referrals", 9),
        ("cleveland", this_year, "cps_referrals", 12),
        ("kent", this_year, "cps_referrals", 3),  # hidden, with Surrey's 7 as partner
        ("surrey", this_year, "cps_referrals", 7),
    ])
    table = flight_deck_table(ds, ["cps_referrals"], suppress=True)
    durham = row_of(table, "cps_referrals", "durham", this_year)
    assert durham["value"] == 9 and not durham["suppressed"]
    assert math.isnan(durham["prior_value"]) and math.isnan(durham["change"])
    assert "prior" in durham["suppressed_parts"].split(",")
    # England and Wales and the North East in April 2023 are Durham's 2 alone: hidden on
    # every row that shows them as a comparator.
    before = row_of(table, "cps_referrals", "durham", last_year)
    assert math.isnan(before["national_value"]) and math.isnan(before["peer_value"])
    assert {"national", "peer"} <= set(before["suppressed_parts"].split(","))
    for force in ("kent", "surrey"):
        assert row_of(table, "cps_referrals", force, this_year)["suppressed"]
    assert row_of(table, "cps_referrals", SOUTH_EAST, this_year)["value"] == 10
    # Nothing anywhere in the table holds a count of 1 to 4.
    counted = table[["numerator", "rolling_numerator", "national_value", "peer_value",
                     "prior_value", "value"]].to_numpy(dtype=float)
    assert not ((counted > 0) & (counted < 5)).any()


def test_spc_lines_of_a_series_with_a_hidden_point_are_hidden(empty_db, tmp_path):
    # Kent: 3 (hidden) then 20, 21, 20, 21, ... (20 months); the mean (3 + 19 others) / 20
    # would give the 3 away, so no line of the series is shown, nor any point's flags
    # (they come from the limits). Surrey (20 a month) partners Kent's 3 in the South
    # East in the first month, so its series loses its lines too; Durham's keeps them.
    kent = [3] + [20, 21] * 9 + [20]
    when_list = months_from(month(2023, 1), 20)
    rows = [("kent", when, "cps_referrals", v) for when, v in zip(when_list, kent, strict=True)]
    rows += [("durham", when, "cps_referrals", 10) for when in when_list]
    rows += [("surrey", when, "cps_referrals", 20) for when in when_list]
    ds = load_return(empty_db, tmp_path, rows)
    table = flight_deck_table(ds, ["cps_referrals"], suppress=True)
    series = series_of(table, "cps_referrals", "kent")
    assert series["spc_mean"].isna().all() and series["spc_upper"].isna().all()
    assert list(series["suppressed"]) == [True] + [False] * 19
    assert list(series["value"].iloc[1:]) == kent[1:]
    assert series["variation"].isna().all() and series["spc_rule"].isna().all()
    assert series["change"].isna().all()
    assert "spc" in series["suppressed_parts"].iloc[5].split(",")
    surrey = series_of(table, "cps_referrals", "surrey")
    assert list(surrey["suppressed"]) == [True] + [False] * 19
    assert surrey["spc_mean"].isna().all()
    # A window that leaves the hidden month out still hides the lines: they come from
    # the whole series.
    window = series_of(flight_deck_table(ds, ["cps_referrals"], start=month(2023, 6),
                                         suppress=True), "cps_referrals", "kent")
    assert len(window) == 15 and window["spc_mean"].isna().all()
    durham = series_of(table, "cps_referrals", "durham")
    assert (durham["spc_mean"] == 10).all()


def test_a_rolling_year_minus_its_shown_months_gives_nothing_away(empty_db, tmp_path):
    # Kent's months: 10 a month, but 2 in May 2023 (hidden, partnered by Surrey). Every
    # rolling year holding May 2023 is hidden: a year of 11 x 10 + 2 = 112 minus the 11
    # months shown would give the 2 back. Years without it are shown.
    when_list = months_from(month(2023, 1), 24)
    kent = [2 if when == month(2023, 5) else 10 for when in when_list]
    rows = [("kent", when, "cps_referrals", v) for when, v in zip(when_list, kent, strict=True)]
    rows += [("surrey", when, "cps_referrals", 30) for when in when_list]
    ds = load_return(empty_db, tmp_path, rows)
    table = flight_deck_table(ds, ["cps_referrals"], suppress=True)
    series = series_of(table, "cps_referrals", "kent").set_index("period_start")
    for when in when_list[11:]:
        holds_may = when <= month(2024, 4)
        rolling = series.loc[pd.Timestamp(when), "rolling_numerator"]
        assert math.isnan(rolling) == holds_may, when
        if not holds_may:
            assert rolling == 120
    # The same for the South East's year (Kent plus Surrey): its May is shown (32), so
    # its years are too.
    south_east = series_of(table, "cps_referrals", SOUTH_EAST).set_index("period_start")
    assert south_east.loc[pd.Timestamp(month(2023, 12)), "rolling_numerator"] == 112 + 360


def test_ranks_leave_no_gap_where_a_force_is_hidden(empty_db, tmp_path):
    # Kent's numerator 3 is hidden (partnered by Surrey's 10). Ranks among the forces
    # shown: Durham 40% 1st and Cleveland 30% 2nd of 2, not 1st and 2nd of 4 with Surrey
    # (20%) placed by the gap left at 3rd.
    when = month(2024, 4)
    ds = load_return(empty_db, tmp_path, share_rows(
        when, {"durham": (40, 100), "cleveland": (30, 100), "kent": (3, 50),
               "surrey": (10, 50)},
        "suspect_arrested_interviewed_30d", "reports_named_suspect"))
    table = flight_deck_table(ds, ["suspect_contact_30d"], suppress=True)
    plain = flight_deck_table(ds, ["suspect_contact_30d"])
    assert [row_of(plain, "suspect_contact_30d", f, when)["rank"]
            for f in ("durham", "cleveland", "surrey", "kent")] == [1, 2, 3, 4]
    for force, rank in (("durham", 1), ("cleveland", 2)):
        row = row_of(table, "suspect_contact_30d", force, when)
        assert row["rank"] == rank and row["ranked_forces"] == 2
    for force in ("kent", "surrey"):
        assert math.isnan(row_of(table, "suspect_contact_30d", force, when)["rank"])


def test_threshold_is_configurable(empty_db, tmp_path):
    when = month(2024, 4)
    ds = load_return(empty_db, tmp_path, [("durham", when, "cps_referrals", 7)])
    assert flight_deck_table(ds, ["cps_referrals"], suppress=True)["value"].iloc[0] == 7
    hidden = flight_deck_table(ds, ["cps_referrals"], suppress=True, threshold=10)
    assert hidden["value"].isna().all()


# --- the dataset --------------------------------------------------------------------------


def test_as_of_and_latest_period(empty_db, tmp_path):
    ds = load_return(empty_db, tmp_path, [("durham", month(2024, 4), "cps_referrals", 7),
                                          ("kent", month(2024, 6), "cps_referrals", 8)])
    assert ds.as_of == month(2024, 6)
    assert latest_period(ds, "cps_referrals") == month(2024, 6)
    assert latest_period(ds, "cps_referrals", "durham") == month(2024, 4)
    assert latest_period(ds, "suspect_contact_30d") is None
    assert arrays_of(ds, "cps_referrals") is arrays_of(ds, "cps_referrals")  # computed once


def test_demo_national_numerators_are_sums_over_forces(demo_dataset):
    table = flight_deck_table(demo_dataset, spc=None)
    forces = table[table["area"].isin(set(demo_dataset.forces["slug"]))]
    summed = forces.groupby(["kpi", "period_start"])["numerator"].sum()
    national = table[table["area"] == NATIONAL].set_index(["kpi", "period_start"])["numerator"]
    pd.testing.assert_series_equal(summed.sort_index(), national.sort_index(),
                                   check_names=False)


# --- the CLI table ------------------------------------------------------------------------


def test_cli_table_columns_dates_fractions_and_whole_counts(empty_db, tmp_path):
    when = month(2024, 4)
    ds = load_return(empty_db, tmp_path, share_rows(
        when, {"durham": (5, 200), "kent": (3, 40), "surrey": (20, 100)},
        "suspect_arrested_interviewed_30d", "reports_named_suspect"))
    table = kpi_table_for_cli(ds, ["suspect_contact_30d"], ["durham", "kent", NATIONAL],
                              None, None, True)
    assert list(table.columns) == list(CLI_COLUMNS)
    for name in ("kpi", "force", "period_start", "numerator", "denominator", "value",
                 "rolling_value", "national_value", "peer_value", "rank", "spc_mean",
                 "spc_lower", "spc_upper", "spc_rule", "variation", "assurance",
                 "suppressed"):
        assert name in table.columns
    durham = table[table["force"] == "durham"].iloc[0]
    assert durham["period_start"] == "2024-04-01"
    assert durham["value"] == pytest.approx(0.025)  # a fraction, not 2.5
    assert durham["numerator"] == 5 and durham["spc_rule"] == ""

    out = io.StringIO()
    write_table(table, out, "csv")
    lines = out.getvalue().splitlines()
    header = lines[0].split(",")
    records = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert header[:3] == ["kpi", "force", "period_start"]
    by_force = {r["force"]: r for r in records}
    assert by_force["durham"]["numerator"] == "5"  # not 5.0
    assert by_force["kent"]["suppressed"] == "true"
    for column in ("numerator", "value"):
        assert by_force["kent"][column] == ""  # withheld: empty, never 0
    assert by_force["kent"]["denominator"] == "40"  # not small, protects nothing: shown
    assert by_force[NATIONAL]["suppressed"] == "false"

    out = io.StringIO()
    write_table(table, out, "json")
    records = json.loads(out.getvalue())
    kent = next(r for r in records if r["force"] == "kent")
    assert kent["value"] is None and kent["suppressed"] is True
    assert next(r for r in records if r["force"] == "durham")["numerator"] == 5


def test_cli_table_rejects_an_unknown_format(empty_db):
    ds = dataset_of(empty_db)
    with pytest.raises(ValueError, match="format"):
        kpi_table_for_cli(ds, None, None, None, None, False, "xml")
    with pytest.raises(ValueError, match="format"):
        write_table(pd.DataFrame(), io.StringIO(), "xml")


@pytest.mark.parametrize("suppress", [False, True])
def test_tables_primed_together_are_each_kpis_own_table_exactly(
        demo_dataset: Dataset, suppress: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """prime_tables computes every KPI's table in one pass and splits it: each part must
    be what a one-KPI table is, to the bit, with or without disclosure control."""
    from kpis.engine import measures

    ds = demo_dataset
    kpi_ids = list(ds.kpis)
    # A view no other test asks for, so that nothing is in the cache beforehand.
    areas, end = ["durham", ds.region_of["durham"]], dt.date(2024, 11, 1)
    prime_tables(ds, kpi_ids, areas, end=end, suppress=suppress)
    calls: list[object] = []
    real = measures.flight_deck_table
    monkeypatch.setattr(measures, "flight_deck_table",
                        lambda *a, **k: calls.append(a) or real(*a, **k))
    primed = {k: cached_table(ds, [k], areas, end=end, suppress=suppress) for k in kpi_ids}
    assert calls == []  # every one came from the shared pass
    monkeypatch.undo()
    for kpi_id in kpi_ids:
        own = flight_deck_table(ds, [kpi_id], areas, end=end, suppress=suppress)
        assert not own.empty
        pd.testing.assert_frame_equal(primed[kpi_id], own, check_exact=True)
    # A second priming finds them all and computes nothing.
    monkeypatch.setattr(measures, "flight_deck_table",
                        lambda *a, **k: calls.append(a) or real(*a, **k))
    prime_tables(ds, kpi_ids, areas, end=end, suppress=suppress)
    assert calls == []


def test_an_areas_rows_are_those_a_mask_selects_and_a_slice_when_together() -> None:
    import numpy as np
    import pandas as pd

    from kpis.engine.measures import area_rows

    table = pd.DataFrame({
        "kpi": ["k1", "k1", "k1", "k2", "k2", "k2"],
        "area": pd.array(["kent", "kent", "essex", "kent", "essex", "essex"], dtype="str"),
        "value": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    }, index=[10, 11, 12, 13, 14, 15])
    one_kpi = table[table["kpi"] == "k2"]
    for frame in (table, one_kpi):
        for area in ("kent", "essex", "durham"):
            expected = frame[frame["area"] == area]
            got = area_rows(frame, area)
            pd.testing.assert_frame_equal(got, expected)
    # Worked out by hand: Kent's rows of both KPIs are 10, 11 and 13; of k2, Essex's are
    # 14 and 15, which lie together and come as a slice of the table's own values.
    assert area_rows(table, "kent").index.tolist() == [10, 11, 13]
    essex = area_rows(one_kpi, "essex")
    assert essex.index.tolist() == [14, 15] and essex["value"].tolist() == [5.0, 6.0]
    assert np.shares_memory(essex["value"].to_numpy(), one_kpi["value"].to_numpy())
    assert area_rows(table, "durham").empty

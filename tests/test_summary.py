"""Tests for kpis.engine.summary and kpis.domain.formatting: figures and sentences people read.

The summaries are checked on rows of a hand-made database (loaded through
``load_files``) whose figures are worked out in the test, and on rows written by hand
for the SPC, assurance and suppression wording.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kpis.domain.catalogue import KpiDefinition
from kpis.domain.formatting import MINUS, format_change, format_period, format_value, ordinal
from kpis.domain.periods import add_months
from kpis.engine.dataset import Dataset
from kpis.engine.measures import flight_deck_table
from kpis.engine.summary import summarise
from kpis.ingest.loader import load_files
from tests.conftest import dataset_of

NOW = dt.datetime(2025, 10, 15, 9, 0)
SEPTEMBER_2024, SEPTEMBER_2025 = dt.date(2024, 9, 1), dt.date(2025, 9, 1)


def kpi(unit: str, periodicity: str = "monthly", polarity: str = "higher",
        target: float | None = None) -> KpiDefinition:
    return KpiDefinition(
        kpi_id="k", version=1, status="published", title="A measure", pillar=1,
        description="", numerator=("a",), denominator=("b",) if unit in (
            "percent", "days", "ratio") else (),
        unit=unit, polarity=polarity, target=target, periodicity=periodicity,
        source="local", effective_from=dt.date(2020, 1, 1),
    )


# --- formatting ---------------------------------------------------------------------------


@pytest.mark.parametrize(("unit", "value", "expected"), [
    ("percent", 0.026, "2.6%"),
    ("percent", 0.02549, "2.5%"),
    ("percent", 1.0, "100.0%"),
    ("count", 1234.0, "1,234"),
    ("count", 0.0, "0"),
    ("count", 69_800.0, "69,800"),
    ("per_100k", 28.43, "28.4 per 100,000"),
    ("days", 74.2, "74 days"),
    ("days", 1.0, "1 day"),
    ("ratio", 5.23, "5.2"),
    ("ratio", -0.5, f"{MINUS}0.5"),
])
def test_format_value_by_unit(unit, value, expected):
    assert format_value(kpi(unit), value) == expected


@pytest.mark.parametrize("missing", [None, math.nan, np.nan, pd.NA])
def test_format_value_of_missing_and_suppressed(missing):
    assert format_value(kpi("percent"), missing) == "no data"
    assert format_value(kpi("percent"), missing, True) == "[c]"
    assert format_value(kpi("count"), 3.0, suppressed=True) == "[c]"  # never the number


@pytest.mark.parametrize(("unit", "change", "expected"), [
    ("percent", 0.004, "+0.4 percentage points"),
    ("percent", -0.012, f"{MINUS}1.2 percentage points"),
    ("percent", 0.01, "+1.0 percentage point"),
    ("percent", 0.00001, "no change"),
    ("count", -12.0, f"{MINUS}12"),
    ("count", 1500.0, "+1,500"),
    ("per_100k", 2.25, "+2.2 per 100,000"),
    ("days", -5.0, f"{MINUS}5 days"),
    ("days", 1.0, "+1 day"),
    ("ratio", 0.3, "+0.3"),
])
def test_format_change_by_unit(unit, change, expected):
    assert format_change(kpi(unit), change) == expected


def test_format_change_missing_and_suppressed():
    assert format_change(kpi("percent"), math.nan) == "not available"
    assert format_change(kpi("percent"), 0.2, True) == "[c]"


def test_format_period_month_and_financial_quarter():
    assert format_period(kpi("count"), pd.Timestamp("2025-09-01")) == "September 2025"
    assert format_period(kpi("count"), dt.date(2025, 1, 1)) == "January 2025"
    quarterly = kpi("count", periodicity="quarterly")
    assert format_period(quarterly, pd.Timestamp("2025-07-01")) == "2025/26 Q2"
    assert format_period(quarterly, np.datetime64("2026-01-01")) == "2025/26 Q4"
    assert format_period(quarterly, "2025-04-01") == "2025/26 Q1"


def test_ordinals():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 43, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "43rd",
        "101st", "111th"]


# --- summaries of a hand-made database ----------------------------------------------------


def load(db: Path, tmp_path: Path, rows: list[tuple[str, dt.date, str, float]]) -> Dataset:
    path = tmp_path / "return.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["force", "month", "measure", "value"])
        for force, when, measure, value in rows:
            writer.writerow([force, f"{when:%Y-%m}", measure, value])
    load_files(db, [path], user="test", now=NOW, today=NOW.date())
    return dataset_of(db)


@pytest.fixture
def contact(empty_db: Path, tmp_path: Path) -> Dataset:
    """Suspects contacted within 30 days, September 2024 and September 2025.

    Durham 2025: 25 of 100 (25.0%), a year earlier 20 of 100 (20.0%): up 5.0 points.
    Cleveland 2025: 10 of 100 (10.0%). Kent 2025: 30 of 60 (50.0%).
    England and Wales 2025: (25 + 10 + 30) / (100 + 100 + 60) = 65 / 260 = 25.0%.
    North East 2025: (25 + 10) / 200 = 17.5%. Ranks (higher is better): Kent 1st,
    Durham 2nd, Cleveland 3rd, of 3.
    """
    rows = []
    for force, when, num, den in (
        ("durham", SEPTEMBER_2024, 20, 100), ("durham", SEPTEMBER_2025, 25, 100),
        ("cleveland", SEPTEMBER_2025, 10, 100), ("kent", SEPTEMBER_2025, 30, 60),
    ):
        rows += [(force, when, "suspect_arrested_interviewed_30d", num),
                 (force, when, "reports_named_suspect", den)]
    return load(empty_db, tmp_path, rows)


def row_of(table: pd.DataFrame, area: str, when: dt.date) -> pd.Series:
    rows = table[(table["area"] == area) & (table["period_start"] == pd.Timestamp(when))]
    assert len(rows) == 1
    return rows.iloc[0]


def sentences(text: str) -> int:
    """Full stops that end a sentence (not decimal points)."""
    return len(re.findall(r"\.(?=\s|$)", text))


def test_summary_of_a_force_gives_value_change_comparators_and_rank(contact):
    table = flight_deck_table(contact, ["suspect_contact_30d"])
    text = summarise(contact, row_of(table, "durham", SEPTEMBER_2025))
    assert text.startswith("Durham: Suspect arrested or interviewed within 30 days was 25.0%")
    assert "(25 of 100)" in text
    assert "in September 2025" in text
    assert "up 5.0 percentage points on September 2024 (20.0%)" in text
    assert "the same as England and Wales (25.0%)" in text
    assert "higher than the region, North East (17.5%)" in text
    assert "ranked 2nd of 3 forces" in text
    # Two points: no limits, no signal, and the words say why.
    assert "Not enough data for SPC (2 points)" in text
    assert "variation" not in text
    assert sentences(text) == 2


def test_summary_accepts_another_area_name_and_a_plain_dict(contact):
    table = flight_deck_table(contact, ["suspect_contact_30d"])
    row = row_of(table, "kent", SEPTEMBER_2025).to_dict()
    text = summarise(contact, row, area_name="Kent Police")
    assert text.startswith("Kent Police: ")
    assert "50.0% (30 of 60)" in text and "ranked 1st of 3 forces" in text
    assert "there is no figure for September 2024 to compare with" in text


def test_summary_of_england_and_wales_notes_coverage_and_has_no_comparator(contact):
    table = flight_deck_table(contact, ["suspect_contact_30d"])
    text = summarise(contact, row_of(table, "england-and-wales", SEPTEMBER_2025))
    assert text.startswith("England and Wales: ")
    assert "25.0% (65 of 260)" in text
    assert "(3 of 43 forces reporting)" in text
    assert "ranked" not in text and "than England and Wales" not in text


def test_summary_of_a_suppressed_figure_prints_none_of_its_numbers(empty_db, tmp_path):
    ds = load(empty_db, tmp_path, [
        ("durham", SEPTEMBER_2025, "suspect_arrested_interviewed_30d", 3),
        ("durham", SEPTEMBER_2025, "reports_named_suspect", 81),
    ])
    table = flight_deck_table(ds, ["suspect_contact_30d"], suppress=True)
    text = summarise(ds, row_of(table, "durham", SEPTEMBER_2025))
    assert "suppressed to protect victims" in text
    assert "3.7" not in text and "81" not in text and "(3 " not in text
    # Even a row that still carries the numbers (built by hand) must not print them.
    raw = row_of(flight_deck_table(ds, ["suspect_contact_30d"]), "durham", SEPTEMBER_2025)
    text = summarise(ds, {**raw.to_dict(), "suppressed": True})
    assert "3.7" not in text and "81" not in text


def test_summary_shows_withheld_comparators_as_c(contact):
    table = flight_deck_table(contact, ["suspect_contact_30d"])
    row = row_of(table, "durham", SEPTEMBER_2025).to_dict()
    row.update(national_value=math.nan, peer_value=math.nan, prior_value=math.nan,
               change=math.nan, suppressed_parts="prior,national,peer")
    text = summarise(contact, row)
    assert "England and Wales ([c])" in text and "the region, North East ([c])" in text
    assert "September 2024 is withheld ([c])" in text


def with_signal(row: pd.Series, **changes) -> dict:
    """The row as if it had limits from 24 points (common cause), with ``changes``."""
    return {**row.to_dict(), "spc_limits": "limits", "spc_points": 24.0, "variation": "common",
            **changes}


def test_summary_words_for_each_spc_signal_and_assurance(contact):
    table = flight_deck_table(contact, ["suspect_contact_30d"])
    row = row_of(table, "durham", SEPTEMBER_2025)
    improvement = summarise(contact, with_signal(row, variation="improvement",
                                                 spc_rule="outside"))
    assert "special cause improvement (a point outside the process limits)" in improvement
    concern = summarise(contact, with_signal(row, variation="concern", spc_rule="shift,trend"))
    assert "special cause concern (a run of points on one side of the centre line; " \
           "a run of consecutive rises or falls)" in concern
    assert "common cause variation" in summarise(contact, with_signal(row, variation="common"))
    trial = summarise(contact, with_signal(row, variation="common", spc_limits="trial"))
    assert "This is common cause variation against trial limits" in trial
    too_few = summarise(contact, with_signal(row, variation=None, spc_limits="too_few",
                                             spc_points=14.0))
    assert "Not enough data for SPC (14 points)" in too_few and "variation" not in too_few
    # A KPI with a target: say whether the process will meet it.
    target = dataclasses.replace(contact.kpis["suspect_contact_30d"], target=0.9)
    contact.kpis["suspect_contact_30d"] = target  # this test's dataset only
    text = summarise(contact, with_signal(row, assurance="fail"))
    assert "the process is consistently failing the target of 90.0%" in text
    text = summarise(contact, with_signal(row, assurance="hit_and_miss"))
    assert "is hit and miss against the target of 90.0%" in text
    text = summarise(contact, with_signal(row, assurance="pass"))
    assert "is consistently passing the target of 90.0%" in text


def test_summary_of_a_neutral_kpi_calls_a_signal_an_unusual_change(empty_db, tmp_path):
    months = [add_months(dt.date(2023, 2, 1), i) for i in range(20)]
    values = [10, 11] * 9 + [10, 60]  # the last is far outside the limits
    ds = load(empty_db, tmp_path, [("durham", when, "bail_breaches_recorded", v)
                                   for when, v in zip(months, values, strict=True)])
    table = flight_deck_table(ds, ["bail_breaches_recorded"])
    row = row_of(table, "durham", dt.date(2024, 9, 1))
    assert row["variation"] == "neither"
    text = summarise(ds, row)
    assert "Bail-condition breaches recorded was 60 in September 2024" in text
    assert "This is special cause variation (a point outside the process limits)" in text
    assert "ranked" not in text  # a neutral KPI has no best


def test_summary_of_a_quarterly_rate_per_100k(empty_db, tmp_path):
    path = tmp_path / "recorded.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Financial Year", "Financial Quarter", "Force Name",
                         "Offence Description", "Offence Group", "Offence Subgroup",
                         "Offence Code", "Number of Offences"])
        writer.writerow(["2025/26", "2", "Durham", "Rape", "Sexual offences", "", "19C", 182])
    load_files(empty_db, [path], user="test", now=NOW, today=NOW.date())
    ds = dataset_of(empty_db)
    table = flight_deck_table(ds, ["ho_rape_rate_per_100k"])
    text = summarise(ds, row_of(table, "durham", dt.date(2025, 7, 1)))
    # 182 / 640,000 * 100,000 = 28.4375
    assert "was 28.4 per 100,000 in 2025/26 Q2" in text
    assert "2024/25 Q2" in text


def test_summary_when_there_is_no_figure(empty_db, tmp_path):
    ds = load(empty_db, tmp_path, [
        ("durham", SEPTEMBER_2025, "suspect_arrested_interviewed_30d", 0),
        ("durham", SEPTEMBER_2025, "reports_named_suspect", 0),
    ])
    table = flight_deck_table(ds, ["suspect_contact_30d"])
    text = summarise(ds, row_of(table, "durham", SEPTEMBER_2025))
    assert text == ("Durham, Suspect arrested or interviewed within 30 days, September 2025: "
                    "there is no figure for this period.")


@pytest.mark.slow  # every KPI of every area (over a second)
def test_every_latest_demo_row_has_a_short_summary(demo_dataset):
    for suppress in (False, True):
        table = flight_deck_table(demo_dataset, suppress=suppress)
        latest = table.groupby(["kpi", "area"], sort=False).tail(1)
        for _, row in latest.iterrows():
            text = summarise(demo_dataset, row)
            assert 1 <= sentences(text) <= 2, text
            assert "nan" not in text and "None" not in text, text

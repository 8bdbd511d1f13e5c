"""Demonstration data: deterministic, complete, realistic, and labelled as such."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kpis.cli import main
from kpis.engine.dataset import Dataset
from kpis.engine.measures import financial_year_totals, flight_deck_table, latest_period
from kpis.ingest.demo import STEP_CHANGE_FORCES
from kpis.settings import NATIONAL_SLUG
from kpis.storage import schema
from kpis.storage.duckdb_file import Reader, get_meta
from tests.conftest import DEMO_END, DEMO_SEED


def table_contents(path: Path) -> dict[str, pd.DataFrame]:
    reader = Reader(path)
    contents = {}
    for table in schema.metadata.sorted_tables:
        frame = reader.frame(f"SELECT * FROM {table.name}")
        contents[table.name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    reader.close()
    return contents


@pytest.mark.slow  # builds the whole demonstration database again
def test_same_seed_and_end_month_give_identical_table_contents(
    demo_db_readonly: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    again = tmp_path / "again.duckdb"
    assert main(["demo", "--db", str(again), "--end", f"{DEMO_END:%Y-%m}",
                 "--seed", str(DEMO_SEED)]) == 0
    first, second = table_contents(demo_db_readonly), table_contents(again)
    assert set(first) == set(second)
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name], obj=name)
    assert len(first["observations"]) > 100_000
    assert "generated" in capsys.readouterr().err  # progress is shown while it builds


@pytest.mark.slow  # builds another demonstration database
def test_a_different_seed_gives_different_figures(demo_dataset: Dataset, tmp_path: Path) -> None:
    other = tmp_path / "other.duckdb"
    assert main(["demo", "--db", str(other), "--end", "2020-06", "--seed", "99"]) == 0
    reader = Reader(other)
    frame = reader.frame("SELECT * FROM observations WHERE measure_id = 'rape_reports' "
                         "AND period_start = DATE '2020-06-01' ORDER BY force_slug")
    reader.close()
    cube = demo_dataset.cube
    column = list(cube.periods).index(pd.Timestamp("2020-06-01"))
    ours = cube.measure("rape_reports")[:, column]
    assert not np.array_equal(np.sort(frame["value"].to_numpy()), np.sort(ours))


def test_demo_database_is_marked_as_demonstration_data(demo_db_readonly: Path) -> None:
    with Reader(demo_db_readonly).connect() as conn:
        assert get_meta(conn, "demo") == "true"


def test_demo_covers_43_forces_monthly_from_april_2019_to_the_end_month(
    demo_dataset: Dataset,
) -> None:
    cube = demo_dataset.cube
    assert cube.periods[0].date() == dt.date(2019, 4, 1)
    assert cube.periods[-1].date() == DEMO_END
    reports = cube.measure("rape_reports")
    assert reports.shape[0] == 43
    # Every force has every month except, for a few, the latest return (late on purpose).
    missing = np.isnan(reports)
    assert missing[:, :-1].sum() == 0
    assert 0 < missing[:, -1].sum() <= 5


def test_demo_supplies_every_measure_the_published_catalogue_needs(demo_dataset: Dataset) -> None:
    needed = {m for k in demo_dataset.kpis.values() for m in k.numerator + k.denominator}
    supplied = set(demo_dataset.cube.measure_index)
    assert needed <= supplied
    for kpi_id in demo_dataset.kpis:
        assert latest_period(demo_dataset, kpi_id, NATIONAL_SLUG) is not None, kpi_id


def complete_years(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["complete"]]


def test_national_recorded_rape_is_55000_to_75000_per_financial_year(
    demo_dataset: Dataset,
) -> None:
    years = complete_years(financial_year_totals(demo_dataset, "ho_rape_recorded",
                                                 NATIONAL_SLUG))
    assert len(years) >= 5
    assert years["value"].between(55_000, 75_000).all(), years[["label", "value"]]


def test_rape_charge_rate_is_1_to_5_percent_and_rises_after_the_nom(
    demo_dataset: Dataset,
) -> None:
    years = complete_years(financial_year_totals(demo_dataset, "ho_rape_charge_rate",
                                                 NATIONAL_SLUG))
    assert years["value"].between(0.01, 0.05).all(), years[["label", "value"]]
    by_year = dict(zip(years["financial_year"], years["value"], strict=True))
    # Pathfinders adopted in 2021 and every force by July 2023.
    assert by_year[2024] > by_year[2022] > by_year[2020]


def test_victim_not_supporting_share_is_25_to_50_percent(demo_dataset: Dataset) -> None:
    years = complete_years(financial_year_totals(
        demo_dataset, "ho_rape_victim_not_supporting_share", NATIONAL_SLUG))
    assert years["value"].between(0.25, 0.50).all(), years[["label", "value"]]


def test_pathfinders_charge_more_than_late_adopters_in_2022(demo_dataset: Dataset) -> None:
    def charge_rate(area: str) -> float:
        years = financial_year_totals(demo_dataset, "ho_rape_charge_rate", area)
        return float(years.loc[years["financial_year"] == 2022, "value"].iloc[0])

    pathfinders = np.mean([charge_rate(f) for f in ("avon-and-somerset", "durham",
                                                      "south-wales", "west-midlands")])
    late = np.mean([charge_rate(f) for f in ("cumbria", "dorset", "suffolk", "wiltshire")])
    assert pathfinders > late


def test_seasonality_puts_summer_above_winter(demo_dataset: Dataset) -> None:
    reports = np.nansum(demo_dataset.cube.measure("rape_reports"), axis=0)
    months = demo_dataset.cube.periods.month
    summer = reports[np.isin(months, [6, 7, 8])].mean()
    winter = reports[np.isin(months, [12, 1, 2])].mean()
    assert summer > winter


def test_step_change_forces_show_special_cause_improvement(demo_dataset: Dataset) -> None:
    table = flight_deck_table(demo_dataset, ["device_return_days"], list(STEP_CHANGE_FORCES))
    recent = table[table["period_start"] >= pd.Timestamp("2024-06-01")]
    improving = recent.groupby("area")["variation"].apply(lambda v: (v == "improvement").mean())
    assert (improving > 0.5).all(), improving

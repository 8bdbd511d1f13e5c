"""Views for pages and packs: exceptions since a meeting, latest comparisons."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from kpis.engine.dataset import Dataset
from kpis.engine.measures import flight_deck_table
from kpis.engine.views import exceptions_since, latest_comparison


def test_exceptions_since_a_meeting_list_each_signalled_kpi_once_concerns_first(
    demo_dataset: Dataset,
) -> None:
    table = flight_deck_table(demo_dataset, areas=["kent"], end=dt.date(2025, 9, 1))
    since = dt.date(2025, 3, 1)
    found = exceptions_since(table, demo_dataset, since, dt.date(2025, 9, 1))
    # Worked out from the table directly: KPIs with a concern or improvement point
    # after March 2025.
    window = table[table["period_start"] > pd.Timestamp(since)]
    expected = set(window.loc[window["variation"].isin(["concern", "improvement"]), "kpi"])
    assert set(found["kpi"]) == expected
    assert found["kpi"].is_unique
    signals = list(found["signal"])
    assert signals == sorted(signals, key=lambda s: s != "concern")
    for row in found.to_dict("records"):
        assert row["signal_period"] > pd.Timestamp(since)


def test_a_meeting_after_the_period_has_no_exceptions(demo_dataset: Dataset) -> None:
    table = flight_deck_table(demo_dataset, areas=["kent"], end=dt.date(2025, 9, 1))
    assert exceptions_since(table, demo_dataset, dt.date(2025, 9, 1),
                            dt.date(2025, 9, 1)).empty


def test_latest_comparison_takes_each_kpis_last_period(demo_dataset: Dataset) -> None:
    table = flight_deck_table(demo_dataset, areas=["durham"], end=dt.date(2025, 9, 1),
                              spc=None)
    latest = latest_comparison(table, "durham")
    assert latest["kpi"].is_unique
    charge = latest[latest["kpi"] == "ho_rape_charge_rate"].iloc[0]
    assert charge["period_start"] == pd.Timestamp("2025-07-01")  # the last complete quarter
    contact = latest[latest["kpi"] == "suspect_contact_30d"].iloc[0]
    assert contact["period_start"] == pd.Timestamp("2025-09-01")

"""Views for pages and packs: what a scrutiny meeting takes, latest comparisons."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from kpis.engine.dataset import Dataset
from kpis.engine.measures import flight_deck_table
from kpis.engine.views import SCRUTINY_GROUPS, latest_comparison, scrutiny_rows


def test_scrutiny_lists_each_kpi_once_concerns_then_targets_failed_then_improvements(
    demo_dataset: Dataset,
) -> None:
    table = flight_deck_table(demo_dataset, areas=["kent"], end=dt.date(2025, 9, 1))
    since = dt.date(2025, 3, 1)
    found = scrutiny_rows(table, demo_dataset, since, dt.date(2025, 9, 1))
    # Worked out from the table directly: KPIs with a concern or improvement point
    # after March 2025, and those consistently failing a target in their latest period.
    window = table[table["period_start"] > pd.Timestamp(since)]
    signalled = set(window.loc[window["variation"].isin(["concern", "improvement"]), "kpi"])
    latest = table.groupby("kpi").tail(1)
    failing = {k for k, a in zip(latest["kpi"], latest["assurance"], strict=True)
               if a == "fail" and demo_dataset.kpis[k].target is not None}
    assert set(found["kpi"]) == signalled | failing
    assert found["kpi"].is_unique
    order = [code for code, _ in SCRUTINY_GROUPS]
    groups = list(found["group"])
    assert groups == sorted(groups, key=order.index)
    for row in found.to_dict("records"):
        if row["group"] != "failing":
            assert row["signal"]["period_start"] > pd.Timestamp(since)


def test_a_meeting_after_the_period_has_no_signals(demo_dataset: Dataset) -> None:
    table = flight_deck_table(demo_dataset, areas=["kent"], end=dt.date(2025, 9, 1))
    found = scrutiny_rows(table, demo_dataset, dt.date(2025, 9, 1), dt.date(2025, 9, 1))
    assert set(found["group"]) <= {"failing"}  # only targets failed: no new signal


def test_latest_comparison_takes_each_kpis_last_period(demo_dataset: Dataset) -> None:
    table = flight_deck_table(demo_dataset, areas=["durham"], end=dt.date(2025, 9, 1),
                              spc=None)
    latest = latest_comparison(table, "durham")
    assert latest["kpi"].is_unique
    charge = latest[latest["kpi"] == "ho_rape_charge_rate"].iloc[0]
    assert charge["period_start"] == pd.Timestamp("2025-07-01")  # the last complete quarter
    contact = latest[latest["kpi"] == "suspect_contact_30d"].iloc[0]
    assert contact["period_start"] == pd.Timestamp("2025-09-01")

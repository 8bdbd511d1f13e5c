"""Views for pages and packs: what a scrutiny meeting takes, latest comparisons."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

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


def test_a_recent_table_starts_at_each_kpis_last_points_not_after_the_month(
        reference: Dataset) -> None:
    from kpis.engine.views import recent_start
    from tests.conftest import generated_dataset

    def month(m: int) -> pd.Timestamp:
        return pd.Timestamp(2023, m, 1)

    # Kent's referrals in January, February, March, May and June 2023 (April missing);
    # its suspect contacts in May and June only.
    rows = [("kent", month(m), "cps_referrals", 5.0) for m in (1, 2, 3, 5, 6)]
    rows += [("kent", month(m), measure, value) for m in (5, 6) for measure, value in
             (("reports_named_suspect", 10.0), ("suspect_arrested_interviewed_30d", 4.0))]
    ds = generated_dataset(reference, pd.DataFrame(
        rows, columns=["force_slug", "period_start", "measure_id", "value"]))
    three = {"monthly": 3, "quarterly": 2}
    june, april = dt.date(2023, 6, 1), dt.date(2023, 4, 1)
    # The last three months with referrals by June: March, May, June (April has none).
    assert recent_start(ds, ["cps_referrals"], "kent", june, three) == dt.date(2023, 3, 1)
    # Contacts: May and June, fewer than three: from the first.
    assert recent_start(ds, ["suspect_contact_30d"], "kent", june, three) == dt.date(2023, 5, 1)
    # Both KPIs in one table: from the earlier of the two.
    assert recent_start(ds, ["suspect_contact_30d", "cps_referrals"], "kent", june, three
                        ) == dt.date(2023, 3, 1)
    # By April: January, February, March (contacts have nothing yet and ask for nothing).
    assert recent_start(ds, ["suspect_contact_30d", "cps_referrals"], "kent", april, three
                        ) == dt.date(2023, 1, 1)
    assert recent_start(ds, ["cps_referrals"], "kent", dt.date(2022, 12, 1), three) is None
    assert recent_start(ds, ["cps_referrals"], "durham", june, three) is None
    assert recent_start(ds, ["cps_referrals"], "kent", None, {"monthly": 2}) == month(5).date()


@pytest.mark.parametrize(("force", "period", "suppress"), [
    ("kent", dt.date(2025, 9, 1), False), ("durham", dt.date(2025, 6, 1), True),
    ("metropolitan", dt.date(2024, 3, 1), False), ("england-and-wales", None, False),
    ("gwent", dt.date(2019, 8, 1), True)])
def test_the_flight_decks_recent_table_gives_the_rows_the_whole_table_gives(
        demo_dataset: Dataset, force: str, period: dt.date | None, suppress: bool) -> None:
    """What the flight deck shows from its table (each KPI's latest row, the comparator's
    row at that period, and the trend's last points) is the same from the table cut at
    recent_start as from the table of every period."""
    from kpis.charts.glance import at_periods, latest_and_history
    from kpis.engine.views import comparator_area, recent_start

    ds = demo_dataset
    comparator = comparator_area(ds, force, "region") or "england-and-wales"
    areas = list(dict.fromkeys([force, comparator]))
    for points in ({"monthly": 24, "quarterly": 8}, {"monthly": 3, "quarterly": 2}):
        start = recent_start(ds, list(ds.kpis), force, period, points)
        assert start is not None
        whole = flight_deck_table(ds, areas=areas, end=period, suppress=suppress)
        recent = flight_deck_table(ds, areas=areas, start=start, end=period,
                                   suppress=suppress)
        # Shorter, except where the trend reaches back to the first month of data.
        assert len(recent) < len(whole) or (period is not None and period.year < 2020)
        (own, history), (own_cut, history_cut) = (latest_and_history(t, force)
                                                  for t in (whole, recent))
        assert own.keys() == own_cut.keys() and own
        for kpi_id, row in own.items():
            assert pd.Series(row).equals(pd.Series(own_cut[kpi_id])), kpi_id
            wanted = points[ds.kpis[kpi_id].periodicity]
            assert np.array_equal(history[kpi_id][-wanted:], history_cut[kpi_id][-wanted:],
                                  equal_nan=True), kpi_id
            assert len(history_cut[kpi_id]) >= min(wanted, len(history[kpi_id]))
        if comparator != force:
            other, other_cut = (at_periods(t, comparator, own) for t in (whole, recent))
            assert other.keys() == other_cut.keys()
            assert all(pd.Series(other[k]).equals(pd.Series(other_cut[k])) for k in other)

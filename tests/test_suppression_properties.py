"""Property test: no hidden cell of a suppressed output can be narrowed by what it shows.

For random small counts across forces, months and aggregates, the suppressed
flight-deck table is read as an attacker would: every figure it shows becomes a linear
equation over the true force-month counts (a force's count, an aggregate's sum, a
rolling year's twelve months, a comparator, a year-earlier figure and a change, an SPC
centre line over its points), counts are never negative, and SciPy's ``linprog`` (not
the product's own solver) finds the smallest and largest value each hidden count can
take. Every hidden count must keep a range at least the threshold wide (5: a hidden 1
to 4 cannot be told from 0 or from 5 or more).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from kpis.engine.dataset import Dataset
from kpis.engine.measures import flight_deck_table
from tests.conftest import generated_dataset

FORCES = ("durham", "cleveland", "northumbria", "kent", "surrey", "city-of-london",
          "metropolitan")
COUNT, SHARE = "cps_referrals", "suspect_contact_30d"
THRESHOLD = 5
START = dt.date(2023, 1, 1)

pytestmark = pytest.mark.slow  # generated datasets and a linear programme per hidden cell


@st.composite
def small_returns(draw: st.DrawFn) -> pd.DataFrame:
    """Force-months of small counts (0 to 12, mostly small), over 12 to 15 months."""
    forces = draw(st.lists(st.sampled_from(FORCES), min_size=2, max_size=len(FORCES),
                           unique=True))
    months = draw(st.integers(min_value=12, max_value=15))
    count = st.integers(0, 12)
    rows = []
    for force in forces:
        for i in range(months):
            when = pd.Timestamp(START) + pd.DateOffset(months=i)
            denominator = draw(count)
            rows += [(force, when, "cps_referrals", float(draw(count))),
                     (force, when, "reports_named_suspect", float(denominator)),
                     (force, when, "suspect_arrested_interviewed_30d",
                      float(draw(st.integers(0, denominator))))]
    return pd.DataFrame(rows, columns=["force_slug", "period_start", "measure_id", "value"])


class Attacker:
    """What the shown figures say about the true force-month counts of one measure."""

    def __init__(self, ds: Dataset, truth: pd.DataFrame, measure: str) -> None:
        cells = truth[truth["measure_id"] == measure]
        self.index = {(r.force_slug, pd.Timestamp(r.period_start)): i
                      for i, r in enumerate(cells.itertuples())}
        self.truth = cells["value"].to_numpy(dtype=float)
        members = ds.members
        self.members = {area: set(members.loc[members["area_id"] == area, "force_slug"])
                        for area in members["area_id"].unique()}
        self.rows: list[np.ndarray] = []
        self.rhs: list[float] = []

    def cells_of(self, area: str, when: pd.Timestamp) -> list[int]:
        forces = {area} if area in FORCES else self.members.get(area, set())
        return [self.index[(f, when)] for f in forces if (f, when) in self.index]

    def knows(self, terms: list[tuple[int, float]], value: float) -> None:
        row = np.zeros(len(self.truth))
        for cell, weight in terms:
            row[cell] += weight
        self.rows.append(row)
        self.rhs.append(value)

    def sum_is(self, area: str, months: list[pd.Timestamp], value: float,
               weight: float = 1.0) -> None:
        self.knows([(c, weight) for when in months for c in self.cells_of(area, when)], value)

    def range_of(self, terms: list[int]) -> tuple[float, float]:
        cost = np.zeros(len(self.truth))
        cost[terms] = 1.0
        a_eq = np.array(self.rows) if self.rows else None
        b_eq = np.array(self.rhs) if self.rows else None
        low = linprog(cost, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
        high = linprog(-cost, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
        assert low.status == 0, "the true counts satisfy what is shown"
        return low.fun, (np.inf if high.status == 3 else -high.fun)


def read_as_attacker(ds: Dataset, table: pd.DataFrame, attacker: Attacker,
                     count_column: str, value_is_count: bool) -> None:
    """Every shown figure of ``table`` about this measure, as equations."""
    year = pd.DateOffset(months=12)
    for row in table.itertuples():
        when = pd.Timestamp(row.period_start)
        count = getattr(row, count_column)
        if not np.isnan(count):
            attacker.sum_is(row.area, [when], count)
        rolling = getattr(row, f"rolling_{count_column}")
        if not np.isnan(rolling):
            attacker.sum_is(row.area, list(pd.date_range(end=when, periods=12, freq="MS")),
                            rolling)
        if not value_is_count:
            continue
        for column, area in (("national_value", "england-and-wales"),
                             ("peer_value", row.peer_group)):
            if isinstance(area, str) and not np.isnan(getattr(row, column)):
                attacker.sum_is(area, [when], getattr(row, column))
        if not np.isnan(row.prior_value):
            attacker.sum_is(row.area, [when - year], row.prior_value)
        if not np.isnan(row.change):
            attacker.knows([(c, 1.0) for c in attacker.cells_of(row.area, when)]
                           + [(c, -1.0) for c in attacker.cells_of(row.area, when - year)],
                           row.change)
        if not np.isnan(row.spc_mean) and not pd.isna(row.spc_from):
            months = [m for m in pd.date_range(row.spc_from, row.spc_to, freq="MS")
                      if attacker.cells_of(row.area, m)]
            if len(months) == row.spc_points:
                attacker.sum_is(row.area, months, row.spc_mean * row.spc_points)


def assert_hidden_cells_protected(ds: Dataset, plain: pd.DataFrame, table: pd.DataFrame,
                                  attacker: Attacker, count_column: str) -> None:
    hidden = table[np.isnan(table[count_column].to_numpy(dtype=float))
                   & ~np.isnan(plain[count_column].to_numpy(dtype=float))]
    for row in hidden.itertuples():
        cells = attacker.cells_of(row.area, pd.Timestamp(row.period_start))
        low, high = attacker.range_of(cells)
        assert high - low >= THRESHOLD - 1e-6, (
            f"{row.kpi} {row.area} {row.period_start:%Y-%m} {count_column}: a reader can "
            f"narrow it to {low:g}..{high:g}")


SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(frame=small_returns())
def test_every_hidden_count_keeps_a_range_at_least_the_threshold_wide(reference, frame):
    ds = generated_dataset(reference, frame)
    plain = flight_deck_table(ds, [COUNT])
    table = flight_deck_table(ds, [COUNT], suppress=True, threshold=THRESHOLD)
    attacker = Attacker(ds, frame, "cps_referrals")
    read_as_attacker(ds, table, attacker, "numerator", value_is_count=True)
    assert_hidden_cells_protected(ds, plain, table, attacker, "numerator")


@SETTINGS
@given(frame=small_returns())
def test_a_share_hides_its_counts_and_shows_a_rate_only_beside_both(reference, frame):
    ds = generated_dataset(reference, frame)
    plain = flight_deck_table(ds, [SHARE])
    table = flight_deck_table(ds, [SHARE], suppress=True, threshold=THRESHOLD)
    # A rate shown with a hidden count would give the count back (rate x the other).
    shown = ~np.isnan(table["value"].to_numpy(dtype=float))
    assert not np.isnan(table.loc[shown, ["numerator", "denominator"]].to_numpy(
        dtype=float)).any()
    # Ranks are among the forces shown: no gap for a hidden force to sit in.
    ranked = table[table["area"].isin(FORCES) & table["rank"].notna()]
    for _, group in ranked.groupby("period_start"):
        share = group["comparison"].to_numpy(dtype=float)
        assert list(group["rank"]) == [(share > v).sum() + 1 for v in share]
        assert (group["ranked_forces"] == len(group)).all()
    for column, measure in (("numerator", "suspect_arrested_interviewed_30d"),
                            ("denominator", "reports_named_suspect")):
        attacker = Attacker(ds, frame, measure)
        read_as_attacker(ds, table, attacker, column, value_is_count=False)
        assert_hidden_cells_protected(ds, plain, table, attacker, column)

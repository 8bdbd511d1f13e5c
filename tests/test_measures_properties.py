"""Property tests for the KPI engine: invariants over many generated datasets and series.

Datasets are generated in memory and built with ``build_cube`` (the same path a load
takes) on the reference data and catalogue of a freshly initialised database: a share
KPI (suspects contacted within 30 days over reports with a named suspect) and a count
KPI (referrals to the CPS) for a handful of forces in three regions, over up to 30
months, with gaps. The batch SPC is checked to equal ``xmr`` series by series (flags exactly,
lines to the last bits).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpis.engine.dataset import Dataset
from kpis.engine.measures import flight_deck_table
from kpis.engine.spc import SpcRules, xmr_batch
from tests.conftest import generated_dataset
from tests.spc_reference import xmr

FORCES = ("durham", "cleveland", "northumbria", "kent", "surrey", "city-of-london",
          "metropolitan")
REGIONS = ("region-north-east", "region-south-east", "region-london")
SHARE, COUNT = "suspect_contact_30d", "cps_referrals"
NATIONAL = "england-and-wales"
START = dt.date(2023, 1, 1)

pytestmark = pytest.mark.slow  # generated datasets, sixty examples a property

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


@st.composite
def observations(draw: st.DrawFn) -> pd.DataFrame:
    """Force-months with a share (numerator <= denominator) and a count; some missing."""
    forces = draw(st.lists(st.sampled_from(FORCES), min_size=1, max_size=len(FORCES),
                           unique=True))
    months = draw(st.integers(min_value=1, max_value=30))
    rows = []
    for force in forces:
        for i in range(months):
            if draw(st.integers(0, 9)) == 0:  # about one month in ten missing
                continue
            when = pd.Timestamp(START) + pd.DateOffset(months=i)
            denominator = draw(st.integers(0, 60))
            numerator = draw(st.integers(0, denominator))
            rows += [(force, when, "reports_named_suspect", float(denominator)),
                     (force, when, "suspect_arrested_interviewed_30d", float(numerator)),
                     (force, when, "cps_referrals", float(draw(st.integers(0, 30))))]
    return pd.DataFrame(rows, columns=["force_slug", "period_start", "measure_id", "value"])


def table_of(reference: Dataset, frame: pd.DataFrame, **kwargs) -> pd.DataFrame:
    if frame.empty:
        frame = pd.DataFrame({"force_slug": ["durham"], "period_start": [pd.Timestamp(START)],
                              "measure_id": ["cps_referrals"], "value": [1.0]})
    return flight_deck_table(generated_dataset(reference, frame), [SHARE, COUNT], **kwargs)


@PROPERTY_SETTINGS
@given(frame=observations())
def test_shares_stay_within_zero_and_one(reference, frame):
    table = table_of(reference, frame)
    shares = table[table["kpi"] == SHARE][
        ["value", "rolling_value", "prior_value", "national_value", "peer_value"]
    ].to_numpy(dtype=float)
    present = shares[~np.isnan(shares)]
    assert ((present >= 0) & (present <= 1)).all()


@PROPERTY_SETTINGS
@given(frame=observations())
def test_national_figures_are_sums_over_the_forces(reference, frame):
    table = table_of(reference, frame, spc=None)
    forces = table[table["area"].isin(FORCES)]
    national = table[table["area"] == NATIONAL].set_index(["kpi", "period_start"])
    grouped = forces.groupby(["kpi", "period_start"])
    for column in ("numerator", "denominator"):
        summed = grouped[column].sum(min_count=1)
        pd.testing.assert_series_equal(summed.sort_index(), national[column].sort_index(),
                                       check_names=False)
    reporting = grouped.size()
    assert (national["forces_reporting"].sort_index().to_numpy()
            == reporting.sort_index().to_numpy()).all()


@PROPERTY_SETTINGS
@given(frame=observations())
def test_a_peer_group_share_lies_between_its_members_shares(reference, frame):
    table = table_of(reference, frame, spc=None)
    shares = table[table["kpi"] == SHARE]
    members = reference.members
    for region in REGIONS:
        forces = set(members.loc[members["area_id"] == region, "force_slug"])
        member_values = shares[shares["area"].isin(forces)].groupby("period_start")["value"]
        low, high = member_values.min(), member_values.max()
        for _, row in shares[shares["area"] == region].iterrows():
            if np.isnan(row["value"]):
                continue
            when = row["period_start"]
            assert low[when] - 1e-12 <= row["value"] <= high[when] + 1e-12
            # And each member force's peer value is this region's value.
            peers = shares[shares["area"].isin(forces) & (shares["period_start"] == when)]
            assert np.allclose(peers["peer_value"], row["value"])


@PROPERTY_SETTINGS
@given(frame=observations())
def test_a_rolling_year_is_twelve_present_months_summed(reference, frame):
    table = table_of(reference, frame, spc=None)
    shares = table[(table["kpi"] == SHARE) & table["area"].isin(FORCES)]
    for _, series in shares.groupby("area"):
        by_month = series.set_index("period_start")
        for when, row in by_month.iterrows():
            window = pd.date_range(end=when, periods=12, freq="MS")
            if window.isin(by_month.index).all():
                assert row["rolling_numerator"] == by_month.loc[window, "numerator"].sum()
                assert row["rolling_denominator"] == by_month.loc[window, "denominator"].sum()
            else:
                assert np.isnan(row["rolling_value"])


@PROPERTY_SETTINGS
@given(frame=observations(), threshold=st.integers(min_value=1, max_value=8))
def test_suppression_leaves_no_small_count_and_never_writes_zero(reference, frame, threshold):
    plain = table_of(reference, frame)
    table = table_of(reference, frame, suppress=True, threshold=threshold)
    counts = table[["numerator", "denominator", "rolling_numerator", "rolling_denominator"]]
    values = counts.to_numpy(dtype=float)
    assert not ((values > 0) & (values < threshold)).any()
    count_values = table.loc[table["kpi"] == COUNT, ["value", "national_value", "peer_value",
                                                     "prior_value"]].to_numpy(dtype=float)
    assert not ((count_values > 0) & (count_values < threshold)).any()
    assert table.loc[table["suppressed"], "value"].isna().all()
    # A cell is either as computed or withheld (NaN): never replaced by another number
    # (ranks apart: among the forces shown, tests/test_measures.py).
    numeric = [c for c in table.columns if table[c].dtype.kind == "f"
               and c not in ("rank", "ranked_forces")]
    shown = table[numeric].to_numpy(dtype=float)
    truth = plain[numeric].to_numpy(dtype=float)
    same = np.isnan(shown) | (shown == truth) | (np.isnan(truth) & np.isnan(shown))
    assert same.all()


# --- the batch XmR equals xmr, series by series ---------------------------------------------


def assert_batch_equals_xmr(series: list[list[float]], polarities: list[str],
                            targets: list[float | None], rebases: list[list[int]],
                            baseline: int | None, rules: SpcRules) -> None:
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in series])]).astype(np.int64)
    flat = np.array([v for s in series for v in s], dtype=float)
    starts = np.zeros(flat.size, dtype=bool)
    for offset, rebase in zip(offsets[:-1], rebases, strict=True):
        starts[[offset + i for i in rebase]] = True
    batch = xmr_batch(flat, offsets, polarities,
                      [np.nan if t is None else t for t in targets], baseline, starts, rules)
    rule_labels, variation = batch.rules, batch.variation
    for i, values in enumerate(series):
        expected = xmr(values, polarities[i], targets[i], baseline, rebases[i], rules)
        part = slice(offsets[i], offsets[i + 1])
        for name in ("mean", "lower", "upper", "lower_2sigma", "upper_2sigma"):
            # Sums in another order: equal to the last few bits, not bit for bit.
            np.testing.assert_allclose(getattr(batch, name)[part], getattr(expected, name),
                                       rtol=1e-12, atol=1e-9, err_msg=f"series {i} {name}")
        assert list(rule_labels[part]) == expected.rules, f"series {i} rules"
        assert list(variation[part]) == expected.variation, f"series {i} variation"
        assert batch.assurance[i] == expected.assurance, f"series {i} assurance"


point = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.integers(min_value=0, max_value=5).map(float),  # ties: on the mean, equal neighbours
    st.just(float("nan")),
)


@st.composite
def batches(draw: st.DrawFn):
    count = draw(st.integers(min_value=0, max_value=6))
    series, rebases = [], []
    for _ in range(count):
        values = draw(st.lists(point, max_size=30))
        series.append(values)
        cuts = draw(st.lists(st.integers(0, max(len(values) - 1, 0)), max_size=3))
        rebases.append(sorted(set(cuts)) if values else [])
    polarities = draw(st.lists(st.sampled_from(["higher", "lower", "neutral"]),
                               min_size=count, max_size=count))
    targets = draw(st.lists(st.one_of(st.none(), st.floats(-10, 10)), min_size=count,
                            max_size=count))
    baseline = draw(st.one_of(st.none(), st.integers(min_value=2, max_value=30)))
    # Small minimum numbers of points too, so that short series show their signals.
    least = draw(st.integers(2, 15))
    rules = SpcRules(shift_length=draw(st.integers(2, 9)), trend_length=draw(st.integers(2, 9)),
                     two_of_three=draw(st.booleans()), outside_limits=draw(st.booleans()),
                     min_points=least, full_points=least + draw(st.integers(0, 5)))
    return series, polarities, targets, rebases, baseline, rules


@settings(max_examples=300, deadline=None)
@given(batch=batches())
def test_batch_xmr_equals_xmr_exactly(batch):
    assert_batch_equals_xmr(*batch)


def test_batch_xmr_equals_xmr_on_many_random_series():
    """Thousands of series in one batch: noise, counts with ties, walks, trends, gaps."""
    rng = np.random.default_rng(20251129)
    for trial in range(6):
        series, polarities, targets, rebases = [], [], [], []
        for _ in range(400):
            n = int(rng.integers(0, 90))
            kind = int(rng.integers(0, 4))
            if kind == 0:
                values = rng.normal(10, 2, n)
            elif kind == 1:
                values = rng.integers(0, 4, n).astype(float)
            elif kind == 2:
                values = np.cumsum(rng.integers(-1, 2, n)).astype(float)
            else:
                values = np.round(rng.normal(0, 1, n), 1) + np.arange(n) * rng.choice([0, .3])
            values[rng.random(n) < 0.1] = np.nan
            if n and rng.random() < 0.05:
                values[rng.integers(0, n)] = np.inf
            series.append(values.tolist())
            polarities.append(str(rng.choice(["higher", "lower", "neutral"])))
            targets.append(None if rng.random() < 0.5 else float(rng.normal(10, 3)))
            cuts = rng.integers(0, n, int(rng.integers(0, 3))) if n else []
            rebases.append(sorted({int(c) for c in cuts}))
        rules = SpcRules(shift_length=int(rng.integers(2, 9)),
                         trend_length=int(rng.integers(2, 9)),
                         two_of_three=bool(trial % 3), outside_limits=bool(trial % 4),
                         min_points=(15, 2, 15, 5, 15, 3)[trial])
        baseline = (None, 2, 5, 12, 40, None)[trial]
        assert_batch_equals_xmr(series, polarities, targets, rebases, baseline, rules)


def test_batch_xmr_checks_its_arguments():
    with pytest.raises(ValueError, match="baseline"):
        xmr_batch([1.0, 2.0], [0, 2], "higher", baseline=1)
    with pytest.raises(ValueError, match="polarity"):
        xmr_batch([1.0, 2.0], [0, 2], "sideways")
    with pytest.raises(ValueError, match="offsets"):
        xmr_batch([1.0, 2.0], [0, 3], "higher")
    with pytest.raises(ValueError, match="polarities"):
        xmr_batch([1.0, 2.0], [0, 1, 2], ["higher"])
    empty = xmr_batch([], [0], "higher")
    assert empty.mean.size == 0 and empty.assurance.size == 0

"""Tests for kpis.engine.funnel: limits around a proportion, classification and clipping.

Expected limits are worked by hand from p +/- z * sqrt(p * (1 - p) / n).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpis.engine.funnel import COLUMNS, FunnelPoint, funnel, funnel_curve, funnel_points

Z95 = 1.959964
Z998 = 3.090232


def test_limits_at_hand_computed_n_and_p():
    # p = 0.1, n = 100: standard error sqrt(0.1 * 0.9 / 100) = sqrt(0.0009) = 0.03
    # 95%:   0.1 -/+ 1.959964 * 0.03 = 0.1 -/+ 0.05879892 -> 0.04120108 .. 0.15879892
    # 99.8%: 0.1 -/+ 3.090232 * 0.03 = 0.1 -/+ 0.09270696 -> 0.00729304 .. 0.19270696
    row = funnel([10], [100], ["Force A"], centre=0.1).iloc[0]
    assert row["value"] == pytest.approx(0.1)
    assert row["centre"] == 0.1
    assert row["lower95"] == pytest.approx(0.04120108)
    assert row["upper95"] == pytest.approx(0.15879892)
    assert row["lower998"] == pytest.approx(0.00729304)
    assert row["upper998"] == pytest.approx(0.19270696)


def test_frame_has_one_row_per_label_in_order_with_documented_columns():
    frame = funnel([1, 2, 3], [10, 20, 30], ["a", "b", "c"])
    assert list(frame.columns) == list(COLUMNS)
    assert list(COLUMNS) == [
        "label",
        "numerator",
        "denominator",
        "value",
        "centre",
        "lower95",
        "upper95",
        "lower998",
        "upper998",
        "position",
        "position998",
    ]
    assert frame["label"].tolist() == ["a", "b", "c"]


def test_default_centre_pools_numerators_and_denominators():
    # (10 + 90) / (100 + 300) = 100 / 400 = 0.25, not the mean of the rates
    # (0.1 + 0.3) / 2 = 0.2.
    frame = funnel([10, 90], [100, 300], ["a", "b"])
    assert frame["centre"].tolist() == pytest.approx([0.25, 0.25])


def test_position_against_95_and_998_limits():
    # Limits for p = 0.1, n = 100 as above: 95% 0.0412 .. 0.1588, 99.8% 0.0073 .. 0.1927
    frame = funnel(
        [20, 16, 10, 3, 0], [100] * 5, ["high", "warn high", "middle", "warn low", "zero"], 0.1
    )
    # 0.20 above both; 0.16 above 95% only; 0.10 inside; 0.03 below 95% only;
    # 0.00 below both (0 < 0.0073).
    assert frame["position"].tolist() == ["above", "above", "inside", "below", "below"]
    assert frame["position998"].tolist() == ["above", "inside", "inside", "inside", "below"]


def test_value_exactly_on_a_limit_is_inside():
    # With p = 0 the half-width is z * sqrt(0 * 1 / n) = 0, so both limits are 0 and a
    # value of exactly 0 sits on them: only points strictly beyond a limit are outliers.
    frame = funnel([0], [50], ["none"], centre=0.0)
    assert frame["lower95"].iloc[0] == 0.0 and frame["upper95"].iloc[0] == 0.0
    assert frame["position"].iloc[0] == "inside"


def test_zero_denominator_is_no_data():
    frame = funnel([0, 5], [0, 50], ["empty", "b"], centre=0.1)
    row = frame.iloc[0]
    assert math.isnan(row["value"])
    assert math.isnan(row["lower95"]) and math.isnan(row["upper998"])
    assert row["position"] == "no data" and row["position998"] == "no data"
    assert frame["position"].iloc[1] == "inside"


def test_missing_rows_do_not_count_towards_the_pooled_centre():
    # Only (10 / 100) has data: centre 0.1.
    frame = funnel([10, 0, math.nan], [100, 0, 40], ["a", "b", "c"])
    assert frame["centre"].iloc[0] == pytest.approx(0.1)
    assert frame["position"].tolist() == ["inside", "no data", "no data"]


def test_limits_are_clipped_to_zero_and_one():
    # p = 0.02, n = 10: se = sqrt(0.02 * 0.98 / 10) = sqrt(0.00196) = 0.044272;
    # lower 95% = 0.02 - 1.959964 * 0.044272 = -0.0668 -> clipped to 0.
    low = funnel([0], [10], ["a"], centre=0.02).iloc[0]
    assert low["lower95"] == 0.0 and low["lower998"] == 0.0
    assert low["upper95"] == pytest.approx(0.02 + Z95 * math.sqrt(0.02 * 0.98 / 10))
    # p = 0.98 mirrors it: upper 99.8% = 0.98 + 3.090232 * 0.044272 = 1.1168 -> 1.
    high = funnel([10], [10], ["b"], centre=0.98).iloc[0]
    assert high["upper95"] == 1.0 and high["upper998"] == 1.0
    assert high["lower998"] == pytest.approx(0.98 - Z998 * math.sqrt(0.98 * 0.02 / 10))


def test_invalid_inputs_are_rejected():
    with pytest.raises(ValueError, match="same length"):
        funnel([1, 2], [10], ["a", "b"])
    with pytest.raises(ValueError, match="negative"):
        funnel([-1], [10], ["a"])
    with pytest.raises(ValueError, match="exceeds"):
        funnel([11], [10], ["a"])
    with pytest.raises(ValueError, match="centre"):
        funnel([1], [10], ["a"], centre=1.5)


def test_funnel_points_mirror_the_frame_rows():
    frame = funnel([20, 10], [100, 100], ["a", "b"], centre=0.1)
    points = funnel_points(frame)
    assert isinstance(points[0], FunnelPoint)
    assert points[0].label == "a" and points[0].position == "above"
    assert points[1].value == pytest.approx(0.1)


def test_curve_runs_from_one_to_n_max_with_hand_computed_end():
    curve = funnel_curve(0.1, 100, points=50)
    assert len(curve) == 50
    assert curve["n"].iloc[0] == pytest.approx(1.0)
    assert curve["n"].iloc[-1] == pytest.approx(100.0)
    # At n = 100 the limits are those of test_limits_at_hand_computed_n_and_p.
    assert curve["lower95"].iloc[-1] == pytest.approx(0.04120108)
    assert curve["upper998"].iloc[-1] == pytest.approx(0.19270696)
    # At n = 1: 0.1 + 1.959964 * sqrt(0.09) = 0.1 + 0.5879892; the lower is clipped.
    assert curve["upper95"].iloc[0] == pytest.approx(0.6879892)
    assert curve["lower95"].iloc[0] == 0.0


def test_curve_rejects_bad_arguments():
    with pytest.raises(ValueError):
        funnel_curve(0.1, 0.5)
    with pytest.raises(ValueError):
        funnel_curve(0.1, 100, points=1)
    with pytest.raises(ValueError):
        funnel_curve(-0.1, 100)


# --- properties ---------------------------------------------------------------------------

proportions = st.floats(0.0, 1.0)


@given(proportions, st.floats(1.0, 1e7), st.integers(2, 300))
def test_curve_limits_stay_in_unit_interval_and_narrow_as_n_grows(p, n_max, points):
    curve = funnel_curve(p, n_max, points)
    limits = curve[["lower95", "upper95", "lower998", "upper998"]].to_numpy()
    assert ((limits >= 0.0) & (limits <= 1.0)).all()
    # The 99.8% funnel contains the 95% one.
    assert (curve["lower998"] <= curve["lower95"]).all()
    assert (curve["upper95"] <= curve["upper998"]).all()
    # Narrowing: lower limits never fall and upper limits never rise as n increases
    # (a tiny tolerance for rounding in sqrt).
    for column in ("lower95", "lower998"):
        assert (np.diff(curve[column].to_numpy()) >= -1e-12).all()
    for column in ("upper95", "upper998"):
        assert (np.diff(curve[column].to_numpy()) <= 1e-12).all()


@given(
    st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 10_000)).map(sorted),
        min_size=1,
        max_size=30,
    )
)
def test_funnel_limits_stay_in_unit_interval(pairs):
    numerators = [a for a, _ in pairs]
    denominators = [b for _, b in pairs]
    frame = funnel(numerators, denominators, [str(i) for i in range(len(pairs))])
    limits = frame[["lower95", "upper95", "lower998", "upper998"]].to_numpy()
    defined = ~np.isnan(limits)
    assert ((limits[defined] >= 0.0) & (limits[defined] <= 1.0)).all()
    assert (np.isnan(limits).any(axis=1) == (frame["denominator"] == 0).to_numpy()).all()

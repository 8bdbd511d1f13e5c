"""Tests for kpis.engine.funnel: exact limits around a proportion or rate, classification,
clipping and the curve.

Expected limits are worked out here from first principles, not with scipy: binomial
probabilities as sums of math.comb terms, Poisson ones from the pmf e^-mu mu^k / k!,
then Spiegelhalter's (2005) interpolation: r_p is the smallest r with P(R <= r) >= alpha,
alpha_interp = (P(R <= r_p) - alpha) / (P(R <= r_p) - P(R <= r_p - 1)) and the limit is
(r_p - alpha_interp) / n.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpis.charts.specs import compare_export, funnel_export
from kpis.engine.funnel import (
    COLUMNS,
    CURVE_COLUMNS,
    FunnelPoint,
    funnel,
    funnel_curve,
    funnel_limits,
    funnel_points,
)

Z95 = 1.959964
Z998 = 3.090232
TAILS = {"lower95": 0.025, "upper95": 0.975, "lower998": 0.001, "upper998": 0.999}
LIMITS = list(TAILS)


# --- the reference: exact limits from first principles --------------------------------------

def binomial_cdf(n: int, p: float) -> Callable[[int], float]:
    """P(R <= r) for R ~ binomial(n, p), as a sum of math.comb terms."""
    def cdf(r: int) -> float:
        return sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(min(r, n) + 1))
    return cdf


def poisson_cdf(mu: float) -> Callable[[int], float]:
    """P(R <= r) for R ~ Poisson(mu), as a sum of the pmf e^-mu mu^k / k!."""
    def cdf(r: int) -> float:
        return sum(math.exp(-mu) * mu**k / math.factorial(k) for k in range(r + 1))
    return cdf


def interpolated_count(cdf: Callable[[int], float], alpha: float) -> tuple[int, float]:
    """r_p and the interpolated count r_p - alpha_interp."""
    r = 0
    while cdf(r) < alpha:
        r += 1
    below = cdf(r - 1) if r > 0 else 0.0
    alpha_interp = (cdf(r) - alpha) / (cdf(r) - below)
    return r, r - alpha_interp


def exact_binomial_limit(n: int, p: float, alpha: float) -> float:
    r, count = interpolated_count(binomial_cdf(n, p), alpha)
    if alpha > 0.5 and r == n:  # the top edge: r_p = n puts the upper limit at 100%
        return 1.0
    return min(max(count / n, 0.0), 1.0)


def exact_poisson_limit(n: float, rate: float, alpha: float, per: float = 1.0) -> float:
    _, count = interpolated_count(poisson_cdf(n * rate / per), alpha)
    return max(count, 0.0) / n * per


# --- exact binomial limits -----------------------------------------------------------------

def test_limits_at_hand_computed_n_and_p():
    # Exact limits (formerly the normal approximation's 0.0412 .. 0.1588 and
    # 0.0073 .. 0.1927). p = 0.1, n = 100, by the binomial cdf:
    # upper 95%: P(R <= 15) = 0.960109 < 0.975 <= P(R <= 16) = 0.979401, so r_p = 16,
    #   alpha_interp = (0.979401 - 0.975) / (0.979401 - 0.960109) = 0.228139 and the
    #   limit is (16 - 0.228139) / 100 = 0.157719;
    # lower 95%: P(R <= 4) = 0.023711 < 0.025 <= P(R <= 5) = 0.057577, so r_p = 5,
    #   alpha_interp = (0.057577 - 0.025) / (0.057577 - 0.023711) = 0.961940 and the
    #   limit is (5 - 0.961940) / 100 = 0.040381.
    row = funnel([10], [100], ["Force A"], centre=0.1).iloc[0]
    assert row["value"] == pytest.approx(0.1)
    assert row["centre"] == 0.1
    assert row["lower95"] == pytest.approx(0.0403806, abs=1e-6)
    assert row["upper95"] == pytest.approx(0.1577186, abs=1e-6)
    assert row["lower998"] == pytest.approx(0.0141789, abs=1e-6)
    assert row["upper998"] == pytest.approx(0.1983567, abs=1e-6)


@pytest.mark.parametrize("n", [5, 10, 50, 100])
@pytest.mark.parametrize("p", [0.026, 0.1, 0.3, 0.5, 0.9])
def test_limits_match_exact_binomial_worked_from_first_principles(n, p):
    row = funnel([0], [n], ["a"], centre=p).iloc[0]
    for column, alpha in TAILS.items():
        assert row[column] == pytest.approx(exact_binomial_limit(n, p, alpha), abs=1e-9), column


def test_small_force_at_a_low_rate_gets_the_wide_exact_limit_not_the_normal_one():
    # p = 0.026, n = 10: P(R <= 2) = 0.998161 < 0.999 <= P(R <= 3) = 0.999915, so
    # r_p = 3, alpha_interp = (0.999915 - 0.999) / (0.999915 - 0.998161) = 0.5219 and the
    # 99.8% upper limit is (3 - 0.5219) / 10 = 0.2478. The normal approximation gives
    # 0.026 + 3.090232 * sqrt(0.026 * 0.974 / 10) = 0.1815, far too tight: it would
    # flag 2 cases in 10 (0.2), which happens by chance 2.6% of the time.
    normal = 0.026 + Z998 * math.sqrt(0.026 * 0.974 / 10)
    assert normal == pytest.approx(0.1815, abs=1e-4)
    frame = funnel([2, 3], [10, 10], ["two", "three"], centre=0.026)
    assert frame["upper998"].iloc[0] == pytest.approx(0.2478, abs=1e-4)
    assert frame["upper998"].iloc[0] == pytest.approx(exact_binomial_limit(10, 0.026, 0.999))
    assert frame["position998"].tolist() == ["inside", "above"]


def test_interpolation_with_exact_fractions():
    # p = 1/2, n = 10: P(R <= 7) = 968/1024 < 0.975 <= P(R <= 8) = 1013/1024, so r_p = 8
    # and alpha_interp = (1013/1024 - 39/40) / (45/1024) = 584/1800; the upper 95% limit
    # is (8 - 584/1800) / 10.
    assert binomial_cdf(10, 0.5)(7) == pytest.approx(968 / 1024)
    assert binomial_cdf(10, 0.5)(8) == pytest.approx(1013 / 1024)
    alpha_interp = (Fraction(1013, 1024) - Fraction(39, 40)) / Fraction(45, 1024)
    assert alpha_interp == Fraction(584, 1800)
    lower, upper = funnel_limits(0.5, 10, 0.95)
    assert float(upper) == pytest.approx(float((8 - alpha_interp) / 10), abs=1e-12)
    # Symmetry at p = 1/2: the lower limit mirrors the upper one, one step (1/n) down,
    # because the interpolation spreads each count over the unit below it.
    assert float(lower) == pytest.approx(1 - float(upper) - 0.1, abs=1e-12)


@pytest.mark.slow  # a fine grid of funnel limits (over a second)
def test_interpolation_falls_between_the_integer_steps_and_joins_them():
    # p = 1/2, n = 10. The upper limit is (r_p - alpha_interp) / n with alpha_interp in
    # [0, 1]: between the steps (r_p - 1) / n and r_p / n.
    for level in (0.6, 0.8, 0.9, 0.95, 0.99, 0.998):
        upper = float(funnel_limits(0.5, 10, level)[1])
        r_p, _ = interpolated_count(binomial_cdf(10, 0.5), 1 - (1 - level) / 2)
        assert (r_p - 1) / 10 <= upper <= r_p / 10
    # Where alpha crosses P(R <= 7) = 968/1024 the step r_p moves from 7 to 8 but the
    # limit passes smoothly through 7/10: alpha = (1 + level) / 2 = 968/1024 at level
    # 57/64 (exact in binary).
    for eps in (-1e-6, 0.0, 1e-6):
        upper = float(funnel_limits(0.5, 10, 57 / 64 + eps)[1])
        assert upper == pytest.approx(0.7, abs=1e-4)
    # And the limit widens continuously as the level rises: no jumps at the steps (up
    # to the top edge, alpha > P(R <= 9) = 1023/1024, where r_p = n sets the limit to 1).
    levels = np.linspace(0.5, 0.998, 2000)
    uppers = np.array([float(funnel_limits(0.5, 10, lv)[1]) for lv in levels])
    assert (np.diff(uppers) >= 0).all()
    assert np.diff(uppers).max() < 0.01


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
        "method",
    ]
    assert frame["label"].tolist() == ["a", "b", "c"]


def test_the_method_is_recorded_for_a_caption():
    frame = funnel([1, 2], [10, 20], ["a", "b"])
    assert frame.attrs["method"] == "exact binomial"
    assert frame["method"].tolist() == ["exact binomial"] * 2
    assert funnel_curve(0.1, 100).attrs["method"] == "exact binomial"
    rates = funnel([1, 2], [10, 20], ["a", "b"], method="poisson")
    assert rates.attrs["method"] == "Poisson" and rates["method"].iloc[0] == "Poisson"
    assert funnel_curve(0.1, 100, method="poisson").attrs["method"] == "Poisson"
    # What views.kpi_funnel does to the frames keeps it.
    curve = funnel_curve(0.1, 100)
    curve["centre"] = 0.1
    assert curve.attrs["method"] == "exact binomial"
    kept = frame[frame["label"].isin(["b"])].reset_index(drop=True)
    assert kept.attrs["method"] == "exact binomial"


def test_default_centre_pools_numerators_and_denominators():
    # (10 + 90) / (100 + 300) = 100 / 400 = 0.25, not the mean of the rates
    # (0.1 + 0.3) / 2 = 0.2.
    frame = funnel([10, 90], [100, 300], ["a", "b"])
    assert frame["centre"].tolist() == pytest.approx([0.25, 0.25])
    # and the limits are drawn around the pooled centre
    assert frame["upper95"].iloc[0] == pytest.approx(exact_binomial_limit(100, 0.25, 0.975))


def test_position_against_95_and_998_limits():
    # Exact limits for p = 0.1, n = 100 as above: 95% 0.0404 .. 0.1577, 99.8% 0.0142 ..
    # 0.1984 (formerly 0.0412 .. 0.1588 and 0.0073 .. 0.1927 by the normal approximation;
    # the positions of these five forces are unchanged).
    frame = funnel(
        [20, 16, 10, 3, 0], [100] * 5, ["high", "warn high", "middle", "warn low", "zero"], 0.1
    )
    # 0.20 above both; 0.16 above 95% only; 0.10 inside; 0.03 below 95% only;
    # 0.00 below both (0 < 0.0142).
    assert frame["position"].tolist() == ["above", "above", "inside", "below", "below"]
    assert frame["position998"].tolist() == ["above", "inside", "inside", "inside", "below"]


def test_polarity_of_position_above_is_a_higher_value_below_a_lower_one():
    # The limits' side decides the word: above the upper limit is "above" and below the
    # lower limit "below", whatever the centre (a low centre, a high one).
    for p, n in ((0.05, 400), (0.5, 40), (0.9, 200)):
        row = funnel([0], [n], ["a"], centre=p).iloc[0]
        high = math.ceil(row["upper95"] * n + 1e-9)
        low = math.floor(row["lower95"] * n - 1e-9)
        frame = funnel([high, low], [n, n], ["high", "low"], centre=p)
        assert frame["value"].iloc[0] > frame["centre"].iloc[0] > frame["value"].iloc[1]
        assert frame["position"].tolist() == ["above", "below"]


def test_value_exactly_on_a_limit_is_inside():
    # With p = 0 every count is 0: both limits are 0 and a value of exactly 0 sits on
    # them. Only points strictly beyond a limit are outliers.
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
    # p = 0.02, n = 10: P(R = 0) = 0.98^10 = 0.817 >= 0.025, so r_p = 0 and the lower
    # limits are (0 - alpha_interp) / 10 <= 0 -> clipped to 0.
    low = funnel([0], [10], ["a"], centre=0.02).iloc[0]
    assert low["lower95"] == 0.0 and low["lower998"] == 0.0
    # The upper 95% limit is exact (formerly the normal approximation's 0.02 + 1.959964 *
    # sqrt(0.02 * 0.98 / 10) = 0.1068): P(R <= 0) = 0.8171, P(R <= 1) = 0.9838 -> r_p = 1,
    # alpha_interp = (0.9838 - 0.975) / 0.1667 = 0.0529, limit (1 - 0.0529) / 10 = 0.0947.
    assert low["upper95"] == pytest.approx(0.0947092, abs=1e-6)
    assert low["upper95"] == pytest.approx(exact_binomial_limit(10, 0.02, 0.975))
    # p = 0.98 mirrors it: P(R = 10) = 0.817 > 0.025, so r_p = n for the upper limits
    # and they are 1; the lower 99.8% limit is exact (formerly 0.98 - 3.090232 * 0.044272
    # = 0.8432): r_p = 8, limit 0.700889.
    high = funnel([10], [10], ["b"], centre=0.98).iloc[0]
    assert high["upper95"] == 1.0 and high["upper998"] == 1.0
    assert high["lower998"] == pytest.approx(0.7008887, abs=1e-6)
    assert high["lower998"] == pytest.approx(exact_binomial_limit(10, 0.98, 0.001))
    assert high["position"] == "inside"


def test_a_force_with_every_case_is_not_flagged_when_that_is_common():
    # p = 0.9, n = 10: P(R = 10) = 0.9^10 = 0.349. Spiegelhalter's interpolation alone
    # would put the upper 95% limit at (10 - 0.025 / 0.349) / 10 = 0.99283 and flag a
    # force with 10 of 10 as above it, a third of the time; at r_p = n the limit is 1.
    count = 10 - (1 - 0.975) / 0.9**10
    assert count == pytest.approx(9.9283, abs=1e-4)
    row = funnel([10], [10], ["all"], centre=0.9).iloc[0]
    assert row["upper95"] == 1.0 and row["upper998"] == 1.0
    assert row["position"] == "inside" and row["position998"] == "inside"
    # p = 1: every force has every case; none is an outlier.
    assert funnel([7], [7], ["all"], centre=1.0).iloc[0]["position"] == "inside"


def test_invalid_inputs_are_rejected():
    with pytest.raises(ValueError, match="same length"):
        funnel([1, 2], [10], ["a", "b"])
    with pytest.raises(ValueError, match="negative"):
        funnel([-1], [10], ["a"])
    with pytest.raises(ValueError, match="exceeds"):
        funnel([11], [10], ["a"])
    with pytest.raises(ValueError, match="centre"):
        funnel([1], [10], ["a"], centre=1.5)
    with pytest.raises(ValueError, match="whole-number"):
        funnel([1], [10.5], ["a"])
    with pytest.raises(ValueError, match="method"):
        funnel([1], [10], ["a"], method="normal")
    with pytest.raises(ValueError, match="per"):
        funnel([1], [10], ["a"], per=100)
    with pytest.raises(ValueError, match="level"):
        funnel_limits(0.1, 10, Z95)  # a z value is not a level


def test_funnel_points_mirror_the_frame_rows():
    frame = funnel([20, 10], [100, 100], ["a", "b"], centre=0.1)
    points = funnel_points(frame)
    assert isinstance(points[0], FunnelPoint)
    assert points[0].label == "a" and points[0].position == "above"
    assert points[1].value == pytest.approx(0.1)
    assert points[1].method == "exact binomial"


# --- Poisson limits for rates --------------------------------------------------------------

@pytest.mark.parametrize("population", [10_000, 40_000, 400_000])
def test_poisson_limits_match_the_pmf_by_hand(population):
    # 25 per 100,000: expected counts 2.5, 10 and 100; limits per 100,000.
    row = funnel([0], [population], ["a"], centre=25.0, method="poisson",
                 per=100_000).iloc[0]
    for column, alpha in TAILS.items():
        expected = exact_poisson_limit(population, 25.0, alpha, per=100_000)
        assert row[column] == pytest.approx(expected, rel=1e-9, abs=1e-9), column


def test_poisson_limits_at_a_hand_computed_expected_count():
    # mu = 2.5 (25 per 100,000 of 10,000): P(R <= 5) = 0.957979, P(R <= 6) = 0.985813,
    # so the upper 95% count is r_p = 6, alpha_interp = (0.985813 - 0.975) /
    # (0.985813 - 0.957979) = 0.388477, count 5.611523 -> 56.11523 per 100,000.
    # P(R <= 0) = e^-2.5 = 0.082085 >= 0.025: r_p = 0 and the lower limit clips to 0.
    row = funnel([3], [10_000], ["a"], centre=25.0, method="poisson", per=100_000).iloc[0]
    assert row["value"] == pytest.approx(30.0)
    assert row["upper95"] == pytest.approx(56.11523, abs=1e-4)
    assert row["lower95"] == 0.0 and row["lower998"] == 0.0
    assert row["position"] == "inside"


def test_poisson_pooled_centre_and_limits_beyond_one():
    # (30 + 90) / (10,000 + 20,000) * 100,000 = 400 per 100,000.
    frame = funnel([30, 90], [10_000, 20_000], ["a", "b"], method="poisson", per=100_000)
    assert frame["centre"].tolist() == pytest.approx([400.0, 400.0])
    assert frame["value"].tolist() == pytest.approx([300.0, 450.0])
    # A rate per unit can exceed 1 (3 events per person-year); only 0 bounds it.
    rates = funnel([30], [10], ["a"], centre=2.0, method="poisson").iloc[0]
    assert rates["upper95"] == pytest.approx(exact_poisson_limit(10, 2.0, 0.975))
    assert rates["upper95"] > 2.0 and rates["position"] == "above"
    with pytest.raises(ValueError, match="centre"):
        funnel([1], [10], ["a"], centre=-1.0, method="poisson")


# --- the curve -----------------------------------------------------------------------------

def test_curve_runs_from_one_to_n_max_with_hand_computed_end():
    curve = funnel_curve(0.1, 100, points=50)
    assert list(curve.columns) == list(CURVE_COLUMNS)
    assert len(curve) == 50
    assert curve["n"].iloc[0] == pytest.approx(1.0)
    assert curve["n"].iloc[-1] == pytest.approx(100.0)
    # At n = 100 the limits are those of test_limits_at_hand_computed_n_and_p.
    assert curve["lower95"].iloc[-1] == pytest.approx(0.0403806, abs=1e-6)
    assert curve["upper998"].iloc[-1] == pytest.approx(0.1983567, abs=1e-6)
    # At n = 1: P(R = 1) = 0.1 > 0.025, so r_p = n and the upper limit is 1 (formerly
    # the normal approximation's 0.6879892); P(R = 0) = 0.9, the lower is 0.
    assert curve["upper95"].iloc[0] == 1.0
    assert curve["lower95"].iloc[0] == 0.0


def test_curve_grid_is_whole_numbers_from_the_smallest_to_the_largest_denominator():
    curve = funnel_curve(0.2, 2_345.6, points=100, n_min=37)
    n = curve["n"].to_numpy()
    assert len(n) == 100 and n[0] == 37 and n[-1] == 2_346  # n_max rounded up
    assert (n == np.round(n)).all() and (np.diff(n) >= 1).all()
    # Geometric: the steps grow with n.
    assert np.diff(n)[-1] > 10 * np.diff(n)[0]
    # Every point is the exact limit at its n (checked up to n = 1,000, where the comb
    # terms of the reference still fit in a float).
    for i in (0, 40, int(np.flatnonzero(n <= 1_000)[-1])):
        assert curve["upper95"].iloc[i] == pytest.approx(
            exact_binomial_limit(int(n[i]), 0.2, 0.975), abs=1e-9)
    # Fewer whole numbers than points: every one of them.
    assert funnel_curve(0.2, 30, points=100, n_min=20)["n"].tolist() == list(range(20, 31))
    # A rate's exposure is not a count: a plain geometric grid.
    rates = funnel_curve(25.0, 1e6, points=60, n_min=1e4, method="poisson", per=1e5)
    assert len(rates) == 60 and rates["n"].iloc[0] == pytest.approx(1e4)
    assert rates["n"].iloc[-1] == pytest.approx(1e6)


def test_curve_is_monotone_where_it_should_be():
    # Lower limits never fall as n grows. Upper limits fall overall, but the discreteness
    # left after interpolation lets them rise by a sliver: at these centres, once the
    # expected variance n * p * (1 - p) is 3 or more, by well under 1% of their distance
    # from the centre (in the mouth of the funnel, more).
    for p in (0.026, 0.1, 0.3, 0.5, 0.9):
        curve = funnel_curve(p, 5_000, points=300)
        n = curve["n"].to_numpy()
        for column in ("lower95", "lower998"):
            assert (np.diff(curve[column].to_numpy()) >= 0).all()
        for column in ("upper95", "upper998"):
            upper = curve[column].to_numpy()
            assert upper[-1] < upper[len(upper) // 2] < upper[0]
            settled = (n * p * (1 - p) >= 3)[:-1]
            rise = np.maximum(np.diff(upper), 0)[settled] / (upper[:-1][settled] - p)
            assert rise.max() < 0.01
    # Poisson at 25 per 100,000, from an expected count of 5 (20,000 people) up.
    rates = funnel_curve(25.0, 1e6, points=200, n_min=2e4, method="poisson", per=1e5)
    for column in ("lower95", "lower998"):
        assert (np.diff(rates[column].to_numpy()) >= 0).all()
    for column in ("upper95", "upper998"):
        upper = rates[column].to_numpy()
        assert upper[-1] < upper[len(upper) // 2] < upper[0]
        assert (np.maximum(np.diff(upper), 0) / (upper[:-1] - 25.0)).max() < 0.01


def test_curve_rejects_bad_arguments():
    with pytest.raises(ValueError):
        funnel_curve(0.1, 0.5)
    with pytest.raises(ValueError):
        funnel_curve(0.1, 100, points=1)
    with pytest.raises(ValueError):
        funnel_curve(-0.1, 100)
    with pytest.raises(ValueError):
        funnel_curve(0.1, 100, n_min=200)


# --- the charts say which limits they draw -------------------------------------------------

def test_funnel_subtitles_name_the_exact_limits(demo_dataset):
    words = "exact binomial 95% and 99.8% limits (Spiegelhalter 2005)"
    period = dt.date(2025, 9, 1)
    kpi = funnel_export(demo_dataset, "suspect_contact_30d", period, "kent")
    assert words in kpi.text.subtitle
    compare = compare_export(demo_dataset, "suspect_contact_30d", period, "kent",
                             view="funnel")
    assert words in compare.text.subtitle
    bars = compare_export(demo_dataset, "suspect_contact_30d", period, "kent")
    assert "limits" not in bars.text.subtitle


# --- properties ---------------------------------------------------------------------------

proportions = st.floats(0.0, 1.0)


@pytest.mark.slow  # property test: hypothesis examples
@given(proportions, st.floats(1.0, 1e7), st.integers(2, 300))
def test_curve_limits_stay_in_unit_interval_and_narrow_as_n_grows(p, n_max, points):
    curve = funnel_curve(p, n_max, points)
    limits = curve[LIMITS].to_numpy()
    assert ((limits >= 0.0) & (limits <= 1.0)).all()
    # The 99.8% funnel contains the 95% one.
    assert (curve["lower998"] <= curve["lower95"]).all()
    assert (curve["upper95"] <= curve["upper998"]).all()
    # Narrowing: lower limits never fall as n increases. (The previous "upper limits
    # never rise" held only for the normal approximation: exact upper limits can rise by
    # a sliver, and in the mouth by more, e.g. 0 at n = 1 and 0.098 at n = 2 for
    # p = 1/64; see test_curve_is_monotone_where_it_should_be.)
    for column in ("lower95", "lower998"):
        assert (np.diff(curve[column].to_numpy()) >= -1e-12).all()
    # The centre lies within the limits once a force can show more than a case or so.
    settled = curve[curve["n"] * p * (1 - p) >= 1]
    assert (settled["lower95"] <= p + 1e-12).all() and (settled["upper95"] >= p - 1e-12).all()


@pytest.mark.slow  # property test: hypothesis examples
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
    limits = frame[LIMITS].to_numpy()
    defined = ~np.isnan(limits)
    assert ((limits[defined] >= 0.0) & (limits[defined] <= 1.0)).all()
    assert (np.isnan(limits).any(axis=1) == (frame["denominator"] == 0).to_numpy()).all()

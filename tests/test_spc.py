"""The Making Data Count XmR rules, one table-driven test per rule, values worked by hand.

Every case runs twice: on the plain reference (tests/spc_reference.py) and on the
production batch (kpis.engine.spc.xmr_batch, one series), so a rule stated here holds
for the numbers the dashboard shows.

Most cases put a tail of points after a fixed baseline: ``LOW_END`` is 20 points
alternating 12, 10 (ending on 10) and ``HIGH_END`` alternates 10, 12 (ending on 12).
Both have mean 11 and every moving range 2, so by hand:

* process limits 11 -/+ 2.66 x 2 = 5.68 and 16.32;
* 2-sigma lines 11 -/+ (2/3) x 5.32 = 7.4533... and 14.5466...;
* the baseline alone has no signal (alternating sides, no rises in a row).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpis.engine.spc import DEFAULT_RULES, SpcRules, xmr_batch
from tests.spc_reference import SpcResult, xmr

LOW_END = [12.0, 10.0] * 10
HIGH_END = [10.0, 12.0] * 10
LOWER, UPPER = 11 - 2.66 * 2, 11 + 2.66 * 2
LOWER_2S, UPPER_2S = 11 - 2.66 * 2 * 2 / 3, 11 + 2.66 * 2 * 2 / 3


def batch_xmr(values, polarity, target=None, baseline=None, rebase_at=(), rules=DEFAULT_RULES):
    """xmr_batch on one series, read back in the reference's shape."""
    x = np.asarray(values, dtype=float)
    starts = np.zeros(x.size, dtype=bool)
    starts[list(rebase_at)] = True
    b = xmr_batch(x, [0, x.size], polarity, target=np.nan if target is None else target,
                  baseline=baseline, segment_starts=starts, rules=rules)
    states = ("too_few", "trial", "limits")
    return SpcResult(
        mean=b.mean.tolist(), lower=b.lower.tolist(), upper=b.upper.tolist(),
        lower_2sigma=b.lower_2sigma.tolist(), upper_2sigma=b.upper_2sigma.tolist(),
        rules=list(b.rules), variation=list(b.variation),
        limits=[states[s] for s in b.limit_state.tolist()],
        points=b.segment_points.take(b.segment_of).tolist(), assurance=b.assurance[0],
    )


@pytest.fixture(params=["reference", "batch"])
def spc(request):
    return xmr if request.param == "reference" else batch_xmr


def tail_of(spc, base, tail, polarity="higher", **kwargs) -> SpcResult:
    """The chart of ``base + tail`` with limits from ``base``, cut to the tail."""
    result = spc([*base, *tail], polarity, baseline=len(base), **kwargs)
    cut = len(base)
    return SpcResult(*(getattr(result, f)[cut:] for f in (
        "mean", "lower", "upper", "lower_2sigma", "upper_2sigma", "rules", "variation",
        "limits", "points")), assurance=result.assurance)


def test_the_lines_are_the_mean_and_2_66_mean_moving_ranges(spc):
    result = spc(LOW_END, "higher")
    assert result.mean[0] == pytest.approx(11)
    assert (result.lower[0], result.upper[0]) == (pytest.approx(LOWER), pytest.approx(UPPER))
    assert result.lower_2sigma[0] == pytest.approx(LOWER_2S)
    assert result.upper_2sigma[0] == pytest.approx(UPPER_2S)
    assert result.rules == [""] * 20 and result.variation == ["common"] * 20


@pytest.mark.parametrize("level", [0.1, 0.7, 1 / 3])
def test_a_flat_series_is_on_its_mean_and_has_no_signals(spc, level):
    # 20 equal points: the float mean may differ from the level in the last bit (0.1 x 20
    # / 20 = 0.10000000000000002), but every moving range is 0, so nothing is special.
    result = spc([level] * 20, "higher", target=level)
    assert result.mean[0] == pytest.approx(level, rel=1e-12)
    assert result.rules == [""] * 20
    assert result.variation == ["common"] * 20
    # Limits of zero width at the target: every point meets it.
    assert result.assurance == "pass"


def test_a_force_at_100_percent_against_a_100_percent_target_passes(spc):
    assert spc([1.0] * 24, "higher", target=1.0).assurance == "pass"


def test_a_point_exactly_on_the_mean_is_on_it_in_decimal_arithmetic(spc):
    # Baseline 0.1, 0.3 alternating: mean 0.2 exactly in decimals, but summed in floats
    # it is 0.19999999999999998, so a plain comparison would put 0.2 above the mean.
    base = [0.1, 0.3] * 10
    assert sum(base) / 20 != 0.2
    # 0.25 x 3, then 0.2 on the mean, then 0.25 x 3: two runs of 3, no shift of 7.
    broken = tail_of(spc, base, [0.25] * 3 + [0.2] + [0.25] * 3)
    assert broken.rules == [""] * 7
    # Without the point on the mean the same seven points are a shift.
    assert tail_of(spc, base, [0.25] * 7).rules == ["shift"] * 7


@pytest.mark.parametrize(("tail", "expected"), [
    # Two points exactly on the upper 2-sigma line (10.375 + 1.33 = 11.705): not beyond it.
    ([11.705, 11.705, 11.0], ["", "", ""]),
    # A hair beyond it: two of three.
    ([11.71, 11.71, 11.0], ["two_of_three", "two_of_three", ""]),
])
def test_a_point_exactly_on_a_two_sigma_line_is_not_beyond_it(spc, tail, expected):
    # Baseline 10, 10.75 alternating: mean 10.375, moving range 0.75, so the lines are
    # 10.375 -/+ 1.995 (8.38, 12.37) and 10.375 -/+ 1.33 (9.045, 11.705).
    result = tail_of(spc, [10.0, 10.75] * 10, tail)
    assert result.upper_2sigma[0] == pytest.approx(11.705)
    assert result.rules == expected


@pytest.mark.parametrize(("run", "length", "flagged"), [
    (6, 7, False), (7, 7, True), (8, 7, True),
    (6, 6, True), (7, 8, False), (8, 8, True),
])
def test_a_shift_needs_the_catalogue_run_length_of_points(spc, run, length, flagged):
    # The tail follows a baseline ending on 10 (below the mean), so the run is the tail.
    rules = SpcRules(shift_length=length, trend_length=length)
    result = tail_of(spc, LOW_END, [12.0] * run, rules=rules)
    assert result.rules == (["shift"] * run if flagged else [""] * run)
    assert result.variation == (["improvement"] * run if flagged else ["common"] * run)


def test_a_shift_below_the_mean_is_a_concern_when_higher_is_better(spc):
    assert tail_of(spc, HIGH_END, [10.0] * 7).variation == ["concern"] * 7
    assert tail_of(spc, HIGH_END, [10.0] * 7, "lower").variation == ["improvement"] * 7
    assert tail_of(spc, HIGH_END, [10.0] * 7, "neutral").variation == ["neither"] * 7


@pytest.mark.parametrize(("tail", "expected"), [
    # 6 points rising (5 steps) after a fall from 10: no trend.
    ([9.0, 9.5, 10.0, 10.5, 11.0, 11.5], [""] * 6),
    # 7 points rising: a trend on every one of them.
    ([9.0, 9.5, 10.0, 10.5, 11.0, 11.5, 12.0], ["trend"] * 7),
    # 8 points with a tie in the middle: runs of 3 and 5, no trend.
    ([9.0, 9.5, 10.0, 10.0, 10.5, 11.0, 11.5, 12.0], [""] * 8),
])
def test_a_trend_is_seven_points_each_above_the_one_before(spc, tail, expected):
    assert tail_of(spc, LOW_END, tail).rules == expected


def test_a_rising_trend_below_the_mean_is_an_improvement_when_higher_is_better(spc):
    # After 12, seven rises from 6.5 to 9.5, all below the mean 11: a trend and a shift;
    # 6.5 and 7 are beyond the lower 2-sigma line (7.45) within the limit (5.68), with
    # 7.5 on the same side: two of three as well. Trend comes before two of three and
    # shift, so the direction is the trend's: rising, an improvement.
    result = tail_of(spc, HIGH_END, [6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5])
    assert result.rules == ["shift,trend,two_of_three"] * 2 + ["shift,trend"] * 5
    assert result.variation == ["improvement"] * 7
    lower = tail_of(spc, HIGH_END, [6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5], "lower")
    assert lower.variation == ["concern"] * 7


def test_outside_decides_the_direction_before_trend_and_trend_before_shift(spc):
    # After 10, a fall of 7 points from 17 to 11.8, all above the mean 11: a trend and a
    # shift. 17 is beyond the upper limit 16.32: outside decides, an improvement. For the
    # others the trend decides before the shift: falling, a concern (15 alone is beyond
    # the 2-sigma line, so no two of three).
    result = tail_of(spc, LOW_END, [17.0, 15.0, 14.0, 13.0, 12.5, 12.2, 11.8])
    assert result.rules == ["outside,shift,trend"] + ["shift,trend"] * 6
    assert result.variation == ["improvement"] + ["concern"] * 6


@pytest.mark.parametrize(("tail", "expected"), [
    # 15 and 15.2 beyond the upper 2-sigma line (14.55), the middle point above the mean.
    ([15.0, 11.5, 15.2], ["two_of_three", "", "two_of_three"]),
    # The middle point below the mean: the three are not on one side, no signal.
    ([15.0, 10.5, 15.2], ["", "", ""]),
    # One point beyond the process limit counts as outside, not as close to it.
    ([15.0, 17.0, 11.5], ["", "outside", ""]),
    ([15.0, 15.5, 17.0], ["two_of_three", "two_of_three", "outside"]),
    # One point only beyond the 2-sigma line.
    ([15.0, 12.0, 12.0], ["", "", ""]),
])
def test_two_of_three_close_to_a_limit_on_one_side_of_the_mean(spc, tail, expected):
    assert tail_of(spc, LOW_END, tail).rules == expected


@pytest.mark.parametrize(("points", "state", "assessed"), [
    (12, "too_few", False), (14, "too_few", False), (15, "trial", True),
    (19, "trial", True), (20, "limits", True),
])
def test_limits_need_15_points_and_are_trial_limits_below_20(spc, points, state, assessed):
    values = ([12.0, 10.0] * 10)[:points]
    values[-1] = 30.0  # far beyond any limit the other points give
    result = spc(values, "higher", target=11.0)
    assert result.limits == [state] * points and result.points == [points] * points
    if assessed:
        assert result.rules[-1] == "outside" and result.variation[-1] == "improvement"
        assert result.assurance is not None
    else:
        assert all(math.isnan(v) for v in result.mean + result.upper)
        assert result.rules == [""] * points and result.variation == [None] * points
        assert result.assurance is None


@pytest.mark.parametrize(("polarity", "target", "expected"), [
    # Baseline 10, 10.75: limits 8.38 and 12.37 by hand (8.379999999999999 and
    # 12.370000000000001 in floats).
    ("higher", 8.38, "pass"),  # on the bad-side limit: every point meets it
    ("higher", 8.0, "pass"),
    ("higher", 12.37, "fail"),  # on the good-side limit: no point beyond it
    ("higher", 13.0, "fail"),
    ("higher", 12.36, "hit_and_miss"),
    ("higher", 8.39, "hit_and_miss"),
    ("lower", 12.37, "pass"),
    ("lower", 8.38, "fail"),
    ("lower", 10.0, "hit_and_miss"),
    ("neutral", 10.0, None),
])
def test_assurance_with_the_target_on_or_beyond_a_limit(spc, polarity, target, expected):
    result = spc([10.0, 10.75] * 10, polarity, target=target)
    assert (result.lower[0], result.upper[0]) == (pytest.approx(8.38), pytest.approx(12.37))
    assert result.assurance == expected


def test_assurance_uses_the_limits_of_the_last_segment(spc):
    values = [10.0, 10.75] * 10 + [20.0, 20.75] * 10
    assert spc(values, "higher", target=15.0).assurance == "hit_and_miss"
    assert spc(values, "higher", target=15.0, rebase_at=[20]).assurance == "pass"


def test_a_trend_runs_across_a_re_base_and_a_shift_does_not(spc):
    # 16 points alternating 10, 12 (ending on 12), then 9, 10, 11, 12 | re-base | 13, 14,
    # 15, then 17 points alternating 14, 16: a rise of 7 points from 9 to 15 across the
    # re-base at index 20. Segment 1 (20 points): 218 / 20 = 10.9; segment 2: 13, 14, 15,
    # then 14, 16 ... 14 (296 / 20 = 14.8).
    values = [10.0, 12.0] * 8 + [9.0, 10.0, 11.0, 12.0] + [13.0, 14.0, 15.0] + (
        [14.0, 16.0] * 9)[:17]
    assert len(values) == 40
    result = spc(values, "higher", rebase_at=[20])
    assert result.mean[0] == pytest.approx(10.9) and result.mean[20] == pytest.approx(14.8)
    assert [("trend" in r) for r in result.rules[16:23]] == [True] * 7
    assert result.variation[16:23] == ["improvement"] * 7
    assert not any("trend" in r for r in result.rules[:16] + result.rules[23:])
    # The same rise with no re-base is a trend too; split into two series it is not.
    assert [("trend" in r) for r in spc(values, "higher").rules[16:23]] == [True] * 7
    assert not any("trend" in r for r in spc(values[:20], "higher").rules)


def test_a_shift_ends_at_a_re_base(spc):
    # Segment 1: 10, 12 x 8 then 12 x 4 (mean 224 / 20 = 11.2); segment 2: 12 x 3 then 10,
    # 12 x 8 and 10 (mean 222 / 20 = 11.1). Points 15 to 22 are all 12, above the mean
    # of their own segment, but 5 lie before the re-base and 3 after: no shift.
    values = [10.0, 12.0] * 8 + [12.0] * 4 + [12.0] * 3 + [10.0, 12.0] * 8 + [10.0]
    result = spc(values, "higher", rebase_at=[20])
    assert result.mean[0] == pytest.approx(11.2) and result.mean[20] == pytest.approx(11.1)
    assert result.rules == [""] * 40
    # Without the re-base (mean 446 / 40 = 11.15) the eight 12s are one shift.
    assert spc(values, "higher").rules[15:23] == ["shift"] * 8


def test_missing_months_are_skipped_and_the_moving_range_joins_across_them(spc):
    values = [*LOW_END[:10], math.nan, *LOW_END[10:]]
    result = spc(values, "higher")
    # 20 present points, mean 11, moving ranges all 2 (the gap is bridged: 10 -> 12).
    assert result.points[0] == 20 and result.mean[10] == pytest.approx(11)
    assert result.upper[0] == pytest.approx(UPPER)
    assert result.rules[10] == "" and result.variation[10] is None


def test_a_gap_neither_breaks_nor_extends_a_shift(spc):
    result = tail_of(spc, LOW_END, [12.0] * 3 + [math.nan] + [12.0] * 4)
    assert result.rules == ["shift"] * 3 + [""] + ["shift"] * 4


def test_rules_can_be_switched_off(spc):
    rules = SpcRules(two_of_three=False, outside_limits=False)
    assert tail_of(spc, LOW_END, [15.0, 15.5, 17.0], rules=rules).rules == ["", "", ""]


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="polarity"):
        xmr([1.0], "sideways")
    with pytest.raises(ValueError, match="baseline"):
        xmr([1.0, 2.0], "higher", baseline=1)
    with pytest.raises(ValueError, match="rebase_at"):
        xmr([1.0, 2.0], "higher", rebase_at=[2])
    with pytest.raises(ValueError, match="shift_length"):
        SpcRules(shift_length=1)
    with pytest.raises(ValueError, match="min_points"):
        SpcRules(min_points=30)


whole_values = st.lists(st.integers(-1000, 1000).map(float), min_size=15, max_size=40)


@pytest.mark.slow  # property test: hypothesis examples
@given(whole_values)
def test_limits_are_symmetric_about_the_mean_and_ordered(values):
    result = xmr(values, "higher")
    for i in range(len(values)):
        assert result.lower[i] <= result.lower_2sigma[i] <= result.mean[i]
        assert result.mean[i] <= result.upper_2sigma[i] <= result.upper[i]
        assert result.upper[i] - result.mean[i] == pytest.approx(
            result.mean[i] - result.lower[i])


@pytest.mark.slow  # property test: hypothesis examples
@given(whole_values, st.integers(-1000, 1000), st.sampled_from(["higher", "lower"]))
def test_adding_a_constant_shifts_the_lines_and_keeps_the_rules(values, constant, polarity):
    # Integers: sums are exact, so the shifted series has exactly shifted lines.
    before = xmr(values, polarity)
    after = xmr([v + constant for v in values], polarity)
    assert after.rules == before.rules and after.variation == before.variation
    np.testing.assert_allclose(after.mean, np.array(before.mean) + constant)

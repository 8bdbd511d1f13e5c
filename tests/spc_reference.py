"""The XmR rules written point by point, plainly: the tests' reference implementation.

Production computes every series at once (:func:`kpis.engine.spc.xmr_batch`); this is
the same rule set (docs/spc.md) as loops over one series, so the tests can state rules
on one series and check the batch against it (tests/test_measures_properties.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from kpis.domain.vocabulary import POLARITIES
from kpis.engine.spc import DEFAULT_RULES, RELATIVE_TOLERANCE, XMR_CONSTANT, SpcRules

NAN = float("nan")
RULE_ORDER = ("outside", "shift", "trend", "two_of_three")


@dataclass(frozen=True)
class SpcResult:
    """Per-point lines, rule flags, variation and limit state for one series."""

    mean: list[float]
    lower: list[float]
    upper: list[float]
    lower_2sigma: list[float]
    upper_2sigma: list[float]
    rules: list[str]  # "" or a comma-joined subset of RULE_ORDER, in that order
    variation: list[str | None]  # None: not assessed (missing, or no limits)
    limits: list[str]  # "too_few", "trial" or "limits"
    points: list[int]  # how many points the segment's limits come from
    assurance: str | None


def _segments(n: int, rebase_at: Sequence[int]) -> list[tuple[int, int]]:
    cuts = sorted({int(i) for i in rebase_at})
    if cuts and (cuts[0] < 0 or cuts[-1] >= n):
        raise ValueError(f"rebase_at indices must be within 0..{n - 1}, got {list(rebase_at)}")
    edges = [0, *(c for c in cuts if c > 0), n]
    return list(pairwise(edges)) if n else []


def xmr(values: Sequence[float], polarity: str, target: float | None = None,
        baseline: int | None = None, rebase_at: Sequence[int] = (),
        rules: SpcRules = DEFAULT_RULES) -> SpcResult:
    """One series' XmR chart; NaN (or infinite) marks a missing month."""
    if polarity not in POLARITIES:
        raise ValueError(f"polarity must be one of {POLARITIES}, got {polarity!r}")
    if baseline is not None and baseline < 2:
        raise ValueError(f"baseline must be at least 2 points, got {baseline}")
    x = [float(v) for v in values]
    n = len(x)
    good_sign = {"higher": 1, "lower": -1, "neutral": 0}[polarity]
    present = [i for i in range(n) if math.isfinite(x[i])]
    tol = RELATIVE_TOLERANCE * max((abs(x[i]) for i in present), default=0.0)

    def cmp(a: float, b: float) -> int:
        if math.isnan(a) or math.isnan(b):
            return 0
        return 1 if a - b > tol else -1 if a - b < -tol else 0

    lines = [[NAN] * n for _ in range(5)]
    limits, points = ["too_few"] * n, [0] * n
    segment_of = [0] * n
    active: dict[int, bool] = {}
    assessed: dict[int, bool] = {}
    for number, (start, stop) in enumerate(_segments(n, rebase_at)):
        mine = [i for i in present if start <= i < stop]
        base = mine if baseline is None else mine[:baseline]
        state = ("too_few" if len(base) < rules.min_points else
                 "trial" if len(base) < rules.full_points else "limits")
        for i in range(start, stop):
            segment_of[i], limits[i], points[i] = number, state, len(base)
        assessed[number] = state != "too_few"
        active[number] = False
        if state == "too_few":
            continue
        mean = sum(x[i] for i in base) / len(base)
        mean_mr = sum(abs(x[b] - x[a]) for a, b in pairwise(base)) / (len(base) - 1)
        width = XMR_CONSTANT * mean_mr
        for i in range(start, stop):
            lines[0][i], lines[1][i], lines[2][i] = mean, mean - width, mean + width
            lines[3][i], lines[4][i] = mean - width * 2 / 3, mean + width * 2 / 3
        active[number] = mean_mr > tol

    side = {i: cmp(x[i], lines[0][i]) for i in present}
    flags: dict[int, set[str]] = {i: set() for i in present}
    outside = {i for i in present
               if cmp(x[i], lines[2][i]) > 0 or cmp(x[i], lines[1][i]) < 0}
    if rules.outside_limits:
        for i in outside:
            flags[i].add("outside")

    # Shift: consecutive present points of one segment on one side of its mean.
    run: list[int] = []
    for i in [*present, None]:
        if run and (i is None or side[i] == 0 or side[i] != side[run[-1]]
                    or segment_of[i] != segment_of[run[-1]]):
            if len(run) >= rules.shift_length:
                for j in run:
                    flags[j].add("shift")
            run = []
        if i is not None and side[i] != 0:
            run.append(i)

    # Trend: consecutive present points, each strictly above (below) the one before,
    # across segments. A peak shared by a rise and a fall has no direction.
    direction = {i: 0 for i in present}
    run, step = [], 0
    for a, b in [*pairwise(present), (None, None)]:
        this = cmp(x[b], x[a]) if b is not None else 0
        if run and this != step:
            if len(run) >= rules.trend_length:
                for j in run:
                    flags[j].add("trend")
                    direction[j] += step
            run = []
        if this != 0 and not run:
            run = [a]
        if this != 0:
            run.append(b)
        step = this
    # Two of three: windows of 3 consecutive present points, one segment, one side.
    if rules.two_of_three:
        near = {i for i in present if i not in outside and (
            cmp(x[i], lines[4][i]) > 0 or cmp(x[i], lines[3][i]) < 0)}
        for a, b, c in zip(present, present[1:], present[2:], strict=False):
            window = (a, b, c)
            if (side[a] != 0 and side[a] == side[b] == side[c]
                    and segment_of[a] == segment_of[c]
                    and sum(i in near for i in window) >= 2):
                for j in window:
                    if j in near:
                        flags[j].add("two_of_three")

    rule_labels, variation = [""] * n, [None] * n
    for i in present:
        seg = segment_of[i]
        if not assessed[seg]:
            continue
        found = flags[i] if active[seg] else set()
        rule_labels[i] = ",".join(r for r in RULE_ORDER if r in found)
        if not found:
            variation[i] = "common"
            continue
        if "outside" in found:
            way = side[i]
        elif "trend" in found and direction[i] != 0:
            way = 1 if direction[i] > 0 else -1
        else:
            way = side[i]
        goodness = way * good_sign
        variation[i] = ("improvement" if goodness > 0 else "concern" if goodness < 0
                        else "neither")

    assurance = None
    if n and target is not None and good_sign and assessed[segment_of[-1]]:
        low, high = lines[1][-1], lines[2][-1]
        good, bad = (high, low) if good_sign > 0 else (low, high)
        if (target - bad) * good_sign <= tol:
            assurance = "pass"
        elif (good - target) * good_sign <= tol:
            assurance = "fail"
        else:
            assurance = "hit_and_miss"
    return SpcResult(*lines, rules=rule_labels, variation=variation, limits=limits,
                     points=points, assurance=assurance)

"""The per-series XmR reference implementation, kept for the tests.

Production computes SPC for every series at once (:func:`kpis.engine.spc.xmr_batch`);
this is the same method written point by point, plainly, so the tests can check the
batch against it (tests/test_measures_properties.py) and state rules on one series.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import numpy as np

from kpis.domain.vocabulary import (
    ASSURANCE_FAIL,
    ASSURANCE_HIT_AND_MISS,
    ASSURANCE_PASS,
    POLARITIES,
    VARIATIONS,
)
from kpis.engine.spc import (  # the engine's private codes: this is its twin
    _COMMON,
    _CONCERN,
    _IMPROVEMENT,
    _NEITHER,
    _NON_TREND,
    _OUTSIDE,
    _POLARITY_SIGN,
    _RULE_LABELS,
    _SHIFT,
    _TREND,
    _TWO_OF_THREE,
    DEFAULT_RULES,
    XMR_CONSTANT,
    SpcRules,
)


@dataclass(frozen=True)
class SpcResult:
    """Per-point centre line, limits, rule flags and variation for one series.

    ``rules[i]`` is "" or a comma-joined subset of :data:`RULE_NAMES` in that order;
    ``variation[i]`` is one of :data:`VARIATIONS`. Missing points (NaN) carry their
    segment's limits but are never flagged.
    """

    mean: np.ndarray  # per point (step change allowed when re-based)
    lower: np.ndarray  # process limits mean -/+ 2.66*mean(mR)
    upper: np.ndarray
    lower_2sigma: np.ndarray  # mean -/+ (2/3)*2.66*mean(mR)
    upper_2sigma: np.ndarray
    rules: list[str]
    variation: list[str]
    # "pass", "fail", "hit_and_miss", or None (no target, neutral polarity, too few points)
    assurance: str | None


@lru_cache(maxsize=32)
def _run_pattern(length: int) -> re.Pattern[bytes]:
    """Regex matching maximal runs of ``length`` or more +1 (0x01) or -1 (0xff) bytes.

    Signs are packed into bytes (int8 -> 0x01 / 0x00 / 0xff) and scanned with a compiled
    regex: one C-level pass that yields only the (rare) qualifying runs, cheaper than
    run-length encoding ~80 points with several numpy calls or a Python loop.
    A 0 byte (on the mean, or an equal neighbour) cannot be part of a run, so it ends one.
    """
    return re.compile(rb"\x01{%d,}|\xff{%d,}" % (length, length))


def _segment_flags(
    xv: np.ndarray,
    limits: tuple[float, float, float, float, float],
    rules: SpcRules,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Rule codes for the non-missing points of one segment, and the trend direction.

    ``limits`` is (mean, lower, upper, lower_2sigma, upper_2sigma). Points are compared
    with exactly these (reported) values so that a point drawn on a line is never flagged
    as beyond it through rounding. The second result is None when no trend fired,
    otherwise +1 / -1 per point in a rising / falling trend (0 elsewhere; a peak or trough
    shared by a rising and a falling trend nets to 0, i.e. ambiguous).
    """
    centre, lower, upper, lower_2sigma, upper_2sigma = limits
    m = xv.size
    codes = np.zeros(m, dtype=np.int64)

    if rules.outside_limits:
        codes[(xv > upper) | (xv < lower)] = _OUTSIDE

    if m >= rules.shift_length:
        # -1 below, 0 exactly on (ends a run), +1 above the mean.
        sides = np.sign(xv - centre).astype(np.int8).tobytes()
        for run in _run_pattern(rules.shift_length).finditer(sides):
            codes[run.start() : run.end()] |= _SHIFT

    trend_dir = None
    if m >= rules.trend_length:
        # A trend of L points is L - 1 consecutive strict rises (or falls); an equal
        # neighbour is a 0 step and ends it.
        steps = np.sign(xv[1:] - xv[:-1]).astype(np.int8).tobytes()
        for run in _run_pattern(rules.trend_length - 1).finditer(steps):
            if trend_dir is None:
                trend_dir = np.zeros(m)
            # Steps start..end-1 join points start..end (inclusive), hence end + 1.
            codes[run.start() : run.end() + 1] |= _TREND
            trend_dir[run.start() : run.end() + 1] += 1 if steps[run.start()] == 1 else -1

    if rules.two_of_three and m >= 3:
        for beyond in (xv > upper_2sigma, xv < lower_2sigma):
            # "At least 2 of 3 consecutive points beyond the line" is the same as "two
            # beyond points at most 2 apart": scanning the few beyond points in Python is
            # much cheaper than sliding a window over all of them with numpy. Only the
            # points beyond the line are flagged, never the third point of the window.
            hits = beyond.nonzero()[0].tolist()
            flagged = [i for a, b in pairwise(hits) if b - a <= 2 for i in (a, b)]
            if flagged:
                codes[flagged] |= _TWO_OF_THREE

    return codes, trend_dir


def _labels(
    x: np.ndarray,
    mean: np.ndarray,
    codes: np.ndarray,
    trend_dir: np.ndarray | None,
    polarity_sign: int,
) -> tuple[list[str], list[str]]:
    """Rule labels and variation labels for every point, given the rule codes.

    Flagged points are usually a handful out of ~80, so the lists start as all "" /
    "common" and only the flagged points are visited, in plain Python.
    """
    n = x.size
    rule_labels = [""] * n
    variation = [VARIATIONS[_COMMON]] * n
    flagged = codes.nonzero()[0]
    if flagged.size == 0:
        return rule_labels, variation
    trends = trend_dir[flagged].tolist() if trend_dir is not None else [0.0] * flagged.size
    for i, code, value, centre, trend in zip(
        flagged.tolist(),
        codes[flagged].tolist(),
        x[flagged].tolist(),
        mean[flagged].tolist(),
        trends,
        strict=True,
    ):
        rule_labels[i] = _RULE_LABELS[code]
        if polarity_sign == 0:
            variation[i] = VARIATIONS[_NEITHER]
            continue
        # Non-trend rules are about where the point is relative to its segment's mean; a
        # trend is about where the process is heading, so the trend direction decides
        # only when trend is the sole rule. A trend point whose direction is ambiguous (a
        # peak or trough shared by a rise and a fall nets to 0) falls back to its side.
        if code & _NON_TREND or trend == 0:
            direction = (value > centre) - (value < centre)
        else:
            direction = 1 if trend > 0 else -1
        goodness = direction * polarity_sign
        kind = _IMPROVEMENT if goodness > 0 else _CONCERN if goodness < 0 else _NEITHER
        variation[i] = VARIATIONS[kind]
    return rule_labels, variation


def _segment_bounds(n: int, rebase_at: Sequence[int]) -> list[tuple[int, int]]:
    """Split ``range(n)`` at the re-base indices into half-open ``(start, stop)`` pairs."""
    if len(rebase_at) == 0:  # len(), not truthiness, so a numpy array of indices works
        return [(0, n)]
    cuts = sorted({int(i) for i in rebase_at})
    if cuts[0] < 0 or cuts[-1] >= n:
        raise ValueError(f"rebase_at indices must be within 0..{n - 1}, got {list(rebase_at)}")
    edges = [0, *(c for c in cuts if c > 0), n]
    return list(pairwise(edges))


def _assurance(target: float | None, lower: float, upper: float, polarity_sign: int) -> str | None:
    """Can the process (as its last segment behaves) be relied on to meet the target?"""
    if target is None or polarity_sign == 0:
        return None
    if not (math.isfinite(target) and math.isfinite(lower) and math.isfinite(upper)):
        return None
    # Express everything as "goodness" so one comparison serves both polarities: a target
    # beyond the good-side limit can't be reached by common-cause variation (fail); one
    # beyond the bad-side limit is met by every common-cause point (pass).
    good_limit, bad_limit = (upper, lower) if polarity_sign > 0 else (lower, upper)
    t, good_limit, bad_limit = (v * polarity_sign for v in (target, good_limit, bad_limit))
    if t > good_limit:
        return ASSURANCE_FAIL
    if t < bad_limit:
        return ASSURANCE_PASS
    return ASSURANCE_HIT_AND_MISS


def xmr(
    values: Sequence[float],
    polarity: str,
    target: float | None = None,
    baseline: int | None = None,
    rebase_at: Sequence[int] = (),
    rules: SpcRules = DEFAULT_RULES,
) -> SpcResult:
    """Compute an XmR chart for one series.

    Args:
        values: the series in time order; NaN (or infinite) marks a missing period.
        polarity: "higher" (higher is better), "lower", or "neutral".
        target: optional target, used only for the assurance of the last segment.
        baseline: number of non-missing points at the start of each segment used for its
            centre line and limits; None uses every point of the segment.
        rebase_at: point indices where a new segment (with its own limits) begins, e.g.
            the month a force adopted the NOM. Runs and trends do not cross a re-base.
        rules: which special-cause rules apply and their run lengths.

    Missing points are skipped, not bridged with zeros: the mean and moving ranges use
    only present points (mR between consecutive present points), and runs and trends are
    counted over the present points, so a gap neither breaks nor extends a run. Missing
    points still carry their segment's limits (so lines can be drawn through gaps), with
    rule "" and variation "common". A segment with fewer than two present points has NaN
    limits and no flags.
    """
    try:
        polarity_sign = _POLARITY_SIGN[polarity]
    except KeyError:
        raise ValueError(f"polarity must be one of {POLARITIES}, got {polarity!r}") from None
    if baseline is not None and baseline < 2:
        # One point has no moving range, so it cannot define limits.
        raise ValueError(f"baseline must be at least 2 points, got {baseline}")

    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError("values must be one-dimensional")
    n = x.size
    # Rows: mean, lower, upper, lower_2sigma, upper_2sigma. One allocation for all five.
    lines = np.full((5, n), np.nan)
    codes = np.zeros(n, dtype=np.int64)
    trend_dir = None

    for start, stop in _segment_bounds(n, rebase_at):
        seg = x[start:stop]
        # One reduction tells us whether the segment is complete (the usual case): a sum
        # of finite values is finite, so only a non-finite sum needs the masking path.
        total = float(np.add.reduce(seg))
        complete = math.isfinite(total)
        if complete:
            xv = seg
        else:
            present = np.isfinite(seg)
            xv = seg[present]
        m = xv.size
        if m < 2:
            continue
        if baseline is None:
            base = xv
            centre = total / m if complete else float(np.add.reduce(xv)) / m
        else:
            base = xv[:baseline]
            centre = float(np.add.reduce(base)) / base.size
        mean_mr = float(np.add.reduce(np.abs(base[1:] - base[:-1]))) / (base.size - 1)
        width = XMR_CONSTANT * mean_mr
        two_sigma = width * (2.0 / 3.0)
        limits = (centre, centre - width, centre + width, centre - two_sigma, centre + two_sigma)
        lines[:, start:stop] = np.array(limits)[:, None]

        seg_codes, seg_trend = _segment_flags(xv, limits, rules)
        positions = slice(start, stop) if complete else present.nonzero()[0] + start
        codes[positions] = seg_codes
        if seg_trend is not None:
            if trend_dir is None:
                trend_dir = np.zeros(n)
            trend_dir[positions] = seg_trend

    assurance = None
    if n:
        assurance = _assurance(target, lines[1, -1], lines[2, -1], polarity_sign)

    rule_labels, variation = _labels(x, lines[0], codes, trend_dir, polarity_sign)

    return SpcResult(
        mean=lines[0],
        lower=lines[1],
        upper=lines[2],
        lower_2sigma=lines[3],
        upper_2sigma=lines[4],
        rules=rule_labels,
        variation=variation,
        assurance=assurance,
    )


# --- many series at once ------------------------------------------------------------------

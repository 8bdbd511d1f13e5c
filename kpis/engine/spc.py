"""Statistical process control: XmR charts as NHS England's "Making Data Count" draws them.

The rules, as docs/spc.md states them for people:

* **Lines.** A segment's centre line is the mean of its baseline points; the process
  limits are ``mean +/- 2.66 * mean(mR)``, the moving range ``mR`` being the absolute
  difference of consecutive present points (a missing month is skipped: the moving range
  joins across it); the 2-sigma lines sit at two thirds of that distance.
* **On a line is not beyond it.** Every comparison (with the mean, a line, or the point
  before) allows a tolerance of one part in 10^9 of the series' largest absolute value,
  so a point equal to the mean in decimal arithmetic is on it, whatever the float
  rounding. A segment whose baseline moving ranges are all zero has no signals.
* **outside**: a point strictly beyond a process limit.
* **shift**: ``shift_length`` (7) or more consecutive points strictly on one side of the
  mean of their segment; a point on the mean ends the run, and so does a re-base.
* **trend**: ``trend_length`` (7) or more consecutive points each strictly above (below)
  the one before; a tie ends it. Trends run across a re-base.
* **two of three**: three consecutive points of one segment all on the same side of the
  mean, two or three of them beyond that side's 2-sigma line but not beyond its process
  limit; those two or three points are flagged.
* **Direction.** A flagged point is an improvement or a concern by the direction of the
  first rule that flags it in the order outside, trend, two of three, shift (all but
  trend follow the point's side of the mean). A neutral KPI's flags are "neither".
* **Enough points.** Limits need ``min_points`` (15) baseline points: a segment with fewer
  has no lines, no signals and no variation (code ``NOT_ASSESSED``); with fewer than
  ``full_points`` (20) its limits are trial limits.
* **Assurance** (last segment, needs limits): with the target on or beyond the bad-side
  limit every common-cause point meets it (consistently passing); on or beyond the
  good-side limit, none beyond it does (consistently failing); between, hit and miss.
  Passing is tested first, so a flat series exactly at its target passes.

:func:`xmr_batch` computes every series of a KPI in one vectorised pass; the tests keep a
plain point-by-point twin (tests/spc_reference.py) and check the two agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kpis.domain.baseline import MIN_LIMIT_POINTS
from kpis.domain.vocabulary import (
    ASSURANCE_FAIL,
    ASSURANCE_HIT_AND_MISS,
    ASSURANCE_PASS,
    LIMIT_STATES,
    POLARITIES,
    RULES,
    VARIATIONS,
)

__all__ = [
    "DEFAULT_RULES",
    "LIMITS_FULL",
    "LIMITS_NONE",
    "LIMITS_TRIAL",
    "NOT_ASSESSED",
    "RELATIVE_TOLERANCE",
    "RULE_LABELS",
    "XMR_CONSTANT",
    "SpcBatch",
    "SpcRules",
    "xmr_batch",
]

#: The XmR scaling constant: 3 / d2, with d2 = 1.128 for moving ranges of two points.
XMR_CONSTANT = 2.66

#: Comparisons allow this fraction of the series' largest absolute value.
RELATIVE_TOLERANCE = 1e-9

# Bit flags for the rules, in the vocabulary's order of RULES.
_OUTSIDE, _SHIFT, _TREND, _TWO_OF_THREE = 1, 2, 4, 8

#: The label of each combination of rule bits (index = code): "" or "outside,trend".
RULE_LABELS: tuple[str, ...] = tuple(
    ",".join(name for bit, name in enumerate(RULES) if code & (1 << bit)) for code in range(16)
)
_COMMON, _IMPROVEMENT, _CONCERN, _NEITHER = range(4)
#: Variation code of a point that is not assessed (missing, or no limits): one past
#: VARIATIONS, so a coded column reads it as missing.
NOT_ASSESSED = len(VARIATIONS)
#: Limit states per segment, indices into the vocabulary's LIMIT_STATES.
LIMITS_NONE, LIMITS_TRIAL, LIMITS_FULL = (LIMIT_STATES.index(s) for s in
                                          ("too_few", "trial", "limits"))

# +1: above the mean / rising is good; -1: below / falling is good; 0: no judgement.
_POLARITY_SIGN = {"higher": 1, "lower": -1, "neutral": 0}


@dataclass(frozen=True)
class SpcRules:
    """The special-cause rules and the numbers of points they need.

    The defaults are Making Data Count's; the catalogue may set run lengths of 6 to 8.
    """

    shift_length: int = 7  # consecutive points strictly on one side of the mean
    trend_length: int = 7  # consecutive points each strictly above (below) the previous
    two_of_three: bool = True
    outside_limits: bool = True
    min_points: int = MIN_LIMIT_POINTS  # fewer baseline points: no limits
    full_points: int = 20  # fewer: trial limits

    def __post_init__(self) -> None:
        # A shift of 1 would flag every point off the mean, and a "trend" needs at least
        # one step, so smaller values are configuration mistakes, not choices.
        if self.shift_length < 2:
            raise ValueError(f"shift_length must be at least 2, got {self.shift_length}")
        if self.trend_length < 2:
            raise ValueError(f"trend_length must be at least 2, got {self.trend_length}")
        if not 2 <= self.min_points <= self.full_points:
            raise ValueError("min_points must be at least 2 and at most full_points")


DEFAULT_RULES = SpcRules()


@dataclass(frozen=True)
class SpcBatch:
    """The XmR charts of many series, on flat arrays.

    Per-point arrays follow the flat ``values`` given to :func:`xmr_batch`; per-segment
    arrays are indexed by ``segment_of``; ``assurance`` has one entry per series.
    ``codes`` holds the rule bits (1 outside, 2 shift, 4 trend, 8 two of three) and
    ``variation_codes`` the index into VARIATIONS, or :data:`NOT_ASSESSED`.
    """

    segment_lines: np.ndarray  # 5 x segments: mean, lower, upper, lower_2sigma, upper_2sigma
    segment_of: np.ndarray  # per point: its segment
    segment_points: np.ndarray  # per segment: how many points its limits come from
    segment_state: np.ndarray  # per segment: LIMITS_NONE / LIMITS_TRIAL / LIMITS_FULL
    segment_first: np.ndarray  # per segment: flat index of its first baseline point (-1)
    segment_last: np.ndarray  # per segment: flat index of its last baseline point (-1)
    codes: np.ndarray
    variation_codes: np.ndarray
    assurance: np.ndarray  # object: "pass" / "fail" / "hit_and_miss" / None per series

    def line(self, which: int, out: np.ndarray | None = None) -> np.ndarray:
        """Line ``which`` (0 mean, 1 lower, 2 upper, 3 lower_2sigma, 4 upper_2sigma) per point."""
        return np.take(self.segment_lines[which], self.segment_of, out=out, mode="clip")

    @property
    def mean(self) -> np.ndarray:
        return self.line(0)

    @property
    def lower(self) -> np.ndarray:
        return self.line(1)

    @property
    def upper(self) -> np.ndarray:
        return self.line(2)

    @property
    def lower_2sigma(self) -> np.ndarray:
        return self.line(3)

    @property
    def upper_2sigma(self) -> np.ndarray:
        return self.line(4)

    @property
    def rules(self) -> np.ndarray:
        """Rule labels per point (object array of str)."""
        return _RULE_LABEL_ARRAY.take(self.codes)

    @property
    def variation(self) -> np.ndarray:
        """Variation labels per point (object array; None where not assessed)."""
        return _VARIATION_ARRAY.take(self.variation_codes)

    @property
    def limit_state(self) -> np.ndarray:
        """Limit state per point (LIMITS_NONE / LIMITS_TRIAL / LIMITS_FULL)."""
        return self.segment_state.take(self.segment_of, mode="clip")


_RULE_LABEL_ARRAY = np.array(RULE_LABELS, dtype=object)
_VARIATION_ARRAY = np.array([*VARIATIONS, None], dtype=object)


def _run_lengths(keys: np.ndarray) -> np.ndarray:
    """For each element of ``keys`` (flattened), the length of the run of equal values it is in."""
    flat = keys.ravel()
    if flat.size == 0:
        return np.zeros(keys.shape, dtype=np.int64)
    change = np.empty(flat.size, dtype=bool)
    change[0] = True
    np.not_equal(flat[1:], flat[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    lengths = np.diff(np.append(starts, flat.size))
    return np.repeat(lengths, lengths).reshape(keys.shape)


def _long_runs(keys: np.ndarray, length: int) -> np.ndarray:
    """Mask of the non-zero elements of ``keys`` in runs of ``length`` or more equal values.

    Callers end each row with a 0 so that runs cannot cross rows.
    """
    return (keys != 0) & (_run_lengths(keys) >= length)


def _series_signs(polarity: str | Sequence[str], count: int) -> np.ndarray:
    names = [polarity] * count if isinstance(polarity, str) else list(polarity)
    if len(names) != count:
        raise ValueError(f"expected {count} polarities, got {len(names)}")
    try:
        return np.array([_POLARITY_SIGN[p] for p in names], dtype=np.int64)
    except KeyError as exc:
        raise ValueError(f"polarity must be one of {POLARITIES}, got {exc.args[0]!r}") from None


def _compare(a: np.ndarray, b: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """-1, 0 or +1 (int8): ``a`` below, on (within ``tol``) or above ``b``; 0 for NaN."""
    with np.errstate(invalid="ignore"):
        difference = a - b
        return (difference > tol).view(np.int8) - (difference < -tol).view(np.int8)


def xmr_batch(
    values: Sequence[float] | np.ndarray,
    offsets: Sequence[int] | np.ndarray,
    polarity: str | Sequence[str],
    target: float | Sequence[float] | np.ndarray | None = None,
    baseline: int | None = None,
    segment_starts: np.ndarray | None = None,
    rules: SpcRules = DEFAULT_RULES,
) -> SpcBatch:
    """XmR charts of many series in one vectorised pass.

    Args:
        values: every series' points, concatenated (NaN or infinite marks a missing point).
        offsets: series boundaries: series ``s`` is ``values[offsets[s]:offsets[s + 1]]``.
        polarity: one polarity for every series, or one per series.
        target: None, one target for every series, or one per series (NaN for none).
        baseline: the limits of each segment come from its first ``baseline`` present
            points (None: all of them); later points are judged against them.
        segment_starts: optional bool per point, True where a re-based segment begins; a
            series always starts a segment.
        rules: the rules and the numbers of points they need.
    """
    if baseline is not None and baseline < 2:
        raise ValueError(f"baseline must be at least 2 points, got {baseline}")
    x = np.asarray(values, dtype=float).ravel()
    bounds = np.asarray(offsets, dtype=np.int64).ravel()
    n = x.size
    if bounds.size == 0 or bounds[0] != 0 or bounds[-1] != n or (np.diff(bounds) < 0).any():
        raise ValueError("offsets must rise from 0 to len(values)")
    series = bounds.size - 1
    sign = _series_signs(polarity, series)
    goal = (np.full(series, np.nan) if target is None else
            np.broadcast_to(np.asarray(target, dtype=float), (series,)).astype(float))
    lengths = np.diff(bounds)
    series_of = np.repeat(np.arange(series), lengths)

    # Segments: every series start, plus the re-base points.
    starts = np.zeros(n, dtype=bool)
    starts[bounds[:-1][lengths > 0]] = True
    if segment_starts is not None:
        extra = np.asarray(segment_starts, dtype=bool).ravel()
        if extra.size != n:
            raise ValueError("segment_starts must have one entry per value")
        starts |= extra
    segment_of = np.cumsum(starts) - 1
    segments = int(starts.sum())
    segment_series = series_of[np.flatnonzero(starts)]

    present = np.isfinite(x)
    where = np.flatnonzero(present)
    xp = x[where]
    # The tolerance of every comparison, per series: a part in 10^9 of its largest value.
    scale = np.zeros(series)
    np.maximum.at(scale, series_of[where], np.abs(xp))
    tol = RELATIVE_TOLERANCE * scale

    # Each segment's baseline: its first ``baseline`` present points.
    pseg = segment_of[where]
    count = np.bincount(pseg, minlength=segments)
    first = np.cumsum(count) - count
    position = np.arange(where.size) - first[pseg]
    used = count if baseline is None else np.minimum(count, baseline)
    in_base = position < used[pseg]
    centre = np.bincount(pseg[in_base], weights=xp[in_base], minlength=segments)
    ranges = np.zeros(where.size)
    ranges[1:] = np.abs(np.diff(xp))
    joins = in_base & (position > 0)  # a moving range within the baseline
    range_total = np.bincount(pseg[joins], weights=ranges[joins], minlength=segments)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = centre / used
        mean_mr = range_total / (used - 1)
    state = np.where(used < rules.min_points, LIMITS_NONE,
                     np.where(used < rules.full_points, LIMITS_TRIAL, LIMITS_FULL))
    spread = XMR_CONSTANT * mean_mr
    two_sigma = spread * (2.0 / 3.0)
    lines = np.stack([centre, centre - spread, centre + spread,
                      centre - two_sigma, centre + two_sigma])
    lines[:, state == LIMITS_NONE] = np.nan
    # Signals need limits of some width: a flat baseline says nothing about variation.
    active = (state != LIMITS_NONE) & (mean_mr > tol[segment_series])

    codes_p, variation_p = _signals(xp, series_of[where], pseg, lines, active,
                                    state != LIMITS_NONE, tol, sign, series, rules)
    codes = np.zeros(n, dtype=np.int8)
    codes[where] = codes_p
    variation = np.full(n, NOT_ASSESSED, dtype=np.int8)
    variation[where] = variation_p

    base_first = np.full(segments, -1, dtype=np.int64)
    base_last = np.full(segments, -1, dtype=np.int64)
    has_base = used > 0
    base_first[has_base] = where[first[has_base]]
    base_last[has_base] = where[(first + used - 1)[has_base]]
    return SpcBatch(
        segment_lines=lines, segment_of=segment_of, segment_points=used,
        segment_state=state, segment_first=base_first, segment_last=base_last,
        codes=codes, variation_codes=variation,
        assurance=_assurance(lines, state, segment_of, bounds, lengths, goal, sign, tol),
    )


def _signals(xp: np.ndarray, series_p: np.ndarray, pseg: np.ndarray, lines: np.ndarray,
             active: np.ndarray, assessed: np.ndarray, tol: np.ndarray, sign: np.ndarray,
             series: int, rules: SpcRules) -> tuple[np.ndarray, np.ndarray]:
    """Rule bits and variation codes of the present points ``xp`` (in series order).

    ``active`` segments may signal; ``assessed`` ones (with limits) get a variation.
    """
    if xp.size == 0:
        return np.zeros(0, dtype=np.int8), np.zeros(0, dtype=np.int8)
    # Present points left-aligned in one row per series, ending in at least one empty
    # cell (NaN, segment -1), so that a run cannot cross from one series to the next.
    count = np.bincount(series_p, minlength=series)
    first = np.cumsum(count) - count
    width = int(count.max()) + 1
    cell = np.arange(xp.size) - first[series_p] + series_p * width
    grid = np.full(series * width, np.nan)
    grid[cell] = xp
    grid = grid.reshape(series, width)
    seg = np.full(series * width, -1, dtype=np.int64)
    seg[cell] = pseg
    seg = seg.reshape(series, width)
    row_tol = tol[:, None]
    centre, lower, upper, lower_2s, upper_2s = (line.take(seg, mode="clip") for line in lines)

    side = _compare(grid, centre, row_tol)
    outside = (_compare(grid, upper, row_tol) > 0) | (_compare(grid, lower, row_tol) < 0)
    near = ~outside & ((_compare(grid, upper_2s, row_tol) > 0)
                       | (_compare(grid, lower_2s, row_tol) < 0))
    # A run key: the side of the mean within one segment (0 on the mean or empty).
    key = side.astype(np.int64) * (seg + 1)

    codes = np.zeros(grid.shape, dtype=np.int8)
    if rules.outside_limits:
        codes |= outside.view(np.int8) * np.int8(_OUTSIDE)
    codes |= _long_runs(key, rules.shift_length).view(np.int8) * np.int8(_SHIFT)

    # Step i joins point i to point i + 1; a tie (or the empty end of a row) is 0.
    steps = _compare(grid[:, 1:], grid[:, :-1], row_tol)
    steps *= _long_runs(steps, rules.trend_length - 1).view(np.int8)
    trend_dir = np.zeros(grid.shape, dtype=np.int8)
    trend_dir[:, 1:] += steps
    trend_dir[:, :-1] += steps  # a peak shared by a rise and a fall nets to 0
    in_trend = np.zeros(grid.shape, dtype=bool)
    in_trend[:, 1:] |= steps != 0
    in_trend[:, :-1] |= steps != 0
    codes |= in_trend.view(np.int8) * np.int8(_TREND)
    np.clip(trend_dir, -1, 1, out=trend_dir)

    if rules.two_of_three and width >= 3:
        same = (key[:, :-2] != 0) & (key[:, :-2] == key[:, 1:-1]) & (key[:, 1:-1] == key[:, 2:])
        close = near.view(np.int8)
        window = same & (close[:, :-2] + close[:, 1:-1] + close[:, 2:] >= 2)
        flagged = np.zeros(grid.shape, dtype=bool)
        for lag in range(3):
            flagged[:, lag: width - 2 + lag] |= window
        codes |= (flagged & near).view(np.int8) * np.int8(_TWO_OF_THREE)

    codes_p = codes.ravel().take(cell)
    codes_p[~active[pseg]] = 0
    # Direction by precedence: outside, then trend, then two of three and shift (side).
    side_p = side.ravel().take(cell).astype(np.int64)
    trend_p = trend_dir.ravel().take(cell).astype(np.int64)
    use_trend = ((codes_p & _OUTSIDE) == 0) & ((codes_p & _TREND) != 0) & (trend_p != 0)
    goodness = np.where(use_trend, trend_p, side_p) * sign[series_p]
    variation = np.where(codes_p == 0, _COMMON, np.where(
        goodness > 0, _IMPROVEMENT, np.where(goodness < 0, _CONCERN, _NEITHER)))
    variation[~assessed[pseg]] = NOT_ASSESSED
    return codes_p, variation.astype(np.int8)


def _assurance(lines: np.ndarray, state: np.ndarray, segment_of: np.ndarray,
               bounds: np.ndarray, lengths: np.ndarray, goal: np.ndarray, sign: np.ndarray,
               tol: np.ndarray) -> np.ndarray:
    """Assurance per series, from the limits of the segment of its last point."""
    assurance = np.full(lengths.size, None, dtype=object)
    if segment_of.size == 0:
        return assurance
    last = segment_of[np.maximum(bounds[1:] - 1, 0)]
    lower, upper = lines[1][last], lines[2][last]
    usable = ((lengths > 0) & (sign != 0) & np.isfinite(goal) & (state[last] != LIMITS_NONE))
    # In "goodness" terms (times the sign) one comparison serves both polarities.
    good = np.where(sign > 0, upper, lower) * sign
    bad = np.where(sign > 0, lower, upper) * sign
    scaled = goal * sign
    with np.errstate(invalid="ignore"):
        passing = usable & (scaled <= bad + tol)
        failing = usable & ~passing & (scaled >= good - tol)
    assurance[usable] = ASSURANCE_HIT_AND_MISS
    assurance[failing] = ASSURANCE_FAIL
    assurance[passing] = ASSURANCE_PASS
    return assurance

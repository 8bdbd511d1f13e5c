"""Statistical process control: XmR charts as in NHS England's "Making Data Count".

An XmR (individuals and moving range) chart puts a centre line at the mean of the
baseline points and process limits at ``mean +/- 2.66 * mean(mR)``, where the moving
range ``mR_i = |x_i - x_(i-1)|``. Special-cause variation is signalled by four rules:

* ``outside``: a single point strictly outside the process limits;
* ``shift``: a run of ``shift_length`` (7) or more consecutive points strictly on one side
  of the mean (a point exactly on the mean ends the run);
* ``trend``: ``trend_length`` (7) or more consecutive points each strictly higher (or each
  strictly lower) than the one before, i.e. 6 consecutive rises or falls (an equal
  neighbour ends it);
* ``two_of_three``: two or three out of three consecutive points strictly beyond the same
  2-sigma line (``mean +/- (2/3) * 2.66 * mean(mR)``); only the points beyond it are
  flagged.

Every point of a qualifying shift or trend is flagged. With a polarity, a flagged point is
"improvement" or "concern"; without one it is "neither"; unflagged points are "common"
cause. Assurance compares a target with the (last segment's) process limits.

:func:`xmr` is called for every KPI series in the catalogue (about 2,000 series of ~80
points), so it avoids pandas and keeps the number of numpy calls small: on arrays this
short each call's fixed overhead, not the arithmetic, is the cost. Runs are found with a
regex over packed signs, and only flagged points (usually few) are visited in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kpis.domain.vocabulary import (
    ASSURANCE_FAIL,
    ASSURANCE_HIT_AND_MISS,
    ASSURANCE_PASS,
    POLARITIES,
    RULES,
    VARIATIONS,
)

__all__ = [
    "ASSURANCE_FAIL",
    "ASSURANCE_HIT_AND_MISS",
    "ASSURANCE_PASS",
    "DEFAULT_RULES",
    "POLARITIES",
    "RULE_LABELS",
    "RULE_NAMES",
    "VARIATIONS",
    "SpcBatch",
    "SpcRules",
    "xmr_batch",
]

#: The XmR scaling constant: 3 / d2, with d2 = 1.128 for moving ranges of two points.
XMR_CONSTANT = 2.66

#: Rule names in the fixed order used when several rules flag one point, variation
#: categories in the order of the internal codes 0..3, polarities and assurance codes:
#: the vocabulary's (one list of codes, each with its phrase there).
RULE_NAMES = RULES

# Bit flags for the rules; their order matches RULE_NAMES so the label table below can be
# built mechanically.
_OUTSIDE, _SHIFT, _TREND, _TWO_OF_THREE = 1, 2, 4, 8
_NON_TREND = _OUTSIDE | _SHIFT | _TWO_OF_THREE

# Every combination of rule bits maps to one pre-built label (index = code), so labelling
# a flagged point is a tuple lookup rather than a string join.
_RULE_LABELS: tuple[str, ...] = tuple(
    ",".join(name for bit, name in enumerate(RULE_NAMES) if code & (1 << bit)) for code in range(16)
)
_COMMON, _IMPROVEMENT, _CONCERN, _NEITHER = 0, 1, 2, 3

# +1: above the mean / rising is good; -1: below / falling is good; 0: no judgement.
_POLARITY_SIGN = {"higher": 1, "lower": -1, "neutral": 0}


@dataclass(frozen=True)
class SpcRules:
    """Which special-cause rules to apply, and the run lengths they need.

    The defaults are the Making Data Count rules; some forces use 6 or 8 for runs.
    """

    shift_length: int = 7  # consecutive points strictly on one side of the mean
    trend_length: int = 7  # consecutive points each strictly above (below) the previous
    two_of_three: bool = True
    outside_limits: bool = True

    def __post_init__(self) -> None:
        # A shift of 1 would flag every point off the mean, and a "trend" needs at least
        # one step, so smaller values are configuration mistakes, not choices.
        if self.shift_length < 2:
            raise ValueError(f"shift_length must be at least 2, got {self.shift_length}")
        if self.trend_length < 2:
            raise ValueError(f"trend_length must be at least 2, got {self.trend_length}")


DEFAULT_RULES = SpcRules()


@dataclass(frozen=True)
class SpcBatch:
    """:func:`xmr` for many series at once, on flat arrays.

    Per-point arrays follow the flat ``values`` given to :func:`xmr_batch`; ``assurance``
    has one entry per series. ``codes`` holds the rule bits (1 outside, 2 shift, 4 trend,
    8 two-of-three) and ``variation_codes`` the index into :data:`VARIATIONS`. The lines
    are held per segment (``segment_lines``: mean, lower, upper, lower_2sigma,
    upper_2sigma) and spread over the points on demand (``mean`` etc., or :meth:`line`).
    """

    segment_lines: np.ndarray  # 5 x segments
    segment_of: np.ndarray  # per point: its segment
    codes: np.ndarray
    variation_codes: np.ndarray
    assurance: np.ndarray  # object: "pass" / "fail" / "hit_and_miss" / None per series

    def line(self, which: int, out: np.ndarray | None = None) -> np.ndarray:
        """Line ``which`` (0 mean, 1 lower, 2 upper, 3 lower_2sigma, 4 upper_2sigma) per point.

        ``out`` receives it without an intermediate array (the caller's table column).
        """
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
        """Rule labels per point (object array of str), as :attr:`SpcResult.rules`."""
        return _RULE_LABEL_ARRAY.take(self.codes)

    @property
    def variation(self) -> np.ndarray:
        """Variation labels per point (object array of str), as :attr:`SpcResult.variation`."""
        return _VARIATION_ARRAY.take(self.variation_codes)


#: The label of each combination of rule bits, indexed by :attr:`SpcBatch.codes`.
RULE_LABELS: tuple[str, ...] = _RULE_LABELS
_RULE_LABEL_ARRAY = np.array(_RULE_LABELS, dtype=object)
_VARIATION_ARRAY = np.array(VARIATIONS, dtype=object)


def _long_runs(signs: np.ndarray, length: int) -> np.ndarray:
    """Mask of the elements of ``signs`` (int8, any shape) in runs of ``length`` or more.

    A run is consecutive equal non-zero values along the flattened array; callers pad
    each row with a 0 so that runs cannot cross rows.
    """
    flat = signs.ravel()
    if flat.size == 0:
        return np.zeros(signs.shape, dtype=bool)
    change = np.empty(flat.size, dtype=bool)
    change[0] = True
    np.not_equal(flat[1:], flat[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    lengths = np.diff(np.append(starts, flat.size))
    qualifies = (lengths >= length) & (flat[starts] != 0)
    if not qualifies.any():
        return np.zeros(signs.shape, dtype=bool)
    return np.repeat(qualifies, lengths).reshape(signs.shape)


def _series_signs(polarity: str | Sequence[str], count: int) -> np.ndarray:
    names = [polarity] * count if isinstance(polarity, str) else list(polarity)
    if len(names) != count:
        raise ValueError(f"expected {count} polarities, got {len(names)}")
    try:
        return np.array([_POLARITY_SIGN[p] for p in names], dtype=np.int64)
    except KeyError as exc:
        raise ValueError(f"polarity must be one of {POLARITIES}, got {exc.args[0]!r}") from None


def xmr_batch(
    values: Sequence[float] | np.ndarray,
    offsets: Sequence[int] | np.ndarray,
    polarity: str | Sequence[str],
    target: float | Sequence[float] | np.ndarray | None = None,
    baseline: int | None = None,
    segment_starts: np.ndarray | None = None,
    rules: SpcRules = DEFAULT_RULES,
) -> SpcBatch:
    """:func:`xmr` over many series in one vectorised pass, with identical results.

    Args:
        values: every series' points, concatenated (NaN or infinite marks a missing point).
        offsets: series boundaries: series ``s`` is ``values[offsets[s]:offsets[s + 1]]``
            (so ``offsets[0] == 0`` and ``offsets[-1] == len(values)``).
        polarity: one polarity for every series, or one per series.
        target: None, one target for every series, or one per series (NaN for none).
        baseline: as for :func:`xmr` (non-missing points at the start of each segment).
        segment_starts: optional bool per point, True where a re-based segment begins
            (the point index ``i`` of ``xmr(..., rebase_at=[i])``); a series always starts
            a segment.
        rules: which special-cause rules apply and their run lengths.

    The arithmetic is the same as :func:`xmr`'s, operation for operation: sums of a
    segment's points are taken with ``np.add.reduce`` over rows of the same length (the
    same pairwise summation as on one series), so every limit is bit-for-bit equal.
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
    if target is None:
        goal = np.full(series, np.nan)
    else:
        goal = np.broadcast_to(np.asarray(target, dtype=float), (series,)).astype(float)
    lengths = np.diff(bounds)

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

    # Each segment's present points, left-aligned in one row of a 2-D array; the padding
    # (NaN, and always at least one column of it) keeps runs from crossing rows.
    present = np.isfinite(x)
    where = np.flatnonzero(present)
    row = segment_of[where]
    count = np.bincount(row, minlength=segments)
    first = np.cumsum(count) - count
    width = int(count.max()) + 1 if segments else 1
    cell = np.arange(where.size) - first[row] + row * width  # flat index into the grid
    grid = np.full(segments * width, np.nan)
    grid[cell] = x[where]
    grid = grid.reshape(segments, width)

    # Centre line and mean moving range from the first ``baseline`` present points.
    used = count if baseline is None else np.minimum(count, baseline)
    valid = count >= 2
    centre = np.full(segments, np.nan)
    mean_mr = np.full(segments, np.nan)
    ranges = np.abs(grid[:, 1:] - grid[:, :-1])
    for size in np.unique(used[valid]).tolist():
        rows = np.flatnonzero(valid & (used == size))
        centre[rows] = np.add.reduce(grid[rows, :size], axis=1) / size
        mean_mr[rows] = np.add.reduce(ranges[rows, : size - 1], axis=1) / (size - 1)
    spread = XMR_CONSTANT * mean_mr
    two_sigma = spread * (2.0 / 3.0)
    lines = np.stack([centre, centre - spread, centre + spread,
                      centre - two_sigma, centre + two_sigma])

    grid_codes, grid_trend = _batch_codes(grid, lines, count, rules)
    point_codes = np.zeros(n, dtype=np.int8)
    present_codes = grid_codes.ravel().take(cell)
    point_codes[where] = present_codes

    # Variation, for the flagged points only (usually few), as in xmr's _labels.
    variation = np.zeros(n, dtype=np.int8)
    hits = np.flatnonzero(present_codes)
    if hits.size:
        points = where[hits]
        code = present_codes[hits]
        trend = grid_trend.ravel().take(cell[hits])
        value = x[points]
        centre_at = centre[segment_of[points]]
        side = (value > centre_at).astype(np.int64) - (value < centre_at)
        use_side = ((code & _NON_TREND) != 0) | (trend == 0)
        goodness = np.where(use_side, side, trend) * np.repeat(sign, lengths)[points]
        variation[points] = np.where(goodness > 0, _IMPROVEMENT,
                                     np.where(goodness < 0, _CONCERN, _NEITHER))

    # Every point (missing ones too) carries its segment's lines.
    return SpcBatch(
        segment_lines=lines, segment_of=segment_of, codes=point_codes,
        variation_codes=variation,
        assurance=_batch_assurance(lines, segment_of, bounds, lengths, goal, sign),
    )


def _batch_codes(
    grid: np.ndarray, lines: np.ndarray, count: np.ndarray, rules: SpcRules
) -> tuple[np.ndarray, np.ndarray]:
    """Rule bits (int8) and trend direction (-1, 0, +1) for every cell of the segment grid."""
    centre, lower, upper, lower_2sigma, upper_2sigma = (line[:, None] for line in lines)
    codes = np.zeros(grid.shape, dtype=np.int8)
    with np.errstate(invalid="ignore"):
        if rules.outside_limits:
            codes |= ((grid > upper) | (grid < lower)).view(np.int8)  # _OUTSIDE is 1
        # Comparisons rather than np.sign: padding (NaN) compares False, i.e. 0.
        sides = (grid > centre).view(np.int8) - (grid < centre).view(np.int8)
        codes |= _long_runs(sides, rules.shift_length).view(np.int8) * np.int8(_SHIFT)
        after, before = grid[:, 1:], grid[:, :-1]
        steps = (after > before).view(np.int8) - (after < before).view(np.int8)
        steps *= _long_runs(steps, rules.trend_length - 1).view(np.int8)  # 0 outside trends
        # Step i joins point i to point i + 1. A point inside one trend counts its
        # direction twice; a peak or trough shared by a rise and a fall nets to 0, as in xmr.
        trend_dir = np.zeros(grid.shape, dtype=np.int8)
        trend_dir[:, 1:] += steps
        trend_dir[:, :-1] += steps
        in_trend = np.zeros(grid.shape, dtype=bool)
        in_trend[:, 1:] |= steps != 0
        in_trend[:, :-1] |= steps != 0
        codes |= in_trend.view(np.int8) * np.int8(_TREND)
        np.clip(trend_dir, -1, 1, out=trend_dir)
        if rules.two_of_three:
            enough = (count >= 3)[:, None]
            for beyond in (grid > upper_2sigma, grid < lower_2sigma):
                beyond &= enough
                near = np.zeros(grid.shape, dtype=bool)
                near[:, 1:] |= beyond[:, :-1]
                near[:, 2:] |= beyond[:, :-2]
                near[:, :-1] |= beyond[:, 1:]
                near[:, :-2] |= beyond[:, 2:]
                codes |= (beyond & near).view(np.int8) * np.int8(_TWO_OF_THREE)
    return codes, trend_dir


def _batch_assurance(
    lines: np.ndarray, segment_of: np.ndarray, bounds: np.ndarray, lengths: np.ndarray,
    goal: np.ndarray, sign: np.ndarray,
) -> np.ndarray:
    """:func:`_assurance` per series, from the limits of the segment of its last point."""
    assurance = np.full(lengths.size, None, dtype=object)
    if segment_of.size:
        last = segment_of[np.maximum(bounds[1:] - 1, 0)]
        lower, upper = lines[1][last], lines[2][last]
    else:
        lower = upper = np.full(lengths.size, np.nan)
    usable = (lengths > 0) & (sign != 0) & np.isfinite(goal) & np.isfinite(lower) & np.isfinite(
        upper)
    good = np.where(sign > 0, upper, lower) * sign
    bad = np.where(sign > 0, lower, upper) * sign
    scaled = goal * sign
    with np.errstate(invalid="ignore"):
        assurance[usable] = ASSURANCE_HIT_AND_MISS
        assurance[usable & (scaled < bad)] = ASSURANCE_PASS
        assurance[usable & (scaled > good)] = ASSURANCE_FAIL
    return assurance

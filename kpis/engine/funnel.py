"""Funnel plots: compare forces' proportions (or rates) against a common centre.

Each force's value (numerator / denominator) is plotted against its denominator, with
95% and 99.8% control limits around the centre (by default the pooled England and Wales
value: the sum of the numerators over the sum of the denominators). The limits narrow as
the denominator grows, so a small force is not called an outlier for noise a large force
would not show.

The limits are exact, following Spiegelhalter (2005), "Funnel plots for comparing
institutional performance", Statistics in Medicine 24:1185-1202, appendix A:

- a **proportion** (method ``"binomial"``): the count R of a denominator n is
  binomial(n, p0) for the centre p0. The limit at tail probability alpha is found from
  r_p, the smallest integer r with P(R <= r) >= alpha, and interpolated between the
  integer steps so the funnel is smooth::

      alpha_interp = (P(R <= r_p) - alpha) / (P(R <= r_p) - P(R <= r_p - 1))
      limit = (r_p - alpha_interp) / n

  clipped to [0, 1]. Lower limits are at alpha = 0.025 and 0.001, upper limits at
  0.975 and 0.999 (two-sided 95% and 99.8%). One departure at the top edge: where
  r_p = n (P(R = n) exceeds the upper tail probability, e.g. p0 = 0.9 and n = 10) the
  interpolated limit would fall just below 100% and flag a force with every case as an
  outlier when such a result is common; there the upper limit is 1. It mirrors the
  bottom edge, where r_p = 0 gives a limit at or below 0 and a force with no cases is
  never flagged.
- a **rate** (method ``"poisson"``: a count over a population or exposure, e.g. per
  100,000 with ``per=100_000``): the same construction with R Poisson with mean the
  expected count n * rate0 / per; the limits are in rate units and only clipped at 0.

The normal approximation p0 +/- z * sqrt(p0 * (1 - p0) / n) that this replaces is far
too narrow for small forces: at p0 = 2.6% and n = 10 its 99.8% upper limit is 0.182
against the exact 0.247, so a small force was flagged many times as often as the
nominal 0.1%. :data:`Z95` and :data:`Z998` (its z values) are kept for comparison only.

Every frame returned says which method drew it: ``frame.attrs["method"]`` (and, for
:func:`funnel`, a ``method`` column) is ``"exact binomial"`` or ``"Poisson"``, for a
chart caption.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Protocol

import numpy as np
import pandas as pd

__all__ = [
    "BINOMIAL",
    "COLUMNS",
    "CURVE_COLUMNS",
    "LIMIT_COLUMNS",
    "METHODS",
    "POISSON",
    "TAILS",
    "Z95",
    "Z998",
    "FunnelPoint",
    "funnel",
    "funnel_curve",
    "funnel_limits",
    "funnel_points",
]

Z95 = 1.959964  # the normal approximation's two-sided 95% z, for comparison only
Z998 = 3.090232  # and its 99.8% z

#: What each method is called in a caption ("... exact binomial 95% and 99.8% limits").
BINOMIAL, POISSON = "exact binomial", "Poisson"
#: The ``method`` argument -> the name recorded on the frames.
METHODS: dict[str, str] = {"binomial": BINOMIAL, "poisson": POISSON}

#: The limit columns and their tail probabilities (two-sided 95% and 99.8%).
TAILS: dict[str, float] = {"lower95": 0.025, "upper95": 0.975, "lower998": 0.001,
                           "upper998": 0.999}
LIMIT_COLUMNS: tuple[str, ...] = tuple(TAILS)
_ALPHAS = np.array(list(TAILS.values()))

INSIDE, ABOVE, BELOW, NO_DATA = "inside", "above", "below", "no data"


@dataclass(frozen=True)
class FunnelPoint:
    """One force (or other unit) on a funnel plot; the fields are the frame's columns."""

    label: str
    numerator: float
    denominator: float
    value: float  # numerator / denominator (times ``per``); NaN when the denominator is 0
    centre: float  # the proportion (or rate) the funnel is drawn around
    lower95: float
    upper95: float
    lower998: float
    upper998: float
    position: str  # against the 95% limits: "inside", "above", "below" or "no data"
    position998: str  # the same against the 99.8% limits
    method: str  # how the limits were worked out: "exact binomial" or "Poisson"


#: Column order of :func:`funnel`'s frame.
COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(FunnelPoint))
#: Column order of :func:`funnel_curve`'s frame.
CURVE_COLUMNS: tuple[str, ...] = ("n", *LIMIT_COLUMNS)


def _method(method: str, per: float) -> str:
    """Check ``method`` and ``per``; the method's name for the frames."""
    if method not in METHODS:
        raise ValueError(f"method must be 'binomial' or 'poisson', got {method!r}")
    if not (math.isfinite(per) and per > 0):
        raise ValueError(f"per must be a positive number, got {per}")
    if method == "binomial" and per != 1:
        raise ValueError("per scales rates: a proportion's limits take per=1")
    return METHODS[method]


def _check_centre(centre: float, method: str = "binomial") -> None:
    if method == "binomial" and not 0.0 <= centre <= 1.0:  # also rejects NaN
        raise ValueError(f"centre must be a proportion in [0, 1], got {centre}")
    if method == "poisson" and not 0.0 <= centre < math.inf:
        raise ValueError(f"centre must be a rate of at least 0, got {centre}")


class _Distribution(Protocol):
    """The count R's distribution: P(R <= k), and a count at which P(R <= k) reaches
    any tail probability used here (where :func:`_smallest_count` starts its search).

    Built on scipy.special's incomplete beta and gamma functions rather than
    scipy.stats: importing scipy.stats holds some 50 MB more in every web worker. The
    limits agree with scipy.stats' (Boost) binomial and Poisson functions to within
    3e-13 over 1-100,000 cases at 250 centres from 1e-12 to 1 (checked when written;
    tests/test_funnel.py checks them against first principles).
    """

    def cdf(self, k: np.ndarray) -> np.ndarray: ...

    def ceiling(self) -> np.ndarray: ...


class _Binomial:
    def __init__(self, n: np.ndarray, p: float) -> None:
        from scipy import special  # imported where used, see kpis.engine.suppression

        self.special, self.n, self.p = special, n, p

    def cdf(self, k: np.ndarray) -> np.ndarray:
        k = np.floor(k)
        # Whole numbers as integers: bdtr deprecates floating-point counts.
        inside = self.special.bdtr(np.clip(k, 0, self.n).astype(np.int64),
                                   self.n.astype(np.int64), self.p)
        return np.where(k < 0, 0.0, np.where(k >= self.n, 1.0, inside))

    def ceiling(self) -> np.ndarray:
        return self.n  # P(R <= n) = 1


class _Poisson:
    def __init__(self, mean: np.ndarray) -> None:
        from scipy import special

        self.special, self.mean = special, mean

    def cdf(self, k: np.ndarray) -> np.ndarray:
        k = np.floor(k)
        return np.where(k < 0, 0.0, self.special.pdtr(np.maximum(k, 0), self.mean))

    def ceiling(self) -> np.ndarray:
        # Twelve standard deviations above the mean: P(R <= k) is 1 to double precision
        # (the search doubles it where it is not).
        return np.ceil(self.mean + 12.0 * np.sqrt(self.mean) + 12.0)


def _smallest_count(dist: _Distribution, alpha: np.ndarray) -> np.ndarray:
    """r_p: the smallest whole r with P(R <= r) >= alpha, for each alpha (rows) and
    denominator (columns), by bisection on the cdf itself. Exact by construction, with
    no inverse function that can miss by one or fail in the far tails (scipy's
    inverse binomial gives no answer at a centre of 1e-47), in log2(n) steps."""
    shape = np.broadcast(alpha, dist.ceiling()).shape
    high = np.broadcast_to(dist.ceiling(), shape).astype(float)
    for _ in range(64):
        short = dist.cdf(high) < alpha
        if not short.any():
            break
        high = np.where(short, 2.0 * high + 1.0, high)
    low = np.full(shape, -1.0)  # P(R <= -1) = 0 < alpha
    while (high - low > 1.0).any():
        middle = np.floor((low + high) / 2.0)
        reached = dist.cdf(middle) >= alpha
        high = np.where(reached, middle, high)
        low = np.where(reached, low, middle)
    return high


def _exact_limits(centre: float, n: np.ndarray, alphas: np.ndarray, method: str,
                  per: float) -> np.ndarray:
    """Spiegelhalter's interpolated limits: one row per tail probability in ``alphas``,
    one column per denominator in ``n`` (1-d). NaN where n is missing or not positive,
    or the centre is NaN."""
    out = np.full((alphas.size, n.size), np.nan)
    ok = np.isfinite(n) & (n > 0)
    if not ok.any() or not math.isfinite(centre):
        return out
    m = n[ok]
    alpha = alphas[:, None]
    if method == "binomial":
        if (m != np.round(m)).any():
            raise ValueError("exact binomial limits need whole-number denominators")
        dist: _Distribution = _Binomial(m, centre)
    else:
        dist = _Poisson(m * (centre / per))
    r = _smallest_count(dist, alpha)
    below, at = dist.cdf(np.stack([r - 1, r]))
    alpha_interp = np.clip((at - alpha) / (at - below), 0.0, 1.0)
    counts = r - alpha_interp
    if method == "binomial":
        limits = np.clip(counts / m, 0.0, 1.0)
        # The top edge (see the module docstring): r_p = n puts an upper limit at 1.
        limits = np.where((alpha > 0.5) & (r >= m), 1.0, limits)
    else:
        limits = np.maximum(counts, 0.0) / m * per
    out[:, ok] = limits
    return out


def funnel_limits(centre: float, n: np.ndarray | float, level: float = 0.95, *,
                  method: str = "binomial", per: float = 1.0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Exact lower and upper limits at denominators ``n`` for a two-sided ``level``
    (0.95: tail probabilities 0.025 and 0.975; 0.998: 0.001 and 0.999).

    Non-positive or missing ``n`` has no limits (NaN) rather than a division error.

    Raises:
        ValueError: if ``level`` is not in (0, 1) (it is not a z value), the centre or
            method is invalid, or a binomial denominator is not a whole number.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be a coverage in (0, 1) such as 0.95, got {level}")
    _method(method, per)
    _check_centre(centre, method)
    n = np.asarray(n, dtype=float)
    tail = (1.0 - level) / 2.0
    lower, upper = _exact_limits(float(centre), n.ravel(), np.array([tail, 1.0 - tail]),
                                 method, per)
    return lower.reshape(n.shape), upper.reshape(n.shape)


def _positions(value: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Classify each value against its limits; NaN values or limits give "no data"."""
    # A value exactly on a limit is "inside": only points strictly beyond are outliers.
    return np.select(
        [np.isnan(value) | np.isnan(lower), value > upper, value < lower],
        [NO_DATA, ABOVE, BELOW],
        default=INSIDE,
    )


def funnel(
    numerators: Sequence[float],
    denominators: Sequence[float],
    labels: Sequence[str],
    centre: float | None = None,
    *,
    method: str = "binomial",
    per: float = 1.0,
) -> pd.DataFrame:
    """Funnel plot data: one row per label, columns as :data:`COLUMNS`.

    Args:
        numerators: counts meeting the measure (e.g. charges), one per label.
        denominators: the population they are a share of (e.g. offences recorded), or
            for a rate the population or exposure they are counted over.
        labels: force names or other identifiers, in the same order.
        centre: the value to draw the funnel around, e.g. the England and Wales
            rate. None pools the rows given: sum(numerators) / sum(denominators) (times
            ``per``), the correct way to combine rates (never an average of percentages).
        method: ``"binomial"`` (a proportion; exact binomial limits) or ``"poisson"``
            (a rate; Poisson limits).
        per: for a rate, the unit it is expressed in (100_000: per 100,000); values,
            centre and limits are all in that unit.

    Rows with a zero or missing denominator, or a missing numerator, have a NaN value
    and limits and position "no data"; they do not contribute to a pooled centre.
    The frame's ``attrs["method"]`` and ``method`` column name the method.

    Raises:
        ValueError: if the lengths differ, a count is negative, a numerator exceeds its
            denominator (for a proportion: the data is then not one), a proportion's
            denominator is not a whole number, or ``centre`` is not in [0, 1] (a rate's:
            not at least 0).
    """
    name = _method(method, per)
    num = np.asarray(numerators, dtype=float)
    den = np.asarray(denominators, dtype=float)
    if not (num.shape == den.shape == (len(labels),)):
        raise ValueError(
            "numerators, denominators and labels must have the same length, got "
            f"{num.size}, {den.size} and {len(labels)}"
        )
    # NaN compares False, so missing values pass these checks and become "no data".
    if (num < 0).any() or (den < 0).any():
        raise ValueError("numerators and denominators must not be negative")
    if method == "binomial" and (num > den).any():
        raise ValueError("a numerator exceeds its denominator: not a proportion")

    has_data = (den > 0) & ~np.isnan(num)
    if centre is None:
        pooled_den = den[has_data].sum()
        p = float(num[has_data].sum() / pooled_den * per) if pooled_den > 0 else np.nan
    else:
        _check_centre(centre, method)
        p = float(centre)

    n = np.where(has_data, den, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(has_data, num / den * per, np.nan)
    lower95, upper95, lower998, upper998 = _exact_limits(p, n, _ALPHAS, method, per)

    frame = pd.DataFrame(
        {
            "label": list(labels),
            "numerator": num,
            "denominator": den,
            "value": value,
            "centre": np.full(num.size, p),
            "lower95": lower95,
            "upper95": upper95,
            "lower998": lower998,
            "upper998": upper998,
            "position": _positions(value, lower95, upper95),
            "position998": _positions(value, lower998, upper998),
            "method": name,
        },
        columns=list(COLUMNS),
    )
    frame.attrs["method"] = name
    return frame


def funnel_points(frame: pd.DataFrame) -> list[FunnelPoint]:
    """The rows of a :func:`funnel` frame as :class:`FunnelPoint` objects."""
    return [FunnelPoint(*row) for row in frame[list(COLUMNS)].itertuples(index=False)]


def _curve_grid(n_min: float, n_max: float, points: int, whole: bool) -> np.ndarray:
    """``points`` denominators from n_min to n_max, spaced geometrically.

    Geometric, not linear, because the funnel bends sharply at small n and is nearly
    flat at large n. For a proportion the grid is whole numbers (binomial limits exist
    only there): the geometric grid rounded and pushed up so that no two coincide,
    which makes its low end consecutive integers and keeps both ends and the number of
    points (every integer from n_min to n_max if there are fewer than ``points``).
    """
    if not whole:
        return np.geomspace(n_min, n_max, points)
    lo, hi = max(1, math.floor(n_min)), math.ceil(n_max)
    if hi - lo + 1 <= points:
        return np.arange(lo, hi + 1, dtype=float)
    step = np.arange(points, dtype=float)
    # rint(g) - step is convex in the step, so its running maximum ends at hi - points + 1
    # and the grid at hi: strictly increasing whole numbers from lo to hi.
    return step + np.maximum.accumulate(np.rint(np.geomspace(lo, hi, points)) - step)


def funnel_curve(centre: float, n_max: float, points: int = 100, *, n_min: float = 1.0,
                 method: str = "binomial", per: float = 1.0) -> pd.DataFrame:
    """Funnel lines for drawing: ``points`` rows of n and the four limits, n from n_min
    (by default 1; pass the smallest denominator to draw only where the forces are) to
    n_max, spaced geometrically (whole numbers for a proportion, see
    :func:`_curve_grid`). ``attrs["method"]`` names the method.

    The exact limits are smooth in n (the interpolation joins the integer steps): lower
    limits never fall as n grows; upper limits fall overall but, from the discreteness
    left after interpolation, may rise by a sliver (well under 1% of their distance from
    the centre once the expected count is a few cases; more in the funnel's mouth).
    """
    name = _method(method, per)
    _check_centre(centre, method)
    whole = method == "binomial"
    if not (n_max >= 1 if whole else n_max > 0):
        raise ValueError(f"n_max must be at least 1, got {n_max}")
    if not 0 < n_min <= n_max:
        raise ValueError(f"n_min must be in (0, n_max], got {n_min}")
    if points < 2:
        raise ValueError(f"points must be at least 2, got {points}")
    n = _curve_grid(float(n_min), float(n_max), points, whole)
    limits = _exact_limits(float(centre), n, _ALPHAS, method, per)
    frame = pd.DataFrame(
        {"n": n, **dict(zip(LIMIT_COLUMNS, limits, strict=True))},
        columns=list(CURVE_COLUMNS),
    )
    frame.attrs["method"] = name
    return frame

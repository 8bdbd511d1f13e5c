"""Funnel plots: compare forces' proportions against a common centre.

Each force's proportion (numerator / denominator) is plotted against its denominator,
with control limits around the centre proportion ``p`` (by default the pooled England
and Wales proportion) at ``p +/- z * sqrt(p * (1 - p) / n)``: z = 1.959964 for 95% and
z = 3.090232 for 99.8% (the two-sided normal quantiles). The limits narrow as ``n``
grows, so a small force is not called an outlier for noise a large force would not show.

The normal approximation can put limits outside [0, 1] for small ``n`` or extreme ``p``;
they are clipped there because a proportion cannot leave that range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

__all__ = [
    "COLUMNS",
    "CURVE_COLUMNS",
    "Z95",
    "Z998",
    "FunnelPoint",
    "funnel",
    "funnel_curve",
    "funnel_limits",
    "funnel_points",
]

Z95 = 1.959964  # two-sided 95%: the 97.5th percentile of the standard normal
Z998 = 3.090232  # two-sided 99.8%: the 99.9th percentile

INSIDE, ABOVE, BELOW, NO_DATA = "inside", "above", "below", "no data"


@dataclass(frozen=True)
class FunnelPoint:
    """One force (or other unit) on a funnel plot; the fields are the frame's columns."""

    label: str
    numerator: float
    denominator: float
    value: float  # numerator / denominator; NaN when the denominator is 0
    centre: float  # the proportion the funnel is drawn around
    lower95: float
    upper95: float
    lower998: float
    upper998: float
    position: str  # against the 95% limits: "inside", "above", "below" or "no data"
    position998: str  # the same against the 99.8% limits


#: Column order of :func:`funnel`'s frame.
COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(FunnelPoint))
#: Column order of :func:`funnel_curve`'s frame.
CURVE_COLUMNS: tuple[str, ...] = ("n", "lower95", "upper95", "lower998", "upper998")


def _check_centre(centre: float) -> None:
    if not 0.0 <= centre <= 1.0:  # also rejects NaN
        raise ValueError(f"centre must be a proportion in [0, 1], got {centre}")


def funnel_limits(centre: float, n: np.ndarray | float, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper limits at denominators ``n``, clipped to [0, 1].

    Non-positive ``n`` has no limits (NaN) rather than a division error.
    """
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        half_width = z * np.sqrt(centre * (1.0 - centre) / np.where(n > 0, n, np.nan))
    return (
        np.clip(centre - half_width, 0.0, 1.0),
        np.clip(centre + half_width, 0.0, 1.0),
    )


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
) -> pd.DataFrame:
    """Funnel plot data: one row per label, columns as :data:`COLUMNS`.

    Args:
        numerators: counts meeting the measure (e.g. charges), one per label.
        denominators: the population they are a share of (e.g. offences recorded).
        labels: force names or other identifiers, in the same order.
        centre: the proportion to draw the funnel around, e.g. the England and Wales
            rate. None pools the rows given: sum(numerators) / sum(denominators), the
            correct way to combine rates (never an average of percentages).

    Rows with a zero or missing denominator, or a missing numerator, have a NaN value
    and limits and position "no data"; they do not contribute to a pooled centre.

    Raises:
        ValueError: if the lengths differ, a count is negative, a numerator exceeds its
            denominator (the data is then not a proportion), or ``centre`` is not in
            [0, 1].
    """
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
    if (num > den).any():
        raise ValueError("a numerator exceeds its denominator: not a proportion")

    has_data = (den > 0) & ~np.isnan(num)
    if centre is None:
        pooled_den = den[has_data].sum()
        p = float(num[has_data].sum() / pooled_den) if pooled_den > 0 else np.nan
    else:
        _check_centre(centre)
        p = float(centre)

    n = np.where(has_data, den, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(has_data, num / den, np.nan)
    lower95, upper95 = funnel_limits(p, n, Z95)
    lower998, upper998 = funnel_limits(p, n, Z998)

    return pd.DataFrame(
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
        },
        columns=list(COLUMNS),
    )


def funnel_points(frame: pd.DataFrame) -> list[FunnelPoint]:
    """The rows of a :func:`funnel` frame as :class:`FunnelPoint` objects."""
    return [FunnelPoint(*row) for row in frame[list(COLUMNS)].itertuples(index=False)]


def funnel_curve(centre: float, n_max: float, points: int = 200) -> pd.DataFrame:
    """Funnel lines for drawing: ``points`` rows of n and the four limits, n from 1 to n_max.

    n is spaced geometrically, not linearly, because the funnel bends sharply at small n
    and is nearly flat at large n; even spacing would draw the bend as a few straight
    segments and waste points on the flat part.
    """
    _check_centre(centre)
    if not n_max >= 1:
        raise ValueError(f"n_max must be at least 1, got {n_max}")
    if points < 2:
        raise ValueError(f"points must be at least 2, got {points}")
    n = np.geomspace(1.0, float(n_max), points)
    lower95, upper95 = funnel_limits(centre, n, Z95)
    lower998, upper998 = funnel_limits(centre, n, Z998)
    return pd.DataFrame(
        {
            "n": n,
            "lower95": lower95,
            "upper95": upper95,
            "lower998": lower998,
            "upper998": upper998,
        },
        columns=list(CURVE_COLUMNS),
    )

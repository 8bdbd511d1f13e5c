"""Disclosure control for RASSO figures.

Small counts of rape and serious sexual offences can identify victims, so public and
OFFICIAL outputs hide counts from 1 to ``threshold - 1`` (1 to 4 by default) and any
rate whose numerator or denominator is hidden (otherwise the hidden count could be
recovered from the rate and the other count). Zero is not hidden: it discloses nothing
about any individual, and hiding it would hide that nothing happened.

Hidden figures become missing (NaN / NA), never 0: a 0 would be a false figure that could
be summed into totals. Outputs show them with the ONS symbol for confidential, "[c]".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from kpis.domain.vocabulary import SUPPRESSED_LABEL

__all__ = [
    "DEFAULT_THRESHOLD",
    "SUPPRESSED_COLUMN",
    "SUPPRESSED_LABEL",
    "format_suppressed",
    "is_suppressed_count",
    "suppress_frame",
]

#: Counts below this (and above 0) are hidden.
DEFAULT_THRESHOLD = 5


#: Boolean column marking rows where something was hidden.
SUPPRESSED_COLUMN = "suppressed"


def _check_threshold(threshold: int) -> None:
    # threshold 1 hides nothing (the range 1..0 is empty), which is a legitimate setting
    # for internal outputs; below 1 is a mistake.
    if threshold < 1:
        raise ValueError(f"threshold must be at least 1, got {threshold}")


def is_suppressed_count(x: float | None, threshold: int = DEFAULT_THRESHOLD) -> bool:
    """Whether a count must be hidden: 0 < x < threshold. Missing values are not hidden.

    Any value strictly between 0 and the threshold is hidden, including fractional ones
    (e.g. a count that has been apportioned), since rounding would reveal it anyway.
    """
    _check_threshold(threshold)
    if x is None or pd.isna(x):
        return False
    return bool(0 < x < threshold)  # bool(): numpy scalars would give np.bool_


def _hidden_mask(column: pd.Series, threshold: int) -> np.ndarray:
    """Positions of a column's cells that hold a count in the hidden range."""
    numeric = pd.to_numeric(column, errors="coerce")
    # Nullable dtypes give NA for missing cells; a missing count is not hidden.
    return ((numeric > 0) & (numeric < threshold)).to_numpy(dtype=bool, na_value=False)


def suppress_frame(
    df: pd.DataFrame,
    count_columns: Sequence[str],
    value_columns: Sequence[str],
    threshold: int = DEFAULT_THRESHOLD,
) -> pd.DataFrame:
    """A copy of ``df`` that is safe to publish.

    * Each count column cell in 1..threshold-1 becomes missing (NaN, or NA for nullable
      dtypes; integer columns become float so they can hold NaN).
    * On every row where any count was hidden, every value column (rates, shares,
      averages derived from the counts) becomes missing too.
    * A boolean ``suppressed`` column is True on those rows, OR'ed with any existing
      ``suppressed`` column so that suppression applied upstream is kept.

    Raises:
        KeyError: if a named column is not in ``df``.
    """
    _check_threshold(threshold)
    missing = [c for c in (*count_columns, *value_columns) if c not in df.columns]
    if missing:
        raise KeyError(f"columns not in frame: {missing}")

    out = df.copy()
    # Work with positional masks, not index-aligned Series: a frame with a duplicate
    # index would otherwise align rows wrongly.
    row_hidden = np.zeros(len(out), dtype=bool)
    for column in count_columns:
        hidden = _hidden_mask(out[column], threshold)
        if hidden.any():
            out[column] = out[column].mask(hidden)
            row_hidden |= hidden
    if row_hidden.any():
        for column in value_columns:
            out[column] = out[column].mask(row_hidden)

    if SUPPRESSED_COLUMN in out.columns:
        previous = out[SUPPRESSED_COLUMN].to_numpy(dtype=bool, na_value=False)
        row_hidden = row_hidden | previous
    out[SUPPRESSED_COLUMN] = row_hidden
    return out


def format_suppressed(value: Any, suppressed: bool, formatter: Callable[[Any], str] = str) -> str:
    """Text for a table cell: "[c]" when suppressed, otherwise ``formatter(value)``."""
    return SUPPRESSED_LABEL if suppressed else formatter(value)

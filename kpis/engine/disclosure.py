"""Disclosure control for RASSO figures: the one rule every output applies.

Small counts of rape and serious sexual offences can identify victims, so suppressed
outputs hide counts from 1 to ``threshold - 1`` (1 to 4 by default) and any rate whose
numerator or denominator is hidden (otherwise the hidden count could be recovered from
the rate and the other count). Zero is not hidden: it discloses nothing about any
individual, and hiding it would hide that nothing happened.

:func:`small_counts` is the rule; :func:`kpis.engine.measures.flight_deck_table` applies
it (with ``suppress=True``) to every part of every row: the value, the rolling year, the
year-earlier figure and the comparators, and the tables, charts, packs, downloads and
CLI all read that table. Hidden figures become missing (NaN), never 0: a 0 would be a
false figure that could be summed into totals. Outputs show them with the ONS symbol
for confidential, :data:`kpis.domain.vocabulary.SUPPRESSED_LABEL` ("[c]").
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_THRESHOLD", "check_threshold", "small_counts"]

#: Counts below this (and above 0) are hidden.
DEFAULT_THRESHOLD = 5


def check_threshold(threshold: int) -> None:
    """Refuse a threshold below 1 (1 hides nothing, a legitimate internal setting)."""
    if threshold < 1:
        raise ValueError(f"threshold must be at least 1, got {threshold}")


def small_counts(grid: np.ndarray, threshold: int = DEFAULT_THRESHOLD) -> np.ndarray:
    """Where a count must be hidden: 0 < x < threshold. Missing values (NaN) are not.

    Any value strictly between 0 and the threshold is hidden, fractional ones included
    (e.g. an apportioned count), since rounding would reveal it anyway.
    """
    check_threshold(threshold)
    values = np.asarray(grid, dtype=float)
    with np.errstate(invalid="ignore"):
        return (values > 0) & (values < threshold)

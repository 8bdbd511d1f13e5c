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

from collections.abc import Iterable

import numpy as np

from kpis.domain.catalogue import Catalogue, KpiDefinition
from kpis.domain.vocabulary import SUPPRESSED_LABEL

__all__ = ["DEFAULT_MARKING", "DEFAULT_THRESHOLD", "OPEN_DATA_MARKING", "SENSITIVE_MARKINGS",
           "aggregates_to_withhold", "check_threshold", "default_marking", "determined_forces",
           "disclosure_note", "open_data_only", "small_counts", "suppression_required"]

#: Counts below this (and above 0) are hidden.
DEFAULT_THRESHOLD = 5

#: Protective markings (Government Security Classifications) under which figures may go
#: out whole: the file is handled as sensitive. Anything else (OFFICIAL, a publication)
#: gets disclosure control whether it was asked for or not.
SENSITIVE_MARKINGS = ("OFFICIAL-SENSITIVE", "SECRET", "TOP SECRET")
#: The marking of an output that holds force-return figures (or anything derived from
#: them): the flight deck's default.
DEFAULT_MARKING = "OFFICIAL-SENSITIVE"
#: The marking of an output that holds only Home Office open data (published already).
OPEN_DATA_MARKING = "OFFICIAL"


def open_data_only(catalogue: Catalogue, kpis: Iterable[KpiDefinition]) -> bool:
    """Do the KPIs hold only Home Office open data (every measure of each published
    already, :meth:`Catalogue.is_open_data`)? False for no KPIs at all."""
    chosen = list(kpis)
    return bool(chosen) and all(catalogue.is_open_data(kpi) for kpi in chosen)


def default_marking(catalogue: Catalogue, kpis: Iterable[KpiDefinition]) -> str:
    """The protective marking an output of ``kpis`` carries unless another is chosen:
    OFFICIAL when it holds only Home Office open data, else OFFICIAL-SENSITIVE (force
    returns). The one rule for chart downloads, ``flightdeck chart``/``kpis``, the feeds
    and the board pack page."""
    return OPEN_DATA_MARKING if open_data_only(catalogue, kpis) else DEFAULT_MARKING


def suppression_required(marking: str | None, asked: bool = False, *,
                         open_data: bool = False) -> bool:
    """Whether an output marked ``marking`` must have disclosure control: when asked for,
    or when the marking is not a sensitive one (``None``: a page on screen, no file).

    ``open_data``: the output holds only Home Office open data. It is published already,
    small counts and all, so it needs none whatever its marking (and disclosure control
    would hide nothing in it: the engine never hides open data)."""
    if open_data:
        return False
    if asked:
        return True
    if marking is None:
        return False
    words = " ".join(marking.upper().replace("_", " ").split())
    return not words.startswith(SENSITIVE_MARKINGS)


def disclosure_note(suppressed: bool, open_data: bool, marking: str | None) -> str:
    """What a data file's notes say of disclosure control: applied, not needed (open
    data) or not applied (a sensitive file, whole figures)."""
    if suppressed:
        return ("Applied: counts of 1 to 4, the rates built on them and figures that "
                f"would let one be worked out are hidden (shown as {SUPPRESSED_LABEL} or "
                "left out).")
    if open_data:
        return ("Not needed: Home Office open data, published already (small counts "
                "included).")
    return ("Not applied: every figure is shown, small counts included; handle the file "
            f"as {marking or DEFAULT_MARKING}.")


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


# --------------------------------------------------------------------------- differencing
#
# A force-scoped user sees their own force and the aggregates (England and Wales, the
# regions, peer groups). Aggregates are sums of forces, so some combinations of them,
# with the user's own figures, can give another force exactly: London region minus the
# Metropolitan Police is the City of London Police; England and Wales minus the other
# regions is London again. Which forces a set of aggregates determines is a question of
# linear algebra, the same for every measure and period: force j is determined exactly
# when its indicator lies in the row space of the aggregates shown (the user's own force
# taken as known). The aggregates to withhold are found greedily, least useful first.


def determined_forces(membership: np.ndarray, shown: list[int], own: int) -> list[int]:
    """The forces (columns of ``membership``, areas x forces, 0/1) other than ``own``
    whose figures follow exactly from the aggregate rows ``shown`` and ``own``'s.

    A force's indicator lies in the row space exactly when projecting it onto that space
    leaves it whole: the projection's diagonal entry (the squared length of its column
    in an orthonormal basis of the space) is 1.
    """
    unknown = np.array([j for j in range(membership.shape[1]) if j != own])
    if not shown:
        return []
    rows = membership[np.asarray(shown)][:, unknown]
    _, singular, basis = np.linalg.svd(rows, full_matrices=False)
    rank = int((singular > singular.max(initial=0.0) * 1e-9).sum())
    reach = (basis[:rank] ** 2).sum(axis=0)
    return [int(f) for f in unknown[np.isclose(reach, 1.0)]]


def aggregates_to_withhold(membership: np.ndarray, aggregates: list[int], own: int,
                           preference: list[int]) -> list[int]:
    """Aggregate rows to withhold from a user limited to force ``own`` so that no other
    single force can be worked out from those shown.

    ``preference``: the aggregate rows in the order they may be given up (peer groups,
    then regions from the smallest, England and Wales last). While some force is still
    determined, the first aggregate in that order whose removal leaves fewer forces
    determined is withheld (if none does alone, the first one is).
    """
    shown = list(aggregates)
    withheld: list[int] = []
    determined = determined_forces(membership, shown, own)
    while determined:
        candidates = [row for row in preference if row in shown]
        choice = next((row for row in candidates if len(determined_forces(
            membership, [r for r in shown if r != row], own)) < len(determined)),
            candidates[0])
        shown.remove(choice)
        withheld.append(choice)
        determined = determined_forces(membership, shown, own)
    return withheld


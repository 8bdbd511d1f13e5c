"""The flight-deck measures: values, rolling totals, change, comparators, rank and SPC.

Every number the dashboard, an export or the CLI shows comes from here. Rates are
always aggregated by summing numerators and denominators first (over forces, over
months), never by averaging rates.

Areas are the 43 forces (by slug), England and Wales (``england-and-wales``) and each
peer group (``region-...`` or ``group-...``). The arithmetic runs on dense
area-by-period arrays computed once per KPI and data version (``Dataset.arrays``): an
aggregate is its member forces summed (a membership matrix times the force matrix), a
rolling year is a sum over a sliding window. A table is then one gather per KPI from
those arrays, and SPC runs over every series at once (:func:`kpis.engine.spc.xmr_batch`).

Aggregates (England and Wales, peer groups) are present in a period when at least one
member force is; ``forces_reporting`` says how many were. An aggregate period is
*incomplete* (``complete`` False) when a member force that reported the KPI in any of
the 12 months (4 quarters) before it has not reported it: its value is shown with "k of
n forces", but it takes no part in SPC, in the change on a year earlier (either side),
in a rolling year, or in ranks (forces are not ranked in a period whose England and
Wales figure is incomplete: one early force would otherwise rank "1st of 1").

Disclosure control (``suppress=True``) hides, with NaN and never 0, every figure that is
or would reveal a count from 1 to ``threshold - 1``: :func:`disclosure_of` decides which
cells, once per KPI (primary suppression of small counts, then complementary suppression
audited by linear programming, :mod:`kpis.engine.suppression`), and each row shows:

* ``numerator`` / ``denominator`` parts: that count, when it is hidden (a count that is
  neither small nor needed to protect one is shown, even when the rate built on it is not);
* ``value`` part: the value, change, rank, comparison and the point's SPC rule and
  variation, when the numerator or denominator (or a comparison base count) is hidden
  (``suppressed`` is True exactly then);
* ``rolling`` part: the rolling figures whenever any period of the year is hidden (else
  the year minus its shown periods would give the hidden one back) or a rolling count
  is small: one time grain per output, the KPI's own periods;
* ``prior`` part: prior_value and change when the same period a year earlier is hidden;
* ``national`` / ``peer`` parts: the comparator's value when the comparator's own cell is
  hidden (a small count must not escape through another row's comparator column);
* ``spc`` part: every statistic derived from the whole series (centre line, limits,
  assurance, every point's rule and variation, the change on a year earlier) of a series
  with a hidden value in any period, shown or not: with the other points published, the
  mean would give it away.

Ranks in a suppressed table are among the forces whose figure is shown (a hidden force
leaves no gap in them), and ``ranked_forces`` counts those.

``suppressed_parts`` lists the parts hidden on each row (comma separated, "" if none).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from kpis.domain.catalogue import POPULATION_BASE, KpiDefinition, Measure
from kpis.domain.vocabulary import (
    ASSURANCES,
    LIMIT_STATES,
    SPC_BASES,
    SUPPRESSIBLE_PARTS,
    VARIATIONS,
)
from kpis.engine.dataset import Dataset
from kpis.engine.disclosure import DEFAULT_THRESHOLD, check_threshold, small_counts
from kpis.engine.kpi_spc import DEFAULT_SPC, Baseline, KpiSpc, SpcOptions, kpi_spc
from kpis.engine.spc import RELATIVE_TOLERANCE, RULE_LABELS
from kpis.engine.suppression import protect
from kpis.settings import NATIONAL_SLUG

__all__ = [
    "COUNT_COLUMNS",
    "PERIODS_PER_YEAR",
    "SUPPRESSED_PARTS",
    "TABLE_COLUMNS",
    "VALUE_COLUMNS",
    "Baseline",
    "Disclosure",
    "KpiArrays",
    "SpcOptions",
    "area_rows",
    "disclosure_of",
    "financial_year_totals",
    "flight_deck_table",
    "hidden_columns",
    "kpi_arrays",
    "prime_tables",
    "scoped_arrays",
]

# How many periods make a year, by periodicity.
PERIODS_PER_YEAR = {"monthly": 12, "quarterly": 4}

COUNT_COLUMNS = ["numerator", "denominator", "rolling_numerator", "rolling_denominator"]
VALUE_COLUMNS = ["value", "rolling_value", "prior_value", "change", "national_value",
                 "peer_value"]

#: The columns of :func:`flight_deck_table`, in order.
TABLE_COLUMNS: tuple[str, ...] = (
    "kpi", "area", "period_start", "numerator", "denominator", "value", "population",
    "rolling_numerator", "rolling_denominator", "rolling_value", "prior_value", "change",
    "national_value", "peer_group", "peer_value", "rank", "ranked_forces",
    "spc_mean", "spc_lower", "spc_upper", "spc_rule", "variation", "assurance",
    "suppressed", "forces_reporting", "forces_in_area", "suppressed_parts",
    "spc_limits", "spc_points", "spc_from", "spc_to", "spc_basis",
    "complete", "national_complete", "national_reporting", "national_in_area",
    "peer_complete", "peer_reporting", "peer_in_area",
    "comparison", "national_comparison", "peer_comparison", "rate_base", "provisional",
)

# Disclosure control: bits of the parts of a row that can be hidden, and the columns each
# part covers. The order of SUPPRESSED_PARTS is the order they are listed in.
_VALUE, _ROLLING, _PRIOR, _NATIONAL, _PEER, _SPC, _NUMERATOR, _DENOMINATOR = (
    1, 2, 4, 8, 16, 32, 64, 128)
SUPPRESSED_PARTS = SUPPRESSIBLE_PARTS  # the vocabulary's list: one list of part codes
_PART_COLUMNS: dict[int, tuple[str, ...]] = {
    _VALUE: ("value", "change", "rank", "spc_rule", "variation", "comparison", "rate_base"),
    _ROLLING: ("rolling_numerator", "rolling_denominator", "rolling_value"),
    _PRIOR: ("prior_value", "change"),
    _NATIONAL: ("national_value", "national_comparison"),
    _PEER: ("peer_value", "peer_comparison"),
    _SPC: ("spc_mean", "spc_lower", "spc_upper", "assurance", "spc_rule", "variation",
           "change"),
    _NUMERATOR: ("numerator",),
    _DENOMINATOR: ("denominator",),
}
_PART_LABELS = np.array(
    [",".join(name for bit, name in enumerate(SUPPRESSED_PARTS) if code & (1 << bit))
     for code in range(1 << len(SUPPRESSED_PARTS))],
    dtype=object,
)


def hidden_columns(parts: set[str]) -> set[str]:
    """The table columns a row's hidden parts (its ``suppressed_parts``) blank."""
    return {column for bit, columns in _PART_COLUMNS.items()
            if SUPPRESSED_PARTS[bit.bit_length() - 1] in parts for column in columns}


def _value(unit: str, numerator: np.ndarray, denominator: np.ndarray,
           population: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        if unit == "count":
            return numerator.astype(float)
        if unit == "per_100k":
            return np.where(population > 0, numerator / population * 100_000, np.nan)
        return np.where(denominator != 0, numerator / denominator, np.nan)


def _window_sum(grid: np.ndarray, window: int) -> np.ndarray:
    """Sum of each period and the ``window - 1`` before it (NaN where there are too few).

    A sum over a sliding window, not a difference of cumulative sums: fractional values
    (days) then add up exactly as the same values summed by hand.
    """
    out = np.full(grid.shape, np.nan)
    if grid.shape[1] >= window:
        view = np.lib.stride_tricks.sliding_window_view(grid, window, axis=1)
        out[:, window - 1:] = view.sum(axis=2)
    return out


def _rolling(grid: np.ndarray, present: np.ndarray, window: int) -> np.ndarray:
    """Sum over the last ``window`` periods, missing unless all of them are present."""
    total = _window_sum(np.where(present, grid, 0.0), window)
    count = _window_sum(present.astype(float), window)
    return np.where(count == window, total, np.nan)


def _shift(grid: np.ndarray, periods: int) -> np.ndarray:
    shifted = np.full(grid.shape, np.nan if grid.dtype.kind == "f" else 0, dtype=grid.dtype)
    if periods < grid.shape[1]:
        shifted[:, periods:] = grid[:, :-periods]
    return shifted


def _aggregate(membership: np.ndarray, force_grid: np.ndarray,
               force_present: np.ndarray) -> np.ndarray:
    """Area rows (forces, then aggregates) from force rows: each aggregate sums its members.

    Only present force cells are summed; force rows keep NaN where absent. Aggregate rows
    are 0 where no member is present (the caller masks them with ``present``).
    """
    forces = force_grid.shape[0]
    out = np.empty((membership.shape[0], force_grid.shape[1]))
    out[:forces] = np.where(force_present, force_grid, np.nan)
    out[forces:] = membership[forces:] @ np.where(force_present, force_grid, 0.0)
    return out


def _filled(grid: np.ndarray, measure: Measure | None) -> np.ndarray:
    """A measure's force-by-period grid with its catalogue rule for a missing month.

    ``zero`` and ``carry`` fill the months from each force's first value to the last
    period: a month without a return then counts (as 0 supplied, or as the number
    expected carried on) instead of dropping out.
    """
    if measure is None or measure.missing == "gap" or not grid.size:
        return grid
    seen = np.cumsum(~np.isnan(grid), axis=1) > 0  # on or after the first value
    if measure.missing == "zero":
        return np.where(seen & np.isnan(grid), 0.0, grid)
    # carry: the last value forward (index of the last present column so far)
    index = np.where(~np.isnan(grid), np.arange(grid.shape[1]), 0)
    np.maximum.accumulate(index, axis=1, out=index)
    carried = np.take_along_axis(grid, index, axis=1)
    return np.where(seen, carried, np.nan)


def _complete(membership: np.ndarray, force_present: np.ndarray, window: int) -> np.ndarray:
    """Per area and period: has every member force expected to report reported?

    A force is expected in a period when it reported in any of the ``window`` periods
    before it. Force rows are complete wherever they are present.
    """
    forces = force_present.shape[0]
    expected = np.zeros(force_present.shape, dtype=bool)
    for lag in range(1, min(window, force_present.shape[1]) + 1):
        expected[:, lag:] |= force_present[:, :-lag]
    missing = (expected & ~force_present).astype(float)
    complete = np.ones((membership.shape[0], force_present.shape[1]), dtype=bool)
    complete[forces:] = (membership[forces:] @ missing) < 0.5
    return complete


@dataclass(frozen=True)
class KpiArrays:
    """One KPI over every area (rows) and period (columns)."""

    kpi: KpiDefinition
    periods: pd.DatetimeIndex
    numerator: np.ndarray
    denominator: np.ndarray
    population: np.ndarray  # population of the member forces present in the period
    present: np.ndarray
    value: np.ndarray
    rolling_numerator: np.ndarray
    rolling_denominator: np.ndarray
    rolling_value: np.ndarray
    prior_value: np.ndarray
    rank: np.ndarray  # rank among forces, 1 = best; NaN on aggregate rows and neutral KPIs
    ranked: np.ndarray  # how many forces were ranked, per period (0 for neutral KPIs)
    reporting: np.ndarray  # member forces present, per area and period
    members: np.ndarray  # member forces per area
    complete: np.ndarray  # no member expected (reported in the year before) is missing
    # What a count's comparison is per: the population, or the base measure's count.
    rate_base: np.ndarray
    # Recorded-basis Home Office values while many outcomes are still unassigned:
    # drawn and labelled, but no part of SPC.
    provisional: np.ndarray
    # The figure areas are compared and ranked by: a count per 100,000 people (the
    # population of the period's year), otherwise the value itself.
    comparison: np.ndarray

    @cached_property
    def stamps(self) -> np.ndarray:
        """The periods as datetime64 values: ``periods.to_numpy()``, made once (every
        table, period mask and SPC of the KPI reads them; some 2 ms of a flight deck's
        first view when each made its own)."""
        return self.periods.to_numpy()


def kpi_arrays(ds: Dataset, kpi: KpiDefinition) -> KpiArrays:
    """Compute one KPI for every area and period of its periodicity."""
    cube = ds.cube
    columns = np.flatnonzero(cube.quarter_columns) if kpi.periodicity == "quarterly" else (
        np.arange(len(cube.periods)))
    periods = cube.periods[columns]
    forces = len(ds.forces)
    shape = (forces, len(periods))

    measures = {m.measure_id: m for m in ds.catalogue.measures}

    def total(measure_ids: tuple[str, ...]) -> np.ndarray:
        if not measure_ids:
            return np.full(shape, np.nan)
        grids = [_filled(cube.measure(m)[:, columns], measures.get(m)) for m in measure_ids]
        grid = grids[0]
        for more in grids[1:]:
            grid = grid + more
        return grid

    has_denominator = bool(kpi.denominator)
    force_num = total(kpi.numerator)
    force_den = total(kpi.denominator)
    force_present = ~np.isnan(force_num)
    if has_denominator:
        force_present &= ~np.isnan(force_den)
    membership = cube.membership  # areas x forces, 0/1; the first rows are the forces
    reporting = np.empty((membership.shape[0], len(periods)), dtype=np.int64)
    reporting[:forces] = force_present
    reporting[forces:] = np.rint(membership[forces:] @ force_present.astype(float))
    present = reporting > 0
    window = PERIODS_PER_YEAR[kpi.periodicity]
    complete = present & _complete(membership, force_present, window)
    numerator = np.where(present, _aggregate(membership, force_num, force_present), np.nan)
    denominator = (
        np.where(present, _aggregate(membership, force_den, force_present), np.nan)
        if has_denominator else np.full(present.shape, np.nan)
    )
    force_population = cube.population[:, columns]
    population = np.where(present, _aggregate(membership, force_population, force_present),
                          np.nan)
    value = np.where(present, _value(kpi.unit, numerator, denominator, population), np.nan)

    # A year of a flow is its sum; of a stock (a level at the period's end), its latest
    # value (the catalogue checks that one side of a KPI is all one or the other).
    def year_of(grid: np.ndarray, measure_ids: tuple[str, ...]) -> np.ndarray:
        if measure_ids and all(measures[m].stock for m in measure_ids if m in measures):
            return np.where(complete, grid, np.nan)
        return _rolling(grid, complete, window)

    rolling_num = year_of(numerator, kpi.numerator)
    rolling_den = (year_of(denominator, kpi.denominator) if has_denominator
                   else np.full(rolling_num.shape, np.nan))
    # A year's count per head of the population covered on average over the year (the
    # same population every period for a force; for an aggregate it follows coverage).
    rolling_population = _rolling(population, complete, window) / window
    rolling_value = _value(kpi.unit, rolling_num, rolling_den, rolling_population)

    base, comparison = population, value
    if kpi.compared_as_rate:
        base, base_numerator = population, numerator
        if kpi.comparison_base != POPULATION_BASE:
            # Per a measure: only forces that reported both the count and its base.
            force_base = total((kpi.comparison_base,))
            with_base = force_present & ~np.isnan(force_base)
            base = np.where(present, _aggregate(membership, force_base, with_base), np.nan)
            base_numerator = _aggregate(membership, force_num, with_base)
        with np.errstate(divide="ignore", invalid="ignore"):
            comparison = np.where(present & (base > 0),
                                  base_numerator / base * kpi.comparison_per, np.nan)

    provisional = np.zeros(present.shape, dtype=bool)
    rule = kpi.provisional
    if rule is not None:
        # The share of the quarter's outcomes not yet assigned, over the same forces.
        pending = _aggregate(membership, np.nan_to_num(total((rule.pending,))), force_present)
        outcomes = _aggregate(membership, np.nan_to_num(total((rule.total,))), force_present)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(outcomes > 0, pending / outcomes, 0.0)
        provisional = present & (share > rule.above + RELATIVE_TOLERANCE)
        published = np.flatnonzero(force_present.any(axis=0))
        if len(published):  # the latest quarter published is always provisional
            provisional[:, published[-1]] |= present[:, published[-1]]

    national = cube.area_index.get(NATIONAL_SLUG)
    rankable = complete[national] if national is not None else np.ones(len(periods), bool)
    rank, ranked = _ranks(kpi, comparison, forces, rankable)
    return KpiArrays(
        kpi=kpi, periods=periods, numerator=numerator, denominator=denominator,
        population=population, present=present, value=value,
        rolling_numerator=rolling_num, rolling_denominator=rolling_den,
        rolling_value=rolling_value, rate_base=base, provisional=provisional,
        prior_value=_shift(np.where(complete, value, np.nan), window),
        rank=rank, ranked=ranked, reporting=reporting,
        members=np.rint(membership.sum(axis=1)).astype(np.int64), complete=complete,
        comparison=comparison,
    )


def _ranks(kpi: KpiDefinition, comparison: np.ndarray, forces: int,
           rankable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each force's rank per period (1 = best: the highest comparison figure, or the
    lowest when lower is better) and how many were ranked; forces with no figure (NaN)
    take no place. No ranks in a period that is not ``rankable`` (an incomplete national
    figure) nor for a neutral KPI."""
    rank = np.full(comparison.shape, np.nan)
    ranked = np.zeros(comparison.shape[1], dtype=np.int64)
    if kpi.polarity == "neutral":
        return rank, ranked
    force_values = np.where(rankable, comparison[:forces], np.nan)
    score = -force_values if kpi.polarity == "lower" else force_values
    rank[:forces] = pd.DataFrame(score).rank(axis=0, ascending=False, method="min").to_numpy()
    return rank, np.sum(~np.isnan(force_values), axis=0)


def arrays_of(ds: Dataset, kpi_id: str) -> KpiArrays:
    """The KPI computed for every area and period (cached: a dataset never changes).

    A scoped dataset's arrays are the unscoped ones with other forces' rows, the
    aggregates withheld from it, and the aggregate cells that would pin another force's
    figure (:func:`_pinning_cells`) blanked; so the aggregates it shows and the scoped
    force's rank are the numbers everyone sees. Home Office open data is published for
    every force: a scoped dataset shows all of it.
    """
    def compute() -> KpiArrays:
        if ds.source is not None and ds.scope is not None:
            full = arrays_of(ds.source, kpi_id)
            if ds.catalogue.is_open_data(full.kpi):
                return full
            scoped = scoped_arrays(full, ds.hidden_rows)
            return _blank_cells(scoped, _pinning_cells(ds, full, scoped))
        return kpi_arrays(ds, ds.kpis[kpi_id])

    return ds.memo(("arrays", kpi_id), compute)


def _count_grids(kpi: KpiDefinition, arrays: KpiArrays) -> list[np.ndarray]:
    """The count grids a KPI's figures are built from: its numerator, its denominator,
    and the base count it is compared per (when that is a measure, not the population)."""
    grids = [arrays.numerator]
    if kpi.denominator:
        grids.append(arrays.denominator)
    if kpi.compared_as_rate and kpi.comparison_base != POPULATION_BASE:
        grids.append(arrays.rate_base)
    return grids


def _pinning_cells(ds: Dataset, full: KpiArrays, scoped: KpiArrays) -> np.ndarray:
    """Aggregate cells a scoped account may not see although the aggregate is shown:
    with the account's own figures and the other aggregates shown they would narrow
    another force's figure to a range narrower than the disclosure threshold (a
    remainder of 0 pins every other member at 0), as the linear-programming audit of
    :func:`kpis.engine.suppression.protect` finds."""
    forces = len(ds.forces)
    withheld = np.zeros(full.present.shape, dtype=bool)
    for grid_full, grid_scoped in zip(_count_grids(full.kpi, full),
                                      _count_grids(full.kpi, scoped), strict=True):
        present = ~np.isnan(grid_full)
        unknown = present & np.isnan(grid_scoped)
        need = unknown.copy()
        need[forces:] = False  # another force's figure, not an aggregate's
        candidates = present & ~unknown
        candidates[:forces] = False  # only aggregates may be withheld
        out = protect(grid_full, present, ds.cube.membership, forces, withheld,
                      width=DEFAULT_THRESHOLD, unknown=unknown, need=need,
                      candidates=candidates)
        withheld |= out & ~unknown
    return withheld


def _window_any(mask: np.ndarray, window: int) -> np.ndarray:
    """Where any of the period and the ``window - 1`` before it is set."""
    out = mask.copy()
    for lag in range(1, min(window, mask.shape[1])):
        out[:, lag:] |= mask[:, :-lag]
    return out


def _blank_cells(arrays: KpiArrays, cells: np.ndarray) -> KpiArrays:
    """``arrays`` with single cells withheld, as if the area had no figure then: and so
    with every rolling year that contains them and the prior value a year on."""
    if not cells.any():
        return arrays
    window = PERIODS_PER_YEAR[arrays.kpi.periodicity]
    years = _window_any(cells, window)
    later = _shift(cells, window)

    def blank(grid: np.ndarray, where: np.ndarray, fill: Any = np.nan) -> np.ndarray:
        return np.where(where, fill, grid)

    return replace(
        arrays,
        numerator=blank(arrays.numerator, cells), denominator=blank(arrays.denominator, cells),
        population=blank(arrays.population, cells), present=arrays.present & ~cells,
        value=blank(arrays.value, cells),
        rolling_numerator=blank(arrays.rolling_numerator, years),
        rolling_denominator=blank(arrays.rolling_denominator, years),
        rolling_value=blank(arrays.rolling_value, years),
        prior_value=blank(arrays.prior_value, later), rank=blank(arrays.rank, cells),
        reporting=np.where(cells, 0, arrays.reporting),
        complete=arrays.complete & ~cells, comparison=blank(arrays.comparison, cells),
        rate_base=blank(arrays.rate_base, cells),
        provisional=arrays.provisional & ~cells,
    )


@dataclass(frozen=True)
class Disclosure:
    """Which cells of one KPI a suppressed output hides (areas x periods unless said)."""

    numerator: np.ndarray
    denominator: np.ndarray
    value: np.ndarray  # the value: its numerator, denominator or comparison base is hidden
    rolling: np.ndarray  # a rolling year with a hidden period, or small in itself
    prior: np.ndarray  # the value a year earlier is hidden
    exposed: np.ndarray  # per area: a hidden value anywhere in the series
    rank: np.ndarray  # ranks among the forces shown
    ranked: np.ndarray  # per period: how many forces were ranked


def disclosure_of(ds: Dataset, kpi_id: str, threshold: int = DEFAULT_THRESHOLD) -> Disclosure:
    """The cells a suppressed output of ``kpi_id`` hides (cached per dataset and threshold).

    Primary suppression hides counts from 1 to ``threshold - 1``; complementary
    suppression (:func:`kpis.engine.suppression.protect`) then hides more, count grid by
    count grid, until no hidden cell can be narrowed below ``threshold`` wide from the
    cells shown, the sums of areas and non-negativity. A scoped dataset's reader does not
    see other forces either: they take part as unknowns. Home Office open data is never
    hidden.
    """
    check_threshold(threshold)

    def compute() -> Disclosure:
        arrays = arrays_of(ds, kpi_id)
        kpi = arrays.kpi
        none = np.zeros(arrays.present.shape, dtype=bool)
        if ds.catalogue.is_open_data(kpi):
            return Disclosure(none, none, none, none, none, none.any(axis=1), arrays.rank,
                              arrays.ranked)
        scoped = ds.source is not None and ds.scope is not None
        full = arrays_of(ds.source, kpi_id) if scoped else arrays
        forces = len(ds.forces)
        hidden_grids = []
        for grid_full, grid_shown in zip(_count_grids(kpi, full), _count_grids(kpi, arrays),
                                         strict=True):
            present = ~np.isnan(grid_full)
            unknown = present & np.isnan(grid_shown)
            primary = small_counts(grid_full, threshold) & ~unknown
            hidden_grids.append(protect(grid_full, present, ds.cube.membership, forces,
                                        primary, width=threshold, unknown=unknown)
                                & ~unknown)
        numerator = hidden_grids[0]
        denominator = hidden_grids[1] if kpi.denominator else none
        value = np.logical_or.reduce(hidden_grids)
        window = PERIODS_PER_YEAR[kpi.periodicity]
        rolling = (_window_any(value, window) | small_counts(arrays.rolling_numerator, threshold)
                   | small_counts(arrays.rolling_denominator, threshold))
        national = ds.cube.area_index.get(NATIONAL_SLUG)
        rankable = (full.complete[national] if national is not None
                    else np.ones(value.shape[1], dtype=bool))
        rank, ranked = _ranks(kpi, np.where(value, np.nan, full.comparison), forces, rankable)
        if scoped:
            rank = np.where(arrays.present, rank, np.nan)
        return Disclosure(numerator, denominator, value, rolling, _shift(value, window),
                          value.any(axis=1), rank, ranked)

    return ds.memo(("disclosure", kpi_id, threshold), compute)


def latest_period(ds: Dataset, kpi_id: str, area: str | None = None) -> dt.date | None:
    """The most recent period with data for the KPI (in ``area``, or in any area)."""
    arrays = arrays_of(ds, kpi_id)
    present = (arrays.present[ds.cube.area_index[area]] if area
               else arrays.present.any(axis=0))
    if not present.any():
        return None
    return arrays.periods[np.nonzero(present)[0][-1]].date()


def scoped_arrays(arrays: KpiArrays, hidden_rows: np.ndarray) -> KpiArrays:
    """``arrays`` with the given area rows blanked: nothing about them is left to show.

    The other rows (the aggregates a scoped user may see), computed from every force,
    stay as they are, as does ``ranked`` (how many forces were ranked); a visible force
    keeps its rank among all forces.
    """
    def blank(grid: np.ndarray, fill: Any = np.nan) -> np.ndarray:
        out = grid.copy()
        out[hidden_rows] = fill
        return out

    return replace(
        arrays,
        numerator=blank(arrays.numerator), denominator=blank(arrays.denominator),
        population=blank(arrays.population), present=blank(arrays.present, False),
        value=blank(arrays.value), rolling_numerator=blank(arrays.rolling_numerator),
        rolling_denominator=blank(arrays.rolling_denominator),
        rolling_value=blank(arrays.rolling_value), prior_value=blank(arrays.prior_value),
        rank=blank(arrays.rank), reporting=blank(arrays.reporting, 0),
        complete=blank(arrays.complete, False), comparison=blank(arrays.comparison),
        rate_base=blank(arrays.rate_base), provisional=blank(arrays.provisional, False),
    )


# Numeric columns of a table, gathered into one 2-D block (one row per column), which
# becomes the frame's float block without a copy.
_FLOAT_COLUMNS: tuple[str, ...] = (
    "numerator", "denominator", "value", "population", "rolling_numerator",
    "rolling_denominator", "rolling_value", "prior_value", "change", "national_value",
    "peer_value", "rank", "ranked_forces", "spc_mean", "spc_lower", "spc_upper", "spc_points",
    "national_reporting", "national_in_area", "peer_reporting", "peer_in_area",
    "comparison", "national_comparison", "peer_comparison", "rate_base",
)
_AT = {name: i for i, name in enumerate(_FLOAT_COLUMNS)}
_SPC_TEXT_COLUMNS = ("spc_rule", "variation", "assurance", "spc_limits", "spc_basis")


@dataclass(frozen=True)
class _Coded:
    """A text column as a few labels and a code per row; the last label is None (missing).

    A table's text columns repeat a handful of values (KPI ids, area ids, rule names)
    over every row: built from codes with one ``take`` they cost a fraction of
    converting an object array of the same length to pandas' string dtype.
    """

    labels: np.ndarray  # object, ending with None
    codes: np.ndarray

    @classmethod
    def of(cls, labels: Sequence[Any], codes: np.ndarray) -> _Coded:
        return cls(np.array([*labels, None], dtype=object), np.asarray(codes))

    @property
    def missing(self) -> int:
        return len(self.labels) - 1

    def blank(self, mask: np.ndarray) -> _Coded:
        return _Coded(self.labels, np.where(mask, self.missing, self.codes))

    def series(self) -> pd.Series:
        return pd.Series(pd.array(self.labels, dtype="str").take(self.codes), copy=False)

    def categorical(self) -> pd.Series:
        """The column as a Categorical of its distinct labels (missing: no category):
        for a writer that handles each distinct value once (the CSV of the CLI)."""
        position, uniques = pd.factorize(self.labels)  # the last label, None: -1
        return pd.Series(pd.Categorical.from_codes(position.take(self.codes),
                                                   categories=uniques), copy=False)


@dataclass(frozen=True)
class _Selection:
    """The cells of one KPI's arrays that a table takes, in table order."""

    arrays: KpiArrays
    rows: np.ndarray  # area row of each table row
    cols: np.ndarray  # period column of each table row
    flat: np.ndarray  # rows * periods + cols
    peer: np.ndarray  # the comparator peer group's area row, or -1

    def __len__(self) -> int:
        return len(self.rows)


def _select(ds: Dataset, arrays: KpiArrays, area_rows: np.ndarray, peer_group: str | None,
            period_mask: np.ndarray | None) -> _Selection:
    present = arrays.present[area_rows]
    if period_mask is not None:
        present = present & period_mask
    grid_rows, cols = np.nonzero(present)
    rows = area_rows[grid_rows]
    is_force = rows < len(ds.forces)
    if peer_group is not None:
        peer = np.where(is_force, ds.cube.area_index[peer_group], -1)
    else:
        peer = np.where(is_force, ds.cube.peer_rows[rows], -1)
    return _Selection(arrays, rows, cols, rows * present.shape[1] + cols, peer)


def _fill(ds: Dataset, sel: _Selection, block: np.ndarray) -> None:
    """Write the selection's numeric columns into ``block`` (len(_FLOAT_COLUMNS) x rows)."""
    arrays = sel.arrays
    for name, grid in (
        ("numerator", arrays.numerator), ("denominator", arrays.denominator),
        ("value", arrays.value), ("population", arrays.population),
        ("rolling_numerator", arrays.rolling_numerator),
        ("rolling_denominator", arrays.rolling_denominator),
        ("rolling_value", arrays.rolling_value), ("prior_value", arrays.prior_value),
        ("rank", arrays.rank), ("comparison", arrays.comparison),
        ("rate_base", arrays.rate_base),
    ):
        np.take(grid.ravel(), sel.flat, out=block[_AT[name]], mode="clip")
    np.subtract(block[_AT["value"]], block[_AT["prior_value"]], out=block[_AT["change"]])
    # No change on a year earlier from an incomplete aggregate period (the prior side is
    # blank already).
    block[_AT["change"]][~arrays.complete.ravel().take(sel.flat)] = np.nan
    row = ds.cube.area_index[NATIONAL_SLUG]
    np.take(arrays.value[row], sel.cols, out=block[_AT["national_value"]], mode="clip")
    np.take(arrays.comparison[row], sel.cols, out=block[_AT["national_comparison"]],
            mode="clip")
    block[_AT["national_reporting"]] = arrays.reporting[row].take(sel.cols)
    block[_AT["national_in_area"]] = arrays.members[row]
    width = arrays.value.shape[1]
    peer_cells = np.maximum(sel.peer, 0) * width + sel.cols
    no_peer = sel.peer < 0
    for name, grid in (("peer_value", arrays.value), ("peer_reporting", arrays.reporting),
                       ("peer_comparison", arrays.comparison)):
        block[_AT[name]] = grid.ravel().take(peer_cells, mode="clip")
        block[_AT[name]][no_peer] = np.nan
    block[_AT["peer_in_area"]] = np.where(no_peer, np.nan,
                                          arrays.members.take(np.maximum(sel.peer, 0)))
    ranked = arrays.ranked.take(sel.cols)
    block[_AT["ranked_forces"]] = np.where((sel.rows < len(ds.forces)) & (ranked > 0), ranked,
                                           np.nan)
    block[_AT["spc_mean"]: _AT["spc_points"] + 1] = np.nan


def _hidden(ds: Dataset, sel: _Selection, threshold: int) -> np.ndarray:
    """Per table row, the bits of the parts disclosure control hides (module docstring)."""
    cells = disclosure_of(ds, sel.arrays.kpi.kpi_id, threshold)
    value = cells.value.ravel()
    peer_cells = np.maximum(sel.peer, 0) * cells.value.shape[1] + sel.cols
    national = cells.value[ds.cube.area_index[NATIONAL_SLUG]]
    return (
        cells.exposed.take(sel.rows) * _SPC
        + value.take(sel.flat) * _VALUE
        + cells.rolling.ravel().take(sel.flat) * _ROLLING
        + cells.prior.ravel().take(sel.flat) * _PRIOR
        + national.take(sel.cols) * _NATIONAL
        + ((sel.peer >= 0) & value.take(peer_cells)) * _PEER
        + cells.numerator.ravel().take(sel.flat) * _NUMERATOR
        + cells.denominator.ravel().take(sel.flat) * _DENOMINATOR
    )


def _suppressed_ranks(ds: Dataset, sel: _Selection, block: np.ndarray,
                      threshold: int) -> None:
    """Ranks among the forces shown: a hidden force leaves no gap to be found."""
    cells = disclosure_of(ds, sel.arrays.kpi.kpi_id, threshold)
    block[_AT["rank"]] = cells.rank.ravel().take(sel.flat)
    ranked = cells.ranked.take(sel.cols)
    block[_AT["ranked_forces"]] = np.where((sel.rows < len(ds.forces)) & (ranked > 0),
                                           ranked, np.nan)


def _texts(ds: Dataset, selections: Sequence[_Selection]) -> dict[str, Any]:
    """The identifier columns (kpi, area, period_start, peer_group) and the counts of forces."""
    cube = ds.cube
    rows = np.concatenate([s.rows for s in selections])
    peers = np.concatenate([s.peer for s in selections])
    sizes = [len(s) for s in selections]
    return {
        "kpi": _Coded.of([s.arrays.kpi.kpi_id for s in selections],
                         np.repeat(np.arange(len(selections)), sizes)),
        "area": _Coded.of(cube.area_ids, rows),
        "period_start": pd.DatetimeIndex(np.concatenate(
            [s.arrays.stamps.take(s.cols) for s in selections])),
        "peer_group": _Coded.of(cube.area_ids, np.where(peers >= 0, peers,
                                                        len(cube.area_ids))),
        "forces_reporting": np.concatenate(
            [s.arrays.reporting.ravel().take(s.flat) for s in selections]),
        "forces_in_area": selections[0].arrays.members.take(rows) if selections else rows,
        "complete": np.concatenate(
            [s.arrays.complete.ravel().take(s.flat) for s in selections]),
        "provisional": np.concatenate(
            [s.arrays.provisional.ravel().take(s.flat) for s in selections]),
        "national_complete": np.concatenate(
            [s.arrays.complete[cube.area_index[NATIONAL_SLUG]].take(s.cols)
             for s in selections]),
        "peer_complete": np.concatenate(
            [(s.peer >= 0) & s.arrays.complete.ravel().take(
                np.maximum(s.peer, 0) * s.arrays.complete.shape[1] + s.cols)
             for s in selections]),
    }


def _hide(block: np.ndarray, others: dict[str, Any], hidden: np.ndarray) -> None:
    """Blank (NaN, never 0) the cells of every hidden part; set the marker columns."""
    for bit, names in _PART_COLUMNS.items():
        mask = (hidden & bit) != 0
        if mask.any():
            for name in names:
                if name in _AT:
                    block[_AT[name], mask] = np.nan
                elif name in others:
                    others[name] = others[name].blank(mask)
    others["suppressed"] = (hidden & _VALUE) != 0
    others["suppressed_parts"] = _Coded(_PART_LABELS, hidden)


def _unsuppressed(others: dict[str, Any], rows: int) -> None:
    others["suppressed"] = np.zeros(rows, dtype=bool)
    others["suppressed_parts"] = _Coded(_PART_LABELS, np.zeros(rows, dtype=np.int64))


def _frame(block: np.ndarray, others: dict[str, Any], coded: bool = False) -> pd.DataFrame:
    """A table from the float block (no copy) and the other columns, in TABLE_COLUMNS
    order (``coded``: text columns as Categoricals, else as strings)."""
    frame = pd.DataFrame(block.T, columns=list(_FLOAT_COLUMNS), copy=False)
    for position, name in enumerate(TABLE_COLUMNS):
        if name not in _AT:
            column = others[name]
            if isinstance(column, _Coded):
                column = column.categorical() if coded else column.series()
            frame.insert(position, name, column)
    return frame


def spc_of(ds: Dataset, kpi_id: str, options: SpcOptions) -> KpiSpc:
    """The KPI's SPC on every whole series (cached per dataset, KPI and options)."""
    def compute() -> KpiSpc:
        arrays = arrays_of(ds, kpi_id)
        # Incomplete aggregate periods and provisional values take no part in SPC.
        values = np.where(arrays.complete & ~arrays.provisional, arrays.value, np.nan)
        return kpi_spc(ds, values, arrays.stamps, kpi_id, options,
                       aggregate_from=len(ds.forces))

    return ds.memo(("spc", kpi_id, options), compute)


def _spc_columns(ds: Dataset, selections: Sequence[_Selection], options: SpcOptions,
                 block: np.ndarray) -> dict[str, Any]:
    """The SPC columns of the table's rows, read from each KPI's whole-series SPC."""
    parts: dict[str, list[np.ndarray]] = {name: [] for name in (
        "codes", "variation", "state", "basis", "assurance", "from", "to")}
    at = 0
    for sel in selections:
        spc = spc_of(ds, sel.arrays.kpi.kpi_id, options)
        size = len(sel)
        for which, name in enumerate(("spc_mean", "spc_lower", "spc_upper")):
            np.take(spc.lines[which].ravel(), sel.flat, out=block[_AT[name], at:at + size],
                    mode="clip")
        block[_AT["spc_points"], at:at + size] = spc.points.ravel().take(sel.flat)
        parts["codes"].append(spc.codes.ravel().take(sel.flat))
        parts["variation"].append(spc.variation.ravel().take(sel.flat))
        parts["state"].append(spc.state.ravel().take(sel.flat))
        parts["basis"].append(spc.basis.ravel().take(sel.flat))
        parts["assurance"].append(spc.assurance.take(sel.rows))
        periods = sel.arrays.stamps
        for key, grid in (("from", spc.base_first), ("to", spc.base_last)):
            column = grid.ravel().take(sel.flat)
            stamps = periods.take(np.maximum(column, 0), mode="clip") if len(periods) else (
                np.empty(size, dtype="datetime64[ns]"))
            parts[key].append(np.where(column >= 0, stamps, np.datetime64("NaT")))
        at += size

    def joined(name: str) -> np.ndarray:
        return np.concatenate(parts[name]) if parts[name] else np.zeros(0, dtype=np.int64)

    state = joined("state")
    # Without limits there is no count of points to show either.
    block[_AT["spc_points"]] = np.where(block[_AT["spc_points"]] > 0, block[_AT["spc_points"]],
                                        np.nan)
    return {
        "spc_rule": _Coded.of(RULE_LABELS, joined("codes")),
        "variation": _Coded.of(VARIATIONS, joined("variation")),
        "assurance": _Coded.of(ASSURANCES, joined("assurance")),
        "spc_limits": _Coded.of(LIMIT_STATES, state),
        "spc_basis": _Coded.of(SPC_BASES, joined("basis")),
        "spc_from": pd.DatetimeIndex(joined("from").astype("datetime64[ns]")),
        "spc_to": pd.DatetimeIndex(joined("to").astype("datetime64[ns]")),
    }


def _area_rows(ds: Dataset, areas: Sequence[str] | None) -> np.ndarray:
    cube = ds.cube
    if areas is None:
        return np.arange(len(cube.area_ids))
    missing = [a for a in areas if a not in cube.area_index]
    if missing:
        raise KeyError(f"unknown area(s): {', '.join(missing)}")
    return np.array(sorted({cube.area_index[a] for a in areas}), dtype=np.int64)


def _period_mask(stamps: np.ndarray, start: dt.date | None,
                 end: dt.date | None) -> np.ndarray | None:
    if start is None and end is None:
        return None
    mask = np.ones(len(stamps), dtype=bool)
    if start is not None:
        mask &= stamps >= np.datetime64(start)
    if end is not None:
        mask &= stamps <= np.datetime64(end)
    return mask


def area_rows(table: pd.DataFrame, area: str) -> pd.DataFrame:
    """``table[table["area"] == area]``: one area's rows, in order, with their index.

    Taken as a slice where they lie together (a table of one KPI, or of one area: the
    table keeps each KPI's areas in turn), which costs a quarter of selecting them
    by a mask, which copies every column (0.24 ms against 0.85 ms for a KPI's 52 rows of
    44 columns; a pillar page's first view does it twice for each of its nine KPIs:
    bench/bench_app.py). The same rows, columns and index either way."""
    hits = np.flatnonzero(table["area"].to_numpy() == area)
    if len(hits) and hits[-1] - hits[0] + 1 == len(hits):
        return table.iloc[hits[0]:hits[-1] + 1]
    return table.iloc[hits]


def flight_deck_table(
    ds: Dataset,
    kpi_ids: Sequence[str] | None = None,
    areas: Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    suppress: bool = False,
    threshold: int = DEFAULT_THRESHOLD,
    peer_group: str | None = None,
    spc: SpcOptions | None = DEFAULT_SPC,
    coded: bool = False,
) -> pd.DataFrame:
    """One row per KPI, area and period with every derived column (:data:`TABLE_COLUMNS`).

    Comparators and ranks are computed over every area; SPC is computed on each whole
    series and read for the rows asked for (``spc=None`` skips it, leaving its columns
    empty), always on the true values, before disclosure control. Rows are ordered by
    KPI (as asked, else the catalogue's order), area (forces by name, England and Wales,
    peer groups) and period.
    ``peer_group`` replaces each force's regional peer group as its comparator.
    ``coded``: the text columns as Categoricals (the same values; missing: no category)
    instead of strings, for a writer that handles each distinct value once.
    """
    kpi_list = list(kpi_ids) if kpi_ids is not None else list(ds.kpis)
    unknown = [k for k in kpi_list if k not in ds.kpis]
    if unknown:
        raise KeyError(f"unknown or unpublished KPI(s): {', '.join(unknown)}")
    if not kpi_list:
        raise KeyError("no KPI selected")
    if peer_group is not None and peer_group not in ds.cube.area_index:
        raise KeyError(f"unknown peer group: {peer_group}")
    if suppress:
        check_threshold(threshold)
    area_rows = _area_rows(ds, areas)
    selections = []
    for kpi_id in kpi_list:
        arrays = arrays_of(ds, kpi_id)
        mask = _period_mask(arrays.stamps, start, end)
        selections.append(_select(ds, arrays, area_rows, peer_group, mask))
    sizes = np.array([len(s) for s in selections], dtype=np.int64)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    total = int(bounds[-1])
    block = np.empty((len(_FLOAT_COLUMNS), total))
    for sel, lo, hi in zip(selections, bounds[:-1], bounds[1:], strict=True):
        _fill(ds, sel, block[:, lo:hi])
    others = _texts(ds, selections)

    if spc is not None:
        others.update(_spc_columns(ds, selections, spc, block))
    else:
        for name in _SPC_TEXT_COLUMNS:
            others[name] = _Coded.of([], np.zeros(total, dtype=np.int64))
        for name in ("spc_from", "spc_to"):
            others[name] = pd.DatetimeIndex(np.full(total, np.datetime64("NaT"), "datetime64[ns]"))

    if suppress:
        hidden = np.empty(total, dtype=np.int64)
        for sel, lo, hi in zip(selections, bounds[:-1], bounds[1:], strict=True):
            hidden[lo:hi] = _hidden(ds, sel, threshold)
            _suppressed_ranks(ds, sel, block[:, lo:hi], threshold)
        _hide(block, others, hidden)
    else:
        _unsuppressed(others, total)
    return _frame(block, others, coded)


def financial_year_totals(ds: Dataset, kpi_id: str, area: str) -> pd.DataFrame:
    """Totals per financial year (April to March): numerators and denominators summed
    (a stock's year is its value at the year's last period with data).

    Columns: financial_year (the year it starts), label (``2023/24``), numerator,
    denominator, population (the average population covered), periods (how many periods
    have data), complete (every period of the year has data), value. A per-100,000 value
    is the year's count per head of the average population covered; a partial year is
    flagged by ``complete``, not scaled up.
    """
    arrays = arrays_of(ds, kpi_id)
    kpi = arrays.kpi
    row = ds.cube.area_index[area]
    periods = arrays.periods
    present = arrays.present[row]
    years = np.where(periods.month >= 4, periods.year, periods.year - 1)[present]
    if not len(years):
        return pd.DataFrame({
            "financial_year": np.array([], dtype=np.int64), "numerator": [], "denominator": [],
            "population": [], "periods": np.array([], dtype=np.int64),
            "complete": np.array([], dtype=bool), "value": [], "label": [],
        })
    labels, index = np.unique(years, return_inverse=True)

    measures = {m.measure_id: m for m in ds.catalogue.measures}

    def per_year(grid: np.ndarray, measure_ids: tuple[str, ...] = ()) -> np.ndarray:
        cells = grid[row][present]
        if measure_ids and all(measures[m].stock for m in measure_ids if m in measures):
            # A stock's year is its latest value: the last period of each year.
            last = np.flatnonzero(np.r_[index[1:] != index[:-1], True])
            return cells[last]
        return np.bincount(index, weights=cells, minlength=len(labels))

    counts = np.bincount(index, minlength=len(labels))
    numerator = per_year(arrays.numerator, kpi.numerator)
    denominator = per_year(arrays.denominator, kpi.denominator) if kpi.denominator else (
        np.full(len(labels), np.nan))
    population = per_year(arrays.population) / counts
    frame = pd.DataFrame({
        "financial_year": labels.astype(np.int64),
        "numerator": numerator,
        "denominator": denominator,
        "population": population,
        "periods": counts.astype(np.int64),
        "complete": counts == PERIODS_PER_YEAR[kpi.periodicity],
        "value": _value(kpi.unit, numerator, denominator, population),
    })
    frame["label"] = [f"{y}/{(y + 1) % 100:02d}" for y in frame["financial_year"]]
    return frame


def cached_table(
    ds: Dataset,
    kpi_ids: Sequence[str] | None = None,
    areas: Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    suppress: bool = False,
    peer_group: str | None = None,
    spc: SpcOptions | None = DEFAULT_SPC,
) -> pd.DataFrame:
    """:func:`flight_deck_table`, computed once per dataset (data version and scope) and
    question. Treat the result as read-only: it is shared by every caller."""
    key = _table_key(kpi_ids, areas, start, end, suppress, peer_group, spc)
    return ds.memo_table(key, lambda: flight_deck_table(ds, kpi_ids, areas, start, end,
                                                        suppress=suppress,
                                                        peer_group=peer_group, spc=spc))


def _table_key(kpi_ids: Sequence[str] | None, areas: Sequence[str] | None,
               start: dt.date | None, end: dt.date | None, suppress: bool,
               peer_group: str | None, spc: SpcOptions | None) -> Hashable:
    return ("table", tuple(kpi_ids) if kpi_ids is not None else None,
            tuple(areas) if areas is not None else None, start, end, suppress, peer_group, spc)


def prime_tables(
    ds: Dataset,
    kpi_ids: Sequence[str],
    areas: Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    suppress: bool = False,
    peer_group: str | None = None,
    spc: SpcOptions | None = DEFAULT_SPC,
) -> None:
    """Put ``cached_table(ds, [kpi_id], areas, ...)`` in the cache for each KPI not there
    yet, from ONE :func:`flight_deck_table` of them all, split by KPI.

    Why: a pillar page draws a chart per KPI, each from its own one-KPI table; nine
    tables one by one took 11.5 ms here, nine at once and split 3.2 ms. Every column of
    a row depends only on its KPI (comparators, ranks, SPC and disclosure control are
    worked out per KPI), so each part equals the one-KPI table exactly
    (tests/test_measures.py checks it)."""
    def key(kpi_id: str) -> Hashable:
        return _table_key([kpi_id], areas, start, end, suppress, peer_group, spc)

    wanted = list(dict.fromkeys(k for k in kpi_ids
                                if ds.peek_table(key(k)) is None))
    if len(wanted) < 2:
        return  # nothing to share
    table = flight_deck_table(ds, wanted, areas, start, end, suppress=suppress,
                              peer_group=peer_group, spc=spc)
    # Rows come in KPI order, as asked: each KPI's rows are one run.
    kpi_of_row = table["kpi"].to_numpy()
    for kpi_id in wanted:
        at = np.flatnonzero(kpi_of_row == kpi_id)
        part = (table.iloc[at[0]:at[-1] + 1] if at.size else table.iloc[0:0]
                ).reset_index(drop=True)
        ds.memo_table(key(kpi_id), lambda part=part: part)


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
member force is; ``forces_reporting`` says how many were, so a partial national count
for the latest month (some forces' returns not yet in) can be shown as such.

Disclosure control (``suppress=True``) hides, with NaN and never 0, every figure that is
or would reveal a count from 1 to ``threshold - 1``:

* ``value`` part: numerator, denominator, value, change, rank, and the point's SPC rule
  and variation, when the period's numerator or denominator is hidden (``suppressed``
  is True exactly then);
* ``rolling`` part: the rolling figures when a rolling count is hidden, and whenever the
  ``value`` part is (the rolling year contains the hidden period);
* ``prior`` part: prior_value and change when the same period a year earlier is hidden;
* ``national`` / ``peer`` parts: the comparator's value when the comparator's own count is
  hidden (a small count must not escape through another row's comparator column);
* ``spc`` part: the centre line, limits and assurance of every point of a series that has
  a hidden value (they are computed from it: with the other points published, the mean
  would give it away); a hidden point's own rule and variation go with its value.

``suppressed_parts`` lists the parts hidden on each row (comma separated, "" if none).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from kpis.domain.catalogue import KpiDefinition
from kpis.domain.vocabulary import SUPPRESSIBLE_PARTS
from kpis.engine.dataset import Dataset
from kpis.engine.disclosure import DEFAULT_THRESHOLD, check_threshold, small_counts
from kpis.engine.spc import DEFAULT_RULES, RULE_LABELS, VARIATIONS, SpcRules, xmr_batch
from kpis.settings import NATIONAL_SLUG

__all__ = [
    "COUNT_COLUMNS",
    "PERIODS_PER_YEAR",
    "SUPPRESSED_PARTS",
    "TABLE_COLUMNS",
    "VALUE_COLUMNS",
    "KpiArrays",
    "SpcOptions",
    "financial_year_totals",
    "flight_deck_table",
    "kpi_arrays",
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
)

# Disclosure control: bits of the parts of a row that can be hidden, and the columns each
# part covers. The order of SUPPRESSED_PARTS is the order they are listed in.
_VALUE, _ROLLING, _PRIOR, _NATIONAL, _PEER, _SPC = 1, 2, 4, 8, 16, 32
SUPPRESSED_PARTS = SUPPRESSIBLE_PARTS  # the vocabulary's list: one list of part codes
_PART_COLUMNS: dict[int, tuple[str, ...]] = {
    _VALUE: ("numerator", "denominator", "value", "change", "rank", "spc_rule", "variation"),
    _ROLLING: ("rolling_numerator", "rolling_denominator", "rolling_value"),
    _PRIOR: ("prior_value", "change"),
    _NATIONAL: ("national_value",),
    _PEER: ("peer_value",),
    _SPC: ("spc_mean", "spc_lower", "spc_upper", "assurance"),
}
_PART_LABELS = np.array(
    [",".join(name for bit, name in enumerate(SUPPRESSED_PARTS) if code & (1 << bit))
     for code in range(1 << len(SUPPRESSED_PARTS))],
    dtype=object,
)


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


def kpi_arrays(ds: Dataset, kpi: KpiDefinition) -> KpiArrays:
    """Compute one KPI for every area and period of its periodicity."""
    cube = ds.cube
    columns = np.flatnonzero(cube.quarter_columns) if kpi.periodicity == "quarterly" else (
        np.arange(len(cube.periods)))
    periods = cube.periods[columns]
    forces = len(ds.forces)
    shape = (forces, len(periods))

    def total(measure_ids: tuple[str, ...]) -> np.ndarray:
        if not measure_ids:
            return np.full(shape, np.nan)
        grid = cube.measure(measure_ids[0])[:, columns]
        for measure_id in measure_ids[1:]:
            grid = grid + cube.measure(measure_id)[:, columns]
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
    numerator = np.where(present, _aggregate(membership, force_num, force_present), np.nan)
    denominator = (
        np.where(present, _aggregate(membership, force_den, force_present), np.nan)
        if has_denominator else np.full(present.shape, np.nan)
    )
    force_population = np.broadcast_to(cube.population[:, None], shape)
    population = np.where(present, _aggregate(membership, force_population, force_present),
                          np.nan)
    value = np.where(present, _value(kpi.unit, numerator, denominator, population), np.nan)

    window = PERIODS_PER_YEAR[kpi.periodicity]
    rolling_num = _rolling(numerator, present, window)
    rolling_den = (_rolling(denominator, present, window) if has_denominator
                   else np.full(rolling_num.shape, np.nan))
    # A year's count per head of the population covered on average over the year (the
    # same population every period for a force; for an aggregate it follows coverage).
    rolling_population = _rolling(population, present, window) / window
    rolling_value = _value(kpi.unit, rolling_num, rolling_den, rolling_population)

    rank = np.full(value.shape, np.nan)
    ranked = np.zeros(len(periods), dtype=np.int64)
    if kpi.polarity != "neutral":
        # Rank 1 is the best: the highest value, or the lowest when lower is better.
        force_values = value[:forces]
        score = -force_values if kpi.polarity == "lower" else force_values
        rank[:forces] = pd.DataFrame(score).rank(axis=0, ascending=False,
                                                 method="min").to_numpy()
        ranked = np.sum(~np.isnan(force_values), axis=0)
    return KpiArrays(
        kpi=kpi, periods=periods, numerator=numerator, denominator=denominator,
        population=population, present=present, value=value,
        rolling_numerator=rolling_num, rolling_denominator=rolling_den,
        rolling_value=rolling_value, prior_value=_shift(value, window),
        rank=rank, ranked=ranked, reporting=reporting,
        members=np.rint(membership.sum(axis=1)).astype(np.int64),
    )


def arrays_of(ds: Dataset, kpi_id: str) -> KpiArrays:
    """The KPI computed for every area and period (cached: a dataset never changes).

    A scoped dataset's arrays are the unscoped ones with other forces' rows blanked, so
    aggregates and the scoped force's rank are the numbers everyone sees.
    """
    def compute() -> KpiArrays:
        if ds.source is not None and ds.scope is not None:
            hidden = np.flatnonzero(np.asarray(ds.forces["slug"] != ds.scope))
            return scoped_arrays(arrays_of(ds.source, kpi_id), hidden)
        return kpi_arrays(ds, ds.kpis[kpi_id])

    return ds.memo(("arrays", kpi_id), compute)


def latest_period(ds: Dataset, kpi_id: str, area: str | None = None) -> dt.date | None:
    """The most recent period with data for the KPI (in ``area``, or in any area)."""
    arrays = arrays_of(ds, kpi_id)
    present = (arrays.present[ds.cube.area_index[area]] if area
               else arrays.present.any(axis=0))
    if not present.any():
        return None
    return arrays.periods[np.nonzero(present)[0][-1]].date()


def scoped_arrays(arrays: KpiArrays, hidden_rows: np.ndarray) -> KpiArrays:
    """``arrays`` with the given force rows blanked: nothing about them is left to show.

    Aggregate rows, computed from every force, stay as they are, as does ``ranked`` (how
    many forces were ranked); a visible force keeps its rank among all forces.
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
    )


# Numeric columns of a table, gathered into one 2-D block (one row per column), which
# becomes the frame's float block without a copy.
_FLOAT_COLUMNS: tuple[str, ...] = (
    "numerator", "denominator", "value", "population", "rolling_numerator",
    "rolling_denominator", "rolling_value", "prior_value", "change", "national_value",
    "peer_value", "rank", "ranked_forces", "spc_mean", "spc_lower", "spc_upper",
)
_AT = {name: i for i, name in enumerate(_FLOAT_COLUMNS)}
_SPC_TEXT_COLUMNS = ("spc_rule", "variation", "assurance")


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
        ("rank", arrays.rank),
    ):
        np.take(grid.ravel(), sel.flat, out=block[_AT[name]], mode="clip")
    np.subtract(block[_AT["value"]], block[_AT["prior_value"]], out=block[_AT["change"]])
    national = arrays.value[ds.cube.area_index[NATIONAL_SLUG]]
    np.take(national, sel.cols, out=block[_AT["national_value"]], mode="clip")
    peer_value = block[_AT["peer_value"]]
    width = arrays.value.shape[1]
    np.take(arrays.value.ravel(), np.maximum(sel.peer, 0) * width + sel.cols, out=peer_value,
            mode="clip")
    peer_value[sel.peer < 0] = np.nan
    ranked = arrays.ranked.take(sel.cols)
    block[_AT["ranked_forces"]] = np.where((sel.rows < len(ds.forces)) & (ranked > 0), ranked,
                                           np.nan)
    block[_AT["spc_mean"]:] = np.nan


def _hidden(ds: Dataset, sel: _Selection, threshold: int) -> np.ndarray:
    """Per table row, the bits of the parts disclosure control hides (module docstring)."""
    arrays = sel.arrays
    own = small_counts(arrays.numerator, threshold) | small_counts(arrays.denominator, threshold)
    rolling = own | small_counts(arrays.rolling_numerator, threshold) | small_counts(
        arrays.rolling_denominator, threshold)
    window = PERIODS_PER_YEAR[arrays.kpi.periodicity]
    own_flat = own.ravel()
    national = own[ds.cube.area_index[NATIONAL_SLUG]]
    peer_cells = np.maximum(sel.peer, 0) * own.shape[1] + sel.cols
    return (
        own_flat.take(sel.flat) * _VALUE
        + rolling.ravel().take(sel.flat) * _ROLLING
        + _shift(own, window).ravel().take(sel.flat) * _PRIOR
        + national.take(sel.cols) * _NATIONAL
        + ((sel.peer >= 0) & own_flat.take(peer_cells)) * _PEER
    )


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
            [s.arrays.periods.to_numpy().take(s.cols) for s in selections])),
        "peer_group": _Coded.of(cube.area_ids, np.where(peers >= 0, peers,
                                                        len(cube.area_ids))),
        "forces_reporting": np.concatenate(
            [s.arrays.reporting.ravel().take(s.flat) for s in selections]),
        "forces_in_area": selections[0].arrays.members.take(rows) if selections else rows,
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


def _frame(block: np.ndarray, others: dict[str, Any]) -> pd.DataFrame:
    """A table from the float block (no copy) and the other columns, in TABLE_COLUMNS order."""
    frame = pd.DataFrame(block.T, columns=list(_FLOAT_COLUMNS), copy=False)
    for position, name in enumerate(TABLE_COLUMNS):
        if name not in _AT:
            column = others[name]
            frame.insert(position, name,
                         column.series() if isinstance(column, _Coded) else column)
    return frame


@dataclass(frozen=True)
class SpcOptions:
    """How SPC limits are drawn: baseline length, re-basing, and the rules applied.

    ``rebase_at_adoption`` starts new limits, for each force, at the first period on or
    after the month it adopted the NOM; ``rebase_at`` does so for every series at one
    date (and for forces whose adoption month is not known).
    """

    baseline: int | None = None
    rebase_at_adoption: bool = False
    rebase_at: dt.date | None = None
    rules: SpcRules = DEFAULT_RULES


def _spc_columns(
    ds: Dataset,
    values: np.ndarray,
    periods: np.ndarray,
    area_rows: np.ndarray,
    offsets: np.ndarray,
    series_kpis: Sequence[KpiDefinition],
    options: SpcOptions,
    lines_out: np.ndarray | None = None,
) -> dict[str, Any]:
    """SPC columns for flat series (``offsets`` as for :func:`kpis.engine.spc.xmr_batch`).

    With ``lines_out`` (3 x points: mean, lower, upper) the lines are written there
    instead of being returned.
    """
    starts = None
    if options.rebase_at is not None or options.rebase_at_adoption:
        when = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[us]")
        if options.rebase_at is not None:
            when[:] = np.datetime64(options.rebase_at, "us")
        if options.rebase_at_adoption:
            # A force whose adoption month is unknown falls back to ``rebase_at``.
            adopted = ds.adoption_by_area.take(area_rows)
            known = ~np.isnat(adopted)
            when[known] = adopted[known]
        after = periods.astype("datetime64[us]") >= when  # NaT: never
        starts = after.copy()
        starts[1:] &= ~after[:-1]  # a series' first point starts a segment anyway
    batch = xmr_batch(
        values, offsets, [k.polarity for k in series_kpis],
        target=np.array([np.nan if k.target is None else k.target for k in series_kpis]),
        baseline=options.baseline, segment_starts=starts, rules=options.rules,
    )
    columns: dict[str, Any] = {
        "spc_rule": _Coded.of(RULE_LABELS, batch.codes),
        "variation": _Coded.of(VARIATIONS, batch.variation_codes),
        "assurance": _Coded.of(batch.assurance,
                               np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))),
    }
    for which, name in enumerate(("spc_mean", "spc_lower", "spc_upper")):
        if lines_out is None:
            columns[name] = batch.line(which)
        else:
            batch.line(which, out=lines_out[which])
    return columns


def _area_rows(ds: Dataset, areas: Sequence[str] | None) -> np.ndarray:
    cube = ds.cube
    if areas is None:
        return np.arange(len(cube.area_ids))
    missing = [a for a in areas if a not in cube.area_index]
    if missing:
        raise KeyError(f"unknown area(s): {', '.join(missing)}")
    return np.array(sorted({cube.area_index[a] for a in areas}), dtype=np.int64)


def _period_mask(periods: pd.DatetimeIndex, start: dt.date | None,
                 end: dt.date | None) -> np.ndarray | None:
    if start is None and end is None:
        return None
    stamps = periods.to_numpy()
    mask = np.ones(len(stamps), dtype=bool)
    if start is not None:
        mask &= stamps >= np.datetime64(start)
    if end is not None:
        mask &= stamps <= np.datetime64(end)
    return mask


def flight_deck_table(
    ds: Dataset,
    kpi_ids: Sequence[str] | None = None,
    areas: Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    suppress: bool = False,
    threshold: int = DEFAULT_THRESHOLD,
    peer_group: str | None = None,
    spc: SpcOptions | None = SpcOptions(),
) -> pd.DataFrame:
    """One row per KPI, area and period with every derived column (:data:`TABLE_COLUMNS`).

    Comparators and ranks are computed over every area; SPC runs over the selected
    periods only (``spc=None`` skips it, leaving its columns empty) and always on the
    true values, before disclosure control. Rows are ordered by KPI (as asked, else the
    catalogue's order), area (forces by name, England and Wales, peer groups) and period.
    ``peer_group`` replaces each force's regional peer group as its comparator.
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
        mask = _period_mask(arrays.periods, start, end)
        selections.append(_select(ds, arrays, area_rows, peer_group, mask))
    sizes = np.array([len(s) for s in selections], dtype=np.int64)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    total = int(bounds[-1])
    block = np.empty((len(_FLOAT_COLUMNS), total))
    for sel, lo, hi in zip(selections, bounds[:-1], bounds[1:], strict=True):
        _fill(ds, sel, block[:, lo:hi])
    others = _texts(ds, selections)

    new_series = None
    if spc is not None:
        # Rows are ordered by area then period within a KPI: a series starts at each
        # KPI's first row and wherever the area changes.
        rows = np.concatenate([s.rows for s in selections])
        new_series = np.ones(total, dtype=bool)
        new_series[1:] = rows[1:] != rows[:-1]
        new_series[bounds[:-1][sizes > 0]] = True
        firsts = np.flatnonzero(new_series)
        kpi_of_series = np.searchsorted(bounds, firsts, side="right") - 1
        series_kpis = [selections[i].arrays.kpi for i in kpi_of_series.tolist()]
        columns = _spc_columns(
            ds, block[_AT["value"]], others["period_start"].to_numpy(), rows,
            np.append(firsts, total), series_kpis, spc,
            lines_out=block[_AT["spc_mean"]: _AT["spc_upper"] + 1],
        )
        others.update(columns)
    else:
        for name in _SPC_TEXT_COLUMNS:
            others[name] = _Coded.of([], np.zeros(total, dtype=np.int64))

    if suppress:
        hidden = np.empty(total, dtype=np.int64)
        for sel, lo, hi in zip(selections, bounds[:-1], bounds[1:], strict=True):
            hidden[lo:hi] = _hidden(ds, sel, threshold)
        if new_series is not None and total:
            series = np.cumsum(new_series) - 1
            exposed = np.bincount(series, weights=(hidden & _VALUE) != 0) > 0
            hidden |= exposed[series] * _SPC
        _hide(block, others, hidden)
    else:
        _unsuppressed(others, total)
    return _frame(block, others)


def financial_year_totals(ds: Dataset, kpi_id: str, area: str) -> pd.DataFrame:
    """Totals per financial year (April to March): numerators and denominators summed.

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

    def per_year(grid: np.ndarray) -> np.ndarray:
        return np.bincount(index, weights=grid[row][present], minlength=len(labels))

    counts = np.bincount(index, minlength=len(labels))
    numerator = per_year(arrays.numerator)
    denominator = per_year(arrays.denominator) if kpi.denominator else np.full(
        len(labels), np.nan)
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
    spc: SpcOptions | None = SpcOptions(),
) -> pd.DataFrame:
    """:func:`flight_deck_table`, computed once per dataset (data version and scope) and
    question. Treat the result as read-only: it is shared by every caller."""
    key = ("table", tuple(kpi_ids) if kpi_ids is not None else None,
           tuple(areas) if areas is not None else None, start, end, suppress, peer_group, spc)
    return ds.memo_table(key, lambda: flight_deck_table(ds, kpi_ids, areas, start, end,
                                                        suppress=suppress,
                                                        peer_group=peer_group, spc=spc))


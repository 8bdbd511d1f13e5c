"""The flight-deck measures: values, rolling totals, change, comparators, rank and SPC.

Every number the dashboard, an export or the CLI shows comes from here. Rates are
always aggregated by summing numerators and denominators first (over forces, over
months), never by averaging rates.

Areas are the 43 forces (by slug), England and Wales (``england-and-wales``) and each
peer group (``region-...`` or ``group-...``). The arithmetic runs on dense
area-by-period arrays: an aggregate is a membership matrix times the force matrix,
and a rolling year is a difference of cumulative sums.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kpis.catalogue import KpiDefinition
from kpis.config import NATIONAL_SLUG
from kpis.dataset import Dataset
from kpis.disclosure import DEFAULT_THRESHOLD, suppress_frame
from kpis.spc import DEFAULT_RULES, SpcRules, xmr

# How many periods make a year, by periodicity.
PERIODS_PER_YEAR = {"monthly": 12, "quarterly": 4}

COUNT_COLUMNS = ["numerator", "denominator", "rolling_numerator", "rolling_denominator"]
VALUE_COLUMNS = ["value", "rolling_value", "prior_value", "change", "national_value",
                 "peer_value"]


def _value(unit: str, numerator: np.ndarray, denominator: np.ndarray,
           population: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        if unit == "count":
            return numerator.astype(float)
        if unit == "per_100k":
            return numerator / population * 100_000
        return np.where(denominator != 0, numerator / denominator, np.nan)


def _rolling(grid: np.ndarray, present: np.ndarray, window: int) -> np.ndarray:
    """Sum over the last ``window`` periods, missing unless all of them are present."""
    total = np.cumsum(np.where(present, grid, 0.0), axis=1)
    count = np.cumsum(present, axis=1)
    total[:, window:] = total[:, window:] - total[:, :-window]
    count[:, window:] = count[:, window:] - count[:, :-window]
    return np.where(count == window, total, np.nan)


def _shift(grid: np.ndarray, periods: int) -> np.ndarray:
    shifted = np.full_like(grid, np.nan)
    shifted[:, periods:] = grid[:, :-periods]
    return shifted


@dataclass(frozen=True)
class KpiArrays:
    """One KPI over every area (rows) and period (columns)."""

    kpi: KpiDefinition
    periods: pd.DatetimeIndex
    numerator: np.ndarray
    denominator: np.ndarray
    population: np.ndarray
    present: np.ndarray
    value: np.ndarray
    rolling_numerator: np.ndarray
    rolling_denominator: np.ndarray
    rolling_value: np.ndarray
    prior_value: np.ndarray
    rank: np.ndarray  # rank among forces; NaN on aggregate rows
    ranked: np.ndarray  # how many forces were ranked, per period


def kpi_arrays(ds: Dataset, kpi: KpiDefinition) -> KpiArrays:
    """Compute one KPI for every area and period of its periodicity."""
    cube = ds.cube
    columns = cube.quarter_columns if kpi.periodicity == "quarterly" else slice(None)
    periods = cube.periods[columns]
    forces = len(ds.forces)

    def total(measure_ids: tuple[str, ...]) -> np.ndarray:
        parts = [cube.measure(m)[:, columns] for m in measure_ids]
        return np.sum(parts, axis=0) if parts else np.full((forces, len(periods)), np.nan)

    force_num = total(kpi.numerator)
    force_den = total(kpi.denominator)
    force_present = ~np.isnan(force_num)
    if kpi.denominator:
        force_present &= ~np.isnan(force_den)
    membership = cube.membership  # areas x forces, 0/1; the first rows are the forces
    counted = membership @ force_present.astype(float)
    present = counted > 0
    numerator = np.where(present, membership @ np.where(force_present, force_num, 0.0), np.nan)
    denominator = np.where(
        present & bool(kpi.denominator),
        membership @ np.where(force_present, force_den, 0.0), np.nan,
    )
    population = np.where(
        present, membership @ (force_present * cube.population[:, None]), np.nan
    )
    value = np.where(present, _value(kpi.unit, numerator, denominator, population), np.nan)

    window = PERIODS_PER_YEAR[kpi.periodicity]
    rolling_num = _rolling(numerator, present, window)
    rolling_den = _rolling(denominator, present, window) if kpi.denominator else np.full_like(
        rolling_num, np.nan)
    if kpi.unit == "per_100k":
        rolling_value = rolling_num / population * 100_000  # a year's offences per head
    else:
        rolling_value = _value(kpi.unit, rolling_num, rolling_den, population)

    force_values = value[:forces]
    score = -force_values if kpi.polarity == "lower" else force_values
    rank = np.full_like(value, np.nan)
    rank[:forces] = pd.DataFrame(score).rank(axis=0, ascending=False, method="min").to_numpy()
    return KpiArrays(
        kpi=kpi, periods=periods, numerator=numerator, denominator=denominator,
        population=population, present=present, value=value,
        rolling_numerator=rolling_num, rolling_denominator=rolling_den,
        rolling_value=rolling_value, prior_value=_shift(value, window),
        rank=rank, ranked=np.sum(~np.isnan(force_values), axis=0),
    )


def kpi_columns(ds: Dataset, arrays: KpiArrays, area_rows: np.ndarray,
                peer_group: str | None = None) -> dict[str, np.ndarray]:
    """Long rows (area, period) with every derived column, for the given area rows.

    Rows come ordered by area row, then period.
    """
    cube = ds.cube
    national_row = cube.area_index[NATIONAL_SLUG]
    if peer_group is not None:
        peer_rows = np.full(len(cube.area_ids), cube.area_index[peer_group])
    else:
        peer_rows = cube.peer_rows
    grid_rows, grid_cols = np.nonzero(arrays.present[area_rows])
    rows = area_rows[grid_rows]
    is_force = rows < len(ds.forces)
    peer = np.where(is_force, peer_rows[rows], -1)
    peer_value = np.where(
        peer >= 0, arrays.value[np.maximum(peer, 0), grid_cols], np.nan
    )
    value = arrays.value[rows, grid_cols]
    prior = arrays.prior_value[rows, grid_cols]
    return {
        "kpi": np.full(len(rows), arrays.kpi.kpi_id, dtype=object),
        "area": cube.area_ids[rows],
        "period_start": arrays.periods[grid_cols],
        "numerator": arrays.numerator[rows, grid_cols],
        "denominator": arrays.denominator[rows, grid_cols],
        "value": value,
        "population": arrays.population[rows, grid_cols],
        "rolling_numerator": arrays.rolling_numerator[rows, grid_cols],
        "rolling_denominator": arrays.rolling_denominator[rows, grid_cols],
        "rolling_value": arrays.rolling_value[rows, grid_cols],
        "prior_value": prior,
        "change": value - prior,
        "national_value": arrays.value[national_row, grid_cols],
        "peer_group": np.where(is_force, cube.area_ids[np.maximum(peer, 0)], None),
        "peer_value": peer_value,
        "rank": arrays.rank[rows, grid_cols],
        "ranked_forces": np.where(is_force, arrays.ranked[grid_cols], np.nan),
    }


@dataclass(frozen=True)
class SpcOptions:
    baseline: int | None = None
    rebase_at_adoption: bool = False
    rebase_at: dt.date | None = None
    rules: SpcRules = DEFAULT_RULES


def add_spc(ds: Dataset, frame: pd.DataFrame, options: SpcOptions = SpcOptions()) -> pd.DataFrame:
    """XmR limits, special-cause rules, variation and assurance per KPI and area series.

    Within each KPI and area, ``frame``'s rows must be in period order.
    """
    n = len(frame)
    mean, lower, upper = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    rules = np.full(n, "", dtype=object)
    variation = np.full(n, "common", dtype=object)
    assurance = np.full(n, None, dtype=object)
    adoption = dict(zip(ds.forces["slug"], ds.forces["nom_adoption"], strict=True))
    values = frame["value"].to_numpy(dtype=float)
    periods = frame["period_start"].to_numpy()
    for (kpi_id, area), rows in frame.groupby(["kpi", "area"], sort=False).indices.items():
        kpi = ds.kpis[kpi_id]
        rebase: list[int] = []
        rebase_date = options.rebase_at
        if options.rebase_at_adoption and adoption.get(area) is not None:
            rebase_date = adoption[area]
        if rebase_date is not None:
            after = np.nonzero(periods[rows] >= np.datetime64(rebase_date))[0]
            if len(after) and after[0] > 0:
                rebase = [int(after[0])]
        result = xmr(values[rows], kpi.polarity, target=kpi.target,
                     baseline=options.baseline, rebase_at=rebase, rules=options.rules)
        mean[rows], lower[rows], upper[rows] = result.mean, result.lower, result.upper
        rules[rows] = result.rules
        variation[rows] = result.variation
        assurance[rows] = result.assurance
    frame = frame.copy()
    frame["spc_mean"], frame["spc_lower"], frame["spc_upper"] = mean, lower, upper
    frame["spc_rule"], frame["variation"], frame["assurance"] = rules, variation, assurance
    return frame


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
    """One row per KPI, area and period with every derived column.

    Comparators and ranks are computed over every area; SPC runs over the selected
    periods only (``spc=None`` skips it). Rows are ordered by KPI (as asked, else the
    catalogue's order), area (forces by name, England and Wales, peer groups) and period.
    """
    kpi_list = list(kpi_ids) if kpi_ids is not None else list(ds.kpis)
    unknown = [k for k in kpi_list if k not in ds.kpis]
    if unknown:
        raise KeyError(f"unknown or unpublished KPI(s): {', '.join(unknown)}")
    cube = ds.cube
    if areas is None:
        area_rows = np.arange(len(cube.area_ids))
    else:
        missing = [a for a in areas if a not in cube.area_index]
        if missing:
            raise KeyError(f"unknown area(s): {', '.join(missing)}")
        area_rows = np.array(sorted(cube.area_index[a] for a in set(areas)), dtype=int)
    parts = []
    for kpi_id in kpi_list:
        part = kpi_columns(ds, ds.arrays(kpi_id), area_rows, peer_group)
        keep = np.ones(len(part["kpi"]), dtype=bool)
        if start is not None:
            keep &= part["period_start"] >= np.datetime64(start)
        if end is not None:
            keep &= part["period_start"] <= np.datetime64(end)
        parts.append({name: column[keep] for name, column in part.items()})
    if not parts:
        raise KeyError("no KPI selected")
    # Built once from whole columns: far cheaper than concatenating a frame per KPI.
    # Rows stay in KPI (catalogue), area and period order, which SPC relies on.
    frame = pd.DataFrame({name: np.concatenate([p[name] for p in parts]) for name in parts[0]})
    if spc is not None:
        frame = add_spc(ds, frame, spc)
    if suppress:
        frame = suppress_frame(frame, COUNT_COLUMNS, VALUE_COLUMNS, threshold=threshold)
    else:
        frame["suppressed"] = False
    return frame


def financial_year_totals(ds: Dataset, kpi_id: str, area: str) -> pd.DataFrame:
    """Totals per financial year (April to March): numerators and denominators summed.

    ``complete`` says whether the year has every period; a partial year is labelled.
    """
    arrays = ds.arrays(kpi_id)
    kpi = arrays.kpi
    row = ds.cube.area_index[area]
    periods = arrays.periods
    frame = pd.DataFrame({
        "financial_year": np.where(periods.month >= 4, periods.year, periods.year - 1),
        "numerator": arrays.numerator[row],
        "denominator": arrays.denominator[row],
        "population": arrays.population[row],
        "present": arrays.present[row],
    })
    frame = frame[frame["present"]]
    grouped = frame.groupby("financial_year").agg(
        numerator=("numerator", "sum"),
        denominator=("denominator", lambda s: s.sum(min_count=1)),
        population=("population", "max"),
        periods=("present", "size"),
    ).reset_index()
    grouped["complete"] = grouped["periods"] == PERIODS_PER_YEAR[kpi.periodicity]
    value = _value(kpi.unit, grouped["numerator"].to_numpy(), grouped["denominator"].to_numpy(),
                   grouped["population"].to_numpy())
    if kpi.unit == "per_100k":
        value = grouped["numerator"].to_numpy() / grouped["population"].to_numpy() * 100_000
    grouped["value"] = value
    grouped["label"] = grouped["financial_year"].map(lambda y: f"{y}/{(y + 1) % 100:02d}")
    return grouped

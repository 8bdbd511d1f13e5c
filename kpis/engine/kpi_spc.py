"""SPC of every series of a KPI, on its whole series, with the baseline its reader expects.

Limits are always computed on a whole series (every period of the KPI) and then read
for the rows a table, chart or export asks for, so a window (``--from``, a chart range)
never changes a flag. The baseline, by default (``nom``), is:

* a KPI whose catalogue entry fixes ``spc_baseline_points``: limits from its first N
  points, for every area;
* otherwise, for a force with a NOM adoption month and at least ``min_points`` points
  on or after it: limits re-based there (the points before keep limits of their own);
* otherwise (no adoption month, too few points since, or an aggregate): limits from the
  whole series, and the table says why (``spc_basis``).

``all`` asks for whole-series limits everywhere and ``first:N`` for the first N points,
so an analyst can reproduce either view (``flightdeck kpis --baseline``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kpis.domain.baseline import Baseline
from kpis.domain.vocabulary import ASSURANCES, SPC_BASES
from kpis.engine.dataset import Dataset
from kpis.engine.spc import SpcRules, xmr_batch

__all__ = ["DEFAULT_BASELINE", "DEFAULT_SPC", "Baseline", "KpiSpc", "SpcOptions", "kpi_spc"]

(_WHOLE, _AT_NOM, _BEFORE_NOM, _NO_ADOPTION, _TOO_FEW_SINCE, _FIRST) = (
    SPC_BASES.index(code) for code in (
        "whole_series", "nom_adoption", "before_nom", "no_adoption_month",
        "too_few_since_adoption", "first_points"))


_ASSURANCE_CODE = {code: i for i, code in enumerate(ASSURANCES)}


@dataclass(frozen=True)
class SpcOptions:
    """How SPC limits are drawn: the baseline, and the rules (None: the catalogue's)."""

    baseline: Baseline = field(default_factory=Baseline)
    rules: SpcRules | None = None


DEFAULT_BASELINE = Baseline()
DEFAULT_SPC = SpcOptions()


@dataclass(frozen=True)
class KpiSpc:
    """One KPI's SPC over every area (rows) and period (columns) of its arrays."""

    lines: np.ndarray  # 3 x areas x periods: mean, lower, upper (NaN: no limits)
    codes: np.ndarray  # rule bits per cell
    variation: np.ndarray  # variation code per cell (NOT_ASSESSED where none)
    state: np.ndarray  # limit state per cell (index into LIMIT_STATES)
    points: np.ndarray  # how many points the cell's limits come from
    base_first: np.ndarray  # period column of the first baseline point (-1: none)
    base_last: np.ndarray  # period column of the last baseline point (-1: none)
    basis: np.ndarray  # per cell: index into SPC_BASES
    assurance: np.ndarray  # per area row: index into ASSURANCES (len(ASSURANCES): none)


def rules_for(kpi_run_length: int, options: SpcOptions) -> SpcRules:
    if options.rules is not None:
        return options.rules
    return SpcRules(shift_length=kpi_run_length, trend_length=kpi_run_length)


def kpi_spc(ds: Dataset, values: np.ndarray, periods: np.ndarray, kpi_id: str,
            options: SpcOptions, aggregate_from: int) -> KpiSpc:
    """SPC of ``values`` (areas x periods; NaN where missing, or excluded).

    Rows from ``aggregate_from`` on are aggregates (whole-series limits under ``nom``).
    """
    kpi = ds.kpis[kpi_id]
    rules = rules_for(kpi.spc_run_length, options)
    areas, width = values.shape
    baseline = options.baseline
    points = None
    basis = np.full(areas, _WHOLE, dtype=np.int8)
    starts = np.zeros(values.shape, dtype=bool)
    if baseline.kind == "first" or (baseline.kind == "nom" and kpi.spc_baseline_points):
        points = baseline.points if baseline.kind == "first" else kpi.spc_baseline_points
        basis[:] = _FIRST
    elif baseline.kind == "nom":
        adopted = ds.adoption_by_area[:aggregate_from].astype("datetime64[D]")
        stamps = periods.astype("datetime64[D]")
        present = np.isfinite(values[:aggregate_from])
        for row in range(min(aggregate_from, areas)):
            if np.isnat(adopted[row]):
                basis[row] = _NO_ADOPTION
                continue
            after = stamps >= adopted[row]
            if int((present[row] & after).sum()) < rules.min_points:
                basis[row] = _TOO_FEW_SINCE
                continue
            basis[row] = _AT_NOM
            first_after = int(np.argmax(after))
            starts[row, first_after] = True
    batch = xmr_batch(
        values.ravel(), np.arange(areas + 1) * width, kpi.polarity,
        target=np.nan if kpi.target is None else kpi.target,
        baseline=points, segment_starts=starts.ravel(), rules=rules,
    )
    shape = values.shape
    segment_of = batch.segment_of
    first = batch.segment_first.take(segment_of, mode="clip")
    last = batch.segment_last.take(segment_of, mode="clip")
    offset = np.repeat(np.arange(areas) * width, width)
    cell_basis = np.repeat(basis, width).reshape(shape)
    if starts.any():
        # Under a NOM re-base, the points before adoption have limits of their own.
        before = (cell_basis == _AT_NOM) & (np.cumsum(starts, axis=1) == 0)
        cell_basis = np.where(before, _BEFORE_NOM, cell_basis)
    return KpiSpc(
        lines=np.stack([batch.line(i).reshape(shape) for i in range(3)]),
        codes=batch.codes.reshape(shape),
        variation=batch.variation_codes.reshape(shape),
        state=batch.limit_state.reshape(shape),
        points=batch.segment_points.take(segment_of, mode="clip").reshape(shape),
        base_first=np.where(first >= 0, first - offset, -1).reshape(shape),
        base_last=np.where(last >= 0, last - offset, -1).reshape(shape),
        basis=cell_basis,
        # Coded once here (the result is cached), not on every table that reads it.
        assurance=np.array([_ASSURANCE_CODE.get(a, len(ASSURANCES)) for a in batch.assurance],
                           dtype=np.int64),
    )

"""Complementary suppression and its audit: no hidden count follows from the counts shown.

One measure's counts form a grid of areas (the forces first, then the aggregates) by
periods. Each aggregate is the sum of its member forces present in the period, so a
reader who sees some cells knows, for every aggregate and period, one linear equation,
and that counts are never negative. A hidden cell is *protected* when, given every
shown cell, those equations and non-negativity, it can still lie anywhere in a range at
least ``width`` wide (the disclosure threshold: a hidden 1 to 4 then cannot be told from
0 or from 5 or more).

:func:`protect` hides more cells (complementary suppression) until every cell that must
be protected is. It works period by period: periods share no equation here, because a
suppressed output has one time grain (the KPI's months or quarters) and every coarser
figure (a rolling or financial year) is shown only when all its periods are (see
:mod:`kpis.engine.measures`).

The method, as a statistical office would run it (``docs/disclosure.md``):

1. *A certificate first.* Two or more hidden forces that sit in exactly the same
   equations (the same region, England and Wales and peer groups) can trade counts
   freely: each can be anything from 0 to their sum. When that sum is at least
   ``width``, each of them is protected, with no optimisation needed.
   A bound refutes just as cheaply: a shown aggregate caps each hidden member at what
   is left of it once its shown members are taken away (counts are never negative), so
   a cell whose cap is under ``width`` is not protected.
2. *An audit by linear programming* for the rest: the smallest and the largest value the
   cell can take, found by the HiGHS solver (``highspy``, the solver's own binding: the
   model is passed once and each objective re-solved from the last basis). One solve
   covers every period at once (the periods' problems are independent, so one objective
   with one cell per period finds each period's optimum), so the audit costs two solves
   per undecided cell of the busiest period, not per cell.
3. *A simple heuristic to repair*: for an unprotected cell, hide the smallest shown
   count that shares its smallest equation (a force first, then the aggregate), then
   audit that period again, until every cell is protected.

The same audit decides what a force-scoped account may see (other forces' cells are
unknown to it and must stay protected; only aggregates may be withheld).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported where used: a table without disclosure control needs no scipy
    from scipy import sparse

__all__ = ["feasible_ranges", "protect"]

# Comparing a range with the width: counts are whole or nearly so; solver noise is not.
_TOLERANCE = 1e-6
# After this many repairs in one period, every candidate cell of it is hidden (safe).
_MAX_REPAIRS = 60


@dataclass(frozen=True)
class _System:
    """What a reader knows of some periods: the cells they do not see (variables) and
    the aggregate equations over them, for every period at once (block diagonal)."""

    columns: np.ndarray  # the periods (grid columns) covered
    var_row: np.ndarray  # per variable: its area row
    var_col: np.ndarray  # per variable: its period, as a position in ``columns``
    eq_row: np.ndarray  # per equation: its aggregate's row
    eq_col: np.ndarray  # per equation: its period, as a position in ``columns``
    matrix: sparse.csc_matrix  # equations x variables (+1 a member, -1 the aggregate)
    rhs: np.ndarray
    kept: np.ndarray  # aggregates x periods: the equation is in the system
    upper: np.ndarray  # per variable: a cap from the shown aggregates (inf: none)
    groups: np.ndarray  # aggregates x forces: membership
    agg_unknown: np.ndarray  # aggregates x periods: the aggregate's cell is not seen


def _system(grid: np.ndarray, present: np.ndarray, membership: np.ndarray, forces: int,
            unknown: np.ndarray, need: np.ndarray, columns: np.ndarray) -> _System:
    """The equations a reader of periods ``columns`` knows over the cells they do not see.

    An unknown aggregate that need not be protected is left out with its equation: it
    appears in no other equation, so it constrains nothing (it can absorb any value).
    """
    from scipy import sparse

    here = present[:, columns]
    values = np.where(here, np.nan_to_num(grid[:, columns]), 0.0)
    var = unknown[:, columns] & here
    groups = membership[forces:] > 0.5  # aggregates x forces
    force_var, agg_var = var[:forces], var[forces:]
    known = groups.astype(float) @ np.where(force_var, 0.0, values[:forces])
    has_member_var = (groups.astype(float) @ force_var.astype(float)) > 0.5
    kept = here[forces:] & (~agg_var | need[forces:, columns]) & (has_member_var | agg_var)
    var_row, var_col = np.nonzero(var)
    var_id = np.full(var.shape, -1)
    var_id[var_row, var_col] = np.arange(len(var_row))
    eq_g, eq_col = np.nonzero(kept)
    eq_id = np.full(kept.shape, -1)
    eq_id[eq_g, eq_col] = np.arange(len(eq_g))
    rhs_grid = np.where(agg_var, -known, values[forces:] - known)
    entries_eq, entries_var, entries_value = [], [], []
    upper = np.full(var.shape, np.inf)
    for g in range(groups.shape[0]):
        cells = groups[g][:, None] & force_var & kept[g][None, :]
        f, t = np.nonzero(cells)
        entries_eq.append(eq_id[g, t])
        entries_var.append(var_id[f, t])
        entries_value.append(np.ones(len(f)))
        # A shown aggregate caps each hidden member at what is left of it.
        cap = np.where(kept[g] & ~agg_var[g], rhs_grid[g], np.inf)
        upper[:forces] = np.where(groups[g][:, None], np.minimum(upper[:forces], cap[None, :]),
                                  upper[:forces])
    g_rows, t = np.nonzero(kept & agg_var)
    entries_eq.append(eq_id[g_rows, t])
    entries_var.append(var_id[g_rows + forces, t])
    entries_value.append(-np.ones(len(t)))
    # A hidden aggregate lies between its shown members' sum and that plus its hidden
    # members' caps.
    member_caps = groups.astype(float) @ np.where(force_var, np.minimum(upper[:forces], 1e300),
                                                  0.0)
    upper[forces:] = np.where(agg_var, member_caps, np.inf)
    matrix = sparse.csc_matrix(
        (np.concatenate(entries_value), (np.concatenate(entries_eq),
                                         np.concatenate(entries_var))),
        shape=(len(eq_g), len(var_row)))
    return _System(np.asarray(columns), var_row, var_col, eq_g + forces, eq_col, matrix,
                   rhs_grid[eq_g, eq_col], kept, upper[var_row, var_col], groups, agg_var)


def _classes(cols: np.ndarray, memberships: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class number of each row (same period, same memberships) and each class's size."""
    packed = np.packbits(memberships, axis=1)
    packed = np.pad(packed, ((0, 0), (0, -packed.shape[1] % 8)))
    words = packed.view(np.uint64)
    keys = [words[:, i] for i in range(words.shape[1] - 1, -1, -1)] + [cols]
    order = np.lexsort(keys)
    stacked = np.column_stack([cols.astype(np.uint64), words])[order]  # one exact dtype
    starts = np.r_[True, (stacked[1:] != stacked[:-1]).any(axis=1)]
    sorted_class = np.cumsum(starts) - 1
    classes = np.empty(len(cols), dtype=np.int64)
    classes[order] = sorted_class
    return classes, np.bincount(sorted_class)


def _certified(system: _System, grid: np.ndarray, forces: int, width: float,
               needed: np.ndarray) -> np.ndarray:
    """Per variable: protected by the trading certificate (step 1 of the method).

    Hidden forces in the same shown equations (a hidden aggregate's equation does not
    count: its own unknown takes up any trade) form a class; trading within it keeps
    every shown figure, so each member can be anything from 0 to the class's sum. A
    hidden aggregate with a class partly inside it and partly outside moves by the
    class's sum as the class trades across its edge.
    """
    done = np.zeros(len(system.var_row), dtype=bool)
    index = np.flatnonzero(system.var_row < forces)
    if not len(index):
        return done
    rows, cols = system.var_row[index], system.var_col[index]
    shown_eq = system.kept & ~system.agg_unknown  # aggregates x periods
    memberships = shown_eq[:, cols].T & system.groups[:, rows].T
    done[index[~memberships.any(axis=1)]] = True  # in no equation: anything from 0 up
    classes, sizes = _classes(cols, memberships)
    values = np.nan_to_num(grid[rows, system.columns[cols]])
    sums = np.bincount(classes, weights=values)
    # A class of one has no one to trade with: it proves nothing.
    strong = (sums >= width - _TOLERANCE) & (sizes >= 2)
    done[index[strong[classes]]] = True
    # Hidden aggregates: a strong class with members inside and outside.
    for v in np.flatnonzero((system.var_row >= forces) & needed):
        g, col = system.var_row[v] - forces, system.var_col[v]
        here = cols == col
        inside = system.groups[g, rows[here]]
        found = classes[here]
        has_in = np.bincount(found[inside], minlength=len(sums)) > 0
        has_out = np.bincount(found[~inside], minlength=len(sums)) > 0
        done[v] = bool((has_in & has_out & strong).any())
    return done


class _Solver:
    """One HiGHS model of a system, re-solved for each objective from the last basis."""

    def __init__(self, system: _System, upper_bound: float) -> None:
        import highspy

        with _quiet_banner():
            self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", False)
        self.size = len(system.var_row)
        lp = highspy.HighsLp()
        lp.num_col_ = self.size
        lp.num_row_ = system.matrix.shape[0]
        lp.col_cost_ = np.zeros(self.size)
        lp.col_lower_ = np.zeros(self.size)
        lp.col_upper_ = np.full(self.size, upper_bound)
        lp.row_lower_ = system.rhs.astype(float)
        lp.row_upper_ = system.rhs.astype(float)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = system.matrix.indptr.astype(np.int32)
        lp.a_matrix_.index_ = system.matrix.indices.astype(np.int32)
        lp.a_matrix_.value_ = system.matrix.data.astype(float)
        self.highs.passModel(lp)
        self.optimal = highspy.HighsModelStatus.kOptimal
        self.unbounded = highspy.HighsModelStatus.kUnbounded
        self._set: np.ndarray = np.zeros(0, dtype=np.int32)

    def optimum(self, chosen: np.ndarray, sign: float) -> np.ndarray:
        """The minimum (``sign`` 1) or maximum (-1) of each chosen variable, together."""
        if len(self._set):
            self.highs.changeColsCost(len(self._set), self._set, np.zeros(len(self._set)))
        self._set = chosen.astype(np.int32)
        self.highs.changeColsCost(len(chosen), self._set, np.full(len(chosen), sign))
        self.highs.run()
        status = self.highs.getModelStatus()
        if status == self.optimal:
            return np.asarray(self.highs.getSolution().col_value)[chosen]
        if status == self.unbounded and sign < 0:
            return np.full(len(chosen), np.inf)
        return np.full(len(chosen), np.nan)


_BANNER = threading.Lock()
_BANNER_SHOWN = False


@contextlib.contextmanager
def _quiet_banner() -> Iterator[None]:
    """HiGHS prints a banner on standard output the first time a process makes a model,
    whatever its options; a CSV written to standard output must not get it."""
    global _BANNER_SHOWN
    with _BANNER:
        if _BANNER_SHOWN:
            yield
            return
        import sys

        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 1)
                try:
                    yield
                finally:
                    os.dup2(saved, 1)
        finally:
            os.close(saved)
            _BANNER_SHOWN = True


def _bound(grid: np.ndarray, width: float) -> float:
    # An upper bound only narrows what a reader could think possible: safe for the audit.
    top = float(np.nanmax(np.abs(grid), initial=0.0)) if grid.size else 0.0
    return 4.0 * max(top, 1.0) + 10.0 * width


def _audit(system: _System, grid: np.ndarray, need: np.ndarray, forces: int, width: float,
           rebuild: Callable[[np.ndarray], _System]) -> dict[int, list[int]]:
    """Per period (grid column) with unprotected cells that must be protected: their rows.

    ``rebuild(columns)``: the same system over fewer periods."""
    needed = need[system.var_row, system.columns[system.var_col]]
    certified = _certified(system, grid, forces, width, needed)
    refuted = needed & ~certified & (system.upper < width - _TOLERANCE)
    failing: dict[int, list[int]] = {}
    for v in np.flatnonzero(refuted):
        failing.setdefault(int(system.columns[system.var_col[v]]), []).append(
            int(system.var_row[v]))
    undecided = needed & ~certified & ~refuted
    if not undecided.any():
        return failing
    # The linear programme covers only the periods with an undecided cell.
    columns = system.columns[np.unique(system.var_col[undecided])]
    cells = {(int(r), int(system.columns[c])) for r, c in zip(
        system.var_row[undecided], system.var_col[undecided], strict=True)}
    system = rebuild(columns)
    pending: dict[int, list[int]] = {}
    for v, (r, c) in enumerate(zip(system.var_row, system.columns[system.var_col],
                                   strict=True)):
        if (int(r), int(c)) in cells:
            pending.setdefault(int(c), []).append(v)
    solver = _Solver(system, _bound(grid, width))
    while pending:
        picks = np.array([todo.pop(0) for todo in pending.values()])
        low, high = solver.optimum(picks, 1.0), solver.optimum(picks, -1.0)
        for v, lo, hi in zip(picks, low, high, strict=True):
            if not (hi - lo >= width - _TOLERANCE):  # NaN (a failed solve) fails too
                failing.setdefault(int(system.columns[system.var_col[v]]), []).append(
                    int(system.var_row[v]))
        pending = {k: todo for k, todo in pending.items() if todo}
    return failing


def _repair(system: _System, column: int, row: int, grid: np.ndarray, membership: np.ndarray,
            forces: int, shown: np.ndarray) -> list[int]:
    """The cell(s) to hide so ``row`` (unprotected) gains a partner: the smallest shown
    count in its smallest equation, a force before an aggregate; failing that, every
    candidate of the period."""
    values = np.nan_to_num(grid[:, column])
    position = int(np.flatnonzero(system.columns == column)[0])
    kept = system.kept[:, position]
    if row < forces:
        equations = [int(g) + forces for g in np.flatnonzero(kept & (membership[forces:, row]
                                                                      > 0.5))]
    else:
        equations = [row] if kept[row - forces] else []
    equations.sort(key=lambda a: (membership[a].sum(), a))
    for aggregate in equations:
        members = np.flatnonzero((membership[aggregate] > 0.5) & shown[:forces])
        positive = members[values[members] > 0]
        if len(positive):
            return [int(positive[np.argmin(values[positive])])]
    for aggregate in equations:
        if shown[aggregate]:
            return [aggregate]
    return [int(r) for r in np.flatnonzero(shown)]


def _capping(grid: np.ndarray, present: np.ndarray, membership: np.ndarray, forces: int,
             unseen: np.ndarray, need: np.ndarray, candidates: np.ndarray,
             width: float) -> np.ndarray:
    """The shown aggregate cells that cap a force in need under ``width`` (what is left
    of the aggregate once its shown members are taken away): each must go. Withholding
    one changes no other aggregate's remainder, so one pass finds them all."""
    groups = (membership[forces:] > 0.5).astype(float)
    values = np.where(present, np.nan_to_num(grid), 0.0)
    known = groups @ np.where(unseen[:forces], 0.0, values[:forces])
    holds_need = (groups @ (need[:forces] & unseen[:forces]).astype(float)) > 0.5
    out = np.zeros_like(unseen)
    out[forces:] = (candidates[forces:] & ~unseen[forces:] & holds_need
                    & (values[forces:] - known < width - _TOLERANCE))
    return out


def protect(grid: np.ndarray, present: np.ndarray, membership: np.ndarray, forces: int,
            hidden: np.ndarray, *, width: float, unknown: np.ndarray | None = None,
            need: np.ndarray | None = None, candidates: np.ndarray | None = None,
            ) -> np.ndarray:
    """``hidden`` (areas x periods) with the cells added that protect every cell in need.

    ``unknown``: cells the reader does not see for another reason (a scoped account's
    other forces); ``need``: the cells that must be protected (default: every hidden
    cell, those added included); ``candidates``: the cells that may be hidden to protect
    them (default: any shown). Cells that are not ``present`` (no figure) take no part.
    """
    hidden = hidden & present
    unknown = np.zeros_like(hidden) if unknown is None else unknown & present
    candidates = present.copy() if candidates is None else candidates & present
    fixed_need = None if need is None else need & present

    def needed() -> np.ndarray:
        return hidden if fixed_need is None else fixed_need

    todo = np.flatnonzero(needed().any(axis=0))
    repairs = np.zeros(hidden.shape[1], dtype=np.int64)
    # When each cell was hidden (primary cells first): the latest one is repaired first,
    # so a partner is itself protected before the search moves on (depth first).
    order = np.where(hidden, 0, -1)
    # Hiding more only widens what a reader must consider possible, so a cell found
    # protected stays protected: it is not audited again.
    protected = np.zeros_like(hidden)
    only_aggregates = not candidates[:forces].any()
    if only_aggregates:
        hidden |= _capping(grid, present, membership, forces, hidden | unknown, needed(),
                           candidates, width)
    while len(todo):
        system = _system(grid, present, membership, forces, hidden | unknown, needed(), todo)
        failing = _audit(system, grid, needed() & ~protected, forces, width,
                         lambda columns: _system(grid, present, membership, forces,
                                                 hidden | unknown, needed(), columns))
        audited = np.zeros_like(hidden)
        audited[:, todo] = needed()[:, todo]
        for column, rows in failing.items():
            audited[rows, column] = False
        protected |= audited
        again = []
        for column, rows in failing.items():
            shown = candidates[:, column] & ~hidden[:, column] & ~unknown[:, column]
            if not shown.any():
                continue  # nothing left to hide: no more protection is possible
            repairs[column] += 1
            if repairs[column] > _MAX_REPAIRS:
                chosen = [int(r) for r in np.flatnonzero(shown)]
            elif only_aggregates:
                # Withholding aggregates hides no count of anyone's: repair every
                # failing cell at once rather than one a round.
                chosen = sorted({r for row in rows for r in _repair(
                    system, column, row, grid, membership, forces, shown)})
            else:
                row = max(rows, key=lambda r: (order[r, column], -r))
                chosen = _repair(system, column, row, grid, membership, forces, shown)
            hidden[chosen, column] = True
            order[chosen, column] = repairs[column]
            again.append(column)
        todo = np.array(sorted(again), dtype=np.int64)
    return hidden


def feasible_ranges(grid: np.ndarray, present: np.ndarray, membership: np.ndarray,
                    forces: int, hidden: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The smallest and largest value each hidden cell can take, given every other cell
    and the aggregate equations, by linear programming with no shortcut (for audits and
    tests; inf: no largest). NaN where nothing is hidden."""
    low = np.full(grid.shape, np.nan)
    high = np.full(grid.shape, np.nan)
    hidden = hidden & present
    for column in np.flatnonzero(hidden.any(axis=0)):
        system = _system(grid, present, membership, forces, hidden, hidden,
                         np.array([column]))
        solver = _Solver(system, np.inf)
        for v, row in enumerate(system.var_row):
            pick = np.array([v])
            low[row, column] = solver.optimum(pick, 1.0)[0]
            high[row, column] = solver.optimum(pick, -1.0)[0]
    return low, high

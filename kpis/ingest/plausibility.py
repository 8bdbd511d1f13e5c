"""Plausibility checks on every load of a force return: warnings, never refusals.

A return can pass every rule of the file format and still be wrong: a figure typed
with an extra digit, a column pasted one row down, a measure quietly dropped. So every
value a return adds or changes is judged against what the database already holds for
that force and measure, and each doubt is a warning (a :class:`Finding` with
severity "warning") naming the force, measure, month and value, in words:

* ``outlier``: outside the measure's recent XmR process limits (mean +/- 2.66 x mean
  moving range of the recent history, computed by :func:`kpis.engine.spc.xmr_batch`)
  and beyond every figure of that history, or more than ``factor`` times its recent
  median, or under ``1/factor`` of it (a 0 counts), where that median is at least
  ``min_median``;
* ``share``: a share KPI's numerator above its denominator for the same force and
  month, one side in the file and the other already stored (both in the file is an
  error of :mod:`kpis.ingest.returns`, refused);
* ``run``: a figure of ``min_median`` or more after ``run_length`` or more months in a
  row of 0, or a 0 after as long a run of figures above 0 whose median is
  ``min_median`` or more (a handful of cases either way is noise);
* ``vanished``: a measure the force supplied in each of its last ``recent_returns``
  months that a return for later months leaves out;
* ``home_office``: a return measure summed over a quarter against the Home Office's
  figure for the quarter (the catalogue's pairs), differing by more than the pair's
  tolerance.

The thresholds are the catalogue's (``plausibility:`` in data/catalogue.yaml). The
cost is bounded: one query reads the recent history of every force and measure the
load covers, and every check is a vectorised pass over it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kpis.domain.formatting import format_number
from kpis.domain.periods import long_month, quarter_label
from kpis.engine.spc import RELATIVE_TOLERANCE, SpcRules, xmr_batch
from kpis.ingest.context import IngestContext
from kpis.ingest.problems import Finding
from kpis.storage import schema
from kpis.storage.backend import query_frame

OUTLIER, SHARE, RUN, VANISHED, HOME_OFFICE = (
    "outlier", "share", "run", "vanished", "home_office")
#: Every check, in the order a cell's findings are listed.
CHECKS: tuple[str, ...] = (OUTLIER, SHARE, RUN, VANISHED, HOME_OFFICE)

#: The columns of the cells checked: a return's values with where each came from.
CELL_COLUMNS = ["file", "force_slug", "measure_id", "period_start", "value", "row", "column"]
_KEYS = ["force_slug", "measure_id", "month"]


def plausibility_findings(conn: sa.Connection, cells: pd.DataFrame, ctx: IngestContext,
                          others: pd.DataFrame | None = None) -> list[Finding]:
    """The warnings for the return ``cells`` (:data:`CELL_COLUMNS`) of one load.

    ``others``: the load's other observations (force_slug, measure_id, period_start,
    value; a Home Office table loaded with the return), taken as if already stored.
    Reads the database once; writes nothing.
    """
    if cells.empty:
        return []
    rules = ctx.plausibility
    cells = cells[CELL_COLUMNS].copy()
    cells["month"] = _month_numbers(cells["period_start"])
    cells["value"] = cells["value"].astype(float)
    first = cells.groupby("force_slug")["month"].min()  # each force's first month
    window = max(rules.history_months, rules.run_length, rules.recent_returns)
    returned = {m for m, measure in ctx.measures.items() if measure.source == "force_return"}
    compared = {p.home_office_measure for p in rules.home_office}
    stored = _history(conn, sorted(first.index), sorted(returned | compared),
                      int(first.min()) - window, int(cells["month"].max()) // 3 * 3 + 2)
    if others is not None and not others.empty:
        extra = others[["force_slug", "measure_id", "value"]].assign(
            month=_month_numbers(others["period_start"]))
        stored = _overlay(stored, extra)
    # Only what the load adds or changes is judged: a value already stored is not news.
    old = stored.set_index(_KEYS)["value"]
    before = old.reindex(pd.MultiIndex.from_frame(cells[_KEYS])).to_numpy()
    cells["changed"] = np.isnan(before) | (before != cells["value"].to_numpy())
    combined = _overlay(stored, cells[[*_KEYS, "value"]])
    judged = cells[cells["changed"] & cells["measure_id"].isin(returned)]
    words = _Words(ctx)
    findings = [
        *_outliers(judged, stored, first, rules.history_months, rules.min_history,
                   rules.factor, rules.min_median, words),
        *_shares(cells, combined, ctx, returned, words),
        *_runs(judged, combined, rules.run_length, rules.min_median, words),
        *_vanished(cells, stored, returned, rules.recent_returns, words),
        *_home_office(judged, combined, ctx, words),
    ]
    order = {check: n for n, check in enumerate(CHECKS)}
    return sorted(findings, key=lambda f: (f.file, f.row or 0, order[f.check or ""],
                                           f.measure or "", f.period or ""))


# ------------------------------------------------------------------------ the data


def _month_numbers(periods: pd.Series) -> np.ndarray:
    """Months as whole numbers (year x 12 + month - 1): January is 0 mod 12, and a
    calendar quarter (the financial quarters are calendar quarters) is month // 3."""
    stamps = pd.to_datetime(periods)
    return (stamps.dt.year * 12 + stamps.dt.month - 1).to_numpy(dtype=np.int64)


def _month(number: int) -> dt.date:
    return dt.date(number // 12, number % 12 + 1, 1)


def _history(conn: sa.Connection, forces: list[str], measures: list[str], start: int,
             end: int) -> pd.DataFrame:
    """The stored values of ``forces`` and ``measures`` from month ``start`` to ``end``:
    one query, whatever the file holds."""
    o = schema.observations.c
    frame = query_frame(conn, sa.select(o.force_slug, o.measure_id, o.period_start, o.value)
                        .where(o.force_slug.in_(forces), o.measure_id.in_(measures),
                               o.period_start.between(_month(start), _month(end))))
    frame["month"] = _month_numbers(frame["period_start"]) if len(frame) else (
        np.zeros(0, dtype=np.int64))
    frame["value"] = frame["value"].astype(float)
    return frame[[*_KEYS, "value"]]


def _overlay(under: pd.DataFrame, over: pd.DataFrame) -> pd.DataFrame:
    """``under`` with ``over``'s values in place of its own for the same keys."""
    both = pd.concat([under[[*_KEYS, "value"]], over[[*_KEYS, "value"]]], ignore_index=True)
    return both.drop_duplicates(subset=_KEYS, keep="last").reset_index(drop=True)


class _Words:
    """Forces, measures, months and numbers as the findings write them."""

    def __init__(self, ctx: IngestContext) -> None:
        self.ctx = ctx

    def force(self, slug: str) -> str:
        return self.ctx.force_name(slug)

    def measure(self, measure_id: str) -> str:
        measure = self.ctx.measures.get(measure_id)
        return f"{measure.title} ({measure_id})" if measure else measure_id

    @staticmethod
    def month(number: int) -> str:
        return long_month(_month(number))

    @staticmethod
    def months(first: int, last: int) -> str:
        if first == last:
            return long_month(_month(first))
        start, end = _month(first), _month(last)
        head = start.strftime("%B") if start.year == end.year else long_month(start)
        return f"{head} to {long_month(end)}"

    @staticmethod
    def number(value: float) -> str:
        return format_number(value, 0 if float(value).is_integer() else 1)


def _finding(cell: pd.Series | dict, check: str, rule: str, measure: str | None = None,
             month: int | None = None) -> Finding:
    row = cell.get("row")
    return Finding(
        file=str(cell["file"]), row=None if row is None or pd.isna(row) else int(row),
        column=None if cell.get("column") is None else str(cell["column"]),
        value=None if cell.get("value") is None or pd.isna(cell["value"]) else (
            _Words.number(float(cell["value"]))),
        rule=rule, severity="warning", check=check, force=str(cell["force_slug"]),
        measure=measure or str(cell["measure_id"]),
        period=_month(int(month if month is not None else cell["month"])).strftime("%Y-%m"))


# ------------------------------------------------------------------------ the checks


def _outliers(judged: pd.DataFrame, stored: pd.DataFrame, first: pd.Series, months: int,
              min_history: int, factor: float, min_median: float, words: _Words
              ) -> list[Finding]:
    """Values outside the recent process limits, or ``factor`` from the recent median.

    Each force's history is the ``months`` before the first month its file covers, so
    a resubmission is judged against what came before it, not against itself."""
    if judged.empty:
        return []
    pairs = judged[["force_slug", "measure_id"]].drop_duplicates()
    history = stored.merge(pairs, on=["force_slug", "measure_id"])
    start = history["force_slug"].map(first).to_numpy()
    history = history[(history["month"] < start) & (history["month"] >= start - months)]
    history = history.sort_values(_KEYS)
    sizes = history.groupby(["force_slug", "measure_id"]).size()
    sizes = sizes[sizes >= min_history]
    if sizes.empty:
        return []
    history = history.merge(sizes.rename("points").reset_index(),
                            on=["force_slug", "measure_id"])
    # One XmR chart per force and measure, all in one vectorised pass.
    spc = xmr_batch(history["value"].to_numpy(), np.concatenate([[0], np.cumsum(sizes)]),
                    "neutral", rules=SpcRules(min_points=min_history,
                                              full_points=max(min_history, 20)))
    lines = spc.segment_lines  # one segment per series: there are no re-bases
    grouped = history.groupby(["force_slug", "measure_id"], sort=True)["value"]
    stats = pd.DataFrame({
        "mean": lines[0], "lower": lines[1], "upper": lines[2],
        "median": grouped.median().to_numpy(), "smallest": grouped.min().to_numpy(),
        "largest": grouped.max().to_numpy(),
        "from": grouped.size().to_numpy(),
    }, index=sizes.index)
    found = judged.join(stats, on=["force_slug", "measure_id"], how="inner")
    value = found["value"].to_numpy()
    smallest, largest = found["smallest"].to_numpy(), found["largest"].to_numpy()
    tol = RELATIVE_TOLERANCE * np.maximum.reduce([np.abs(smallest), np.abs(largest),
                                                  np.abs(value)])
    # A flat history (every moving range 0) has no limits worth the name: as in SPC,
    # it signals nothing; its median still does. And a figure the force has itself
    # reported in the history is no surprise, even where a nearly flat series (a
    # stock that moves by one now and then) gives limits narrower than its own range.
    spread = (found["upper"] - found["lower"]).to_numpy() > tol
    outside = spread & (((value > found["upper"].to_numpy() + tol) & (value > largest + tol))
                        | ((value < found["lower"].to_numpy() - tol)
                           & (value < smallest - tol)))
    median = found["median"].to_numpy()
    # A handful of cases either way is noise: the median test needs a median of some size.
    with np.errstate(divide="ignore", invalid="ignore"):
        far = (median >= max(min_median, RELATIVE_TOLERANCE)) & (
            (value > factor * median + tol) | (value < median / factor - tol))
    findings = []
    for (_, cell), out, off in zip(found.iterrows(), outside, far, strict=True):
        if not (out or off):
            continue
        begin = int(first[cell["force_slug"]])
        span = f"the {int(cell['from'])} months to {words.month(begin - 1)}"
        reasons = []
        if out:
            low, high = float(cell["lower"]), float(cell["upper"])
            limits = (f"{words.number(round(low, 1))} to {words.number(round(high, 1))}"
                      if low > 0 else f"up to {words.number(round(high, 1))}")
            reasons.append(f"outside the recent process limits ({limits}, from {span})")
        if off:
            med = float(cell["median"])
            ratio = cell["value"] / med
            reasons.append(
                f"{words.number(round(ratio, 1))} times the recent median of "
                f"{words.number(med)}" if ratio > 1 else
                f"0 against a recent median of {words.number(med)}" if cell["value"] == 0
                else f"under 1/{words.number(factor)} of the recent median of "
                     f"{words.number(med)}")
        findings.append(_finding(
            cell, OUTLIER,
            f"implausible value? {words.force(cell['force_slug'])}, "
            f"{words.measure(cell['measure_id'])}, {words.month(int(cell['month']))}: "
            f"{words.number(cell['value'])} is {' and '.join(reasons)}"))
    return findings


def _shares(cells: pd.DataFrame, combined: pd.DataFrame, ctx: IngestContext,
            returned: set[str], words: _Words) -> list[Finding]:
    """A share's numerator above its denominator, one side stored and one in the file."""
    rules = [r for r in ctx.share_rules if {*r.numerator, *r.denominator} <= returned]
    changed = cells[cells["changed"]]
    if changed.empty or not rules:
        return []
    months = changed[["force_slug", "month"]].drop_duplicates()
    values = combined.merge(months, on=["force_slug", "month"]).set_index(
        ["force_slug", "month", "measure_id"])["value"].unstack()
    columns = {m: n for n, m in enumerate(values.columns)}

    def grid(frame: pd.DataFrame) -> np.ndarray:  # (force, month) x measure: supplied?
        found = np.zeros(values.shape, dtype=bool)
        rows = values.index.get_indexer(pd.MultiIndex.from_frame(frame[["force_slug",
                                                                        "month"]]))
        cols = frame["measure_id"].map(columns)
        keep = (rows >= 0) & cols.notna().to_numpy()
        found[rows[keep], cols[keep].astype(int).to_numpy()] = True
        return found

    grid_values, new, supplied = values.to_numpy(), grid(changed), grid(cells)
    where = cells.set_index(["force_slug", "month", "measure_id"])
    findings = []
    for rule in rules:
        terms = [*rule.numerator, *rule.denominator]
        if not set(terms) <= set(columns):
            continue
        top = grid_values[:, [columns[m] for m in rule.numerator]].sum(axis=1)
        bottom = grid_values[:, [columns[m] for m in rule.denominator]].sum(axis=1)
        picked = [columns[m] for m in terms]
        in_file = supplied[:, picked]
        with np.errstate(invalid="ignore"):
            hits = new[:, picked].any(axis=1) & ~in_file.all(axis=1) & (top > bottom)
        for index in np.flatnonzero(hits):  # NaN (a term missing) compares False
            force, month = values.index[index]
            from_file = [t for t, there in zip(terms, in_file[index], strict=True) if there]
            cell = where.loc[(force, month, from_file[0])]
            stored_side = ("denominator" if set(rule.numerator) <= set(from_file)
                           else "numerator")
            findings.append(_finding(
                {**cell.to_dict(), "force_slug": force, "measure_id": rule.numerator[0],
                 "month": month}, SHARE,
                f"numerator above its denominator? {words.force(force)}, "
                f"{words.month(int(month))}: "
                f"{' + '.join(map(words.measure, rule.numerator))} = "
                f"{words.number(top[index])} is more than "
                f"{' + '.join(map(words.measure, rule.denominator))} = "
                f"{words.number(bottom[index])}, so '{rule.title or rule.kpi_id}' would be "
                f"above 100% (the {stored_side} is the figure already stored)"))
    return findings


def _runs(judged: pd.DataFrame, combined: pd.DataFrame, length: int, min_median: float,
          words: _Words) -> list[Finding]:
    """A figure of ``min_median`` or more that breaks ``length`` or more months in a row
    of 0, or a 0 that breaks as long a run above 0 whose median is that or more."""
    if judged.empty:
        return []
    pairs = judged[["force_slug", "measure_id"]].drop_duplicates().reset_index(drop=True)
    series = combined.merge(pairs, on=["force_slug", "measure_id"])
    start = int(min(series["month"].min(), judged["month"].min())) - length
    width = int(max(series["month"].max(), judged["month"].max())) - start + 1
    row_of = pd.MultiIndex.from_frame(pairs)
    grid = np.full((len(pairs), width), np.nan)
    rows = row_of.get_indexer(pd.MultiIndex.from_frame(series[["force_slug", "measure_id"]]))
    grid[rows, series["month"].to_numpy() - start] = series["value"].to_numpy()
    # Months of 0, and of figures that are not 0, up to each column (a gap is neither).
    zeros = np.concatenate([np.zeros((len(pairs), 1)), np.cumsum(grid == 0, axis=1)], axis=1)
    others = np.concatenate([np.zeros((len(pairs), 1)),
                             np.cumsum(np.isfinite(grid) & (grid != 0), axis=1)], axis=1)
    cell_rows = row_of.get_indexer(pd.MultiIndex.from_frame(judged[["force_slug",
                                                                    "measure_id"]]))
    column = judged["month"].to_numpy() - start
    value = judged["value"].to_numpy()
    zero_run = zeros[cell_rows, column] - zeros[cell_rows, column - length] == length
    other_run = others[cell_rows, column] - others[cell_rows, column - length] == length
    # A handful of cases either way is noise (a count of three a month is 0 one month in
    # twenty; a rare event comes once a year): the run above 0 needs a median, or the
    # figure after a run of 0 a size, of min_median or more.
    big = max(min_median, RELATIVE_TOLERANCE)
    ended = other_run & (value == 0)
    if ended.any():
        window = column[ended][:, None] + np.arange(-length, 0)
        ended[ended] = np.median(grid[cell_rows[ended][:, None], window], axis=1) >= big
    breaks = (zero_run & (value >= big)) | ended
    findings = []
    for (_, cell), was_zero in zip(judged[breaks].iterrows(), zero_run[breaks], strict=True):
        before = "0" if was_zero else "figures above 0"
        findings.append(_finding(
            cell, RUN,
            f"a run broken? {words.force(cell['force_slug'])}, "
            f"{words.measure(cell['measure_id'])}, {words.month(int(cell['month']))}: "
            f"{words.number(cell['value'])} after {length} or more months in a row of "
            f"{before}"))
    return findings


def _vanished(cells: pd.DataFrame, stored: pd.DataFrame, returned: set[str], recent: int,
              words: _Words) -> list[Finding]:
    """A measure in each of the force's last ``recent`` months that a return for later
    months leaves out."""
    findings = []
    held = stored[stored["measure_id"].isin(returned)]
    for force, mine in cells.groupby("force_slug", sort=True):
        theirs = held[held["force_slug"] == force]
        if theirs.empty:
            continue
        latest = int(theirs["month"].max())
        later = mine[mine["month"] > latest]
        if later.empty:
            continue
        window = theirs[theirs["month"] > latest - recent]
        regular = window.groupby("measure_id")["month"].nunique()
        regular = set(regular[regular == recent].index)
        missing = sorted(regular - set(later["measure_id"]))
        file = str(later["file"].iloc[0])
        first = int(later["month"].min())
        for measure_id in missing:
            findings.append(_finding(
                {"file": file, "row": None, "column": measure_id, "value": None,
                 "force_slug": force, "measure_id": measure_id, "month": first}, VANISHED,
                f"a measure left out? {words.force(force)} supplied "
                f"{words.measure(measure_id)} in each of its last {recent} months' returns "
                f"({words.months(latest - recent + 1, latest)}), but this return, from "
                f"{words.month(first)} on, leaves it out"))
    return findings


def _home_office(judged: pd.DataFrame, combined: pd.DataFrame, ctx: IngestContext,
                 words: _Words) -> list[Finding]:
    """A return measure over a quarter against the Home Office's figure for it."""
    findings = []
    for pair in ctx.plausibility.home_office:
        mine = judged[judged["measure_id"] == pair.return_measure]
        if mine.empty:
            continue
        mine = mine.assign(quarter=mine["month"] // 3).sort_values(["force_slug", "month"])
        firsts = mine.drop_duplicates(subset=["force_slug", "quarter"])
        ours = combined[combined["measure_id"] == pair.return_measure]
        ours = ours.assign(quarter=ours["month"] // 3).groupby(["force_slug", "quarter"])
        totals = pd.DataFrame({"total": ours["value"].sum(), "months": ours["month"].nunique()})
        theirs = combined[(combined["measure_id"] == pair.home_office_measure)]
        theirs = theirs.assign(quarter=theirs["month"] // 3).set_index(
            ["force_slug", "quarter"])["value"].rename("home_office")
        found = firsts.join(totals, on=["force_slug", "quarter"]).join(
            theirs, on=["force_slug", "quarter"])
        found = found[(found["months"] == 3) & found["home_office"].notna()]
        difference = (found["total"] - found["home_office"]).abs()
        found = found[difference > pair.tolerance * found["home_office"].abs()
                      + RELATIVE_TOLERANCE * found["total"].abs()]
        for _, cell in found.iterrows():
            start = int(cell["quarter"]) * 3
            ho, total = float(cell["home_office"]), float(cell["total"])
            share = (f"{words.number(round(abs(total - ho) / ho * 100))}% "
                     f"{'more' if total > ho else 'fewer'}" if ho else "more")
            findings.append(_finding(
                {**cell.to_dict(), "value": total}, HOME_OFFICE,
                f"disagrees with the Home Office? {words.force(cell['force_slug'])}, "
                f"{words.months(start, start + 2)} ({quarter_label(_month(start))}): "
                f"{words.measure(pair.return_measure)} total {words.number(total)} over "
                f"the quarter, but the Home Office figure is {words.number(ho)} "
                f"({words.measure(pair.home_office_measure)}): {share}, beyond the "
                f"{words.number(round(pair.tolerance * 100, 1))}% allowed",
                measure=pair.return_measure, month=start))
    return findings

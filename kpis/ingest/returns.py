"""Force monthly returns, in a long or a wide layout, as CSV or XLSX.

Long: ``force, month, measure, value``, one row per measure.
Wide: ``force, month``, then one column per measure id (a blank cell is a measure
not supplied). The template may carry a second header row of measure titles, whose
month cell reads ``YYYY-MM``.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import pandas as pd

from kpis.domain.periods import format_month, parse_month
from kpis.ingest.context import EARLIEST_MONTH, IngestContext
from kpis.ingest.problems import Report
from kpis.ingest.tables import (
    FORMULA_RULE,
    Table,
    looks_like_formula,
    normalise_header,
    parse_count,
)

LONG_COLUMNS = ("force", "month", "measure", "value")
TITLES_ROW_MARKER = "YYYY-MM"


@dataclass
class ParsedCell:
    force_slug: str
    measure_id: str
    period_start: object
    value: float
    row: int
    column: str


def is_return(header: list[str]) -> bool:
    keys = {normalise_header(h) for h in header}
    return {"force", "month"} <= keys


def parse_return(table: Table, ctx: IngestContext, report: Report) -> pd.DataFrame:
    """Validated observations from a return: force_slug, measure_id, period_start, value."""
    keys = {normalise_header(h): h for h in table.header}
    missing = [c for c in ("force", "month") if c not in keys]
    if missing:
        report.error(table.file, table.header_row, None, ", ".join(missing),
                     "missing required column(s)")
        return _empty()
    if "measure" in keys or "value" in keys:
        absent = [c for c in LONG_COLUMNS if c not in keys]
        if absent:
            report.error(table.file, table.header_row, None, ", ".join(absent),
                         "missing required column(s) for a long return")
            return _empty()
        cells = _long_cells(table, keys, ctx, report)
    else:
        cells = _wide_cells(table, keys, ctx, report)
    frame = pd.DataFrame(
        [(c.force_slug, c.measure_id, c.period_start, c.value, c.row, c.column) for c in cells],
        columns=["force_slug", "measure_id", "period_start", "value", "row", "column"],
    )
    _check_shares(table.file, frame, ctx, report)
    return frame


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        columns=["force_slug", "measure_id", "period_start", "value", "row", "column"]
    )


class _RowChecker:
    """Checks a row's force and month; the same text always gets the same verdict."""

    def __init__(self, table: Table, ctx: IngestContext, report: Report) -> None:
        self.table = table
        self.ctx = ctx
        self.report = report
        self._force_verdict = functools.cache(self._force)
        self._month_verdict = functools.cache(self._month)

    def force_and_month(self, row: int, force_text: str, month_text: str, force_col: str,
                        month_col: str) -> tuple[str | None, dt.date | None]:
        """Report problems; None for whichever of force and month is wrong."""
        slug, force_rule = self._force_verdict(force_text)
        if force_rule:
            self.report.error(self.table.file, row, force_col, force_text, force_rule)
        month, month_rule = self._month_verdict(month_text)
        if month_rule:
            self.report.error(self.table.file, row, month_col, month_text, month_rule)
        return slug, month

    def _force(self, text: str) -> tuple[str | None, str | None]:
        if looks_like_formula(text):
            return None, FORMULA_RULE
        if not text.strip():
            return None, "force is required"
        slug = self.ctx.force_slug(text)
        if slug is None or slug not in self.ctx.force_slugs:
            return None, "unknown force"
        return slug, None

    def _month(self, text: str) -> tuple[dt.date | None, str | None]:
        try:
            month = parse_month(text)
        except ValueError:
            if looks_like_formula(text):
                return None, FORMULA_RULE
            return None, "bad month: write it as YYYY-MM"
        if month < EARLIEST_MONTH:
            return None, f"month is too early: the first is {format_month(EARLIEST_MONTH)}"
        if month >= self.ctx.current_month:
            # A month's figures are final only once the month has ended.
            return None, (f"month is in the future or not yet ended "
                          f"(today is {self.ctx.today.isoformat()})")
        return month, None


def _long_cells(
    table: Table, keys: dict[str, str], ctx: IngestContext, report: Report
) -> list[ParsedCell]:
    cols = {k: keys[k] for k in LONG_COLUMNS}
    checker = _RowChecker(table, ctx, report)
    cells: list[ParsedCell] = []
    seen: dict[tuple[str, object, str], int] = {}
    frame = table.frame
    for row, force_text, month_text, measure_text, value_text in zip(
        frame.index, frame[cols["force"]], frame[cols["month"]], frame[cols["measure"]],
        frame[cols["value"]], strict=True,
    ):
        slug, month = checker.force_and_month(
            row, force_text, month_text, cols["force"], cols["month"]
        )
        measure_id = measure_text.strip()
        measure = ctx.measures.get(measure_id)
        if measure is None or measure.source != "force_return":
            rule = FORMULA_RULE if looks_like_formula(measure_text) else "unknown measure"
            report.error(table.file, row, cols["measure"], measure_text, rule)
            measure = None
        if not value_text.strip():
            if measure is not None:
                report.warning(table.file, row, cols["value"], value_text,
                               "blank value: measure not supplied")
            continue
        # Check the value even when the row is already wrong: report every problem.
        value, rule = parse_count(
            value_text, allow_fraction=measure is not None and measure.unit == "days"
        )
        if rule:
            report.error(table.file, row, cols["value"], value_text, rule)
            continue
        if slug is None or month is None or value is None or measure is None:
            continue
        key = (slug, month, measure_id)
        if key in seen:
            report.error(table.file, row, cols["measure"], measure_id,
                         f"duplicate row: same force, month and measure as row {seen[key]}")
            continue
        seen[key] = row
        cells.append(ParsedCell(slug, measure_id, month, value, row, cols["value"]))
    return cells


def _wide_cells(
    table: Table, keys: dict[str, str], ctx: IngestContext, report: Report
) -> list[ParsedCell]:
    force_col, month_col = keys["force"], keys["month"]
    measure_cols: list[tuple[str, str]] = []
    for header in table.header:
        if header in (force_col, month_col):
            continue
        measure = ctx.measures.get(header)
        if measure is None or measure.source != "force_return":
            rule = FORMULA_RULE if looks_like_formula(header) else "unknown measure"
            report.error(table.file, table.header_row, header, header, rule)
            continue
        measure_cols.append((header, header))
    present = {m for _, m in measure_cols}
    for measure_id in ctx.return_measures:
        if measure_id not in present:
            report.warning(table.file, table.header_row, None, measure_id,
                           "measure column missing: not supplied for any month")
    frame = table.frame
    if len(frame) and str(frame.iloc[0][month_col]).strip() == TITLES_ROW_MARKER:
        frame = frame.iloc[1:]
    checker = _RowChecker(table, ctx, report)
    cells: list[ParsedCell] = []
    seen: dict[tuple[str, object], int] = {}
    for row, values in zip(frame.index, frame.itertuples(index=False, name=None), strict=True):
        record = dict(zip(table.header, values, strict=True))
        slug, month = checker.force_and_month(
            row, record[force_col], record[month_col], force_col, month_col
        )
        usable = bool(slug and month)
        key = (slug or "", month)
        if usable and key in seen:
            report.error(table.file, row, month_col, record[month_col],
                         f"duplicate row: same force and month as row {seen[key]}")
            usable = False  # its cells are still checked, but not loaded
        elif usable:
            seen[key] = row
        for column, measure_id in measure_cols:
            text = record[column]
            if not text.strip():
                if usable:
                    report.warning(table.file, row, column, text,
                                   f"blank: {measure_id} not supplied for {format_month(month)}")
                continue
            value, rule = parse_count(
                text, allow_fraction=ctx.measures[measure_id].unit == "days"
            )
            if rule:
                report.error(table.file, row, column, text, rule)
                continue
            if usable and value is not None:
                cells.append(ParsedCell(slug, measure_id, month, value, row, column))
    return cells


def _check_shares(file: str, frame: pd.DataFrame, ctx: IngestContext, report: Report) -> None:
    """Refuse a numerator larger than its denominator within one force-month."""
    if frame.empty:
        return
    values = {
        (f, p, m): (v, r, c)
        for f, p, m, v, r, c in zip(
            frame["force_slug"], frame["period_start"], frame["measure_id"], frame["value"],
            frame["row"], frame["column"], strict=True,
        )
    }
    for force_slug, period in {(f, p) for f, p, _ in values}:
        for rule in ctx.share_rules:
            num = [values.get((force_slug, period, m)) for m in rule.numerator]
            den = [values.get((force_slug, period, m)) for m in rule.denominator]
            if any(x is None for x in num + den):
                continue
            numerator = sum(x[0] for x in num if x)
            denominator = sum(x[0] for x in den if x)
            if numerator > denominator:
                first = num[0]
                assert first is not None
                report.error(
                    file, first[1], first[2], f"{numerator:g}",
                    f"numerator above its denominator for {rule.kpi_id} in "
                    f"{format_month(period)}: {'+'.join(rule.numerator)} = {numerator:g} > "
                    f"{'+'.join(rule.denominator)} = {denominator:g}",
                )

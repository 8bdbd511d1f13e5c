"""A blank wide monthly return for a force to fill in, as CSV or XLSX.

Row 1 is the header the loader reads: ``force, month`` and then every measure id
the published catalogue needs from a force return. Row 2 gives each measure's title;
its month cell reads ``YYYY-MM`` (which tells the loader to skip the row) and its
force cell ``(force slug)``. Then one row per month with the force and month filled
in and the measure cells blank. A filled-in template loads as it is.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path

from kpis.domain.periods import format_month, month_range
from kpis.ingest.context import EARLIEST_MONTH, IngestContext
from kpis.ingest.returns import TITLES_ROW_MARKER

FORCE_TITLE = "(force slug)"


def template_rows(
    ctx: IngestContext, force_slug: str, start: dt.date, end: dt.date,
    values: Mapping[tuple[dt.date, str], float] | None = None,
) -> list[list[str]]:
    """The template's cells, header and titles rows first; ``values`` (month, measure)
    fill cells in (a template pre-filled to edit), the rest are blank."""
    if force_slug not in ctx.force_slugs:
        raise ValueError(f"unknown force {force_slug!r}: use a force slug such as 'kent'")
    first = dt.date(start.year, start.month, 1)
    last = dt.date(end.year, end.month, 1)
    if first < EARLIEST_MONTH:  # the loader would refuse every row
        raise ValueError(f"the first month {format_month(first)} is before "
                         f"{format_month(EARLIEST_MONTH)}, the earliest the loader accepts")
    if last < first:
        raise ValueError(f"the last month {format_month(last)} is before the first "
                         f"{format_month(first)}")
    measures = list(ctx.return_measures)
    header = ["force", "month", *measures]
    titles = [FORCE_TITLE, TITLES_ROW_MARKER, *(ctx.measures[m].title for m in measures)]
    filled = values or {}
    months = [[force_slug, format_month(m),
               *(_cell(filled.get((m, measure))) for measure in measures)]
              for m in month_range(first, last)]
    return [header, titles, *months]


def _number(text: str) -> int | float | str:
    if not text:
        return text
    number = float(text)
    return int(number) if number.is_integer() else number


def _cell(value: float | None) -> str:
    """A value as a person would type it: 12, not 12.0; blank for none."""
    if value is None or value != value:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def prefill_values(observations: Iterable[tuple[dt.date, str, float]], start: dt.date,
                   end: dt.date) -> dict[tuple[dt.date, str], float]:
    """The values to pre-fill a template with, from a force's stored ``observations``
    (month, measure, value): a month already loaded keeps its own values (to correct
    them); a month not loaded yet starts from each measure's latest value before it,
    for the analyst to overwrite."""
    first = dt.date(start.year, start.month, 1)
    last = dt.date(end.year, end.month, 1)
    stored = {(month, measure): value for month, measure, value in observations}
    latest: dict[str, tuple[dt.date, float]] = {}
    for (month, measure), value in sorted(stored.items()):
        if month < first:
            latest[measure] = (month, value)
    filled: dict[tuple[dt.date, str], float] = {}
    loaded = {month for month, _ in stored}
    for month in month_range(first, last):
        if month in loaded:
            filled.update({(m, measure): v for (m, measure), v in stored.items()
                           if m == month})
        else:
            filled.update({(month, measure): v for measure, (_, v) in latest.items()})
            # the months already filled in feed the ones after them
        for (m, measure), v in list(filled.items()):
            if m == month:
                latest[measure] = (month, v)
    return filled


def write_template(
    path: Path, ctx: IngestContext, force_slug: str, start: dt.date, end: dt.date,
    values: Mapping[tuple[dt.date, str], float] | None = None,
) -> None:
    """Write a blank wide return for ``force_slug``, ``start`` to ``end`` months inclusive.

    The format follows the suffix: ``.csv`` (UTF-8) or ``.xlsx``.
    """
    path = Path(path)
    rows = template_rows(ctx, force_slug, start, end, values)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(rows)
    elif suffix == ".xlsx":
        _write_xlsx(path, rows, ctx)
    else:
        raise ValueError(f"cannot write a template as {suffix or 'a file with no suffix'}: "
                         "use .csv or .xlsx")


def _write_xlsx(path: Path, rows: list[list[str]], ctx: IngestContext) -> None:
    import openpyxl
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Monthly return"
    for number, row in enumerate(rows):
        # Pre-filled values are numbers in the workbook, as a person would enter them.
        sheet.append(row if number < 2 else [*row[:2], *(_number(c) for c in row[2:])])
    bold = Font(bold=True)
    for cell in sheet[1]:
        cell.font = bold
    for cell in sheet[2]:
        cell.font = Font(italic=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    # Months are text: Excel must not turn "2025-04" into a date.
    for (cell,) in sheet.iter_rows(min_row=3, min_col=2, max_col=2):
        cell.number_format = "@"
    sheet.freeze_panes = "A3"
    sheet.column_dimensions["A"].width = 22
    sheet.column_dimensions["B"].width = 10
    last_row = max(sheet.max_row, 3)
    measures = rows[0][2:]
    whole = DataValidation(type="whole", operator="greaterThanOrEqual", formula1="0",
                           allow_blank=True, showErrorMessage=True,
                           error="A count: a whole number, 0 or more")
    decimal = DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0",
                             allow_blank=True, showErrorMessage=True,
                             error="Days: a number, 0 or more")
    for position, measure_id in enumerate(measures, start=3):
        letter = get_column_letter(position)
        sheet.column_dimensions[letter].width = max(14, min(len(measure_id) + 2, 40))
        rule = decimal if ctx.measures[measure_id].unit == "days" else whole
        rule.add(f"{letter}3:{letter}{last_row}")
    for rule in (whole, decimal):
        if rule.sqref:
            sheet.add_data_validation(rule)
    book.save(path)

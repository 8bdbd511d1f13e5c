"""Data that flows out cleanly: plain CSV columns and XLSX workbooks with a Notes sheet.

A data file (a chart's CSV, ``flightdeck kpis``, a feed) is one header row and then the
rows: no comment lines, which Power Query and Excel's import read as data. What used
to be said in them travels instead

* on every row, as columns (:data:`LABEL_COLUMNS`): ``marking``, the protective marking
  the file is handled at, and ``data_label``, ``DEMONSTRATION DATA`` for demonstration
  data (empty for real figures: the column is always there, so a query built on the
  demonstration keeps working on live data);
* in the file's name (the marking, and ``demo``);
* in an XLSX, on a Notes sheet (:func:`xlsx_bytes`): title, source, marking, the
  demonstration label, disclosure control, what every column holds, the KPIs'
  definitions and when it was generated.

XLSX files are written with openpyxl in write-only mode (rows streamed to the file,
nothing kept per cell). Text stays text: a cell starting ``=`` is written as a string,
never as a formula; control characters a worksheet cannot hold are dropped.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["COLUMN_DEFINITIONS", "DATA_LABEL", "LABEL_COLUMNS", "Notes", "column_definition",
           "labelled", "labels", "xlsx_bytes"]

#: The columns every row of a data file carries, last.
LABEL_COLUMNS: tuple[str, ...] = ("marking", "data_label")
#: ``data_label`` of demonstration data (what the charts say in their corner).
DATA_LABEL = "DEMONSTRATION DATA"
DATA_SHEET = "Data"
NOTES_SHEET = "Notes"
# Worksheets cannot hold these (openpyxl refuses them): XML 1.0's control characters.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_DATE_COLUMNS = ("period_start", "spc_from", "spc_to")

#: What each column of a chart's data or the KPI table holds (the Notes sheet says so).
COLUMN_DEFINITIONS: dict[str, str] = {
    "kpi": "the KPI's id (the KPI definitions below, and the Definitions page)",
    "force": "the area: a force's slug, england-and-wales, a region or a peer group id",
    "area": "the area: a force's slug, england-and-wales, a region or a peer group id",
    "area_name": "the area's name",
    "name": "the area's name",
    "period_start": "the first day of the month or quarter (YYYY-MM-DD)",
    "period": "the month or quarter in words",
    "unit": "the KPI's unit: count, percent (a share, as a fraction: 0.025 is 2.5%), "
            "per_100k, days or ratio",
    "numerator": "the count the KPI is built from (for a share, the part)",
    "denominator": "what the numerator is divided by (for a share, the whole); empty for "
                   "a count",
    "value": "the KPI's figure (a share as a fraction); on a chart that compares a count "
             "across forces, the rate per its base",
    "count": "the KPI's own count, before it is put per its base",
    "population": "the population of the period's year the count is compared per",
    "rolling_numerator": "the numerator over the year to this period",
    "rolling_denominator": "the denominator over the year to this period",
    "rolling_value": "the KPI over the year to this period (a rolling year)",
    "prior_value": "the KPI a year earlier",
    "change": "the change on a year earlier",
    "national_value": "England and Wales' figure for the period",
    "national_comparison": "England and Wales' rate per the base the count is compared per",
    "peer_group": "the peer group compared with",
    "peer_value": "the peer group's figure for the period",
    "rank": "the force's rank among the forces ranked (1 is best); empty when not ranked",
    "ranked_forces": "how many forces were ranked",
    "spc_mean": "the SPC centre line (the mean of the baseline)",
    "spc_lower": "the SPC lower process limit",
    "spc_upper": "the SPC upper process limit",
    "spc_rule": "the SPC rule(s) that fired, comma separated; empty if none",
    "variation": "the point's variation: common, improvement, concern or neither",
    "assurance": "whether the target is met: pass, fail, hit_and_miss or empty",
    "spc_limits": "the state of the limits: limits, trial or too_few",
    "spc_points": "how many points the limits' baseline has",
    "spc_from": "the first period of the limits' baseline",
    "spc_to": "the last period of the limits' baseline",
    "spc_basis": "where the limits come from: nom_adoption, whole_series or first_points",
    "suppressed": "true when disclosure control withholds the row's own figure",
    "suppressed_parts": "the parts of the row disclosure control withholds (value, "
                        "rolling, prior, national, peer)",
    "forces_reporting": "for an aggregate, how many of its forces reported",
    "forces_in_area": "for an aggregate, how many forces it holds",
    "complete": "false for an aggregate period missing a force that reported in the "
                "year before",
    "national_complete": "whether England and Wales' figure is complete",
    "national_reporting": "how many forces England and Wales' figure holds",
    "peer_complete": "whether the peer group's figure is complete",
    "peer_reporting": "how many forces the peer group's figure holds",
    "peer_in_area": "how many forces the peer group has",
    "provisional": "true for a recorded-basis Home Office value while many of its "
                   "quarter's outcomes are still being assigned (not used for SPC)",
    "centre": "the funnel's centre: England and Wales' pooled figure",
    "lower95": "the funnel's lower 95% limit at the force's size",
    "upper95": "the funnel's upper 95% limit at the force's size",
    "lower998": "the funnel's lower 99.8% limit at the force's size",
    "upper998": "the funnel's upper 99.8% limit at the force's size",
    "position": "the force against the 95% limits: inside, above, below or no data",
    "position998": "the force against the 99.8% limits",
    "marking": "the protective marking the file is handled at (on every row)",
    "data_label": f"{DATA_LABEL} for demonstration data, not real police figures; empty "
                  "for real figures",
}


def column_definition(name: str) -> str:
    """What column ``name`` holds (a base measure's count, for a column named by one)."""
    return COLUMN_DEFINITIONS.get(name, "the count of the base the KPI is compared per")


def labels(marking: str, demo: bool) -> dict[str, str]:
    """The label columns' values: the marking, and the demonstration label (or '')."""
    return {"marking": marking, "data_label": DATA_LABEL if demo else ""}


@dataclass(frozen=True)
class Notes:
    """What an XLSX's Notes sheet says about its data sheet."""

    about: Sequence[tuple[str, str]]  # (heading, text): title, source, marking, ...
    columns: Sequence[str]  # the data sheet's columns, in order
    kpis: Sequence[tuple[str, str]] = ()  # (KPI id, its definition)
    generated: dt.datetime = field(
        default_factory=lambda: dt.datetime.now().replace(microsecond=0))

    def rows(self) -> Iterable[tuple[str, str]]:
        yield from self.about
        yield "Generated", self.generated.isoformat(sep=" ")
        yield "", ""
        yield "Column", "What it holds"
        for name in self.columns:
            yield name, column_definition(name)
        if self.kpis:
            yield "", ""
            yield "KPI", "Definition"
            yield from self.kpis


def _text(value: str) -> str:
    return _ILLEGAL.sub("", value)


def _xlsx_value(value: Any, as_date: bool) -> Any:
    """A cell's value as openpyxl writes it: numbers as numbers, missing as empty, ISO
    dates in date columns as dates, text as text."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, pd.Timestamp):
        return value.date()
    if value is pd.NA or value is pd.NaT:
        return None
    text = _text(str(value))
    if as_date and len(text) == 10:
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    return text


def _append(sheet: Any, values: Iterable[Any]) -> None:
    """Append a row, writing any text that starts ``=`` as a string, not a formula."""
    from openpyxl.cell import WriteOnlyCell

    row: list[Any] = []
    for value in values:
        if isinstance(value, str) and value.startswith("="):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            value = cell
        elif isinstance(value, dt.date):
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = "yyyy-mm-dd"
            value = cell
        row.append(value)
    sheet.append(row)


def xlsx_bytes(frame: pd.DataFrame, notes: Notes) -> bytes:
    """``frame`` as an XLSX: its rows on the Data sheet (one header row), and the Notes."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    data = book.create_sheet(DATA_SHEET)
    columns = [str(c) for c in frame.columns]
    _append(data, [_text(c) for c in columns])
    dates = [c in _DATE_COLUMNS for c in columns]
    for record in frame.itertuples(index=False, name=None):
        _append(data, [_xlsx_value(v, d) for v, d in zip(record, dates, strict=True)])
    sheet = book.create_sheet(NOTES_SHEET)
    for heading, text in notes.rows():
        _append(sheet, [_text(heading) or None, _text(text) or None])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def labelled(frame: pd.DataFrame, values: Mapping[str, str]) -> pd.DataFrame:
    """``frame`` with the label columns (``values``) appended, the same on every row."""
    return frame.assign(**{name: values[name] for name in LABEL_COLUMNS if name in values})

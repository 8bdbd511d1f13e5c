"""Numbers as people read them: KPI values, changes and periods in plain text.

Shared by the dashboard, the plain-English summaries and exports, so a figure reads
the same everywhere. A share is stored as a fraction (0.026) and shown as a
percentage (2.6%), its change in percentage points; counts get thousands separators;
a rate per 100,000 population says so; days are whole days; a ratio has one decimal.
A figure withheld by disclosure control shows as ``[c]`` (the ONS symbol for
confidential) and is never printed.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

from kpis.domain.catalogue import KpiDefinition
from kpis.domain.periods import financial_quarter, long_month, quarter_label
from kpis.domain.vocabulary import SUPPRESSED_LABEL

__all__ = [
    "MINUS",
    "NO_DATA",
    "as_date",
    "format_change",
    "format_number",
    "format_period",
    "format_value",
    "is_finite_number",
    "is_missing",
    "ordinal",
    "short_period",
]

NO_DATA = "no data"
#: The minus sign (U+2212): screen readers say "minus", not "dash" or "hyphen".
MINUS = "\u2212"


def is_missing(value: Any) -> bool:
    """True for None, NaN, NA and NaT."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # e.g. an array: not a single missing value
        return False


def as_date(period: Any) -> dt.date:
    """A period start given as a date, datetime, Timestamp, datetime64 or ISO text."""
    if isinstance(period, dt.datetime):
        return period.date()
    if isinstance(period, dt.date):
        return period
    if isinstance(period, np.datetime64 | str):
        return pd.Timestamp(period).date()
    raise TypeError(f"not a period start: {period!r}")


def format_number(value: float, decimals: int = 0) -> str:
    """``value`` with thousands separators and ``decimals`` decimals; minus as U+2212."""
    text = f"{abs(value):,.{decimals}f}"
    negative = value < 0 and text.strip("0.,") != ""  # -0.0 reads as 0
    return f"{MINUS}{text}" if negative else text


def _plural(count_text: str, word: str) -> str:
    return f"{count_text} {word}" if count_text == "1" else f"{count_text} {word}s"


def format_value(kpi: KpiDefinition, value: Any, suppressed: bool = False) -> str:
    """A KPI value in its unit: '2.6%', '1,234', '28.4 per 100,000', '74 days', '5.2'.

    ``suppressed`` (the row's figure was withheld) gives '[c]' whatever ``value`` is;
    a missing value gives 'no data'.
    """
    if suppressed:
        return SUPPRESSED_LABEL
    if is_missing(value):
        return NO_DATA
    number = float(value)
    if kpi.unit == "percent":
        return f"{format_number(number * 100, 1)}%"
    if kpi.unit == "per_100k":
        # Per 100,000 people says 'per 100,000'; any other base is named.
        noun = "" if kpi.comparison_noun == "people" else f" {kpi.comparison_noun}"
        return f"{format_number(number, 1)} per {kpi.comparison_per:,}{noun}"
    if kpi.unit == "days":
        return _plural(format_number(number, 0), "day")
    if kpi.unit == "ratio":
        return format_number(number, 1)
    return format_number(number, 0)


def format_change(kpi: KpiDefinition, change: Any, suppressed: bool = False) -> str:
    """A change in the KPI's unit, signed: '+0.4 percentage points', '−12', '+3 days'.

    Shares change in percentage points. A change that rounds to nothing is 'no change';
    a missing change is 'not available'; ``suppressed`` gives '[c]'.
    """
    if suppressed:
        return SUPPRESSED_LABEL
    if is_missing(change):
        return "not available"
    number = float(change)
    if kpi.unit == "percent":
        size, decimals, unit = abs(number) * 100, 1, " percentage points"
    elif kpi.unit == "per_100k":
        size, decimals, unit = abs(number), 1, f" per {kpi.comparison_per:,}"
    elif kpi.unit == "days":
        size, decimals, unit = abs(number), 0, " days"
    elif kpi.unit == "ratio":
        size, decimals, unit = abs(number), 1, ""
    else:
        size, decimals, unit = abs(number), 0, ""
    text = format_number(size, decimals)
    if text.strip("0.,") == "":
        return "no change"
    if unit == " percentage points" and text == "1.0":
        unit = " percentage point"
    if unit == " days" and text == "1":
        unit = " day"
    return f"{'+' if number > 0 else MINUS}{text}{unit}"


def format_period(kpi: KpiDefinition, period_start: Any) -> str:
    """'September 2025' for a monthly KPI; '2025/26 Q2' (financial quarter) for a quarterly one."""
    day = as_date(period_start)
    if kpi.periodicity == "quarterly":
        return quarter_label(day)
    return long_month(day)


def change_direction(kpi: KpiDefinition, change: Any) -> str:
    """'better' or 'worse' for a change, by the KPI's polarity ('' for a neutral KPI, a
    change that rounds to nothing, or none)."""
    if kpi.polarity == "neutral" or is_missing(change):
        return ""
    if format_change(kpi, change) == "no change":
        return ""
    up = float(change) > 0
    return "better" if up == (kpi.polarity == "higher") else "worse"


def period_unit(kpi: KpiDefinition) -> str:
    """What a figure covers, where the value alone does not say: 'per 100,000 people, in
    the month' for a rate per head (a month's rate is not a year's), '' otherwise."""
    if kpi.unit != "per_100k":
        return ""
    span = "month" if kpi.periodicity == "monthly" else "quarter"
    return f"per {kpi.comparison_per:,} people, in the {span}"


def short_period(kpi: KpiDefinition, period_start: Any) -> str:
    """'Sep 25' for a monthly KPI; 'Q2 25/26' (financial quarter) for a quarterly one:
    where space is very short (the summary matrix)."""
    day = as_date(period_start)
    if kpi.periodicity == "quarterly":
        start = day.year if day.month >= 4 else day.year - 1
        return f"Q{financial_quarter(day)} {start % 100:02d}/{(start + 1) % 100:02d}"
    return day.strftime("%b %y")


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 22nd, 101st, 111th."""
    if 10 <= number % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def finite_or_none(value: Any) -> float | None:
    """``value`` as a float when it is a finite number, else None (missing, NaN, text)."""
    return float(value) if is_finite_number(value) else None


def is_finite_number(value: Any) -> bool:
    """A real number that is neither missing nor infinite."""
    if is_missing(value):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False

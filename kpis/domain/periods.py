"""Months, quarters and financial years.

A period is identified by the date of its first day: a month by the 1st of the month,
a quarter by the 1st of its first month. Financial years run April to March and are
written 2023/24; financial quarter 1 is April to June.
"""

from __future__ import annotations

import datetime as dt
import re

_MONTH_RE = re.compile(r"^\s*(\d{4})-(\d{1,2})(?:-01)?\s*$")


def parse_month(text: str) -> dt.date:
    """Parse ``YYYY-MM`` (or ``YYYY-MM-01``) into the first day of that month."""
    match = _MONTH_RE.match(str(text))
    if not match:
        raise ValueError(f"not a month in the form YYYY-MM: {text!r}")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise ValueError(f"month out of range in {text!r}")
    return dt.date(year, month, 1)


def format_month(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + (day.month - 1) + months
    return dt.date(index // 12, index % 12 + 1, 1)


def month_range(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every month from ``start`` to ``end`` inclusive."""
    months = []
    current = dt.date(start.year, start.month, 1)
    while current <= end:
        months.append(current)
        current = add_months(current, 1)
    return months


def last_complete_month(today: dt.date | None = None) -> dt.date:
    today = today or dt.date.today()
    return add_months(dt.date(today.year, today.month, 1), -1)


def financial_year_start(day: dt.date) -> int:
    """The calendar year in which the financial year containing ``day`` starts."""
    return day.year if day.month >= 4 else day.year - 1


def financial_year_label(day: dt.date) -> str:
    start = financial_year_start(day)
    return f"{start}/{(start + 1) % 100:02d}"


def quarter_start(day: dt.date) -> dt.date:
    """First day of the financial (and calendar) quarter containing ``day``."""
    return dt.date(day.year, ((day.month - 1) // 3) * 3 + 1, 1)


def financial_quarter(day: dt.date) -> int:
    """Financial quarter 1-4 (Q1 is April-June)."""
    return ((day.month - 4) % 12) // 3 + 1


def quarter_label(day: dt.date) -> str:
    return f"{financial_year_label(day)} Q{financial_quarter(day)}"


# The date formatter family: every date a person reads is written by one of these.


def month_label(day: dt.date) -> str:
    """'Sep 2025': menus and short labels."""
    return day.strftime("%b %Y")


def long_month(day: dt.date) -> str:
    """'September 2025': headings, summaries and packs."""
    return day.strftime("%B %Y")


def long_day(day: dt.date) -> str:
    """'3 October 2025': deadlines, notes and load times."""
    return f"{day.day} {day:%B %Y}"

"""Cells of a data file that a spreadsheet will not run: the one rule for every CSV.

Its own module, with nothing but ``re``, so that the KPI table writer
(:mod:`kpis.exports.kpi_csv`, ``flightdeck kpis``) takes it without the chart renderer
and its imports (asyncio, kaleido's machinery: some 0.015 s of a new process).
"""

from __future__ import annotations

import re

__all__ = ["neutralise"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def neutralise(cell: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula.

    Text starting with ``= + - @`` (or a tab or carriage return) gets a leading single
    quote; plain numbers such as ``-0.012`` are left as they are.
    """
    text = "" if cell is None else str(cell)
    if text.startswith(_FORMULA_START) and not _NUMBER.match(text):
        return "'" + text
    return text

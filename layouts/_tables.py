"""Accessible HTML tables: a caption, column headers with scope, numbers right-aligned.

Drawn as one block of markup (:mod:`layouts._markup`), not a component per cell: a
table of every period was most of a page's server time and of the browser's work when
built from ``html.Tr`` and ``html.Td`` (the speed issue).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from kpis.charts.records import records
from layouts._html_block import HtmlBlock
from layouts._markup import Markup, tag

Formatter = Callable[[Any], str]
Columns = Sequence[tuple[str, str, Formatter | None]]


def data_table_markup(frame: pd.DataFrame, columns: Columns, caption: str,
                      table_id: str | None = None, row_header: str | None = None,
                      highlight: Callable[[dict[str, Any]], bool] | None = None) -> Markup:
    """``frame`` as a table.

    ``columns`` is (column, heading, formatter or None); ``row_header`` names the
    column whose cells are row headers (th scope=row); ``highlight`` marks rows.
    """
    head = tag("thead", tag("tr", [tag("th", h, scope="col") for _, h, _ in columns]))
    rows = []
    # Plain records: pandas row access per cell costs more than building the table
    # (kpis.charts.records: to_dict's records, faster).
    for row in records(frame):
        cells = []
        for column, _, formatter in columns:
            value = row[column]
            text = formatter(value) if formatter else ("" if pd.isna(value) else str(value))
            if column == row_header:
                cells.append(tag("th", text, scope="row"))
            else:  # a formatted column holds numbers
                cells.append(tag("td", text, class_="text-end" if formatter else None))
        marked = highlight is not None and highlight(row)
        rows.append(tag("tr", cells, class_="table-active fw-bold" if marked else None))
    table = tag("table", tag("caption", caption), head, tag("tbody", rows),
                class_="table table-sm table-striped table-hover caption-top", id=table_id)
    # A table wider than its column scrolls sideways: the scrolling region is a named
    # tab stop, so keyboard users can scroll it too (WCAG 2.1.1).
    return tag("div", table, class_="table-responsive", role="region", tabindex="0",
               aria_label=caption)


def data_table(frame: pd.DataFrame, columns: Columns, caption: str,
               table_id: str | None = None, row_header: str | None = None,
               highlight: Callable[[dict[str, Any]], bool] | None = None) -> HtmlBlock:
    """:func:`data_table_markup` as one component."""
    return HtmlBlock(data_table_markup(frame, columns, caption, table_id, row_header,
                                       highlight))

"""Accessible HTML tables: a caption, column headers with scope, numbers right-aligned."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import html

Formatter = Callable[[Any], str]


def data_table(frame: pd.DataFrame, columns: Sequence[tuple[str, str, Formatter | None]],
               caption: str, table_id: str | None = None, row_header: str | None = None,
               highlight: Callable[[dict[str, Any]], bool] | None = None) -> html.Div:
    """Render ``frame`` as a table.

    ``columns`` is (column, heading, formatter or None); ``row_header`` names the
    column whose cells are row headers (th scope=row); ``highlight`` marks rows.
    """
    head = html.Thead(html.Tr([html.Th(h, scope="col") for _, h, _ in columns]))
    rows = []
    # Plain records: pandas row access per cell costs more than building the table.
    for row in frame.to_dict("records"):
        cells = []
        for column, _, formatter in columns:
            value = row[column]
            text = formatter(value) if formatter else ("" if pd.isna(value) else str(value))
            if column == row_header:
                cells.append(html.Th(text, scope="row"))
            else:
                numeric = formatter is not None
                cells.append(html.Td(text, className="text-end" if numeric else None))
        marked = highlight is not None and highlight(row)
        rows.append(html.Tr(cells, className="table-active fw-bold" if marked else None))
    table = dbc.Table(
        [html.Caption(caption), head, html.Tbody(rows)],
        bordered=False, hover=True, size="sm", striped=True, className="caption-top",
        id=table_id,
    )
    # A table wider than its column scrolls sideways: the scrolling region is a named
    # tab stop, so keyboard users can scroll it too (WCAG 2.1.1).
    return html.Div(table, className="table-responsive", role="region", tabIndex="0",
                    **{"aria-label": caption})

"""Data: how current the figures are, which force returns are in, and every load.

The coverage grid has a row per force and a column per month. Each cell carries a
symbol as well as a colour, and a word for screen readers, so its status never
depends on colour alone. The status rules live in ``kpis.storage.coverage``; this page only
draws them.
"""

from __future__ import annotations

import datetime as dt

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import html

from kpis.domain.formatting import format_number
from kpis.domain.periods import long_day, long_month
from kpis.engine.dataset import Dataset
from kpis.storage.coverage import (
    DEFAULT_DUE_DAYS,
    DEFAULT_MONTHS,
    LOAD_HISTORY_ROWS,
    STATUSES,
    cached_submissions,
    coverage,
    coverage_grid,
    latest_load_time,
    load_history,
    status_counts,
)
from layouts._shell import safe_layout
from web.context import dataset, service

dash.register_page(__name__, path="/data", name="Data", title="Data - NOM flight deck",
                   order=90)

AS_OF = "data-as-of"
COVERAGE = "data-coverage"
COVERAGE_LEGEND = "data-coverage-legend"
LOAD_HISTORY = "data-load-history"

# A symbol for each status, so the grid reads in black and white and to anyone who
# cannot tell the colours apart.
STATUS_SYMBOL = {"in": "✓", "late": "L", "missing": "✗", "not due": "–"}
STATUS_LABEL = {
    "in": "In on time",
    "late": "Late",
    "missing": "Missing",
    "not due": "Not yet due",
}
KIND_TEXT = {
    "return": "Force monthly return",
    "ho-outcomes": "Home Office crime outcomes",
    "ho-recorded": "Home Office recorded crime",
}
LOAD_STATUS_TEXT = {"loaded": "Loaded", "rolled back": "Rolled back"}
LOAD_STATUS_COLOUR = {"loaded": "success", "rolled back": "secondary"}
# The newest loads are the ones people check; older ones stay in the database.


def status_class(status: str) -> str:
    return "coverage-" + status.replace(" ", "-")


def timestamp_text(moment: object) -> str:
    stamp = pd.Timestamp(moment)
    return f"{stamp.day} {stamp:%b %Y %H:%M}"


def as_of_card(ds: Dataset, counts: dict[str, int], latest_month: dt.date | None) -> dbc.Card:
    latest = latest_load_time(ds)
    facts = html.Dl([
        html.Dt("Data to"),
        html.Dd(long_month(ds.as_of) if ds.as_of else "No data loaded yet", className="as-of"),
        html.Dt("Latest load"),
        html.Dd(f"{long_day(latest)} at {latest:%H:%M}" if latest else "None"),
        html.Dt(f"Force returns for {long_month(latest_month)}" if latest_month
                else "Force returns"),
        html.Dd(", ".join(f"{counts[s]} {STATUS_LABEL[s].lower()}" for s in STATUSES)
                if latest_month else "None"),
    ], className="mb-0")
    return dbc.Card(dbc.CardBody([html.H2("As of", className="h5"), facts]), id=AS_OF,
                    className="h-100")


def legend() -> html.Ul:
    return html.Ul([
        html.Li([
            html.Span(STATUS_SYMBOL[s], className=f"coverage-key {status_class(s)}",
                      **{"aria-hidden": "true"}),
            " ", STATUS_LABEL[s],
        ])
        for s in STATUSES
    ], id=COVERAGE_LEGEND, className="list-inline coverage-legend", **{"aria-label": "Key"})


def coverage_cell(status: str) -> html.Td:
    """The status symbol as text, and the status in words for screen readers."""
    return html.Td([STATUS_SYMBOL[status],
                    html.Span(STATUS_LABEL[status], className="visually-hidden")],
                   className=status_class(status))


def coverage_table(grid: pd.DataFrame) -> html.Div:
    months = [pd.Timestamp(m).date() for m in grid.columns]
    span = f"{months[0]:%B %Y} to {months[-1]:%B %Y}" if months else ""
    header = html.Thead(html.Tr(
        [html.Th("Force", scope="col", className="coverage-force")]
        + [html.Th([f"{m:%b}", html.Br(), f"{m:%Y}"], scope="col", title=f"{m:%B %Y}")
           for m in months]
    ))
    # Cells of one status are identical, so each is built once and shared: building a
    # component per cell would dominate the page's server time.
    cells = {status: coverage_cell(status) for status in STATUSES}
    body = html.Tbody([
        html.Tr([html.Th(force, scope="row", className="coverage-force")]
                + [cells[status] for status in statuses])
        for force, statuses in zip(grid.index, grid.to_numpy().tolist(), strict=True)
    ])
    caption = html.Caption(
        f"Force monthly returns by force and month, {span}. "
        + "; ".join(f"{STATUS_SYMBOL[s]} {STATUS_LABEL[s].lower()}" for s in STATUSES) + "."
    )
    # A focusable, labelled region so keyboard users can scroll the grid sideways.
    return html.Div(
        html.Table([caption, header, body], className="coverage-table"),
        className="coverage-scroll", tabIndex="0", role="region",
        **{"aria-label": "Coverage grid (scrolls sideways)"},
    )


def coverage_section(ds: Dataset, frame: pd.DataFrame, today: dt.date) -> html.Section:
    return html.Section([
        html.H2("Force returns received", className="h4"),
        html.P(
            f"Each force's monthly return is due {DEFAULT_DUE_DAYS} days after the month "
            "ends. A return counts as in when the first load to supply it arrived by the "
            "due date; a correction sent later does not make it late. Status as at "
            f"{long_day(today)}.",
        ),
        legend(),
        coverage_table(coverage_grid(frame)) if not ds.forces.empty else
        html.P("No forces are set up.", className="text-body-secondary"),
    ], id=COVERAGE, className="mt-4", **{"aria-label": "Force returns received"})


def load_row(load: pd.Series) -> html.Tr:
    status = str(load["status"])
    return html.Tr([
        html.Th(str(load["load_id"]), scope="row"),
        html.Td(str(load["file_name"])),
        html.Td(KIND_TEXT.get(str(load["kind"]), str(load["kind"]))),
        html.Td(format_number(float(load["rows"])), className="text-end"),
        html.Td(format_number(float(load["warnings"])), className="text-end"),
        html.Td(str(load["loaded_by"])),
        html.Td(timestamp_text(load["loaded_at"]), className="text-nowrap"),
        html.Td(dbc.Badge(LOAD_STATUS_TEXT.get(status, status),
                          color=LOAD_STATUS_COLOUR.get(status, "secondary"))),
        html.Td(html.Code(str(load["sha_short"]), title=str(load["sha256"]))),
    ])


def load_history_section(ds: Dataset) -> html.Section:
    history = load_history(ds)
    if history.empty:
        content: html.P | dbc.Table = html.P("No files have been loaded yet.",
                                         className="text-body-secondary")
    else:
        shown = history.head(LOAD_HISTORY_ROWS)
        more = (f" The latest {LOAD_HISTORY_ROWS} of {len(history)} are shown."
                if len(history) > LOAD_HISTORY_ROWS else "")
        numeric = {"Rows", "Warnings"}
        headings = ("Load", "File", "Kind", "Rows", "Warnings", "Loaded by", "Loaded at",
                    "Status", "SHA-256 (first 12)")
        content = dbc.Table([
            html.Caption("Every load of data, newest first: the file, who loaded it and "
                         f"when, and the start of its SHA-256 checksum.{more}"),
            html.Thead(html.Tr([html.Th(h, scope="col",
                                        className="text-end" if h in numeric else None)
                                for h in headings])),
            html.Tbody([load_row(row) for _, row in shown.iterrows()]),
        ], striped=True, size="sm", responsive=True, className="caption-top load-history")
    return html.Section([html.H2("Load history", className="h4"), content],
                        id=LOAD_HISTORY, className="mt-4", **{"aria-label": "Load history"})


@safe_layout
def layout(**_: str) -> html.Div:
    ds = dataset()
    today = dt.date.today()
    submissions = cached_submissions(service().reader, ds.data_version)
    frame = coverage(ds, submissions, months=DEFAULT_MONTHS, due_days=DEFAULT_DUE_DAYS,
                     today=today)
    latest_month = frame["period_start"].max().date() if not frame.empty else None
    return html.Div([
        html.H1("Data", className="h3"),
        dbc.Row([
            dbc.Col(as_of_card(ds, status_counts(frame), latest_month), md=6, xl=4),
        ], className="g-3"),
        coverage_section(ds, frame, today),
        load_history_section(ds),
    ])

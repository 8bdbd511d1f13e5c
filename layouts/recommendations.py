"""Recommendations tracker: the five inspection recommendations, their deadlines, the
KPIs that evidence them, and a dated status and progress note recorded by analysts.

The displayed status is worked out from the deadline and today's date ("overdue"
when the deadline has passed and the work is not complete); progress is written
through the one write path (``kpis.storage.annotations.record_progress``), keeping history.
"""

from __future__ import annotations

import datetime as dt

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from kpis.domain.access import AccessDenied, Action, Principal
from kpis.storage import annotations
from kpis.storage.annotations import RecommendationStatus
from layouts._shell import safe_layout
from web.context import service

dash.register_page(__name__, path="/recommendations", name="Recommendations",
                   title="Recommendations - NOM flight deck", order=7)

TABLE = "recommendations-table"
TABLE_HOLDER = "recommendations-table-holder"
REC = "progress-recommendation"
STATUS = "progress-status"
NOTE = "progress-note"
AUTHOR = "progress-author"
SUBMIT = "progress-submit"
MESSAGE = "progress-message"

BADGE_COLOURS = {
    annotations.OVERDUE: "danger",
    annotations.COMPLETE: "success",
    annotations.IN_PROGRESS: "primary",
    annotations.NOT_STARTED: "secondary",
}


def format_date(day: dt.date) -> str:
    return f"{day.day} {day:%b %Y}"


def format_time(moment: dt.datetime) -> str:
    return f"{moment.day} {moment:%b %Y %H:%M}"


def status_cell(row: RecommendationStatus) -> html.Td:
    """The displayed status as a text badge; overdue also says why (never colour alone)."""
    label = row.displayed.capitalize()
    parts: list[object] = [dbc.Badge(label, color=BADGE_COLOURS.get(row.displayed, "secondary"),
                                     className="rec-status")]
    if row.is_overdue:
        recorded = row.status or annotations.NOT_STARTED
        parts.append(html.Div(f"Deadline passed; recorded as {recorded}",
                              className="small fw-bold"))
    return html.Td(parts)


def note_cell(row: RecommendationStatus) -> html.Td:
    if row.note is None:
        return html.Td("No progress recorded yet", className="text-body-secondary")
    by = f"{row.author}, {format_time(row.noted_at)}" if row.noted_at else row.author
    return html.Td([html.Div(row.note), html.Div(by, className="small text-body-secondary")])


def status_table(rows: list[RecommendationStatus]) -> html.Div:
    """The recommendations as an accessible table; overdue rows highlighted and labelled."""
    head = html.Thead(html.Tr([
        html.Th(heading, scope="col")
        for heading in ("Recommendation", "Deadline", "Evidenced by", "Status", "Latest note")
    ]))
    body = []
    for row in rows:
        links: list[object] = []
        for kpi_id in row.kpi_ids:
            if links:
                links.append(", ")
            links.append(dcc.Link(kpi_id, href=f"/kpi/{kpi_id}"))
        body.append(html.Tr([
            # Overdue rows get a strong left rule (and say "Overdue" in words); a tinted
            # background would cost the links and secondary text their contrast.
            html.Th([html.Strong(row.rec_id), " ", row.title], scope="row",
                    className="border-start border-4 border-danger" if row.is_overdue
                    else None),
            html.Td(format_date(row.deadline)),
            html.Td(links or "No KPIs linked"),
            status_cell(row),
            note_cell(row),
        ], id=f"rec-row-{row.rec_id}",
            className="rec-overdue" if row.is_overdue else None))
    caption = "Inspection recommendations: deadline, evidence and status"
    table = dbc.Table([html.Caption(caption), head, html.Tbody(body)], bordered=False,
                      hover=True, size="sm", className="caption-top", id=TABLE)
    return html.Div(table, className="table-responsive", role="region", tabIndex="0",
                    **{"aria-label": caption})


def current_rows() -> list[RecommendationStatus]:
    return service().recommendation_status(dt.date.today())


def author_field(principal: Principal) -> dbc.Col:
    """A name box in the demonstration; signed in, the note is signed by the account."""
    if principal.demo:
        return dbc.Col([dbc.Label("Your name", html_for=AUTHOR),
                        dbc.Input(id=AUTHOR, type="text", maxLength=annotations.MAX_AUTHOR,
                                  autoComplete="name")], md=3)
    # Signed in, the service signs the note (pages are cached per role, not per person).
    return dbc.Col([dbc.Input(id=AUTHOR, type="hidden", value=""),
                    html.P("Recorded under your account's name.", className="small mb-0 mt-4")],
                   md=3)


def progress_form(rows: list[RecommendationStatus]) -> dbc.Form | html.P:
    principal = service().principal
    if not principal.may(Action.TRACK) or principal.force is not None:
        return html.P("Analysts who cover every force record progress here.",
                      className="text-body-secondary mt-4")
    rec_options = [{"label": f"{r.rec_id}: {r.title[:70]}", "value": r.rec_id} for r in rows]
    status_options = [{"label": s.capitalize(), "value": s} for s in annotations.STATUSES]
    return dbc.Form([
        html.H2("Record progress", className="h5"),
        dbc.Row([
            dbc.Col([dbc.Label("Recommendation", html_for=REC),
                     dbc.Select(id=REC, options=rec_options,
                                value=rec_options[0]["value"] if rec_options else None)], md=6),
            dbc.Col([dbc.Label("Status", html_for=STATUS),
                     dbc.Select(id=STATUS, options=status_options,
                                value=annotations.IN_PROGRESS)], md=3),
            author_field(principal),
        ], className="g-3 mb-2"),
        dbc.Label("Progress note", html_for=NOTE),
        dbc.Textarea(id=NOTE, maxLength=annotations.MAX_TEXT, rows=3),
        dbc.FormText(f"Up to {annotations.MAX_TEXT:,} characters. The note is dated and kept "
                     "with the earlier ones.", id=f"{NOTE}-hint"),
        html.Div(dbc.Button("Record progress", id=SUBMIT, color="primary", type="button"),
                 className="mt-2"),
        html.Div(id=MESSAGE, className="mt-2", role="status"),
    ], className="mt-4")


@safe_layout
def layout(**_: str) -> html.Div:
    rows = current_rows()
    return html.Div([
        html.H1("Recommendations", className="h3"),
        html.P(
            "The inspection recommendations, their deadlines and the KPIs that evidence "
            "them. A recommendation is overdue when its deadline has passed and it is not "
            "complete."
        ),
        html.Div(status_table(rows), id=TABLE_HOLDER),
        progress_form(rows),
    ])


@dash.callback(
    Output(TABLE_HOLDER, "children"),
    Output(MESSAGE, "children"),
    Output(NOTE, "value"),
    Input(SUBMIT, "n_clicks"),
    State(REC, "value"),
    State(STATUS, "value"),
    State(NOTE, "value"),
    State(AUTHOR, "value"),
    prevent_initial_call=True,
)
def record(clicks: int | None, rec_id: str | None, status: str | None, note: str | None,
           author: str | None) -> tuple[object, dbc.Alert, object]:
    """Record the progress through the one write path and redraw the table."""
    if not clicks:
        return dash.no_update, dash.no_update, dash.no_update
    try:
        service().record_progress(str(rec_id or ""), str(status or ""), str(note or ""),
                                  str(author or ""))
    except AccessDenied as refusal:
        return dash.no_update, dbc.Alert(f"Not recorded: {refusal}", color="danger"), \
            dash.no_update
    except ValueError as problem:
        message = str(problem)
        return (dash.no_update,
                dbc.Alert(f"Not recorded: {message[0].upper()}{message[1:]}.",
                          color="danger"),
                dash.no_update)
    return (status_table(current_rows()),
            dbc.Alert(f"Recorded {rec_id} as {status}.", color="success"),
            "")

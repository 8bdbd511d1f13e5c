"""Recommendations tracker: the five inspection recommendations, their deadlines, the
KPIs that evidence them, and each force's dated status and progress notes.

The page follows the chosen force (the control bar): its status and latest note per
recommendation, the latest national note beside it, and each linked KPI by its title
with the force's current variation icon. Progress is kept per force; with England and
Wales chosen the page shows, and records, the national notes.

The displayed status is worked out from the deadline and today's date ("overdue"
when the deadline has passed and the work is not complete); progress is written
through the one write path (``kpis.storage.annotations.record_progress``), keeping history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from kpis.charts.glance import latest_rows, row_icons
from kpis.charts.icons import Icon, variation_icon
from kpis.domain.access import AccessDenied, Action, Principal
from kpis.settings import NATIONAL_SLUG
from kpis.storage import annotations
from kpis.storage.annotations import RecommendationStatus
from layouts._glance import icon_image
from layouts._shell import control_bar, safe_layout
from layouts._state import ViewState, read_query, read_state
from web import ids
from web import request_checks as _inputs
from web.context import dataset, service

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


def area_name(area: str) -> str:
    return dataset().area_names.get(area, area)


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


def _signed(author: str | None, moment: dt.datetime | None) -> str:
    return f"{author}, {format_time(moment)}" if moment else (author or "")


def note_cell(row: RecommendationStatus) -> html.Td:
    """The area's latest note; for a force, the latest national note beside it."""
    if row.note is None:
        where = ("nationally" if row.area == NATIONAL_SLUG else f"for {area_name(row.area)}")
        parts: list[object] = [html.Div(f"No progress recorded {where} yet",
                                        className="text-body-secondary")]
    else:
        parts = [html.Div(row.note),
                 html.Div(_signed(row.author, row.noted_at),
                          className="small text-body-secondary")]
    if row.area != NATIONAL_SLUG and row.national_note is not None:
        recorded = f" ({row.national_status})" if row.national_status else ""
        parts.append(html.Div([
            html.Div([html.Strong("National note"), recorded], className="small"),
            html.Div(row.national_note),
            html.Div(_signed(row.national_author, row.national_noted_at),
                     className="small text-body-secondary"),
        ], className="rec-national-note border-start border-2 ps-2 mt-2"))
    return html.Td(parts)


def variation_icons(kpi_ids: Iterable[str], state: ViewState) -> dict[str, Icon]:
    """Each KPI's variation icon for the page's force, at its latest period on or
    before the page's (as the flight deck's matrix shows it)."""
    ds = dataset()
    known = sorted({k for k in kpi_ids if k in ds.kpis})
    latest: dict[str, dict[str, object]] = {}
    if known:
        table = service().table(kpi_ids=known, areas=[state.force], end=state.period)
        latest = latest_rows(table, state.force)
    return {k: row_icons(ds.kpis[k], latest.get(k))[0] for k in known}


def kpi_links(row: RecommendationStatus, icons: dict[str, Icon], state: ViewState
              ) -> html.Ul | str:
    """The linked KPIs by title, each with its variation icon, opening its KPI page for
    the page's force."""
    if not row.kpi_ids:
        return "No KPIs linked"
    kpis = dataset().kpis
    items = []
    for kpi_id in row.kpi_ids:
        kpi = kpis.get(kpi_id)
        title = kpi.title if kpi is not None else kpi_id
        items.append(html.Li([
            icon_image(icons.get(kpi_id, variation_icon(None))), " ",
            dcc.Link(title, href=f"/kpi/{kpi_id}{state.query()}"),
        ], className="rec-kpi", id=f"rec-kpi-{row.rec_id}-{kpi_id}"))
    return html.Ul(items, className="list-unstyled mb-0")


def status_table(rows: list[RecommendationStatus], state: ViewState) -> html.Div:
    """The recommendations as an accessible table; overdue rows highlighted and labelled."""
    head = html.Thead(html.Tr([
        html.Th(heading, scope="col")
        for heading in ("Recommendation", "Deadline", "Evidenced by", "Status", "Latest note")
    ]))
    icons = variation_icons({k for row in rows for k in row.kpi_ids}, state)
    body = []
    for row in rows:
        body.append(html.Tr([
            # Overdue rows get a strong left rule (and say "Overdue" in words); a tinted
            # background would cost the links and secondary text their contrast.
            html.Th([html.Strong(row.rec_id), " ", row.title], scope="row",
                    className="border-start border-4 border-danger" if row.is_overdue
                    else None),
            html.Td(format_date(row.deadline)),
            html.Td(kpi_links(row, icons, state)),
            status_cell(row),
            note_cell(row),
        ], id=f"rec-row-{row.rec_id}",
            className="rec-overdue" if row.is_overdue else None))
    caption = (f"Inspection recommendations for {area_name(state.force)}: deadline, "
               "evidence and status")
    table = dbc.Table([html.Caption(caption), head, html.Tbody(body)], bordered=False,
                      hover=True, size="sm", className="caption-top", id=TABLE)
    return html.Div(table, className="table-responsive", role="region", tabIndex="0",
                    **{"aria-label": caption})


def current_rows(area: str) -> list[RecommendationStatus]:
    return service().recommendation_status(dt.date.today(), area)


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


def progress_form(rows: list[RecommendationStatus], state: ViewState) -> dbc.Form | html.P:
    """The form records for the page's force, or national notes for England and Wales."""
    principal = service().principal
    if not principal.may(Action.TRACK):
        return html.P("Analysts record progress here.", className="text-body-secondary mt-4")
    if principal.force is not None and state.force != principal.force:
        return html.P(f"National notes are kept by analysts who cover every force; choose "
                      f"{area_name(principal.force)} to record its progress.",
                      className="text-body-secondary mt-4")
    heading = ("Record national progress (England and Wales)" if state.force == NATIONAL_SLUG
               else f"Record progress for {area_name(state.force)}")
    rec_options = [{"label": f"{r.rec_id}: {r.title[:70]}", "value": r.rec_id} for r in rows]
    status_options = [{"label": s.capitalize(), "value": s} for s in annotations.STATUSES]
    return dbc.Form([
        html.H2(heading, className="h5"),
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
def layout(force: str | None = None, period: str | None = None,
           comparator: str | None = None, **_: str) -> html.Div:
    state = read_state(dataset(), force, period, comparator)
    rows = current_rows(state.force)
    return html.Div([
        html.H1(f"Recommendations: {area_name(state.force)}", className="h3"),
        html.P(
            "The inspection recommendations, their deadlines and the KPIs that evidence "
            "them, with the chosen force's own progress and the latest national note; "
            "choose England and Wales for the national notes. A recommendation is overdue "
            "when its deadline has passed and it is not complete."
        ),
        control_bar(state),
        html.Div(status_table(rows, state), id=TABLE_HOLDER),
        progress_form(rows, state),
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
    State(ids.URL, "search"),
    prevent_initial_call=True,
)
def record(clicks: int | None, rec_id: str | None, status: str | None, note: str | None,
           author: str | None, search: str | None) -> tuple[object, dbc.Alert, object]:
    """Record the progress for the page's force (national for England and Wales) through
    the one write path, and redraw the table."""
    clicks = _inputs.clicks(clicks)
    rec_id = _inputs.text(rec_id, "the recommendation")
    status = _inputs.text(status, "the status")
    note = _inputs.text(note, "the progress note")
    author = _inputs.text(author, "your name")
    if not clicks:
        return dash.no_update, dash.no_update, dash.no_update
    query = read_query(_inputs.text(search, "the address"))
    # The force the page shows (a force the URL names that cannot be shown falls back,
    # as it does there).
    state = read_state(dataset(), query.get("force"), query.get("period"),
                       query.get("comparator"))
    try:
        service().record_progress(rec_id or "", status or "", note or "", author or "",
                                  area=state.force)
    except AccessDenied as refusal:
        return dash.no_update, dbc.Alert(f"Not recorded: {refusal}", color="danger"), \
            dash.no_update
    except ValueError as problem:
        message = str(problem)
        return (dash.no_update,
                dbc.Alert(f"Not recorded: {message[0].upper()}{message[1:]}.",
                          color="danger"),
                dash.no_update)
    where = "nationally" if state.force == NATIONAL_SLUG else f"for {area_name(state.force)}"
    return (status_table(current_rows(state.force), state),
            dbc.Alert(f"Recorded {rec_id} as {status} {where}.", color="success"),
            "")

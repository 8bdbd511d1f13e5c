"""Board pack builder: a PowerPoint, PDF or Word pack for a force and period.

The same packs as ``flightdeck export``: a title page, a summary table per pillar, one
chart per KPI with its plain-English summary and commentary, the inspection
recommendations with their status and latest progress note, and sources and
definitions, with the protective marking on every page. Building one is an export:
analysts only, and a force-scoped analyst for their own force only.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from kpis.charts.specs import DEFAULT_MARKING
from kpis.domain.periods import format_month
from kpis.settings import NATIONAL_SLUG
from layouts._packs import FORMATS, pack_download
from layouts._shell import control_bar, safe_layout
from layouts._state import month_or, read_state
from web import request_checks as _inputs
from web.context import dataset

dash.register_page(__name__, path="/board-pack", name="Board pack",
                   title="Board pack - NOM flight deck", order=7)

PILLARS = "pack-pillars"
FORMAT = "pack-format"
MARKING = "pack-marking"
SUPPRESS = "pack-suppress"
BUILD = "pack-build"
STATUS = "pack-status"
DOWNLOAD = "pack-download"


@safe_layout
def layout(force: str | None = None, period: str | None = None,
           comparator: str | None = None, **_: str) -> html.Div:
    ds = dataset()
    state = read_state(ds, force, period, comparator)
    return html.Div([
        html.H1(f"Board pack: {ds.area_names[state.force]}", className="h3"),
        control_bar(state),
        dbc.Row([
            dbc.Col([
                dbc.Label("Pillars", html_for=PILLARS),
                dbc.Checklist(
                    [{"label": f"{p.number}. {p.name}", "value": p.number}
                     for p in ds.catalogue.pillars],
                    [p.number for p in ds.catalogue.pillars], id=PILLARS),
            ], md=6),
            dbc.Col([
                dbc.Label("Format", html_for=FORMAT),
                dbc.RadioItems([{"label": label, "value": value} for value, label in FORMATS],
                               "pptx", id=FORMAT),
                dbc.Label("Protective marking", html_for=MARKING, className="mt-2"),
                dbc.Input(id=MARKING, value=DEFAULT_MARKING, maxLength=60),
                dbc.Checklist([{"label": "Apply disclosure control (hide counts of 1 to 4, "
                                         "rates built on them and figures that would give "
                                         "them away; always on unless the marking is "
                                         "OFFICIAL-SENSITIVE or higher)", "value": "on"}],
                              [], id=SUPPRESS, className="mt-2"),
            ], md=6),
        ], className="g-3"),
        dbc.Button("Build the pack", id=BUILD, color="primary", className="mt-3",
                   disabled=state.force == NATIONAL_SLUG),
        html.P("Choose a force to build its pack." if state.force == NATIONAL_SLUG else "",
               className="small mt-1"),
        dcc.Loading(html.Div(id=STATUS, className="mt-3", role="status"), type="circle",
                    delay_show=200),
        dcc.Download(id=DOWNLOAD),
    ])


@dash.callback(
    Output(DOWNLOAD, "data"),
    Output(STATUS, "children"),
    Input(BUILD, "n_clicks"),
    State("control-force", "value"),
    State("control-period", "value"),
    State(PILLARS, "value"),
    State(FORMAT, "value"),
    State(MARKING, "value"),
    State(SUPPRESS, "value"),
    prevent_initial_call=True,
)
def build(clicks: int | None, force: str, period: str, pillars: list[int], fmt: str,
          marking: str, suppress: list[str]) -> tuple[object, object]:
    """Build the pack on request; the spinner shows while it is built."""
    clicks = _inputs.clicks(clicks)
    force = _inputs.text(force, "the force")
    period = _inputs.text(period, "the period")
    pillars = _inputs.int_list(pillars, "the pillars")
    fmt = _inputs.text(fmt, "the format")
    marking = _inputs.text(marking, "the protective marking")
    suppress = _inputs.text_list(suppress, "the disclosure control choice")
    if not clicks or not force or not period:
        return dash.no_update, dash.no_update
    if not pillars:
        return None, dbc.Alert("Choose at least one pillar.", color="warning")
    month = month_or(period, None)
    if month is None:
        return None, dbc.Alert("Choose a period from the list.", color="warning")
    return pack_download(force, month, fmt or "", pillars=pillars, kpis=None,
                         marking=(marking or DEFAULT_MARKING).strip(),
                         suppress=bool(suppress),
                         name=f"board-pack-{force}-{format_month(month)}")

"""Board pack builder: a PowerPoint, PDF or Word pack for a force and period.

The same packs as ``flightdeck export``: the summary matrix and what needs attention
first, a chart for each of the most severe exceptions (or, for a full pack, every KPI),
then an appendix with every other KPI, the inspection recommendations with this force's
progress, and the definitions, with the protective marking on every page. Building one
is an export: analysts only, and a force-scoped analyst for their own force only. It is
built in the background (:mod:`layouts._packs`), with its progress and a cancel button.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, State, html

from kpis.charts.specs import DEFAULT_MARKING
from kpis.domain.periods import format_month
from kpis.engine.disclosure import default_marking
from kpis.settings import NATIONAL_SLUG
from layouts._packs import FORMATS, job_panel, refused, register_job_callbacks, start, start_outputs
from layouts._shell import control_bar, safe_layout
from layouts._state import month_or, read_state
from web import request_checks as _inputs
from web.context import dataset

dash.register_page(__name__, path="/board-pack", name="Board pack",
                   title="Board pack - NOM flight deck", order=7)

PREFIX = "pack"
PILLARS = "pack-pillars"
FORMAT = "pack-format"
MARKING = "pack-marking"
SUPPRESS = "pack-suppress"
FULL = "pack-full"
BUILD = "pack-build"


@safe_layout
def layout(force: str | None = None, period: str | None = None,
           comparator: str | None = None, **_: str) -> html.Div:
    ds = dataset()
    state = read_state(ds, force, period, comparator)
    return html.Div([
        html.H1(f"Board pack: {ds.area_names[state.force]}", className="h3"),
        control_bar(state),
        html.P("The pack opens with every KPI at a glance and what needs attention, then "
               "a chart for each of the most severe exceptions (at most eight), then an "
               "appendix: every other KPI, the inspection recommendations and the "
               "definitions. Twenty pages at most unless every chart is asked for.",
               className="small"),
        dbc.Row([
            dbc.Col([
                dbc.Label("Pillars", html_for=PILLARS),
                dbc.Checklist(
                    [{"label": f"{p.number}. {p.name}", "value": p.number}
                     for p in ds.catalogue.pillars],
                    [p.number for p in ds.catalogue.pillars], id=PILLARS),
                dbc.Checklist([{"label": "A chart for every KPI (a full pack, longer)",
                                "value": "on"}], [], id=FULL, className="mt-2"),
            ], md=6),
            dbc.Col([
                dbc.Label("Format", html_for=FORMAT),
                dbc.RadioItems([{"label": label, "value": value} for value, label in FORMATS],
                               "pptx", id=FORMAT),
                dbc.Label("Protective marking", html_for=MARKING, className="mt-2"),
                # The marking the chosen KPIs carry (every pillar's, as the page opens):
                # OFFICIAL-SENSITIVE unless they are all Home Office open data.
                dbc.Input(id=MARKING, maxLength=60,
                          value=default_marking(ds.catalogue, ds.kpis.values())),
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
        job_panel(PREFIX),
    ])


@dash.callback(
    *start_outputs(PREFIX),
    Input(BUILD, "n_clicks"),
    State("control-force", "value"),
    State("control-period", "value"),
    State(PILLARS, "value"),
    State(FORMAT, "value"),
    State(MARKING, "value"),
    State(SUPPRESS, "value"),
    State(FULL, "value"),
    prevent_initial_call=True,
)
def build(clicks: int | None, force: str, period: str, pillars: list[int], fmt: str,
          marking: str, suppress: list[str], full: list[str]) -> tuple[Any, ...]:
    """Start building the pack in the background; the panel follows it."""
    clicks = _inputs.clicks(clicks)
    force = _inputs.text(force, "the force")
    period = _inputs.text(period, "the period")
    pillars = _inputs.int_list(pillars, "the pillars")
    fmt = _inputs.text(fmt, "the format")
    marking = _inputs.text(marking, "the protective marking")
    suppress = _inputs.text_list(suppress, "the disclosure control choice")
    full = _inputs.text_list(full, "the full pack choice")
    if not clicks or not force or not period:
        return (dash.no_update,) * 5
    if not pillars:
        return refused("Choose at least one pillar.")
    month = month_or(period, None)
    if month is None:
        return refused("Choose a period from the list.")
    if force not in dataset().area_names or force == NATIONAL_SLUG:
        return refused("Choose a force from the list.")
    return start(force, month, fmt or "", pillars=pillars, kpis=None,
                 marking=(marking or DEFAULT_MARKING).strip(), suppress=bool(suppress),
                 name=f"board-pack-{force}-{format_month(month)}", full=bool(full))


register_job_callbacks(PREFIX)

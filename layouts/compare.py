"""Compare forces: one KPI across all 43 forces, as ranked bars or a funnel plot.

Filterable by region or peer group; the England and Wales figure is always the
reference line. The choices live in the URL like every other view.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from kpis.charts.specs import SCOPED_COMPARE_NOTE, compare_export
from kpis.domain.formatting import format_period, format_value
from kpis.domain.vocabulary import OPEN_DATA_SCOPE_NOTE
from kpis.engine.dataset import Dataset
from kpis.engine.views import force_rows, group_members, period_on_or_before
from kpis.settings import NATIONAL_SLUG
from layouts._downloads import chart_downloads
from layouts._shell import chart_block, control_bar, empty_state, safe_layout
from layouts._state import ViewState, merged_query, read_state
from layouts._tables import data_table
from web import ids
from web.context import dataset, is_dark

dash.register_page(__name__, path="/compare", name="Compare forces",
                   title="Compare forces - NOM flight deck", order=2)

DEFAULT_KPI = "ho_rape_charge_rate"
VIEWS = (("bars", "Ranked bars"), ("funnel", "Funnel plot"))
COMPARE_KPI = "compare-kpi"
COMPARE_GROUP = "compare-group"
COMPARE_VIEW = "compare-view"


def compare_controls(ds: Dataset, kpi_id: str, group: str, view: str) -> dbc.Row:
    everyone = "All 43 forces" if ds.scope is None else "All forces you can see"
    groups = [{"label": everyone, "value": NATIONAL_SLUG}] + [
        {"label": name if kind != "region" else f"{name} (region)", "value": area}
        for area, name, kind in zip(ds.areas["area_id"], ds.areas["name"], ds.areas["kind"],
                                    strict=True)
        if kind in ("region", "user") and ds.visible(str(area))
    ]
    return dbc.Row([
        dbc.Col([dbc.Label("KPI", html_for=COMPARE_KPI),
                 dcc.Dropdown([{"label": k.title, "value": k.kpi_id} for k in ds.kpis.values()],
                              kpi_id, id=COMPARE_KPI, clearable=False)], md=5),
        dbc.Col([dbc.Label("Forces", html_for=COMPARE_GROUP),
                 dcc.Dropdown(groups, group, id=COMPARE_GROUP, clearable=False)], md=4),
        dbc.Col([dbc.Label("Show as", html_for=COMPARE_VIEW),
                 dbc.RadioItems([{"label": label, "value": value} for value, label in VIEWS],
                                view, id=COMPARE_VIEW, inline=True)], md=3),
    ], className="g-3 mb-3")


def comparison(ds: Dataset, state: ViewState, kpi_id: str, group: str, view: str) -> html.Div:
    kpi = ds.kpis[kpi_id]
    highlight = state.force if state.force != NATIONAL_SLUG else None
    spec = compare_export(ds, kpi_id, state.period, highlight, group, view, marking=None,
                          dark=is_dark())
    if spec.figure is None:
        return empty_state(spec.summary)
    period = period_on_or_before(ds, kpi_id, state.period)
    members = group_members(ds, group)
    scope = ds.forces_label if members is None else ds.area_names[group]
    rows = force_rows(ds, kpi_id, period, members)
    table = data_table(
        rows, [("rank", "Rank", lambda v: "" if v != v else f"{v:.0f}"),
               ("name", "Force", None), ("value", "Value", lambda v: format_value(kpi, v))],
        caption=f"{kpi.title}, {format_period(kpi, period)}, {scope}",
        table_id="compare-table", row_header="name",
        highlight=lambda r: r["area"] == state.force,
    )
    note = None
    if ds.scope is not None:
        note = (html.P(OPEN_DATA_SCOPE_NOTE, className="small", id="open-data-note")
                if ds.catalogue.is_open_data(kpi) else
                html.P(SCOPED_COMPARE_NOTE, className="small", id="scoped-compare-note"))
    return html.Div([
        note,
        chart_block("compare-chart", spec.figure, spec.summary,
                    downloads=chart_downloads("compare", kpi_id, spec.text.title, state,
                                              group=group, view=view)),
        html.Details([html.Summary("Show the data as a table"), table]),
    ])


@safe_layout
def layout(force: str | None = None, period: str | None = None, comparator: str | None = None,
           kpi: str | None = None, group: str | None = None, view: str | None = None,
           **_: str) -> html.Div:
    ds = dataset()
    state = read_state(ds, force, period, comparator)
    kpi_id = kpi if kpi in ds.kpis else DEFAULT_KPI if DEFAULT_KPI in ds.kpis else next(
        iter(ds.kpis))
    groups = {a for a in ds.areas.loc[ds.areas["kind"].isin(["region", "user"]), "area_id"]
              if ds.visible(str(a))}
    group = group if group in groups else NATIONAL_SLUG
    view = view if view in dict(VIEWS) else "bars"
    return html.Div([
        html.H1(f"Compare forces: {ds.kpis[kpi_id].title}", className="h3"),
        control_bar(state),
        compare_controls(ds, kpi_id, group, view),
        comparison(ds, state, kpi_id, group, view),
    ])


@dash.callback(
    Output(ids.URL, "search", allow_duplicate=True),
    Input(COMPARE_KPI, "value"),
    Input(COMPARE_GROUP, "value"),
    Input(COMPARE_VIEW, "value"),
    State(ids.URL, "search"),
    prevent_initial_call=True,
)
def compare_to_url(kpi: str, group: str, view: str, search: str | None) -> str:
    """Keep the chosen KPI, group and view in the URL."""
    query = merged_query(search, kpi=kpi, group=group, view=view)
    return dash.no_update if query is None else query

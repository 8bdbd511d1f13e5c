"""Pillar page: trend charts of every KPI in one Soteria pillar.

Each chart shows the force's value by period and its rolling year, against the
comparator's rolling year, with the plain-English summary beneath.
"""

from __future__ import annotations

import dash
import pandas as pd
from dash import ALL, MATCH, Input, Output, State, dcc, html

from kpis.charts.specs import ChartExport, trend_exports
from kpis.domain.catalogue import KpiDefinition
from kpis.domain.formatting import format_period, format_value
from kpis.engine.measures import area_rows
from layouts._downloads import chart_downloads
from layouts._live import live_html, register_live_page
from layouts._markup import link, tag
from layouts._shell import chart_block, clientside, control_bar, empty_state, safe_layout
from layouts._state import ViewState, read_query, read_state
from layouts._tables import data_table
from web import ids
from web.context import dataset, is_dark, service

TABLE_SUMMARY = "trend-table-summary"
TABLE_BODY = "trend-table-body"

PATH = "/pillar/<number>"
dash.register_page(__name__, path_template=PATH, name="Pillar",
                   title="Pillar - NOM flight deck", order=1)


def kpi_trend(kpi: KpiDefinition, spec: ChartExport, state: ViewState) -> html.Div:
    if spec.figure is None:
        return html.Div([html.H2(kpi.title, className="h5"), empty_state(spec.summary)])
    # The table is built when its disclosure is first opened: nine tables of every
    # period are most of the page's cost, and most visits never open one. Its id names
    # the KPI only, so that it is the same element in every view (layouts/_live.py):
    # the view it is for is the page's address when it is opened.
    table = html.Div(id={"type": TABLE_BODY, "key": kpi.kpi_id},
                     className="chart-table-body")
    return html.Div([
        live_html(f"trend-heading-{kpi.kpi_id}",
                  tag("h2", link(kpi.title, f"/kpi/{kpi.kpi_id}{state.query()}"),
                      class_="h5")),
        chart_block(f"trend-{kpi.kpi_id}", spec.figure, spec.summary, table=table,
                    downloads=chart_downloads("trend", kpi.kpi_id, kpi.title, state,
                                              comparator=state.comparator),
                    table_summary_id={"type": TABLE_SUMMARY, "key": kpi.kpi_id}, live=True),
    ])


def trend_table_for(kpi_id: object, search: str | None) -> html.Div | html.P:
    """The trend table of ``kpi_id`` for the view in the page's query (both checked: a
    request may be crafted; a view not allowed falls back as the page does)."""
    ds = dataset()
    kpi = ds.kpis.get(kpi_id) if isinstance(kpi_id, str) else None
    if kpi is None:
        return html.P("This table is not available.")
    query = read_query(search)
    state = read_state(ds, query.get("force"), query.get("period"), query.get("comparator"))
    comparator = state.comparator_area(ds)
    areas = [state.force] + ([comparator] if comparator else [])
    table = service().table([kpi.kpi_id], areas, end=state.period)
    own = area_rows(table, state.force)
    if own.empty:
        return html.P(f"No data for {ds.area_names[state.force]}.")
    other = area_rows(table, comparator) if comparator else None
    return trend_table(kpi, own, other, ds.area_names[state.force],
                       state.comparator_label(ds))


@dash.callback(
    Output({"type": TABLE_BODY, "key": MATCH}, "children"),
    Input({"type": TABLE_SUMMARY, "key": MATCH}, "n_clicks"),
    State({"type": TABLE_BODY, "key": MATCH}, "children"),
    State(ids.URL, "search"),
    prevent_initial_call=True,
)
def fill_table(clicks: object, current: object, search: object) -> object:
    """Build a chart's table the first time its disclosure is opened."""
    if not clicks or current:
        return dash.no_update
    return trend_table_for(dash.ctx.triggered_id["key"],
                           search if isinstance(search, str) else None)


# Asked of the server only when a table is open: most switches have none, and need no
# second request (assets/flightdeck.js: tablesToRefill).
dash.clientside_callback(
    clientside("tablesToRefill"),
    Output(ids.TABLES_TO_REFILL, "data"),
    Input(ids.VIEW_SEARCH, "data"),
    State({"type": TABLE_BODY, "key": ALL}, "children"),
    prevent_initial_call=True,
)


@dash.callback(
    Output({"type": TABLE_BODY, "key": ALL}, "children", allow_duplicate=True),
    Input(ids.TABLES_TO_REFILL, "data"),
    State({"type": TABLE_BODY, "key": ALL}, "children"),
    prevent_initial_call=True,
)
def tables_follow_the_view(asked: object, bodies: list[object]) -> list[object]:
    """After a switch drawn in place (layouts/_live.py) the tables stay on the page: each
    one already built (opened at some time) is built again for the new view, as soon as
    the switch is applied; the others are built when first opened (fill_table). Asked
    (through ids.TABLES_TO_REFILL) only when one is built; the request is checked all the
    same, as any request may be crafted."""
    if not (isinstance(asked, dict) and asked.get("in_place")
            and isinstance(asked.get("search"), str)):
        return [dash.no_update] * len(bodies)  # the router draws the page, tables empty
    keys = [o["id"]["key"] for o in dash.ctx.outputs_list]
    return [trend_table_for(key, asked["search"]) if body else dash.no_update
            for key, body in zip(keys, bodies, strict=True)]


def trend_table(kpi: KpiDefinition, own: pd.DataFrame, other: pd.DataFrame | None,
                name: str, comparator_name: str) -> html.Div:
    """The numbers the trend chart draws, latest period first."""
    value = lambda v: format_value(kpi, v)  # noqa: E731 - a column formatter
    frame = own[["period_start", "value", "rolling_value"]].copy()
    columns = [("period_start", "Period", lambda p: format_period(kpi, p)),
               ("value", name, value), ("rolling_value", f"{name}, rolling year", value)]
    if other is not None and not other.empty and kpi.unit != "count":
        frame = frame.merge(
            other[["period_start", "rolling_value"]].rename(
                columns={"rolling_value": "comparator_rolling"}),
            on="period_start", how="left")
        columns.append(("comparator_rolling", f"{comparator_name}, rolling year", value))
    return data_table(frame.iloc[::-1], columns, caption=f"{kpi.title}: the figures in the chart",
                      table_id=f"trend-table-{kpi.kpi_id}", row_header="period_start")


def build(number: str | None = None, force: str | None = None, period: str | None = None,
          comparator: str | None = None, **_: str) -> html.Div:
    ds = dataset()
    pillar = next((p for p in ds.catalogue.pillars if str(p.number) == str(number)), None)
    if pillar is None:
        return html.Div([html.H1("Pillar not found", className="h3"),
                         html.P(f"There is no pillar {number!r}."),
                         dcc.Link("Back to the flight deck", href="/")])
    state = read_state(ds, force, period, comparator)
    kpis = [k for k in ds.kpis.values() if k.pillar == pillar.number]
    specs = trend_exports(ds, [k.kpi_id for k in kpis], state.force, state.period,
                          state.comparator_area(ds), marking=None, dark=is_dark())
    others = [link(f"{p.number}. {p.name}", f"/pillar/{p.number}{state.query()}",
                   class_="me-3")
              for p in ds.catalogue.pillars if p.number != pillar.number]
    return html.Div([
        live_html("heading", tag("h1", f"Pillar {pillar.number}: {pillar.name} — "
                                 f"{ds.area_names[state.force]}", class_="h3")),
        live_html("other-pillars", tag("nav", others, class_="small mb-2",
                                       aria_label="Other pillars")),
        control_bar(state),
        *[kpi_trend(kpi, spec, state) for kpi, spec in zip(kpis, specs, strict=True)],
        dcc.Store(id=ids.TABLES_TO_REFILL),
    ])


layout = safe_layout(build)
register_live_page(__name__, PATH, build)

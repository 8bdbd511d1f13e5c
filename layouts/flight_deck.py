"""Flight deck: every KPI, grouped by Soteria pillar, for one force and period.

Each tile shows the latest value, the change on the same period a year earlier,
the comparator's value and the SPC variation, in words as well as colour.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import html

from kpis.catalogue import KpiDefinition
from kpis.formatting import format_change, format_period, format_value
from layouts import _ids as ids
from layouts._context import dataset, service
from layouts._shell import control_bar
from layouts._state import ViewState, read_state

dash.register_page(__name__, path="/", name="Flight deck", title="Flight deck - NOM flight deck",
                   order=0)

VARIATION_TEXT = {
    "improvement": "Special cause: improvement",
    "concern": "Special cause: concern",
    "neither": "Special cause: unusual change",
    "common": "Common cause variation",
}
VARIATION_CLASS = {
    "improvement": "variation-improvement",
    "concern": "variation-concern",
    "neither": "variation-neither",
    "common": "variation-common",
}


def latest_rows(table: pd.DataFrame, area: str) -> dict[str, pd.Series]:
    """The most recent row per KPI for ``area`` (quarterly KPIs lag monthly ones)."""
    rows = table[table["area"] == area]
    if rows.empty:
        return {}
    last = rows.groupby("kpi", sort=False).tail(1)
    return {row["kpi"]: row for _, row in last.iterrows()}


def kpi_tile(kpi: KpiDefinition, row: pd.Series | None, comparator: pd.Series | None,
             comparator_name: str) -> dbc.Col:
    if row is None:
        body = [html.P("No data for this force and period.", className="text-body-secondary")]
    else:
        variation = str(row["variation"])
        body = [
            html.P(format_value(kpi, row["value"], row.get("suppressed", False)),
                   className="tile-value"),
            html.P(format_period(kpi, row["period_start"]), className="tile-period small"),
            html.P(["Change on a year earlier: ",
                    format_change(kpi, row["change"], row.get("suppressed", False))],
                   className="small mb-1"),
            html.P(
                [f"{comparator_name}: ",
                 format_value(kpi, comparator["value"], comparator.get("suppressed", False))]
                if comparator is not None else "No comparator",
                className="small mb-1",
            ),
            html.P(VARIATION_TEXT.get(variation, variation),
                   className=f"small mb-0 variation {VARIATION_CLASS.get(variation, '')}"),
        ]
    return dbc.Col(
        dbc.Card(
            dbc.CardBody([html.H3(kpi.title, className="h6 tile-title"), *body]),
            className="h-100 kpi-tile",
        ),
        id=ids.KPI_TILE.format(kpi_id=kpi.kpi_id),
        xs=12, sm=6, lg=4, xxl=3,
    )


def pillar_section(number: int, name: str, tiles: list[dbc.Col]) -> html.Section:
    return html.Section(
        [html.H2(f"{number}. {name}", className="h4 mt-4"), dbc.Row(tiles, className="g-3")],
        id=ids.PILLAR_SECTION.format(number=number),
        className="pillar",
        **{"aria-label": f"Pillar {number}: {name}"},
    )


def flight_deck(state: ViewState) -> html.Div:
    ds = dataset()
    comparator_area = state.comparator_area(ds)
    areas = [state.force] + ([comparator_area] if comparator_area else [])
    table = service().table(areas=areas, end=state.period)
    own = latest_rows(table, state.force)
    other = latest_rows(table, comparator_area) if comparator_area else {}
    sections = []
    for pillar in ds.catalogue.pillars:
        kpis = [k for k in ds.kpis.values() if k.pillar == pillar.number]
        tiles = [
            kpi_tile(k, own.get(k.kpi_id), other.get(k.kpi_id), state.comparator_label(ds))
            for k in kpis
        ]
        sections.append(pillar_section(pillar.number, pillar.name, tiles))
    return html.Div(sections, id=ids.FLIGHT_DECK)


def layout(force: str | None = None, period: str | None = None,
           comparator: str | None = None, **_: str) -> html.Div:
    ds = dataset()
    state = read_state(ds, force, period, comparator)
    name = ds.area_names.get(state.force, state.force)
    return html.Div([
        html.H1(f"Flight deck: {name}", className="h3"),
        control_bar(state),
        flight_deck(state),
    ])

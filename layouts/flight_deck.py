"""Flight deck: every KPI, grouped by Soteria pillar, for one force and period.

Each tile shows the latest value, the change on the same period a year earlier,
the comparator's value and the SPC variation, in words as well as colour.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import dash
import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import dcc, html

from kpis.charts.figures import DARK_BLUE, sparkline_svg
from kpis.charts.glance import at_periods, glance_rows, headline
from kpis.domain.catalogue import KpiDefinition
from kpis.domain.formatting import (
    change_direction,
    finite_or_none,
    format_change,
    format_period,
    format_value,
    period_unit,
)
from kpis.domain.vocabulary import (
    ASSURANCE_PHRASE,
    PROVISIONAL_LABEL,
    WITHHELD_AREA_NOTE,
    variation_phrase,
)
from kpis.engine.summary import is_incomplete, limits_phrase
from kpis.engine.views import last_loaded, period_on_or_before
from layouts._glance import headline_strip, summary_matrix
from layouts._shell import control_bar, safe_layout
from layouts._state import ViewState, read_state
from web import ids
from web.context import dataset, is_dark, service

dash.register_page(__name__, path="/", name="Flight deck", title="Flight deck - NOM flight deck",
                   order=0)

VARIATION_CLASS = {
    "improvement": "variation-improvement",
    "concern": "variation-concern",
    "neither": "variation-neither",
    "common": "variation-common",
}


SPARK_DARK = "#9ec5fe"  # the dark theme's line colour (as in the figures)
SPARK_PERIODS = {"monthly": 24, "quarterly": 8}
SPARK_WIDTH, SPARK_HEIGHT = 240, 56



def latest_and_history(table: pd.DataFrame, area: str
                       ) -> tuple[dict[str, dict[str, Any]], dict[str, list[float]]]:
    """Each KPI's latest row for ``area`` as a plain record, and its values oldest first.

    Plain records for the ~36 latest rows only: per-row pandas access, or records for
    every period, would cost more than computing the KPIs did.
    """
    rows = table[table["area"] == area]
    latest = {r["kpi"]: r for r in rows.groupby("kpi", sort=False).tail(1).to_dict("records")}
    kpis, values = rows["kpi"].to_numpy(), rows["value"].to_numpy(dtype=float)
    starts = np.flatnonzero(np.r_[True, kpis[1:] != kpis[:-1]]) if len(kpis) else []
    ends = [*starts[1:], len(kpis)]
    history = {kpis[a]: values[a:b].tolist() for a, b in zip(starts, ends, strict=True)}
    return latest, history


def spc_words(kpi: KpiDefinition, row: Mapping[str, Any]) -> str:
    """The tile's SPC line: the variation, or why there is none (too few points)."""
    if row.get("spc_limits") == "too_few":
        return limits_phrase(kpi, row)
    words = variation_phrase(row.get("variation"))
    return f"{words} (trial limits)" if words and row.get("spc_limits") == "trial" else words


def comparator_words(kpi: KpiDefinition, row: Mapping[str, Any] | None, name: str,
                     own: Mapping[str, Any] | None = None, withheld: bool = False) -> str:
    """'England and Wales: 25.0%', with '(1 of 43 forces)' when its period is incomplete.

    ``row`` is the comparator at the tile's own period (None: no comparator, or none
    for that period). A count is compared per its base (100,000 people unless the
    catalogue says otherwise), the force's own rate beside it: a raw count would
    compare a force with the whole country's size.
    """
    if not name:
        return "No comparator selected"
    if withheld:
        return f"{name}: {WITHHELD_AREA_NOTE}"
    if row is None:
        return f"{name}: no figure for this period"
    hidden = bool(row.get("suppressed"))
    if kpi.compared_as_rate:
        # 'England and Wales: 8.4 (this force 6.4) per 100,000 people': the basis once.
        bare = replace(kpi, unit="ratio")
        text = f"{name}: {format_value(bare, row['comparison'], hidden)}"
        if own is not None:
            mine = format_value(bare, own.get("comparison"), bool(own.get("suppressed")))
            text += f" (this force {mine})"
        text += f" {kpi.comparison_basis}"
    else:
        text = f"{name}: {format_value(kpi, row['value'], hidden)}"
    if is_incomplete(row):
        text += f" ({int(row['forces_reporting'])} of {int(row['forces_in_area'])} forces)"
    return text


def kpi_tile(kpi: KpiDefinition, row: Mapping[str, Any] | None,
             comparator: Mapping[str, Any] | None, comparator_name: str,
             history: list[float], state: ViewState, dark: bool = False,
             expected: Any = None, withheld: bool = False) -> dbc.Col:
    """One KPI's tile; ``expected`` is the period it should show (the latest national one
    not after the chosen month): a force without data for it says so."""
    link = dcc.Link(kpi.title, href=f"/kpi/{kpi.kpi_id}{state.query()}",
                    className="stretched-link tile-link")
    if row is None:
        body = [html.P("No data for this force and period.", className="text-body-secondary")]
    else:
        suppressed = bool(row.get("suppressed", False))
        variation = str(row["variation"])
        recent = history[-SPARK_PERIODS[kpi.periodicity]:]
        # Better or worse by the KPI's polarity: a rise is not good news for every KPI.
        direction = "" if suppressed else change_direction(kpi, row["change"])
        # Larger than a glance, with the mean (dashed) and the limits (dotted).
        spark = sparkline_svg(recent, width=SPARK_WIDTH, height=SPARK_HEIGHT,
                              colour=SPARK_DARK if dark else DARK_BLUE,
                              mean=finite_or_none(row.get("spc_mean")),
                              lower=finite_or_none(row.get("spc_lower")),
                              upper=finite_or_none(row.get("spc_upper")))
        body = [
            html.P(f"No data for {format_period(kpi, expected)}: the latest is shown",
                   className="small mb-1 tile-missing")
            if expected is not None and pd.Timestamp(row["period_start"]) < pd.Timestamp(
                expected) else None,
            html.P(format_value(kpi, row["value"], suppressed), className="tile-value"),
            html.P(period_unit(kpi), className="small mb-0 tile-unit")
            if period_unit(kpi) else None,
            html.P(format_period(kpi, row["period_start"])
                   + (f" ({PROVISIONAL_LABEL})" if row.get("provisional") else ""),
                   className="tile-period small"),
            html.Img(src=spark, alt=f"Trend over the last {len(recent)} periods"
                     + (", with the mean and the process limits"
                        if finite_or_none(row.get("spc_mean")) is not None else ""),
                     width=SPARK_WIDTH, height=SPARK_HEIGHT,
                     className="tile-spark") if spark and not suppressed else None,
            html.P(["Change on a year earlier: ",
                    format_change(kpi, row["change"], suppressed),
                    f", {direction}" if direction else ""],
                   className="small mb-1 tile-change"),
            html.P(comparator_words(kpi, comparator, comparator_name, row, withheld),
                   className="small mb-1 tile-comparator"),
            html.P(spc_words(kpi, row),
                   className=f"small mb-1 variation {VARIATION_CLASS.get(variation, '')}"),
            html.P(ASSURANCE_PHRASE[str(row["assurance"])],
                   className=f"small mb-0 assurance assurance-{row['assurance']}")
            if kpi.target is not None and row.get("assurance") in ASSURANCE_PHRASE else None,
        ]
    return dbc.Col(
        dbc.Card(
            dbc.CardBody([html.H3(link, className="h6 tile-title"), *body]),
            className="h-100 kpi-tile",
        ),
        id=ids.KPI_TILE.format(kpi_id=kpi.kpi_id),
        xs=12, sm=6, lg=4, xxl=3,
    )


def pillar_summary(rows: list[Mapping[str, Any] | None]) -> str:
    """How many of the pillar's KPIs show improvement, concern, or no special cause."""
    present = [r for r in rows if r is not None]
    variations = [str(r["variation"]) for r in present]
    improving = variations.count("improvement")
    concerning = variations.count("concern")
    too_few = sum(r.get("spc_limits") == "too_few" for r in present)
    stable = len(variations) - improving - concerning - too_few
    missing = len(rows) - len(variations)
    text = f"{improving} improving, {concerning} concerning, {stable} stable or no signal"
    if too_few:
        text += f", {too_few} with too few points for SPC"
    return text + (f", {missing} without data" if missing else "")


def pillar_section(number: int, name: str, summary: str, tiles: list[dbc.Col],
                   state: ViewState) -> html.Section:
    return html.Section(
        [
            html.H2(dcc.Link(f"{number}. {name}", href=f"/pillar/{number}{state.query()}"),
                    className="h4 mt-4 mb-1"),
            html.P(summary, className="pillar-summary small mb-2"),
            dbc.Row(tiles, className="g-3"),
        ],
        id=ids.PILLAR_SECTION.format(number=number),
        className="pillar",
        **{"aria-label": f"Pillar {number}: {name}"},
    )


def flight_deck(state: ViewState) -> html.Div:
    ds = dataset()
    comparator_area = state.comparator_area(ds)
    areas = [state.force] + ([comparator_area] if comparator_area else [])
    table = service().table(areas=areas, end=state.period)
    own, history = latest_and_history(table, state.force)
    # The comparator at each tile's own period, never at a later one.
    other = at_periods(table, comparator_area, own) if comparator_area else {}
    dark = is_dark()
    expected = {k: period_on_or_before(ds, k, state.period) for k in ds.kpis}
    glance = glance_rows(list(ds.kpis.values()), own, other, expected)
    comparator_name = state.comparator_label(ds)
    sections = [
        headline_strip(headline(glance), state, last_loaded(ds, state.force)),
        summary_matrix(glance, ds.catalogue.pillars, state, comparator_name),
        html.H2("Every KPI in detail", className="h4 mt-4 mb-0 tiles-heading"),
    ]
    for pillar in ds.catalogue.pillars:
        kpis = [k for k in ds.kpis.values() if k.pillar == pillar.number]
        tiles = [
            kpi_tile(k, own.get(k.kpi_id), other.get(k.kpi_id), comparator_name,
                     history.get(k.kpi_id, []), state, dark, expected=expected[k.kpi_id],
                     withheld=bool(comparator_area) and not ds.visible(str(comparator_area)))
            for k in kpis
        ]
        summary = pillar_summary([own.get(k.kpi_id) for k in kpis])
        sections.append(pillar_section(pillar.number, pillar.name, summary, tiles, state))
    return html.Div(sections, id=ids.FLIGHT_DECK)


@safe_layout
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

"""Scrutiny: what a Police and Crime Commissioner's meeting needs for a force.

The exceptions since the previous meeting (KPIs with a special-cause concern or
improvement), the force against its peer group and England and Wales on every KPI,
and one click to export that view as a pack.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, dcc, html

from kpis.charts.icons import assurance_icon, special_cause_side, variation_icon
from kpis.charts.specs import DEFAULT_MARKING
from kpis.domain.catalogue import KpiDefinition
from kpis.domain.formatting import format_period, format_value, short_period
from kpis.domain.periods import add_months, format_month, long_month, month_label
from kpis.domain.vocabulary import ASSURANCE_PHRASE, parse_parts
from kpis.engine.dataset import Dataset
from kpis.engine.summary import rule_words
from kpis.engine.views import SCRUTINY_GROUPS, latest_comparison, scrutiny_rows
from kpis.exports.packs.plan import SCRUTINY_TITLE
from kpis.settings import NATIONAL_SLUG
from layouts._glance import icon_image
from layouts._packs import FORMATS, job_panel, refused, register_job_callbacks, start, start_outputs
from layouts._shell import control_bar, empty_state, safe_layout
from layouts._state import ViewState, merged_query, month_or, read_query, read_state
from layouts._tables import data_table
from web import ids
from web import request_checks as _inputs
from web.context import dataset, service

dash.register_page(__name__, path="/scrutiny", name="Scrutiny",
                   title="Scrutiny - NOM flight deck", order=8)

SINCE = "scrutiny-since"
FORMAT = "scrutiny-format"
EXPORT = "scrutiny-export"
PREFIX = "scrutiny"
EXCEPTIONS = "scrutiny-exceptions"


def scrutiny_headline(found: pd.DataFrame, since: dt.date) -> str:
    """'2 concerns, 1 target consistently failed and 3 improvements since June 2025.'"""
    counts = found["group"].value_counts() if not found.empty else pd.Series(dtype=int)

    def count(code: str, one: str, many: str) -> str:
        n = int(counts.get(code, 0))
        return f"{n} {one if n == 1 else many}"

    return (f"{count('concern', 'concern', 'concerns')}, "
            f"{count('failing', 'target consistently failed', 'targets consistently failed')}"
            f" and {count('improvement', 'improvement', 'improvements')} since "
            f"{long_month(since)}.")


def _value(kpi: KpiDefinition, row: dict[str, Any] | None) -> str:
    """'46.3% (Sep 2025)', or what stands in for it."""
    if row is None:
        return "no figure"
    return (f"{format_value(kpi, row.get('value'), bool(row.get('suppressed')))} "
            f"({short_period(kpi, row['period_start'])})")


def exceptions_view(ds: Dataset, found: pd.DataFrame, state: ViewState, since: dt.date
                    ) -> html.Div:
    """Concerns, then targets failed, then improvements: each with its icon, the rule in
    plain words, the figure at the previous meeting and now, the force, its region and
    England and Wales in columns of their own."""
    assert state.period is not None
    if found.empty:
        return empty_state(f"No special-cause signals and no target consistently failed "
                           f"since {long_month(since)}.")
    force_name = ds.area_names[state.force]
    region = ds.region_of.get(state.force, "")
    region_name = f"{ds.area_names.get(region, 'Region')} (region)"
    header = html.Thead(html.Tr([
        html.Th("KPI", scope="col"), html.Th("Signal", scope="col"),
        html.Th("Why", scope="col"),
        html.Th(f"{force_name} at the previous meeting", scope="col"),
        html.Th(f"{force_name} now", scope="col"),
        html.Th(region_name, scope="col"), html.Th("England and Wales", scope="col"),
    ]))
    bodies = []
    for code, heading in SCRUTINY_GROUPS:
        group = found[found["group"] == code]
        if group.empty:
            continue
        rows = [html.Tr(html.Th(f"{heading} ({len(group)})", colSpan=7, scope="colgroup",
                                className="scrutiny-group"))]
        for item in group.itertuples():
            kpi = ds.kpis[item.kpi]
            now, signal = item.now, item.signal or item.now
            parts = parse_parts(now.get("suppressed_parts"))
            icon = (variation_icon(signal.get("variation"), special_cause_side(signal),
                                   signal.get("spc_limits")) if code != "failing"
                    else assurance_icon("fail", True))
            why = rule_words(kpi, signal) if code != "failing" else []
            when = (f" ({short_period(kpi, signal['period_start'])})"
                    if code != "failing" else "")
            reason = ("; ".join(why) + when) if why else (
                f"{ASSURANCE_PHRASE['fail'].lower()} of {format_value(kpi, kpi.target)}"
                if code == "failing" else "")
            rows.append(html.Tr([
                html.Th(dcc.Link(kpi.title, href=f"/kpi/{kpi.kpi_id}{state.query()}"),
                        scope="row"),
                html.Td(icon_image(icon)),
                html.Td(reason),
                html.Td(_value(kpi, item.then)),
                html.Td(_value(kpi, now)),
                html.Td(format_value(kpi, now.get("peer_value"), "peer" in parts)),
                html.Td(format_value(kpi, now.get("national_value"), "national" in parts)),
            ], className=f"scrutiny-{code}"))
        bodies.append(html.Tbody(rows))
    return html.Div(dbc.Table(
        [html.Caption(f"What needs scrutiny since {long_month(since)}: "
                      f"{force_name}"), header, *bodies],
        id=EXCEPTIONS, bordered=False, hover=True, size="sm", className="scrutiny-table"),
        className="table-responsive")


def comparison_view(ds: Dataset, table: pd.DataFrame, state: ViewState) -> html.Div:
    latest = latest_comparison(table, state.force)
    if latest.empty:
        return empty_state("No data for this force.")
    kpis = ds.kpis
    latest = latest.assign(
        title=[kpis[k].title for k in latest["kpi"]],
        when=[format_period(kpis[k], p) for k, p in zip(latest["kpi"], latest["period_start"],
                                                          strict=True)],
        own=[format_value(kpis[k], v, s) for k, v, s in
             zip(latest["kpi"], latest["value"], latest["suppressed"], strict=True)],
        peer=[format_value(kpis[k], v) for k, v in zip(latest["kpi"], latest["peer_value"],
                                                       strict=True)],
        national=[format_value(kpis[k], v) for k, v in
                  zip(latest["kpi"], latest["national_value"], strict=True)],
        position=[("" if pd.isna(r) else f"{r:.0f} of {n:.0f}") for r, n in
                  zip(latest["rank"], latest["ranked_forces"], strict=True)],
    )
    # "West Midlands (region)" beside the force West Midlands: headings never repeat.
    region = f"{ds.area_names.get(ds.region_of.get(state.force, ''), 'Region')} (region)"
    return data_table(
        latest,
        [("title", "KPI", None), ("when", "Period", None), ("own", ds.area_names[state.force],
                                                             None),
         ("peer", region, None), ("national", "England and Wales", None),
         ("position", "Rank (1 = best)", None)],
        caption=f"{ds.area_names[state.force]} against {region} and England and Wales",
        table_id="scrutiny-comparison", row_header="title",
    )


@safe_layout
def layout(force: str | None = None, period: str | None = None,
           comparator: str | None = None, since: str | None = None, **_: str) -> html.Div:
    ds = dataset()
    state = read_state(ds, force, period, comparator)
    if state.force == NATIONAL_SLUG or state.period is None:
        return html.Div([html.H1("Scrutiny", className="h3"), control_bar(state),
                         empty_state("Choose a force to prepare its scrutiny pack.")])
    meeting = month_or(since, add_months(state.period, -3))
    table = service().table(areas=[state.force], end=state.period)
    found = scrutiny_rows(table, ds, meeting, state.period)
    months = [add_months(state.period, -n) for n in range(1, 25)]
    return html.Div([
        html.H1(f"Scrutiny: {ds.area_names[state.force]}", className="h3"),
        html.P(scrutiny_headline(found, meeting), className="lead scrutiny-headline",
               id="scrutiny-headline"),
        control_bar(state),
        dbc.Row(dbc.Col([
            dbc.Label("Previous meeting", html_for=SINCE),
            dcc.Dropdown([{"label": month_label(m), "value": format_month(m)} for m in months],
                         format_month(meeting), id=SINCE, clearable=False),
        ], md=3), className="mb-3"),
        html.H2("What needs scrutiny since the previous meeting", className="h5"),
        exceptions_view(ds, found, state, meeting),
        html.H2("Against peers and England and Wales", className="h5 mt-3"),
        comparison_view(ds, table, state),
        html.H2("Export this view", className="h5 mt-3"),
        dbc.RadioItems([{"label": label, "value": value} for value, label in FORMATS], "pptx",
                       id=FORMAT, inline=True),
        dbc.Button("Export as a scrutiny pack", id=EXPORT, color="primary",
                   className="mt-2"),
        job_panel(PREFIX),
    ])


@dash.callback(
    Output(ids.URL, "search", allow_duplicate=True),
    Input(SINCE, "value"),
    State(ids.URL, "search"),
    prevent_initial_call=True,
)
def since_to_url(since: str | None, search: str | None) -> str:
    """Keep the previous meeting date in the URL."""
    since = _inputs.text(since, "the previous meeting")
    current = read_query(search)
    # The period the page shows (a bad or later one in the URL falls back, as there).
    state = read_state(dataset(), current.get("force"), current.get("period"),
                       current.get("comparator"))
    default = format_month(add_months(state.period, -3)) if state.period else ""
    query = merged_query(search, {"since": default}, since=since)
    return dash.no_update if query is None else query


@dash.callback(
    *start_outputs(PREFIX),
    Input(EXPORT, "n_clicks"),
    State("control-force", "value"),
    State("control-period", "value"),
    State(SINCE, "value"),
    State(FORMAT, "value"),
    prevent_initial_call=True,
)
def export_exceptions(clicks: int | None, force: str, period: str, since: str, fmt: str
                      ) -> tuple[object, ...]:
    """One click: the exceptions (or, if there are none, every KPI) as a pack."""
    clicks = _inputs.clicks(clicks)
    force = _inputs.text(force, "the force")
    period = _inputs.text(period, "the period")
    since = _inputs.text(since, "the previous meeting")
    fmt = _inputs.text(fmt, "the format")
    if not clicks or not force or not period:
        return (dash.no_update,) * 5
    ds = dataset()
    if force not in set(ds.visible_forces["slug"]):
        return refused("Choose a force from the list.")
    end = month_or(period, None)
    if end is None:
        return refused("Choose a period from the list.")
    meeting = month_or(since, add_months(end, -3))  # the page's own default
    table = service().table(areas=[force], end=end)
    found = scrutiny_rows(table, ds, meeting, end)
    # In the page's order, under its headings; with nothing to scrutinise, every KPI.
    groups = [(heading, list(found.loc[found["group"] == code, "kpi"]))
              for code, heading in SCRUTINY_GROUPS] if not found.empty else None
    return start(force, end, fmt or "", pillars=None, kpis=None, marking=DEFAULT_MARKING,
                 suppress=False, name=f"scrutiny-{force}-{format_month(end)}",
                 groups=groups, kind=SCRUTINY_TITLE)


register_job_callbacks(PREFIX)

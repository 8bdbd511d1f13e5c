"""KPI page: one KPI for one force in depth.

The SPC chart (mean, process limits, special-cause points by rule; limits re-based at
the force's NOM adoption unless the reader asks for the whole series, ``?baseline=all``)
with "how to read this", the funnel plot of all forces for the period with the
force highlighted, the ranked table, the definition with its version history, and
the underlying numbers.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, dcc, html

from kpis.charts.specs import funnel_export, spc_export
from kpis.domain.catalogue import KpiDefinition
from kpis.domain.formatting import format_period, format_value
from kpis.domain.vocabulary import (
    LIMIT_STATE_PHRASE,
    POLARITY_PHRASE,
    rule_phrases,
    variation_phrase,
)
from kpis.engine.dataset import Dataset
from kpis.engine.measures import Baseline
from kpis.engine.views import force_rows, period_on_or_before
from kpis.settings import NATIONAL_SLUG
from layouts._commentary import commentary_block
from layouts._downloads import chart_downloads
from layouts._live import live_children, live_html, register_live_page
from layouts._markup import link, tag
from layouts._shell import chart_block, control_bar, empty_state, safe_layout
from layouts._state import ViewState, merged_query, read_state
from layouts._tables import data_table, data_table_markup
from web import ids
from web.context import dataset, is_dark

PATH = "/kpi/<kpi_id>"
dash.register_page(__name__, path_template=PATH, name="KPI",
                   title="KPI - NOM flight deck", order=3)

WHOLE_SERIES = "all"  # ?baseline=all: limits from the whole series

# The rules of kpis.engine.spc in words (docs/spc.md says the same at more length).
HOW_TO_READ = [
    "The centre line is the mean of the points the limits come from; the process limits "
    "are that mean plus and minus 2.66 times the mean moving range (the average "
    "difference between one month and the next; a missing month is skipped).",
    "Limits are re-based at the force's NOM adoption month when there are at least 15 "
    "points since it; otherwise they come from the whole series, and the chart says so. "
    "England and Wales and the regions use the whole series.",
    "With fewer than 15 points there are no limits and no icons: not enough data for SPC. "
    "With 15 to 19 points the limits are trial limits.",
    "Special cause: a point beyond a process limit; a run of 7 or more points on one side "
    "of the mean (a point on the mean ends it); 7 or more points each higher (or lower) "
    "than the one before (a tie ends it; a trend runs across a re-base); or two of three "
    "points on one side of the mean close to a limit (beyond two thirds of the way).",
    "The icon's direction comes from the first rule that applies, in the order: beyond a "
    "limit, trend, two of three, run. A point equal to the mean or a line is on it.",
    "Assurance: a target on or beyond the bad-side limit is consistently passed; on or "
    "beyond the good-side limit it is consistently failed; between the limits, hit and "
    "miss.",
]


def how_to_read(kpi: KpiDefinition) -> html.Details:
    runs = kpi.spc_run_length
    items = [text.replace("7 or more", f"{runs} or more") for text in HOW_TO_READ]
    return html.Details([html.Summary("How to read this chart"),
                         html.Ul([html.Li(item) for item in items], className="small mb-0")],
                        className="how-to-read mb-2", id="kpi-how-to-read")


def spc_section(ds: Dataset, kpi: KpiDefinition, state: ViewState, whole_series: bool
                ) -> tuple[html.Div, pd.DataFrame]:
    baseline = Baseline(WHOLE_SERIES) if whole_series else Baseline()
    spec = spc_export(ds, kpi.kpi_id, state.force, state.period or ds.as_of, marking=None,
                      baseline=baseline, dark=is_dark())
    if spec.figure is None:
        return empty_state(spec.summary), spec.series
    checklist = dbc.Checklist(
        options=[{"label": "Show limits from the whole series (not re-based at NOM adoption)",
                  "value": "on", "disabled": state.force == NATIONAL_SLUG}],
        value=["on"] if whole_series else [], id="kpi-baseline", switch=True,
        className="mb-2",
    )
    downloads = chart_downloads("spc", kpi.kpi_id, kpi.title, state,
                                baseline=WHOLE_SERIES if whole_series else None)
    return html.Div([live_children(html.Div(checklist), "kpi-baseline"),
                     chart_block("kpi-spc-chart", spec.figure, spec.summary,
                                 downloads=downloads, live=True),
                     how_to_read(kpi)]), spec.series


def funnel_section(ds: Dataset, kpi: KpiDefinition, state: ViewState) -> html.Div:
    highlight = state.force if state.force != NATIONAL_SLUG else None
    spec = funnel_export(ds, kpi.kpi_id, state.period, highlight, marking=None,
                         dark=is_dark())
    if spec.figure is None:
        return empty_state(spec.summary)
    return chart_block("kpi-funnel-chart", spec.figure, spec.summary,
                       downloads=chart_downloads("funnel", kpi.kpi_id, spec.text.title, state),
                       live=True)


def ranking_section(ds: Dataset, kpi: KpiDefinition, state: ViewState) -> html.Div:
    period = period_on_or_before(ds, kpi.kpi_id, state.period)
    if period is None:
        return empty_state("No data for this period.")
    rows = force_rows(ds, kpi.kpi_id, period)
    value = lambda v: format_value(kpi, v)  # noqa: E731 - a column formatter
    count = lambda v: "" if pd.isna(v) else f"{v:,.0f}"  # noqa: E731
    # No rank in a period whose England and Wales figure is incomplete.
    rank = lambda v: "" if pd.isna(v) else f"{v:.0f}"  # noqa: E731
    columns = [("rank", "Rank", rank), ("name", "Force", None), ("value", "Value", value)]
    basis = ""
    if kpi.compared_as_rate:
        per_head = kpi.compared
        basis = f" {kpi.comparison_basis}"
        columns.append(("comparison", basis[1].upper() + basis[2:],
                        lambda v: format_value(per_head, v)))
    if kpi.denominator:
        columns += [("numerator", "Numerator", count), ("denominator", "Denominator", count)]
    return live_html("kpi-ranking", data_table_markup(
        rows, columns, caption=f"Forces ranked by {kpi.title}{basis}, "
                               f"{format_period(kpi, period)} "
                               f"(1 = best; {POLARITY_PHRASE[kpi.polarity].lower()})",
        table_id="kpi-ranking", row_header="name",
        highlight=lambda r: r["area"] == state.force,
    ))


def definition_section(ds: Dataset, kpi: KpiDefinition) -> html.Div:
    titles = {m.measure_id: m.title for m in ds.catalogue.measures}
    versions = [k for k in ds.catalogue.kpis if k.kpi_id == kpi.kpi_id]
    terms = [html.Dt("Numerator"),
             html.Dd(" + ".join(titles.get(m, m) for m in kpi.numerator))]
    if kpi.denominator:
        terms += [html.Dt("Denominator"),
                  html.Dd(" + ".join(titles.get(m, m) for m in kpi.denominator))]
    details = [
        *terms,
        html.Dt("Unit"), html.Dd(kpi.unit.replace("_", " ")),
        html.Dt("Polarity"), html.Dd(POLARITY_PHRASE[kpi.polarity]),
        html.Dt("Target"), html.Dd(format_value(kpi, kpi.target) if kpi.target is not None
                                   else "None"),
        html.Dt("Periodicity"), html.Dd(kpi.periodicity),
        html.Dt("Source"), html.Dd(kpi.source),
        html.Dt("Evidences"), html.Dd(", ".join(kpi.recommendations) or "—"),
    ]
    history = pd.DataFrame([
        {"version": k.version, "status": k.status, "effective_from": k.effective_from,
         "target": format_value(k, k.target) if k.target is not None else "None",
         "description": k.description}
        for k in versions
    ])
    return html.Div([
        html.P(kpi.description),
        html.Dl(details, className="row-definitions"),
        data_table(history, [("version", "Version", None), ("status", "Status", None),
                             ("effective_from", "Effective from", None),
                             ("target", "Target", None), ("description", "Description", None)],
                   caption="Version history", table_id="kpi-versions"),
        dcc.Link("All definitions", href=f"/definitions#kpi-{kpi.kpi_id}"),
    ])


def numbers_section(ds: Dataset, kpi: KpiDefinition, series: pd.DataFrame) -> html.Div:
    if series.empty:
        return empty_state("No figures.")
    value = lambda v: format_value(kpi, v)  # noqa: E731
    count = lambda v: "" if pd.isna(v) else f"{v:,.0f}"  # noqa: E731
    period = lambda p: format_period(kpi, p)  # noqa: E731
    columns = [("period_start", "Period", period), ("numerator", "Numerator", count)]
    if kpi.denominator:
        columns.append(("denominator", "Denominator", count))
    columns += [
        ("value", "Value", value), ("rolling_value", "Rolling year", value),
        ("national_value", "England and Wales", value), ("peer_value", "Region", value),
        ("spc_rule", "SPC rule", lambda r: "; ".join(rule_phrases(r))),
        ("variation", "Variation", variation_phrase),
        ("spc_limits", "Limits", lambda v: LIMIT_STATE_PHRASE.get(v, "")),
    ]
    latest_first = series.iloc[::-1]
    return live_html("kpi-numbers", data_table_markup(
        latest_first, columns, caption="The figures behind the chart",
        table_id="kpi-numbers", row_header="period_start"))


def build(kpi_id: str | None = None, force: str | None = None, period: str | None = None,
          comparator: str | None = None, baseline: str | None = None, **_: str) -> html.Div:
    ds = dataset()
    kpi = ds.kpis.get(kpi_id or "")
    if kpi is None:
        return html.Div([html.H1("KPI not found", className="h3"),
                         html.P(f"There is no published KPI called {kpi_id!r}."),
                         dcc.Link("See all definitions", href="/definitions")])
    state = read_state(ds, force, period, comparator)
    spc, series = spc_section(ds, kpi, state, baseline == WHOLE_SERIES)
    pillar = next(p for p in ds.catalogue.pillars if p.number == kpi.pillar)
    return html.Div([
        live_html("kpi-pillar", tag("p", link(f"Pillar {pillar.number}: {pillar.name}",
                                              f"/pillar/{pillar.number}{state.query()}"),
                                    class_="mb-1")),
        live_html("heading", tag("h1", f"{kpi.title}: {ds.area_names[state.force]}",
                                 class_="h3")),
        control_bar(state),
        html.H2("Is the change real? Statistical process control", className="h5"),
        spc,
        live_children(html.Div(commentary_block(kpi.kpi_id, state.force, state.period)
                               if state.period is not None else None), "kpi-commentary"),
        dbc.Row([
            dbc.Col([html.H2("How does the force compare?", className="h5"),
                     funnel_section(ds, kpi, state)], lg=7),
            dbc.Col([html.H2("Ranking", className="h5"), ranking_section(ds, kpi, state)],
                    lg=5),
        ]),
        html.H2("Definition", className="h5 mt-3"),
        definition_section(ds, kpi),
        html.H2("Underlying numbers", className="h5 mt-3"),
        numbers_section(ds, kpi, series),
    ])


layout = safe_layout(build)
register_live_page(__name__, PATH, build)


@dash.callback(
    Output(ids.URL, "search", allow_duplicate=True),
    Input("kpi-baseline", "value"),
    State(ids.URL, "search"),
    prevent_initial_call=True,
)
def baseline_to_url(value: list[str] | None, search: str | None) -> str:
    """Keep the baseline choice in the URL, so the view can be shared and reloaded."""
    query = merged_query(search, baseline=WHOLE_SERIES if value else None)
    return dash.no_update if query is None else query

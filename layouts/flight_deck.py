"""Flight deck: every KPI, grouped by Soteria pillar, for one force and period.

Each tile shows the latest value, the change on the same period a year earlier,
the comparator's value and the SPC variation, in words as well as colour.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import dash
import pandas as pd
from dash import html

from kpis.charts.figures import DARK_BLUE, GUIDE_COLOUR, Sparkline, sparkline
from kpis.charts.glance import at_periods, glance_rows, headline, latest_and_history
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
from kpis.engine.views import last_loaded, period_on_or_before, recent_start
from layouts._glance import headline_strip, summary_matrix
from layouts._live import live_html, register_live_page
from layouts._markup import Markup, link, tag
from layouts._shell import control_bar, safe_layout
from layouts._state import ViewState, read_state
from web import ids
from web.context import dataset, is_dark, service

PATH = "/"
dash.register_page(__name__, path=PATH, name="Flight deck",
                   title="Flight deck - NOM flight deck", order=0)

VARIATION_CLASS = {
    "improvement": "variation-improvement",
    "concern": "variation-concern",
    "neither": "variation-neither",
    "common": "variation-common",
}


SPARK_DARK = "#9ec5fe"  # the dark theme's line colour (as in the figures)
SPARK_PERIODS = {"monthly": 24, "quarterly": 8}
SPARK_WIDTH, SPARK_HEIGHT = 240, 56



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


def sparkline_markup(spark: Sparkline, name: str) -> Markup:
    """A tile's sparkline as inline SVG named ``name`` (kpis.charts.figures.Sparkline:
    why not an image)."""
    guides = [tag("path", d=d, stroke=GUIDE_COLOUR, stroke_width="1", stroke_dasharray=dash,
                  fill="none") for d, dash in spark.guides]
    return tag("svg", guides, tag("path", d=spark.line, fill="none", stroke=spark.colour,
                                  stroke_width="2"),
               role="img", aria_label=name, width=spark.width, height=spark.height,
               viewBox=f"0 0 {spark.width} {spark.height}", class_="tile-spark")


def kpi_tile(kpi: KpiDefinition, row: Mapping[str, Any] | None,
             comparator: Mapping[str, Any] | None, comparator_name: str,
             history: list[float], state: ViewState, dark: bool = False,
             expected: Any = None, withheld: bool = False) -> Markup:
    """One KPI's tile; ``expected`` is the period it should show (the latest national one
    not after the chosen month): a force without data for it says so."""
    title = link(kpi.title, f"/kpi/{kpi.kpi_id}{state.query()}",
                 class_="stretched-link tile-link")
    if row is None:
        body: list[Markup | None] = [
            tag("p", "No data for this force and period.", class_="text-body-secondary")]
    else:
        suppressed = bool(row.get("suppressed", False))
        variation = str(row["variation"])
        recent = history[-SPARK_PERIODS[kpi.periodicity]:]
        # Better or worse by the KPI's polarity: a rise is not good news for every KPI.
        direction = "" if suppressed else change_direction(kpi, row["change"])
        # Larger than a glance, with the mean (dashed) and the limits (dotted).
        mean = finite_or_none(row.get("spc_mean"))
        spark = sparkline(recent, width=SPARK_WIDTH, height=SPARK_HEIGHT,
                          colour=SPARK_DARK if dark else DARK_BLUE, mean=mean,
                          lower=finite_or_none(row.get("spc_lower")),
                          upper=finite_or_none(row.get("spc_upper")))
        late = expected is not None and pd.Timestamp(row["period_start"]) < pd.Timestamp(
            expected)
        unit = period_unit(kpi)
        body = [
            tag("p", f"No data for {format_period(kpi, expected)}: the latest is shown",
                class_="small mb-1 tile-missing") if late else None,
            tag("p", format_value(kpi, row["value"], suppressed), class_="tile-value"),
            tag("p", unit, class_="small mb-0 tile-unit") if unit else None,
            tag("p", format_period(kpi, row["period_start"])
                + (f" ({PROVISIONAL_LABEL})" if row.get("provisional") else ""),
                class_="tile-period small"),
            sparkline_markup(spark, f"Trend over the last {len(recent)} periods"
                             + (", with the mean and the process limits"
                                if mean is not None else ""))
            if spark and not suppressed else None,
            tag("p", "Change on a year earlier: ",
                format_change(kpi, row["change"], suppressed),
                f", {direction}" if direction else "", class_="small mb-1 tile-change"),
            tag("p", comparator_words(kpi, comparator, comparator_name, row, withheld),
                class_="small mb-1 tile-comparator"),
            tag("p", spc_words(kpi, row),
                class_=f"small mb-1 variation {VARIATION_CLASS.get(variation, '')}"),
            tag("p", ASSURANCE_PHRASE[str(row["assurance"])],
                class_=f"small mb-0 assurance assurance-{row['assurance']}")
            if kpi.target is not None and row.get("assurance") in ASSURANCE_PHRASE else None,
        ]
    card = tag("div", tag("div", tag("h3", title, class_="h6 tile-title"), body,
                          class_="card-body"),
               class_="card h-100 kpi-tile")
    return tag("div", card, id=ids.KPI_TILE.format(kpi_id=kpi.kpi_id),
               class_="col-12 col-sm-6 col-lg-4 col-xxl-3")


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


def pillar_section(number: int, name: str, summary: str, tiles: list[Markup],
                   state: ViewState) -> Markup:
    return tag(
        "section",
        tag("h2", link(f"{number}. {name}", f"/pillar/{number}{state.query()}"),
            class_="h4 mt-4 mb-1"),
        tag("p", summary, class_="pillar-summary small mb-2"),
        tag("div", tiles, class_="row g-3"),
        id=ids.PILLAR_SECTION.format(number=number), class_="pillar",
        aria_label=f"Pillar {number}: {name}",
    )


def flight_deck(state: ViewState) -> Markup:
    """Every KPI for the view: the headline, the summary matrix and the tiles, as one
    block of markup (one component: the speed issue)."""
    ds = dataset()
    comparator_area = state.comparator_area(ds)
    areas = [state.force] + ([comparator_area] if comparator_area else [])
    # From the start of the tiles' trends only (kpis.engine.views.recent_start): the
    # rows the page shows, in a table that stays small however long the history.
    start = recent_start(ds, list(ds.kpis), state.force, state.period, SPARK_PERIODS)
    table = service().table(areas=areas, start=start, end=state.period)
    own, history = latest_and_history(table, state.force)
    # The comparator at each tile's own period, never at a later one.
    other = at_periods(table, comparator_area, own) if comparator_area else {}
    dark = is_dark()
    expected = {k: period_on_or_before(ds, k, state.period) for k in ds.kpis}
    glance = glance_rows(list(ds.kpis.values()), own, other, expected)
    comparator_name = state.comparator_label(ds)
    withheld = bool(comparator_area) and not ds.visible(str(comparator_area))
    sections = [
        headline_strip(headline(glance), state, last_loaded(ds, state.force)),
        summary_matrix(glance, ds.catalogue.pillars, state, comparator_name),
        tag("h2", "Every KPI in detail", class_="h4 mt-4 mb-0 tiles-heading"),
    ]
    for pillar in ds.catalogue.pillars:
        kpis = [k for k in ds.kpis.values() if k.pillar == pillar.number]
        tiles = [
            kpi_tile(k, own.get(k.kpi_id), other.get(k.kpi_id), comparator_name,
                     history.get(k.kpi_id, []), state, dark, expected=expected[k.kpi_id],
                     withheld=withheld)
            for k in kpis
        ]
        summary = pillar_summary([own.get(k.kpi_id) for k in kpis])
        sections.append(pillar_section(pillar.number, pillar.name, summary, tiles, state))
    return tag("div", sections, id=ids.FLIGHT_DECK)


def build(force: str | None = None, period: str | None = None,
          comparator: str | None = None, **_: str) -> html.Div:
    ds = dataset()
    state = read_state(ds, force, period, comparator)
    name = ds.area_names.get(state.force, state.force)
    return html.Div([
        # Markup, not an H1 component: a subtree replaced on a switch costs Dash's
        # renderer a walk of it; a block's new text goes in one prop.
        live_html("heading", tag("h1", f"Flight deck: {name}", class_="h3")),
        control_bar(state),
        live_html("flight-deck", flight_deck(state)),
    ])


layout = safe_layout(build)
register_live_page(__name__, PATH, build)

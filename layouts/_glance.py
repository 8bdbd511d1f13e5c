"""The flight deck's headline strip and summary matrix (kpis.charts.glance, drawn).

Every published KPI on one screen at 1366 x 768: three columns of one-line rows,
grouped by pillar, each with its variation and assurance icons (accessible names in
the Making Data Count words), its value and period, the comparator's value and the
target. The headline's counts are the matrix's rows, each opening the list of the
KPIs behind it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from dash import dcc, html

from kpis.charts.glance import GlanceRow, Headline, compact_value, comparator_text
from kpis.charts.icons import Icon
from kpis.domain.catalogue import Pillar
from kpis.domain.formatting import format_value, short_period
from kpis.domain.periods import long_day, long_month
from kpis.domain.vocabulary import PROVISIONAL_NOTE
from layouts._state import ViewState
from web import ids

ICON_SIZE = 20


def icon_image(icon: Icon | None) -> html.Img | html.Span:
    """The icon as an image whose alternative text is its name (a blank slot if none)."""
    if icon is None:
        return html.Span(className="glance-icon glance-icon-none", **{"aria-hidden": "true"})
    return html.Img(src=icon.data_uri, alt=icon.name, title=icon.name, width=ICON_SIZE,
                    height=ICON_SIZE, className=f"glance-icon icon-{icon.code}")


def glance_row(line: GlanceRow, state: ViewState, comparator_name: str) -> html.Li:
    kpi, row = line.kpi, line.row
    value = "no data" if row is None else compact_value(kpi, row.get("value"),
                                                   bool(row.get("suppressed")))
    period = "" if row is None else short_period(kpi, row["period_start"])
    basis = f" {kpi.comparison_basis}" if kpi.compared_as_rate else ""
    cells: list[Any] = [
        icon_image(line.variation),
        icon_image(line.assurance),
        dcc.Link(kpi.title, href=f"/kpi/{kpi.kpi_id}{state.query()}", title=kpi.title,
                 className="glance-title"),
        html.Span(value, className="glance-value"),
        html.Span([html.Span("for ", className="visually-hidden"), period,
                   html.Abbr(" p", title=PROVISIONAL_NOTE, className="glance-provisional")
                   if row is not None and row.get("provisional") else None],
                  className="glance-period" + (" glance-late" if line.missing else "")),
        html.Span([html.Span(f"{comparator_name}{basis}: ", className="visually-hidden"),
                   comparator_text(line) if comparator_name else ""],
                  className="glance-comparator", title=f"{comparator_name}{basis}"),
        html.Span([html.Span("target ", className="visually-hidden"),
                   format_value(kpi, kpi.target) if kpi.target is not None else ""],
                  className="glance-target"),
    ]
    return html.Li(cells, id=ids.GLANCE_ROW.format(kpi_id=kpi.kpi_id),
                   className=f"glance-row attention-{line.attention}")


def summary_matrix(rows: Mapping[int, Sequence[GlanceRow]], pillars: Sequence[Pillar],
                   state: ViewState, comparator_name: str) -> html.Section:
    blocks = []
    for pillar in pillars:
        lines = rows.get(pillar.number, [])
        if not lines:
            continue
        blocks.append(html.Div([
            html.H3(dcc.Link(f"{pillar.number}. {pillar.name}",
                             href=f"/pillar/{pillar.number}{state.query()}"),
                    className="glance-pillar"),
            html.Ul([glance_row(line, state, comparator_name) for line in lines],
                    className="glance-list"),
        ], className="glance-block"))
    legend = html.P(
        ["Each KPI: its variation and assurance icons (Making Data Count), value, period, ",
         html.Span(comparator_name or "no comparator", className="fw-semibold"),
         " and target. Concerns and targets failed come first in each pillar."],
        className="small text-body-secondary mb-1 glance-legend")
    return html.Section([html.H2("Every KPI at a glance", className="visually-hidden"), legend,
                         html.Div(blocks, className="glance-columns")],
                        id=ids.GLANCE, className="glance", **{"aria-label": "Every KPI"})


def _count(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _item(lines: Sequence[GlanceRow], words: str, key: str, state: ViewState) -> html.Details:
    """'3 concerns', opening the list of the KPIs behind it."""
    return html.Details([
        html.Summary(words, className="headline-count"),
        html.Ul([html.Li(dcc.Link(line.kpi.title, href=f"/kpi/{line.kpi.kpi_id}{state.query()}"))
                 for line in lines] or [html.Li("None")], className="headline-kpis small"),
    ], id=f"{ids.HEADLINE}-{key}", className=f"headline-item headline-{key}")


def headline_strip(head: Headline, state: ViewState, loaded: dt.date | None = None
                   ) -> html.Section:
    """The counts, and how fresh the data is ('data to September 2025, loaded 3 October
    2025': the month the figures reach, and when the force's last return was loaded)."""
    data_to = (f"data to {long_month(head.data_to)}" if head.data_to is not None
               else "no data yet")
    if loaded is not None:
        data_to += f", loaded {long_day(loaded)}"
    return html.Section([
        _item(head.concerns, _count(len(head.concerns), "concern", "concerns"), "concerns",
              state),
        _item(head.failing, _count(len(head.failing), "consistently failing target",
                                   "consistently failing target"), "failing", state),
        _item(head.missing, _count(len(head.missing), "return missing", "returns missing"),
              "missing", state),
        html.Span(data_to, className="headline-data-to"),
    ], id=ids.HEADLINE, className="headline", **{"aria-label": "What needs attention"})

"""The flight deck's headline strip and summary matrix (kpis.charts.glance, drawn as
markup: one component for the whole block, layouts/_markup.py).

Every published KPI on one screen at 1366 x 768: three columns of one-line rows,
grouped by pillar, each with its variation and assurance icons (accessible names in
the Making Data Count words), its value and period, the comparator's value and the
target. The headline's counts are the matrix's rows, each opening the list of the
KPIs behind it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from dash import html

from kpis.charts.glance import GlanceRow, Headline, compact_value, comparator_text
from kpis.charts.icons import Icon
from kpis.domain.catalogue import Pillar
from kpis.domain.formatting import format_value, short_period
from kpis.domain.periods import long_day, long_month
from kpis.domain.vocabulary import PROVISIONAL_NOTE
from layouts._markup import Markup, link, tag
from layouts._state import ViewState
from web import ids

ICON_SIZE = 20


def icon_image(icon: Icon | None) -> html.Img | html.Span:
    """The icon as an image whose alternative text is its name (a blank slot if none)."""
    if icon is None:
        return html.Span(className="glance-icon glance-icon-none", **{"aria-hidden": "true"})
    return html.Img(src=icon.data_uri, alt=icon.name, title=icon.name, width=ICON_SIZE,
                    height=ICON_SIZE, className=f"glance-icon icon-{icon.code}")


def icon_markup(icon: Icon | None) -> Markup:
    """:func:`icon_image` as markup, for a block drawn as one component."""
    if icon is None:
        return tag("span", class_="glance-icon glance-icon-none", aria_hidden="true")
    return tag("img", src=icon.data_uri, alt=icon.name, title=icon.name, width=ICON_SIZE,
               height=ICON_SIZE, class_=f"glance-icon icon-{icon.code}")


def glance_row(line: GlanceRow, state: ViewState, comparator_name: str) -> Markup:
    kpi, row = line.kpi, line.row
    value = "no data" if row is None else compact_value(kpi, row.get("value"),
                                                   bool(row.get("suppressed")))
    period = "" if row is None else short_period(kpi, row["period_start"])
    basis = f" {kpi.comparison_basis}" if kpi.compared_as_rate else ""
    provisional = (tag("abbr", " p", title=PROVISIONAL_NOTE, class_="glance-provisional")
                   if row is not None and row.get("provisional") else None)
    return tag(
        "li",
        icon_markup(line.variation),
        icon_markup(line.assurance),
        link(kpi.title, f"/kpi/{kpi.kpi_id}{state.query()}", title=kpi.title,
             class_="glance-title"),
        tag("span", value, class_="glance-value"),
        tag("span", tag("span", "for ", class_="visually-hidden"), period, provisional,
            class_="glance-period" + (" glance-late" if line.missing else "")),
        tag("span", tag("span", f"{comparator_name}{basis}: ", class_="visually-hidden"),
            comparator_text(line) if comparator_name else "",
            class_="glance-comparator", title=f"{comparator_name}{basis}"),
        tag("span", tag("span", "target ", class_="visually-hidden"),
            format_value(kpi, kpi.target) if kpi.target is not None else "",
            class_="glance-target"),
        id=ids.GLANCE_ROW.format(kpi_id=kpi.kpi_id),
        class_=f"glance-row attention-{line.attention}",
    )


def summary_matrix(rows: Mapping[int, Sequence[GlanceRow]], pillars: Sequence[Pillar],
                   state: ViewState, comparator_name: str) -> Markup:
    blocks = []
    for pillar in pillars:
        lines = rows.get(pillar.number, [])
        if not lines:
            continue
        blocks.append(tag(
            "div",
            tag("h3", link(f"{pillar.number}. {pillar.name}",
                           f"/pillar/{pillar.number}{state.query()}"),
                class_="glance-pillar"),
            tag("ul", [glance_row(line, state, comparator_name) for line in lines],
                class_="glance-list"),
            class_="glance-block"))
    legend = tag(
        "p", "Each KPI: its variation and assurance icons (Making Data Count), value, "
             "period, ", tag("span", comparator_name or "no comparator", class_="fw-semibold"),
        " and target. Concerns and targets failed come first in each pillar.",
        class_="small text-body-secondary mb-1 glance-legend")
    return tag("section", tag("h2", "Every KPI at a glance", class_="visually-hidden"), legend,
               tag("div", blocks, class_="glance-columns"),
               id=ids.GLANCE, class_="glance", aria_label="Every KPI")


def _count(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _item(lines: Sequence[GlanceRow], words: str, key: str, state: ViewState) -> Markup:
    """'3 concerns', opening the list of the KPIs behind it."""
    items = [tag("li", link(line.kpi.title, f"/kpi/{line.kpi.kpi_id}{state.query()}"))
             for line in lines] or [tag("li", "None")]
    return tag("details", tag("summary", words, class_="headline-count"),
               tag("ul", items, class_="headline-kpis small"),
               id=f"{ids.HEADLINE}-{key}", class_=f"headline-item headline-{key}")


def headline_strip(head: Headline, state: ViewState, loaded: dt.date | None = None
                   ) -> Markup:
    """The counts, and how fresh the data is ('data to September 2025, loaded 3 October
    2025': the month the figures reach, and when the force's last return was loaded)."""
    data_to = (f"data to {long_month(head.data_to)}" if head.data_to is not None
               else "no data yet")
    if loaded is not None:
        data_to += f", loaded {long_day(loaded)}"
    return tag(
        "section",
        _item(head.concerns, _count(len(head.concerns), "concern", "concerns"), "concerns",
              state),
        _item(head.failing, _count(len(head.failing), "consistently failing target",
                                   "consistently failing target"), "failing", state),
        _item(head.missing, _count(len(head.missing), "return missing", "returns missing"),
              "missing", state),
        tag("span", data_to, class_="headline-data-to"),
        id=ids.HEADLINE, class_="headline", aria_label="What needs attention")

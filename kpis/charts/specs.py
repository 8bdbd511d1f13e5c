"""One spec per chart: the figure, title, subtitle, source line, summary and rows.

Each chart the dashboard draws is built here and only here, and the same spec serves
its page (with ``dark`` for the dark theme and no marking), its download route,
``flightdeck chart`` and the board packs (with the protective marking):

- :func:`spc_export`: the KPI page's statistical process control chart;
- :func:`trend_export`: a pillar page's trend chart;
- :func:`funnel_export`: the KPI page's funnel plot of all forces;
- :func:`compare_export`: the compare page's ranked bars or funnel plot.

Each spec carries the rows behind its chart (:func:`chart_rows`, for CSV). With
``suppress=True`` the numbers of the SPC chart come from the flight-deck table with
disclosure control: a hidden point is not drawn (no line, no marker), and the centre
line and limits of a series with a hidden point are not drawn either (they would give
the point away). Rendering a spec to a file is :mod:`kpis.exports.charts`' job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from kpis.charts.figures import (
    ChartText,
    FigureDict,
    funnel_chart,
    ranked_bars,
    spc_chart,
    trend_chart,
    y_axis_title,
)
from kpis.domain.catalogue import POPULATION_BASE, KpiDefinition
from kpis.domain.formatting import format_period, format_value
from kpis.domain.vocabulary import DEMO_LABEL, SUPPRESSED_LABEL, parse_parts
from kpis.engine.dataset import Dataset
from kpis.engine.disclosure import DEFAULT_MARKING, disclosure_note
from kpis.engine.kpi_spc import DEFAULT_BASELINE
from kpis.engine.measures import (
    Baseline,
    SpcOptions,
    area_rows,
    cached_table,
    hidden_columns,
    prime_tables,
)
from kpis.engine.summary import funnel_summary, limits_phrase, ranking_summary, summarise
from kpis.engine.views import (
    FunnelData,
    areas_of_scope,
    force_rows,
    group_members,
    kpi_funnel,
    period_on_or_before,
)
from kpis.settings import NATIONAL_SLUG

__all__ = [
    "CHART_KINDS",
    "COMPARE_VIEWS",
    "DEFAULT_MARKING",
    "ChartExport",
    "Source",
    "chart_rows",
    "comparator_name",
    "comparator_values",
    "compare_export",
    "dataset_of",
    "funnel_export",
    "spc_export",
    "trend_export",
]

#: The compare page's two ways of showing one KPI across forces.
COMPARE_VIEWS: tuple[str, ...] = ("bars", "funnel")
#: The charts there are specs for (the download route's names).
CHART_KINDS: tuple[str, ...] = ("spc", "trend", "funnel", "compare")
DEFAULT_SPC = SpcOptions()
SUPPRESSION_NOTE = ("figures resting on 1 to 4 cases, or that would let one be worked out, "
                    "are suppressed and not drawn")
SCOPED_COMPARE_NOTE = ("Other forces' figures from force returns are not shown to your "
                       "account; Home Office open data shows every force.")
FUNNEL_WITHHELD = (f"Withheld by disclosure control ({SUPPRESSED_LABEL}): England and "
                   "Wales' own figure, the funnel's centre, is suppressed for this period.")

class HasDataset(Protocol):
    """Anything that hands out the current dataset (the service does)."""

    def dataset(self) -> Dataset: ...


Source = Dataset | HasDataset

# Columns of the chart CSV (disclosure control's parts say which a row withholds).
_CSV_COLUMNS: tuple[str, ...] = (
    "numerator", "denominator", "value", "rolling_value", "national_value", "peer_value",
    "spc_mean", "spc_lower", "spc_upper", "spc_rule", "variation", "spc_limits", "spc_basis",
)


def dataset_of(source: Source) -> Dataset:
    return source if isinstance(source, Dataset) else source.dataset()


@dataclass(frozen=True)
class ChartExport:
    """A KPI's chart for one area, with the rows and words that go with it."""

    kpi: KpiDefinition
    area: str  # the force the chart is about (or highlights), or England and Wales
    area_name: str
    series: pd.DataFrame  # flight_deck_table rows, oldest first (empty: no data)
    text: ChartText
    figure: FigureDict | None  # None when there is nothing to draw
    summary: str  # plain English, about the latest period shown
    suppress: bool
    #: The CSV rows when they are not the SPC columns of ``series`` (other charts), or
    #: a function that builds them (read them with :func:`chart_rows`).
    rows: pd.DataFrame | Callable[[], pd.DataFrame] | None = None
    kind: str = "spc"  # spc, trend, funnel or compare: which chart this is

    @property
    def latest(self) -> dict[str, Any] | None:
        return None if self.series.empty else self.series.iloc[-1].to_dict()

    def notes(self) -> list[tuple[str, str]]:
        """What the chart's data file says about it, as (heading, text) pairs: title,
        subtitle, source, marking, the demonstration label and disclosure control (an
        XLSX's Notes sheet; a CSV has only the marking and label, as columns)."""
        notes = [("Title", self.text.title), ("Subtitle", self.text.subtitle),
                 ("Source", self.text.source.removeprefix("Source: "))]
        if self.text.marking:
            notes.append(("Protective marking", self.text.marking))
        if self.text.demo:
            notes.append(("Demonstration data", DEMO_LABEL))
        notes.append(("Disclosure control", disclosure_note(
            self.suppress, self.text.open_data, self.text.marking)))
        return notes



def _check(ds: Dataset, kpi_id: str, area: str) -> KpiDefinition:
    if kpi_id not in ds.kpis:
        raise KeyError(f"unknown or unpublished KPI: {kpi_id}")
    if area not in ds.area_names:
        raise KeyError(f"unknown force or area: {area}")
    return ds.kpis[kpi_id]


def spc_export(source: Source, kpi_id: str, area: str, period: dt.date | None, *,
               marking: str | None = DEFAULT_MARKING, suppress: bool = False,
               baseline: Baseline = DEFAULT_BASELINE, series: pd.DataFrame | None = None,
               dark: bool = False) -> ChartExport:
    """The SPC chart of ``kpi_id`` for ``area``, every period up to ``period``.

    ``baseline`` says where the limits come from (by default re-based at the force's NOM
    adoption, :mod:`kpis.engine.kpi_spc`); the subtitle says which period that is.
    ``series`` (this KPI's and area's rows of a table computed with the same options)
    skips the computation, for packs that compute every KPI at once.
    """
    ds = dataset_of(source)
    kpi = _check(ds, kpi_id, area)
    if series is None:
        series = cached_table(ds, [kpi_id], [area], end=period, suppress=suppress,
                              spc=SpcOptions(baseline=baseline))
    series = series.reset_index(drop=True)
    name = ds.area_names[area]
    if series.empty:
        until = f" up to {format_period(kpi, period)}" if period is not None else ""
        text = _text(ds, kpi, kpi.title, f"{name}: no data{until}", marking)
        summary = f"{name}, {kpi.title}: there is no data{until}."
        return ChartExport(kpi, area, name, series, text, None, summary, suppress)
    first, last = series["period_start"].iloc[0], series["period_start"].iloc[-1]
    subtitle = (f"{name}, {format_period(kpi, first)} to {format_period(kpi, last)}: "
                "statistical process control (XmR) chart")
    limits = limits_phrase(kpi, series.iloc[-1].to_dict())
    if limits:
        subtitle += f". {limits}"
    if suppress:
        subtitle += f"; {SUPPRESSION_NOTE}"
    text = _text(ds, kpi, kpi.title, subtitle, marking)
    drawn = series
    if suppress:
        # flight_deck_table already hides these; never draw a point it flags, whatever.
        hidden = series["suppressed"].to_numpy(dtype=bool)
        if hidden.any():
            drawn = series.copy()
            drawn.loc[hidden, "value"] = np.nan
            drawn.loc[hidden, "variation"] = None
    figure = spc_chart(drawn, kpi.unit, text, target=kpi.target, dark=dark,
                       comparator=comparator_values(kpi, area, series, suppress),
                       comparator_name=comparator_name(ds, kpi, area))
    summary = summarise(ds, series.iloc[-1].to_dict(), name)
    return ChartExport(kpi, area, name, series, text, figure, summary, suppress)


def comparator_values(kpi: KpiDefinition, area: str, series: pd.DataFrame,
                      suppress: bool = False) -> list[float | None] | None:
    """England and Wales at each period of a force's chart, on the chart's own scale
    (None where it is hidden or missing; None for England and Wales' own chart).

    A share or rate is England and Wales' own value. A count is compared as a rate per
    its base (people, or reports): the line is England and Wales' rate at the force's
    own base, the count the force would have at the national rate. With disclosure
    control that line is drawn only on a population base (public figures): on a base of
    reports it would give the force's own base away.
    """
    if area == NATIONAL_SLUG or "national_value" not in series:
        return None
    parts = [hidden_columns(parse_parts(p))
             for p in series.get("suppressed_parts", pd.Series([""] * len(series)))]
    if kpi.compared_as_rate:
        if suppress and kpi.comparison_base != "population":
            return None
        rates = pd.to_numeric(series["national_comparison"], errors="coerce").astype(float)
        bases = pd.to_numeric(series["rate_base"], errors="coerce").astype(float)
        values = (rates * bases / kpi.comparison_per).tolist()
        hidden = [{"national_comparison", "rate_base"} & columns for columns in parts]
    else:
        values = pd.to_numeric(series["national_value"], errors="coerce"
                               ).astype(float).tolist()
        hidden = [{"national_value"} & columns for columns in parts]
    return [None if (h or v != v) else float(v)
            for v, h in zip(values, hidden, strict=True)]


def comparator_name(ds: Dataset, kpi: KpiDefinition, area: str) -> str:
    """The comparator line's name in the legend."""
    national = ds.area_names.get(NATIONAL_SLUG, "England and Wales")
    if kpi.compared_as_rate:
        return f"{national} rate at {ds.area_names.get(area, area)}'s size"
    return national


def chart_rows(export: ChartExport) -> pd.DataFrame:
    """The rows behind the chart, for CSV: hidden figures read ``[c]``, never a number."""
    if callable(export.rows):
        return export.rows()
    if export.rows is not None:
        return export.rows
    series = export.series
    columns = [c for c in _CSV_COLUMNS if c != "denominator" or export.kpi.denominator]
    frame = pd.DataFrame({
        "period_start": [p.date().isoformat() for p in pd.DatetimeIndex(
            series["period_start"])],
        "period": [format_period(export.kpi, p) for p in series["period_start"]],
        "area": series["area"].astype(str).to_numpy(),
    })
    withheld = [hidden_columns(parse_parts(p))
                for p in series.get("suppressed_parts", pd.Series([""] * len(series)))]
    for column in columns:
        values = series[column].tolist()
        frame[column] = [SUPPRESSED_LABEL if column in hidden else value
                         for value, hidden in zip(values, withheld, strict=True)]
    frame["suppressed"] = series["suppressed"].astype(bool).to_numpy()
    return frame


# --- the other charts the pages draw ------------------------------------------------------


def _text(ds: Dataset, kpi: KpiDefinition, title: str, subtitle: str,
          marking: str | None) -> ChartText:
    return ChartText(title=title, subtitle=subtitle, source=f"Source: {kpi.source}",
                     y_title=y_axis_title(kpi.unit, kpi.title, kpi.comparison_basis),
                     demo=ds.is_demo, marking=marking or None,
                     open_data=ds.catalogue.is_open_data(kpi))


def _nothing(ds: Dataset, kpi: KpiDefinition, kind: str, area: str, title: str,
             message: str, marking: str | None) -> ChartExport:
    """An export with nothing to draw: ``message`` says why (images are refused)."""
    text = _text(ds, kpi, title, message, marking)
    return ChartExport(kpi, area, ds.area_names[area], pd.DataFrame(), text, None, message,
                       False, rows=pd.DataFrame(), kind=kind)


def _funnel_rows(points: pd.DataFrame) -> pd.DataFrame:
    """A funnel plot's rows for CSV: each force's counts, share, limits and position."""
    frame = points.rename(columns={"label": "area"})
    columns = ["area", "name", "numerator", "denominator", "value", "centre", "lower95",
               "upper95", "lower998", "upper998", "position", "position998"]
    return frame[[c for c in columns if c in frame.columns]].reset_index(drop=True)


def trend_export(source: Source, kpi_id: str, area: str, period: dt.date | None,
                 comparator: str | None = None, *,
                 marking: str | None = DEFAULT_MARKING, suppress: bool = False,
                 dark: bool = False) -> ChartExport:
    """A pillar page's trend chart: ``area``'s value and rolling year up to ``period``,
    against the ``comparator`` area's rolling year (None: no comparator). ``suppress``:
    the figures disclosure control withholds are neither drawn nor in the rows."""
    ds = dataset_of(source)
    kpi = _check(ds, kpi_id, area)
    if comparator is not None and comparator not in ds.area_names:
        raise KeyError(f"unknown comparator: {comparator}")
    areas = [area] + ([comparator] if comparator else [])
    table = cached_table(ds, [kpi_id], areas, end=period, suppress=suppress)
    own = area_rows(table, area).reset_index(drop=True)
    name = ds.area_names[area]
    if own.empty:
        return _nothing(ds, kpi, "trend", area, kpi.title, f"No data for {name}.", marking)
    other = area_rows(table, comparator) if comparator else None
    comparator_name = ds.area_names[comparator] if comparator else ""
    text = _text(
        ds, kpi, kpi.title,
        f"{name}, {format_period(kpi, own['period_start'].iloc[0])} to "
        f"{format_period(kpi, own['period_start'].iloc[-1])}, by "
        f"{'month' if kpi.periodicity == 'monthly' else 'quarter'} and rolling year"
        + (f"; {SUPPRESSION_NOTE}" if suppress else ""),
        marking)
    figure = trend_chart(own, kpi.unit, text, name, other, comparator_name, dark=dark)

    def rows() -> pd.DataFrame:
        """Built when a file asks for them (a page only draws the chart). The rows
        drawn: the comparator's (only its rolling year is drawn) unless the KPI is a
        count, whose comparator is another area's size and is left off the chart."""
        drawn = [own] + ([other] if other is not None and not other.empty
                         and kpi.unit != "count" else [])
        both = pd.concat(drawn, ignore_index=True)
        stamps = pd.DatetimeIndex(both["period_start"])
        frame = pd.DataFrame({
            "period_start": [p.date().isoformat() for p in stamps],
            "period": [format_period(kpi, p) for p in both["period_start"]],
            "area": both["area"].astype(str).to_numpy(),
            "area_name": both["area"].map(ds.area_names).to_numpy(),
        })
        withheld = [hidden_columns(parse_parts(p)) for p in both["suppressed_parts"]]
        for column in ("numerator", "denominator", "value", "rolling_value"):
            if column != "denominator" or kpi.denominator:
                frame[column] = [SUPPRESSED_LABEL if column in hidden else value
                                 for value, hidden
                                 in zip(both[column].tolist(), withheld, strict=True)]
        return frame

    summary = summarise(ds, own.iloc[-1].to_dict(), name)
    return ChartExport(kpi, area, name, own, text, figure, summary, suppress, rows=rows,
                       kind="trend")


def trend_exports(source: Source, kpi_ids: list[str], area: str, period: dt.date | None,
                  comparator: str | None = None, *,
                  marking: str | None = DEFAULT_MARKING, suppress: bool = False,
                  dark: bool = False) -> list[ChartExport]:
    """:func:`trend_export` of each of ``kpi_ids`` (a pillar page's charts), their rows
    computed in one pass (:func:`kpis.engine.measures.prime_tables`)."""
    ds = dataset_of(source)
    known = [k for k in kpi_ids if k in ds.kpis]
    if area in ds.area_names and (comparator is None or comparator in ds.area_names):
        areas = [area] + ([comparator] if comparator else [])
        prime_tables(ds, known, areas, end=period, suppress=suppress)
    return [trend_export(ds, kpi_id, area, period, comparator, marking=marking,
                         suppress=suppress, dark=dark) for kpi_id in kpi_ids]


def funnel_export(source: Source, kpi_id: str, period: dt.date | None,
                  highlight: str | None = None, *,
                  marking: str | None = DEFAULT_MARKING, suppress: bool = False,
                  dark: bool = False) -> ChartExport:
    """The KPI page's funnel plot: every force for the KPI's latest period on or before
    ``period``, against England and Wales, with ``highlight`` (a force) marked.
    ``suppress``: forces whose figure is withheld are left out (the subtitle says how
    many); with England and Wales' own figure withheld, nothing is drawn."""
    ds = dataset_of(source)
    area = highlight or NATIONAL_SLUG
    kpi = _check(ds, kpi_id, area)
    title = f"{kpi.title}: {ds.forces_label}"
    when = period_on_or_before(ds, kpi_id, period)
    if when is None:
        return _nothing(ds, kpi, "funnel", area, title, "No data for this period.", marking)
    data = kpi_funnel(ds, kpi, when, suppress=suppress)
    if data is None:
        return _nothing(ds, kpi, "funnel", area, title,
                        "A funnel plot compares shares and rates; this KPI is neither.",
                        marking)
    if np.isnan(data.centre):
        return _nothing(ds, kpi, "funnel", area, title, FUNNEL_WITHHELD, marking)
    shown = kpi.compared
    text = _text(ds, shown, title,
                 f"{format_period(kpi, when)}: each force against England and Wales "
                 f"({format_value(shown, data.centre)}{_pooled(kpi)}), with "
                 f"{data.curve.attrs['method']} 95% and 99.8% limits (Spiegelhalter 2005)"
                 f"{_withheld_forces(data.withheld)}",
                 marking)
    figure = _funnel_figure(data, text, shown, area if area != NATIONAL_SLUG else None, dark)
    summary = funnel_summary(shown, data.points, data.centre, when)
    return ChartExport(kpi, area, ds.area_names[area], data.points, text, figure, summary,
                       suppress, rows=_funnel_rows(data.points), kind="funnel")


def _withheld_forces(count: int) -> str:
    """'; 3 forces withheld by disclosure control ([c])', or nothing."""
    if not count:
        return ""
    return (f"; {count} force{'s' if count != 1 else ''} withheld by disclosure control "
            f"({SUPPRESSED_LABEL})")


def _funnel_figure(data: FunnelData, text: ChartText, shown: KpiDefinition,
                   highlight: str | None, dark: bool) -> FigureDict:
    """A funnel plot of ``shown`` (a share as a share; a count as a rate per its base)."""
    return funnel_chart(data.points, data.curve, text, highlight, polarity=shown.polarity,
                        dark=dark, unit=shown.unit, per=shown.comparison_per,
                        noun=shown.comparison_noun)


def _pooled(kpi: KpiDefinition) -> str:
    if kpi.unit == "percent":
        return ""
    base = ("population for the year" if kpi.comparison_base == POPULATION_BASE
            else "base")
    return f": all forces' count over all forces' {base}"


def compare_export(source: Source, kpi_id: str, period: dt.date | None,
                   highlight: str | None = None, group: str = NATIONAL_SLUG,
                   view: str = "bars", *,
                   marking: str | None = DEFAULT_MARKING, suppress: bool = False,
                   dark: bool = False) -> ChartExport:
    """The compare page's chart: every force in ``group`` (England and Wales: all 43)
    for the KPI's latest period on or before ``period``, as ranked bars or a funnel plot,
    with ``highlight`` (a force) marked. ``suppress``: forces whose figure is withheld
    are left out, and ranked among those shown."""
    ds = dataset_of(source)
    area = highlight or NATIONAL_SLUG
    kpi = _check(ds, kpi_id, area)
    if view not in COMPARE_VIEWS:
        raise KeyError(f"unknown view: {view}")
    if group != NATIONAL_SLUG and group not in set(
            ds.areas.loc[ds.areas["kind"].isin(["region", "user"]), "area_id"]):
        raise KeyError(f"unknown region or peer group: {group}")
    members = group_members(ds, group)
    scope = ds.forces_label if members is None else ds.area_names[group]
    title = f"{kpi.title}: {scope}"
    when = period_on_or_before(ds, kpi_id, period)
    if when is None:
        return _nothing(ds, kpi, "compare", area, title,
                        "No data for this KPI up to the chosen period.", marking)
    if (ds.scope is not None and view == "bars" and not ds.catalogue.is_open_data(kpi)):
        return _scoped_bars(ds, kpi, when, area, title, marking, suppress, dark)
    rows = force_rows(ds, kpi_id, when, members, suppress=suppress)
    everyone = force_rows(ds, kpi_id, when, members)
    if everyone.empty:
        return _nothing(ds, kpi, "compare", area, title,
                        "No force in this group has data for the period.", marking)
    if rows.empty:
        return _nothing(ds, kpi, "compare", area, title, f"Every force's figure for the "
                        f"period is withheld by disclosure control ({SUPPRESSED_LABEL}).",
                        marking)
    withheld = _withheld_forces(len(everyone) - len(rows))
    national = float(rows["national_value"].iloc[0])
    text = _text(ds, kpi, title, f"{format_period(kpi, when)}; England and Wales "
                 f"{_shown_value(kpi, national)}{withheld}", marking)
    marked = area if area != NATIONAL_SLUG else None
    if view == "funnel":
        data = kpi_funnel(ds, kpi, when, members, suppress=suppress)
        if data is None:
            return _nothing(ds, kpi, "compare", area, title, "A funnel plot compares "
                            "shares and rates; choose ranked bars for this KPI.", marking)
        if np.isnan(data.centre):
            return _nothing(ds, kpi, "compare", area, title, FUNNEL_WITHHELD, marking)
        shown = kpi.compared
        text = _text(ds, shown, title, f"{format_period(kpi, when)}; England and Wales "
                     f"{format_value(shown, data.centre)}; {data.curve.attrs['method']} 95% "
                     f"and 99.8% limits (Spiegelhalter 2005){_pooled(kpi)}"
                     f"{_withheld_forces(data.withheld)}", marking)
        figure = _funnel_figure(data, text, shown, marked, dark)
        summary = funnel_summary(shown, data.points, data.centre, when)
        return ChartExport(kpi, area, ds.area_names[area], data.points, text, figure,
                           summary, suppress, rows=_funnel_rows(data.points), kind="compare")
    columns = ["rank", "area", "name", "numerator", "denominator", "value", "national_value"]
    shown_kpi = kpi.compared
    if kpi.compared_as_rate:
        # Counts are compared per their base: bars of the rate, not of force size.
        national = float(rows["national_comparison"].iloc[0])
        base = kpi.comparison_base
        rows = rows.assign(count=rows["value"], value=rows["comparison"],
                           **{base: rows["rate_base"]})
        of_year = " (population of the year)" if base == POPULATION_BASE else ""
        text = _text(ds, shown_kpi, title, f"{format_period(kpi, when)}, "
                     f"{kpi.comparison_basis}{of_year}; England and Wales "
                     f"{_shown_value(shown_kpi, national)}{withheld}", marking)
        columns = ["rank", "area", "name", "count", base, "value", "national_comparison"]
    figure = ranked_bars(rows, shown_kpi.unit, text, national, marked, dark=dark)
    summary = ranking_summary(shown_kpi, rows, national)
    table = rows[[c for c in columns if c != "denominator" or kpi.denominator]].copy()
    table.insert(0, "period", format_period(kpi, when))
    table.insert(0, "period_start", when.isoformat())
    return ChartExport(kpi, area, ds.area_names[area], rows, text, figure, summary, suppress,
                       rows=table.reset_index(drop=True), kind="compare")


def _scoped_bars(ds: Dataset, kpi: KpiDefinition, when: dt.date, area: str, title: str,
                 marking: str | None, suppress: bool, dark: bool) -> ChartExport:
    """A force-scoped account's bars for a force-return KPI: its own force against
    England and Wales, its region and its peer groups (no other force's figure), not
    '1 force ranked'."""
    force = str(ds.scope)
    areas = [force, NATIONAL_SLUG, *areas_of_scope(ds)]
    table = cached_table(ds, [kpi.kpi_id], areas, start=when, end=when, suppress=suppress)
    if table.empty:
        return _nothing(ds, kpi, "compare", area, title,
                        "No data for your force or its areas in the period.", marking)
    shown = kpi.compared
    column = "comparison" if kpi.compared_as_rate else "value"
    kinds = dict(zip(ds.areas["area_id"], ds.areas["kind"], strict=True))
    names = {a: ds.area_names[a] + (" (region)" if kinds.get(a) == "region" else "")
             for a in table["area"]}
    order = {a: i for i, a in enumerate(areas)}
    rows = (table.assign(name=table["area"].map(names), value=table[column],
                         rank=table["rank"].where(table["area"] == force))
            .sort_values("area", key=lambda c: c.map(order)).reset_index(drop=True))
    national = rows.loc[rows["area"] == NATIONAL_SLUG, "value"]
    national_value = float(national.iloc[0]) if len(national) else float("nan")
    basis = f", {kpi.comparison_basis}" if kpi.compared_as_rate else ""
    text = _text(ds, shown, title, f"{format_period(kpi, when)}{basis}: "
                 f"{ds.area_names[force]} against the areas it is part of", marking)
    figure = ranked_bars(rows, shown.unit, text, national_value, force, dark=dark)
    summary = ("; ".join(f"{n} {_shown_value(shown, v)}"
                         for n, v in zip(rows["name"], rows["value"], strict=True))
               + f". {SCOPED_COMPARE_NOTE}")
    csv = rows[["area", "name", "value"]].copy()
    csv.insert(0, "period", format_period(kpi, when))
    csv.insert(0, "period_start", when.isoformat())
    return ChartExport(kpi, area, ds.area_names[area], rows, text, figure, summary, suppress,
                       rows=csv, kind="compare")


def _shown_value(kpi: KpiDefinition, value: float) -> str:
    """A comparator's value, or [c] where disclosure control withholds it."""
    return SUPPRESSED_LABEL if np.isnan(value) else format_value(kpi, value)

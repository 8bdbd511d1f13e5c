"""One KPI's SPC chart for one force and period, ready to export (PNG, SVG, PDF or CSV).

The chart is the KPI page's statistical process control chart: the same figure builder
(:func:`layouts._figures.spc_chart`) and the same title, subtitle and source line, plus
the protective marking. With ``suppress=True`` the numbers come from
``flight_deck_table(..., suppress=True)``: a hidden point is not drawn (no line, no
marker), and the centre line and limits of a series with a hidden point are not drawn
either (they would give the point away). The plain-English summary of the latest period
(:func:`kpis.summary.summarise`) goes with the chart into packs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kpis.catalogue import KpiDefinition
from kpis.dataset import Dataset
from kpis.disclosure import SUPPRESSED_LABEL
from kpis.export.render import chart_csv, render
from kpis.formatting import format_period
from kpis.measures import SpcOptions, flight_deck_table
from kpis.service import FlightDeckService
from kpis.summary import summarise
from layouts._figures import DEMO_LABEL, ChartText, FigureDict, spc_chart, y_axis_title

__all__ = [
    "CHART_FORMATS",
    "DEFAULT_MARKING",
    "ChartExport",
    "Source",
    "chart_rows",
    "dataset_of",
    "kpi_table",
    "spc_export",
    "write_chart",
]

DEFAULT_MARKING = "OFFICIAL-SENSITIVE"
CHART_FORMATS: tuple[str, ...] = ("png", "svg", "pdf", "csv")
DEFAULT_SPC = SpcOptions()
SUPPRESSION_NOTE = "figures resting on 1 to 4 cases are suppressed and not drawn"

Source = FlightDeckService | Dataset

# Columns of the chart CSV, and the disclosure-control part that hides each.
_CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("numerator", "value"), ("denominator", "value"), ("value", "value"),
    ("rolling_value", "rolling"), ("national_value", "national"), ("peer_value", "peer"),
    ("spc_mean", "spc"), ("spc_lower", "spc"), ("spc_upper", "spc"),
    ("spc_rule", "value"), ("variation", "value"),
)


def dataset_of(source: Source) -> Dataset:
    return source.dataset() if isinstance(source, FlightDeckService) else source


def kpi_table(source: Source, kpi_ids: list[str], areas: list[str], *,
              start: dt.date | None = None, end: dt.date | None = None,
              suppress: bool = False, spc: SpcOptions | None = DEFAULT_SPC) -> pd.DataFrame:
    """``flight_deck_table`` through the service's cache when there is a service."""
    if isinstance(source, FlightDeckService):
        return source.table(kpi_ids, areas, start=start, end=end, suppress=suppress, spc=spc)
    return flight_deck_table(source, kpi_ids, areas, start, end, suppress=suppress, spc=spc)


@dataclass(frozen=True)
class ChartExport:
    """A KPI's SPC chart for one area, with the rows and words that go with it."""

    kpi: KpiDefinition
    area: str
    area_name: str
    series: pd.DataFrame  # flight_deck_table rows, oldest first (empty: no data)
    text: ChartText
    figure: FigureDict | None  # None when there is no data to draw
    summary: str  # plain English, about the latest period shown
    suppress: bool

    @property
    def latest(self) -> dict[str, Any] | None:
        return None if self.series.empty else self.series.iloc[-1].to_dict()

    def header(self) -> list[str]:
        """Title, subtitle, source, marking and labels: the CSV's comment lines."""
        lines = [self.text.title, self.text.subtitle, self.text.source]
        if self.text.marking:
            lines.append(f"Protective marking: {self.text.marking}")
        if self.text.demo:
            lines.append(DEMO_LABEL)
        if self.suppress:
            lines.append(f"Disclosure control: {SUPPRESSION_NOTE} ({SUPPRESSED_LABEL}).")
        return lines


def _check(ds: Dataset, kpi_id: str, area: str) -> KpiDefinition:
    if kpi_id not in ds.kpis:
        raise KeyError(f"unknown or unpublished KPI: {kpi_id}")
    if area not in ds.area_names:
        raise KeyError(f"unknown force or area: {area}")
    return ds.kpis[kpi_id]


def spc_export(source: Source, kpi_id: str, area: str, period: dt.date, *,
               marking: str | None = DEFAULT_MARKING, suppress: bool = False,
               rebase: bool = False, series: pd.DataFrame | None = None) -> ChartExport:
    """The SPC chart of ``kpi_id`` for ``area``, every period up to ``period``.

    ``rebase`` re-bases the limits at the force's NOM adoption, as the KPI page can.
    ``series`` (this KPI's and area's rows of a table computed with the same options)
    skips the computation, for packs that compute every KPI at once.
    """
    ds = dataset_of(source)
    kpi = _check(ds, kpi_id, area)
    if series is None:
        series = kpi_table(source, [kpi_id], [area], end=period, suppress=suppress,
                           spc=SpcOptions(rebase_at_adoption=rebase))
    series = series.reset_index(drop=True)
    name = ds.area_names[area]
    if series.empty:
        text = ChartText(title=kpi.title, subtitle=f"{name}: no data up to "
                         f"{format_period(kpi, period)}", source=f"Source: {kpi.source}",
                         y_title=y_axis_title(kpi.unit, kpi.title), demo=ds.is_demo,
                         marking=marking or None)
        summary = f"{name}, {kpi.title}: there is no data up to {format_period(kpi, period)}."
        return ChartExport(kpi, area, name, series, text, None, summary, suppress)
    first, last = series["period_start"].iloc[0], series["period_start"].iloc[-1]
    subtitle = (f"{name}, {format_period(kpi, first)} to {format_period(kpi, last)}: "
                "statistical process control (XmR) chart")
    if suppress:
        subtitle += f"; {SUPPRESSION_NOTE}"
    text = ChartText(
        title=kpi.title,
        subtitle=subtitle,
        source=f"Source: {kpi.source}",
        y_title=y_axis_title(kpi.unit, kpi.title),
        demo=ds.is_demo,
        marking=marking or None,
    )
    drawn = series
    if suppress:
        # flight_deck_table already hides these; never draw a point it flags, whatever.
        hidden = series["suppressed"].to_numpy(dtype=bool)
        if hidden.any():
            drawn = series.copy()
            drawn.loc[hidden, "value"] = np.nan
            drawn.loc[hidden, "variation"] = None
    rebase_at = None
    if rebase:
        adoption = dict(zip(ds.forces["slug"], ds.forces["nom_adoption"], strict=True))
        when = adoption.get(area)
        rebase_at = pd.Timestamp(when) if when is not None and not pd.isna(when) else None
    figure = spc_chart(drawn, kpi.unit, text, target=kpi.target, rebase=rebase_at)
    summary = summarise(ds, series.iloc[-1].to_dict(), name)
    return ChartExport(kpi, area, name, series, text, figure, summary, suppress)


def chart_rows(export: ChartExport) -> pd.DataFrame:
    """The rows behind the chart, for CSV: hidden figures read ``[c]``, never a number."""
    series = export.series
    columns = [(c, part) for c, part in _CSV_COLUMNS
               if c != "denominator" or export.kpi.denominator]
    frame = pd.DataFrame({
        "period_start": [p.date().isoformat() for p in pd.DatetimeIndex(
            series["period_start"])],
        "period": [format_period(export.kpi, p) for p in series["period_start"]],
        "area": series["area"].astype(str).to_numpy(),
    })
    parts = [set(str(p).split(",")) if isinstance(p, str) and p else set()
             for p in series.get("suppressed_parts", pd.Series([""] * len(series)))]
    for column, part in columns:
        values = series[column].tolist()
        frame[column] = [SUPPRESSED_LABEL if part in hidden else value
                         for value, hidden in zip(values, parts, strict=True)]
    frame["suppressed"] = series["suppressed"].astype(bool).to_numpy()
    return frame


def write_chart(export: ChartExport, fmt: str, out: Path) -> Path:
    """Write the chart as PNG (print resolution), SVG, PDF or CSV to ``out``.

    Raises :class:`kpis.export.render.RendererUnavailable` for an image when Chromium
    is missing or fails, and ValueError when there is no data to draw.
    """
    out = Path(out)
    if fmt == "csv":
        out.write_text(chart_csv(chart_rows(export), export.header()), encoding="utf-8")
        return out
    if fmt not in CHART_FORMATS:
        raise ValueError(f"unknown chart format {fmt!r}; use one of {', '.join(CHART_FORMATS)}")
    if export.figure is None:
        raise ValueError(export.summary)
    out.write_bytes(render(export.figure, fmt, marking=export.text.marking))  # type: ignore[arg-type]
    return out

"""What needs attention, at a glance: the flight deck's summary matrix and headline.

One row per published KPI for a force and period, grouped by pillar, with the
Making Data Count icons (:mod:`kpis.charts.icons`) and what a chief officer reads first
sorted first within each pillar: special cause concerns, then targets consistently
failed, then returns missing for the period, then the rest in catalogue order. The
headline counts the same rows, so the strip and the matrix cannot disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from kpis.charts.icons import Icon, assurance_icon, special_cause_side, variation_icon
from kpis.charts.records import records
from kpis.domain.catalogue import KpiDefinition
from kpis.domain.formatting import NO_DATA, format_value
from kpis.domain.vocabulary import ASSURANCE_FAIL, SUPPRESSED_LABEL, parse_parts
from kpis.engine.measures import area_rows

__all__ = ["CONCERN", "FAILING", "MISSING", "GlanceRow", "Headline", "glance_rows",
           "headline", "row_icons"]

# Why a row needs attention, in the order the rows sort (lower first).
CONCERN, FAILING, MISSING, OTHER = 0, 1, 2, 3


@dataclass(frozen=True)
class GlanceRow:
    """One KPI's line of the matrix."""

    kpi: KpiDefinition
    row: Mapping[str, Any] | None  # the force's latest flight-deck row (None: no data)
    comparator: Mapping[str, Any] | None  # the comparator at the same period
    expected: dt.date | None  # the period it should show (the latest national one)
    variation: Icon
    assurance: Icon | None  # None: the KPI has no target

    @property
    def missing(self) -> bool:
        """No figure for the period it should show: a return not in."""
        if self.expected is None:
            return False
        return self.row is None or pd.Timestamp(self.row["period_start"]) < pd.Timestamp(
            self.expected)

    @property
    def concern(self) -> bool:
        return self.row is not None and self.variation.code.startswith("concern")

    @property
    def failing(self) -> bool:
        return (self.row is not None and self.assurance is not None
                and self.assurance.code == ASSURANCE_FAIL.replace("_", "-"))

    @property
    def attention(self) -> int:
        if self.concern:
            return CONCERN
        if self.failing:
            return FAILING
        if self.missing:
            return MISSING
        return OTHER


def row_icons(kpi: KpiDefinition, row: Mapping[str, Any] | None) -> tuple[Icon, Icon | None]:
    """A KPI's variation and assurance icons for its flight-deck row (None: no data;
    the assurance icon is None when the KPI has no target)."""
    if row is None:
        return variation_icon(None), assurance_icon(None, kpi.target is not None)
    withheld = "spc" in parse_parts(row.get("suppressed_parts"))
    return (variation_icon(row.get("variation"), special_cause_side(row),
                           row.get("spc_limits"), withheld=withheld),
            assurance_icon(row.get("assurance"), kpi.target is not None,
                           row.get("spc_limits"), withheld=withheld))


def glance_rows(kpis: Sequence[KpiDefinition], own: Mapping[str, Mapping[str, Any]],
                comparator: Mapping[str, Mapping[str, Any]],
                expected: Mapping[str, dt.date | None]) -> dict[int, list[GlanceRow]]:
    """Per pillar number (in catalogue order), its KPIs' rows, attention first.

    ``own``/``comparator``: each KPI's latest row for the force and the comparator's row
    at the same period; ``expected``: the period each KPI should show.
    """
    pillars: dict[int, list[GlanceRow]] = {}
    for kpi in kpis:
        row = own.get(kpi.kpi_id)
        variation, assurance = row_icons(kpi, row)
        pillars.setdefault(kpi.pillar, []).append(GlanceRow(
            kpi, row, comparator.get(kpi.kpi_id), expected.get(kpi.kpi_id), variation,
            assurance))
    return {number: sorted(rows, key=lambda r: r.attention)
            for number, rows in pillars.items()}


@dataclass(frozen=True)
class Headline:
    """The headline strip's counts, and the KPIs behind each."""

    concerns: list[GlanceRow]
    failing: list[GlanceRow]
    missing: list[GlanceRow]
    data_to: dt.date | None  # the latest period any KPI shows


def headline(rows: Mapping[int, Sequence[GlanceRow]]) -> Headline:
    every = [r for pillar in rows.values() for r in pillar]
    periods = [pd.Timestamp(r.row["period_start"]).date() for r in every if r.row is not None]
    return Headline(
        concerns=[r for r in every if r.concern],
        failing=[r for r in every if r.failing],
        missing=[r for r in every if r.missing],
        data_to=max(periods) if periods else None,
    )


def _per(kpi: KpiDefinition) -> str:
    """'/100k': what a rate is per, where space is short (the words are in the title)."""
    per = kpi.comparison_per if kpi.compared_as_rate else 100_000
    return "/100k" if per == 100_000 else f"/{per:g}"


def compact_value(kpi: KpiDefinition, value: Any, hidden: bool = False) -> str:
    """A value as the matrix writes it: a rate per 100,000 as '36.8/100k'."""
    if kpi.unit != "per_100k":
        return format_value(kpi, value, hidden)
    text = format_value(replace(kpi, unit="ratio"), value, hidden)
    return text if text in (SUPPRESSED_LABEL, NO_DATA) else text + _per(kpi)


def comparator_text(line: GlanceRow) -> str:
    """The comparator's figure; a count's as a rate per its base (never a raw count:
    that would compare a force with the whole country's size)."""
    row, kpi = line.comparator, line.kpi
    if row is None:
        return "\u2013"
    hidden = bool(row.get("suppressed"))
    if kpi.compared_as_rate:
        text = format_value(replace(kpi, unit="ratio"), row.get("comparison"), hidden)
        return text if text in (SUPPRESSED_LABEL, NO_DATA) else text + _per(kpi)
    return compact_value(kpi, row.get("value"), hidden)


def at_periods(table: pd.DataFrame, area: str, own: Mapping[str, Mapping[str, Any]]
               ) -> dict[str, dict[str, Any]]:
    """``area``'s row of each KPI at the period of ``own``'s row for that KPI (the
    comparator at each KPI's own period, never at a later one)."""
    rows = area_rows(table, area)
    # Each row against its own KPI's wanted period, on the columns' NumPy values (not a
    # Timestamp made for every row, nor a mapped Series: some 3 ms of the flight deck's
    # first view, bench/bench_app.py).
    wanted = {kpi: np.datetime64(pd.Timestamp(row["period_start"]), "us")
              for kpi, row in own.items()}
    none = np.datetime64("NaT", "us")
    at = np.array([wanted.get(kpi, none) for kpi in rows["kpi"].tolist()],
                  dtype="datetime64[us]")
    chosen = rows["period_start"].to_numpy(dtype="datetime64[us]") == at  # NaT: never
    return {r["kpi"]: r for r in records(rows[chosen])}


def latest_rows(table: pd.DataFrame, area: str) -> dict[str, dict[str, Any]]:
    """Each KPI's latest row for ``area`` as a plain record."""
    return latest_and_history(table, area)[0]


def latest_and_history(table: pd.DataFrame, area: str
                       ) -> tuple[dict[str, dict[str, Any]], dict[str, list[float]]]:
    """Each KPI's latest row for ``area`` as a plain record, and its values oldest first.

    Plain records for the ~36 latest rows only: per-row pandas access, or records for
    every period, would cost more than computing the KPIs did.
    """
    rows = area_rows(table, area)
    kpis, values = rows["kpi"].to_numpy(), rows["value"].to_numpy(dtype=float)
    if not len(kpis):  # no rows for the area
        return {}, {}
    starts = np.flatnonzero(np.r_[True, kpis[1:] != kpis[:-1]])
    ends = [*starts[1:], len(kpis)]
    history = {kpis[a]: values[a:b].tolist() for a, b in zip(starts, ends, strict=True)}
    # The last row of each KPI's run (the engine's table keeps a KPI's periods together,
    # oldest first): what groupby("kpi").tail(1) gives, without grouping the whole
    # table; grouped after all if a KPI's rows lie apart.
    together = len({kpis[a] for a in starts}) == len(starts)
    last = (rows.iloc[[end - 1 for end in ends]] if together
            else rows.groupby("kpi", sort=False).tail(1))
    latest = {r["kpi"]: r for r in records(last)}
    return latest, history

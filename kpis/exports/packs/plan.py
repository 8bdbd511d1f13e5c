"""The content plan of a board pack (a force's KPIs for a period), which every writer lays out.

:func:`build_pack` gathers the content once (:func:`pack_content`) and writes it in the
chosen format. PowerPoint and PDF have the same pages, in this order:

1. a title page: force, period, protective marking, "demonstration data" where it
   applies, disclosure control where applied, and the date produced;
2. for each pillar with a selected KPI: a summary table (KPI, period, value, change on a
   year earlier, England and Wales, SPC variation), then one page per KPI with its SPC
   chart, its plain-English summary (:func:`kpis.engine.summary.summarise`) and commentary;
3. the inspection recommendations (:data:`RECOMMENDATIONS_PER_PAGE` a page): each with
   its deadline, its displayed status (overdue worked out from the deadline and the
   day the pack is produced, :func:`kpis.storage.annotations.displayed_status`), its latest
   dated progress note and the KPIs that evidence it;
4. sources and definitions (:data:`SOURCES_PER_PAGE` KPIs a page).

So a pack has ``1 + kpis + pillars + ceil(recommendations / RECOMMENDATIONS_PER_PAGE)
+ ceil(kpis / SOURCES_PER_PAGE)`` pages (:func:`page_count`). Every page carries the
marking at the top and the bottom and its page number. The Word paper has the same
content as flowing sections, with the marking in the section header and footer and a
page-number field.

With ``suppress=True`` every number comes from ``flight_deck_table(..., suppress=True)``:
a figure resting on a count of 1 to 4 shows as ``[c]`` in tables, is described as
suppressed in summaries, and is not drawn in charts.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from kpis.charts.specs import (
    DEFAULT_MARKING,
    ChartExport,
    Source,
    dataset_of,
    spc_export,
)
from kpis.domain.catalogue import KpiDefinition
from kpis.domain.formatting import format_change, format_period, format_value, is_missing
from kpis.domain.periods import long_day, long_month
from kpis.domain.vocabulary import DEMO_LABEL, SUPPRESSED_LABEL, parse_parts, variation_phrase
from kpis.engine.dataset import Dataset
from kpis.engine.measures import cached_table, hidden_columns
from kpis.exports.render import render_many
from kpis.storage.annotations import (
    NOT_STARTED,
    RecommendationStatus,
    displayed_status,
)

__all__ = [
    "COMMENTARY_PLACEHOLDER",
    "PACK_FORMATS",
    "PACK_TITLE",
    "PackContent",
    "pack_content",
    "page_count",
]

PackFormat = Literal["pptx", "pdf", "docx"]
PACK_FORMATS: tuple[str, ...] = ("pptx", "pdf", "docx")
PACK_TITLE = "RASSO performance board pack"
SCRUTINY_TITLE = "RASSO scrutiny pack"
SOURCES_PER_PAGE = 6
RECOMMENDATIONS_HEADING = "Inspection recommendations"
RECOMMENDATIONS_PER_PAGE = 5
RECOMMENDATION_COLUMNS = ("Recommendation", "Deadline", "Status", "Latest progress",
                          "Evidenced by")
#: Characters of a progress note shown on a slide or PDF page, whose table must fit one
#: page (notes may run to 2,000 characters); the Word paper flows, so it has them whole.
NOTE_LIMIT = 300
NO_PROGRESS = "No progress recorded yet."
COMMENTARY_PLACEHOLDER = "No commentary has been written for this KPI and period yet."
TABLE_COLUMNS = ("KPI", "Period", "Value", "Change on a year earlier", "England and Wales",
                 "Variation")
#: PNG scale for pack charts: 2400 x 1350 pixels, about 280 dpi on a slide.
PACK_SCALE = 2
SPC_NOTE = (
    "Charts are statistical process control (XmR) charts: the centre line is the mean, "
    "the dashed lines are the process limits (mean plus or minus 2.66 times the mean "
    "moving range). Special-cause points are marked by shape as well as colour.")
SUPPRESSION_TEXT = (
    f"Disclosure control: counts from 1 to 4, any rate built on one, and any figure that "
    f"would let one be worked out (a total minus its shown parts, a year minus its shown "
    f"months) are withheld and shown as {SUPPRESSED_LABEL}; withheld points are not drawn, "
    f"and a series with one has no SPC lines, signals or change on a year earlier.")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class PackChart:
    chart: ChartExport
    commentary: str
    image: bytes | None = None  # PNG; None when there is no data to draw


@dataclass(frozen=True)
class PillarSection:
    number: int
    name: str
    rows: list[tuple[str, ...]]  # TABLE_COLUMNS
    charts: list[PackChart]
    label: str = ""  # a heading of its own (a scrutiny pack's groups), not a pillar's

    @property
    def heading(self) -> str:
        return self.label or f"Pillar {self.number}: {self.name}"


@dataclass(frozen=True)
class RecommendationRow:
    """One inspection recommendation as a pack shows it (RECOMMENDATION_COLUMNS)."""

    rec_id: str
    title: str
    deadline: str
    status: str  # the displayed status in words; overdue also says what was recorded
    note: str  # the latest progress note, or NO_PROGRESS
    noted: str  # "Jane Analyst, 3 October 2025", or "" with no note
    kpis: str  # the titles of the KPIs that evidence it
    overdue: bool

    @property
    def heading(self) -> str:
        return f"{self.rec_id}: {self.title}"

    def progress(self, limit: int | None = None) -> str:
        """The note and who wrote it when, the note cut to ``limit`` characters."""
        note = self.note
        if limit is not None and len(note) > limit:
            note = note[:limit - 1].rstrip() + "\u2026"
        return f"{note} ({self.noted})" if self.noted else note

    def cells(self, limit: int | None = None) -> tuple[str, ...]:
        return (self.heading, self.deadline, self.status, self.progress(limit), self.kpis)


def recommendation_row(rec: RecommendationStatus, kpis: Mapping[str, KpiDefinition]
                       ) -> RecommendationRow:
    status = rec.displayed.capitalize()
    if rec.is_overdue:
        status += f" (deadline passed; recorded as {rec.status or NOT_STARTED})"
    noted = ""
    if rec.note is not None:
        when = long_day(rec.noted_at.date()) if rec.noted_at is not None else ""
        noted = ", ".join(part for part in (rec.author or "", when) if part)
    titles = [kpis[k].title if k in kpis else k for k in rec.kpi_ids]
    return RecommendationRow(rec.rec_id, rec.title, long_day(rec.deadline), status,
                             rec.note or NO_PROGRESS, noted, "; ".join(titles) or "None",
                             rec.is_overdue)


def catalogue_recommendations(ds: Dataset, today: dt.date) -> list[RecommendationStatus]:
    """The recommendations of a dataset's catalogue with no progress recorded.

    For a pack built from a bare :class:`Dataset`, which has no database to read
    progress notes from; a pack built from the service reads them.
    """
    linked: dict[str, list[str]] = {}
    for kpi in ds.kpis.values():
        for rec_id in kpi.recommendations:
            linked.setdefault(rec_id, []).append(kpi.kpi_id)
    return [RecommendationStatus(rec.rec_id, rec.title, rec.deadline,
                                 tuple(linked.get(rec.rec_id, ())), None, None, None, None,
                                 displayed_status(rec.deadline, None, today))
            for rec in sorted(ds.catalogue.recommendations, key=lambda r: r.rec_id)]


@dataclass(frozen=True)
class PackContent:
    force: str
    force_name: str
    period: dt.date
    marking: str
    demo: bool
    suppress: bool
    produced: dt.date
    sections: list[PillarSection]
    kpis: list[KpiDefinition]
    recommendations: list[RecommendationRow] = field(default_factory=list)
    kind: str = PACK_TITLE  # what the pack is: a board pack, a scrutiny pack

    @property
    def period_label(self) -> str:
        return long_month(self.period)

    @property
    def title(self) -> str:
        return f"{self.kind}: {self.force_name}, {self.period_label}"

    @property
    def charts(self) -> list[PackChart]:
        return [c for s in self.sections for c in s.charts]

    def title_lines(self) -> list[str]:
        lines = [self.force_name, f"Period: {self.period_label}",
                 f"Protective marking: {self.marking}"]
        if self.demo:
            lines.append(f"Demonstration data: {DEMO_LABEL.split('– ', 1)[-1]}")
        if self.suppress:
            lines.append(SUPPRESSION_TEXT)
        lines.append(f"Produced {long_day(self.produced)}")
        return lines

    def source_pages(self) -> list[list[KpiDefinition]]:
        return [self.kpis[i:i + SOURCES_PER_PAGE]
                for i in range(0, len(self.kpis), SOURCES_PER_PAGE)]

    def recommendation_pages(self) -> list[list[RecommendationRow]]:
        rows = self.recommendations
        return [rows[i:i + RECOMMENDATIONS_PER_PAGE]
                for i in range(0, len(rows), RECOMMENDATIONS_PER_PAGE)]

    @property
    def source_notes(self) -> list[str]:
        """What follows the sources: how to read the charts, and any disclosure control."""
        return [SPC_NOTE, SUPPRESSION_TEXT] if self.suppress else [SPC_NOTE]

    @property
    def summary_note(self) -> str:
        """The note beneath a pillar's summary table (slides and PDF pages)."""
        return (f"Latest period on or before {self.period_label}. Change is on the same "
                "period a year earlier; variation is the SPC reading of the latest point."
                + (f" {SUPPRESSED_LABEL}: withheld by disclosure control." if self.suppress
                   else ""))

    @property
    def recommendations_note(self) -> str:
        return (f"Status on {long_day(self.produced)}: a recommendation is overdue when its "
                "deadline has passed and its work is not recorded as complete. The latest "
                "progress note is shown with who recorded it and when.")

    def pages(self) -> int:
        return page_count(len(self.kpis), len(self.sections), len(self.recommendations))


def page_count(kpis: int, pillars: int, recommendations: int) -> int:
    """Slides (or PDF pages) in a pack of ``kpis`` KPIs from ``pillars`` pillars, with
    ``recommendations`` inspection recommendations."""
    return (1 + pillars + kpis + math.ceil(recommendations / RECOMMENDATIONS_PER_PAGE)
            + math.ceil(kpis / SOURCES_PER_PAGE))


def select_kpis(ds: Dataset, pillars: Sequence[int] | None = None,
                kpis: Sequence[str] | None = None) -> list[KpiDefinition]:
    """Published KPIs in catalogue order: those named (else all), in the pillars named."""
    if kpis:
        unknown = [k for k in kpis if k not in ds.kpis]
        if unknown:
            raise KeyError(f"unknown or unpublished KPI(s): {', '.join(unknown)}")
    if pillars:
        known = {p.number for p in ds.catalogue.pillars}
        unknown_pillars = [str(p) for p in pillars if p not in known]
        if unknown_pillars:
            raise KeyError(f"unknown pillar(s): {', '.join(unknown_pillars)}")
    chosen = [k for k in ds.kpis.values()
              if (not kpis or k.kpi_id in kpis) and (not pillars or k.pillar in pillars)]
    if not chosen:
        raise KeyError("no published KPI matches the pillars and KPIs chosen")
    return sorted(chosen, key=lambda k: (k.pillar, k.position))


def table_row(kpi: KpiDefinition, row: Mapping[str, Any] | None) -> tuple[str, ...]:
    """A pillar table row: hidden figures read [c]."""
    if row is None:
        return (kpi.title, "", "no data", "not available", "no data", "")
    parts = parse_parts(row.get("suppressed_parts"))
    withheld = hidden_columns(parts)
    hidden = "value" in withheld
    variation = row.get("variation")
    if "variation" in withheld:
        variation_text = SUPPRESSED_LABEL
    elif is_missing(variation) or is_missing(row.get("value")):
        variation_text = "—"
    else:
        variation_text = variation_phrase(variation)
    return (
        kpi.title,
        format_period(kpi, row["period_start"]),
        format_value(kpi, row.get("value"), suppressed=hidden),
        format_change(kpi, row.get("change"), suppressed="change" in withheld),
        format_value(kpi, row.get("national_value"), suppressed="national_value" in withheld),
        variation_text,
    )


def pack_content(source: Source, force: str, period: dt.date, *,
                 pillars: Sequence[int] | None = None, kpis: Sequence[str] | None = None,
                 marking: str = DEFAULT_MARKING, suppress: bool = False,
                 commentary: Mapping[str, str] | None = None, images: bool = True,
                 progress: Progress | None = None, today: dt.date | None = None,
                 recommendations: Sequence[RecommendationStatus] | None = None,
                 groups: Sequence[tuple[str, Sequence[str]]] | None = None,
                 kind: str = PACK_TITLE) -> PackContent:
    """Everything a pack shows, with chart PNGs rendered (unless ``images`` is False).

    ``groups``: (heading, KPI ids) in the order to show them, instead of the pillars
    (a scrutiny pack: concerns, then failing targets, then improvements); ``kind``: what
    the title calls the pack.

    ``commentary`` maps KPI id to the analyst's commentary for this force and period.
    ``recommendations`` defaults to the tracker's current state, read through the
    service (with ``today`` deciding what is overdue); a bare :class:`Dataset` has no
    progress notes to read, so its recommendations show none.
    """
    today = today or dt.date.today()
    ds = dataset_of(source)
    if force not in ds.area_names:
        raise KeyError(f"unknown force: {force}")
    if groups:
        kpis = [k for _, ids in groups for k in ids]
    chosen = select_kpis(ds, pillars, kpis)
    if groups:  # in the groups' order, not the catalogue's
        place = {k: i for i, k in enumerate(kpis or [])}
        chosen.sort(key=lambda k: place[k.kpi_id])
    say = progress or (lambda _message: None)
    say(f"Computing {len(chosen)} KPI(s) for {ds.area_names[force]}")
    table = cached_table(ds, [k.kpi_id for k in chosen], [force], end=period,
                         suppress=suppress)
    by_kpi = {kpi_id: rows for kpi_id, rows in table.groupby("kpi", sort=False)}
    empty = table.iloc[0:0]
    exports = [spc_export(source, k.kpi_id, force, period, marking=marking, suppress=suppress,
                          series=by_kpi.get(k.kpi_id, empty)) for k in chosen]
    pngs: list[bytes | None] = [None] * len(exports)
    drawable = [i for i, e in enumerate(exports) if e.figure is not None]
    if images and drawable:
        say(f"Drawing {len(drawable)} chart(s)")
        drawn = render_many([exports[i].figure for i in drawable], "png",  # type: ignore[misc]
                            scale=PACK_SCALE, marking=marking)
        for i, png in zip(drawable, drawn, strict=True):
            pngs[i] = png
    notes = commentary or {}
    position = {k.kpi_id: i for i, k in enumerate(chosen)}
    if groups:
        parts = [(0, "", heading, [position[k] for k in ids if k in position])
                 for heading, ids in groups]
    else:
        parts = [(p.number, p.name, "", [i for i, k in enumerate(chosen)
                                         if k.pillar == p.number])
                 for p in ds.catalogue.pillars]
    sections = []
    for number, name, label, members in parts:
        if not members:
            continue
        sections.append(PillarSection(
            number, name,
            rows=[table_row(chosen[i], exports[i].latest) for i in members],
            charts=[PackChart(exports[i], notes.get(chosen[i].kpi_id) or COMMENTARY_PLACEHOLDER,
                              pngs[i]) for i in members],
            label=label,
        ))
    if recommendations is None:
        # The service reads the tracker's progress notes; a bare dataset has none.
        tracker = getattr(source, "recommendation_status", None)
        recommendations = (tracker(today) if tracker is not None
                           else catalogue_recommendations(ds, today))
    rows = [recommendation_row(r, ds.kpis) for r in recommendations]
    return PackContent(force, ds.area_names[force], period, marking, ds.is_demo, suppress,
                       today, sections, chosen, rows, kind)


def _sources_text(kpi: KpiDefinition) -> tuple[str, str]:
    """(title, details) for the sources and definitions page."""
    unit = kpi.unit.replace("_", " ")
    detail = (f"{kpi.description} Source: {kpi.source}. Unit: {unit}; "
              f"{kpi.periodicity}; KPI id {kpi.kpi_id}, version {kpi.version}.")
    return kpi.title, detail


# --- PowerPoint ------------------------------------------------------------------------

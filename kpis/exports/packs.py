"""Board packs: a force's KPIs for a period as PowerPoint, PDF or a Word committee paper.

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
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from kpis.charts.specs import (
    DEFAULT_MARKING,
    ChartExport,
    Source,
    dataset_of,
    kpi_table,
    spc_export,
)
from kpis.domain.catalogue import KpiDefinition
from kpis.domain.formatting import format_change, format_period, format_value, is_missing
from kpis.domain.vocabulary import DEMO_LABEL, SUPPRESSED_LABEL
from kpis.engine.dataset import Dataset
from kpis.engine.summary import VARIATION_TEXT
from kpis.exports.render import EXPORT_HEIGHT, EXPORT_WIDTH, render_many
from kpis.service import FlightDeckService
from kpis.storage.annotations import (
    NOT_STARTED,
    RecommendationStatus,
    displayed_status,
    recommendation_status,
)

__all__ = [
    "COMMENTARY_PLACEHOLDER",
    "PACK_FORMATS",
    "PACK_TITLE",
    "RECOMMENDATIONS_HEADING",
    "RECOMMENDATIONS_PER_PAGE",
    "RECOMMENDATION_COLUMNS",
    "SOURCES_PER_PAGE",
    "TABLE_COLUMNS",
    "PackContent",
    "build_pack",
    "pack_content",
    "page_count",
]

PackFormat = Literal["pptx", "pdf", "docx"]
PACK_FORMATS: tuple[str, ...] = ("pptx", "pdf", "docx")
PACK_TITLE = "RASSO performance board pack"
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
    f"Disclosure control: counts from 1 to 4, and any rate built on one, are withheld and "
    f"shown as {SUPPRESSED_LABEL}; withheld points are not drawn.")

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

    @property
    def heading(self) -> str:
        return f"Pillar {self.number}: {self.name}"


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


def _day(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def recommendation_row(rec: RecommendationStatus, kpis: Mapping[str, KpiDefinition]
                       ) -> RecommendationRow:
    status = rec.displayed.capitalize()
    if rec.is_overdue:
        status += f" (deadline passed; recorded as {rec.status or NOT_STARTED})"
    noted = ""
    if rec.note is not None:
        when = _day(rec.noted_at.date()) if rec.noted_at is not None else ""
        noted = ", ".join(part for part in (rec.author or "", when) if part)
    titles = [kpis[k].title if k in kpis else k for k in rec.kpi_ids]
    return RecommendationRow(rec.rec_id, rec.title, _day(rec.deadline), status,
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

    @property
    def period_label(self) -> str:
        return self.period.strftime("%B %Y")

    @property
    def title(self) -> str:
        return f"{PACK_TITLE}: {self.force_name}, {self.period_label}"

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
        lines.append(f"Produced {self.produced.day} {self.produced:%B %Y}")
        return lines

    def source_pages(self) -> list[list[KpiDefinition]]:
        return [self.kpis[i:i + SOURCES_PER_PAGE]
                for i in range(0, len(self.kpis), SOURCES_PER_PAGE)]

    def recommendation_pages(self) -> list[list[RecommendationRow]]:
        rows = self.recommendations
        return [rows[i:i + RECOMMENDATIONS_PER_PAGE]
                for i in range(0, len(rows), RECOMMENDATIONS_PER_PAGE)]

    @property
    def recommendations_note(self) -> str:
        return (f"Status on {_day(self.produced)}: a recommendation is overdue when its "
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


def _parts(row: Mapping[str, Any]) -> set[str]:
    text = row.get("suppressed_parts")
    return set(str(text).split(",")) if isinstance(text, str) and text else set()


def table_row(kpi: KpiDefinition, row: Mapping[str, Any] | None) -> tuple[str, ...]:
    """A pillar table row: hidden figures read [c]."""
    if row is None:
        return (kpi.title, "", "no data", "not available", "no data", "")
    parts = _parts(row)
    hidden = "value" in parts
    variation = row.get("variation")
    if hidden:
        variation_text = SUPPRESSED_LABEL
    elif is_missing(variation) or is_missing(row.get("value")):
        variation_text = "—"
    else:
        variation_text = VARIATION_TEXT.get(str(variation), str(variation)).capitalize()
    return (
        kpi.title,
        format_period(kpi, row["period_start"]),
        format_value(kpi, row.get("value"), suppressed=hidden),
        format_change(kpi, row.get("change"), suppressed=hidden or "prior" in parts),
        format_value(kpi, row.get("national_value"), suppressed="national" in parts),
        variation_text,
    )


def pack_content(source: Source, force: str, period: dt.date, *,
                 pillars: Sequence[int] | None = None, kpis: Sequence[str] | None = None,
                 marking: str = DEFAULT_MARKING, suppress: bool = False,
                 commentary: Mapping[str, str] | None = None, images: bool = True,
                 progress: Progress | None = None, today: dt.date | None = None,
                 recommendations: Sequence[RecommendationStatus] | None = None
                 ) -> PackContent:
    """Everything a pack shows, with chart PNGs rendered (unless ``images`` is False).

    ``commentary`` maps KPI id to the analyst's commentary for this force and period.
    ``recommendations`` defaults to the tracker's current state, read through the
    service (with ``today`` deciding what is overdue); a bare :class:`Dataset` has no
    progress notes to read, so its recommendations show none.
    """
    today = today or dt.date.today()
    ds = dataset_of(source)
    if force not in ds.area_names:
        raise KeyError(f"unknown force: {force}")
    chosen = select_kpis(ds, pillars, kpis)
    say = progress or (lambda _message: None)
    say(f"Computing {len(chosen)} KPI(s) for {ds.area_names[force]}")
    table = kpi_table(source, [k.kpi_id for k in chosen], [force], end=period,
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
    sections = []
    for pillar in ds.catalogue.pillars:
        members = [i for i, k in enumerate(chosen) if k.pillar == pillar.number]
        if not members:
            continue
        sections.append(PillarSection(
            pillar.number, pillar.name,
            rows=[table_row(chosen[i], exports[i].latest) for i in members],
            charts=[PackChart(exports[i], notes.get(chosen[i].kpi_id) or COMMENTARY_PLACEHOLDER,
                              pngs[i]) for i in members],
        ))
    if recommendations is None:
        recommendations = (recommendation_status(source.reader, today)
                           if isinstance(source, FlightDeckService)
                           else catalogue_recommendations(ds, today))
    rows = [recommendation_row(r, ds.kpis) for r in recommendations]
    return PackContent(force, ds.area_names[force], period, marking, ds.is_demo, suppress,
                       today, sections, chosen, rows)


def build_pack(source: Source, force: str, period: dt.date, fmt: PackFormat, *,
               pillars: Sequence[int] | None = None, kpis: Sequence[str] | None = None,
               marking: str = DEFAULT_MARKING, suppress: bool = False,
               out: Path, commentary: Mapping[str, str] | None = None,
               progress: Progress | None = None, today: dt.date | None = None,
               recommendations: Sequence[RecommendationStatus] | None = None) -> Path:
    """Write a board pack for ``force`` and ``period`` as PPTX, PDF or DOCX to ``out``.

    ``today`` (default: today) is the date produced, which decides what is overdue;
    ``recommendations`` as for :func:`pack_content`.

    Raises KeyError for an unknown force, pillar or KPI, and
    :class:`kpis.exports.render.RendererUnavailable` if charts cannot be drawn.
    """
    if fmt not in PACK_FORMATS:
        raise ValueError(f"unknown pack format {fmt!r}; use one of {', '.join(PACK_FORMATS)}")
    content = pack_content(source, force, period, pillars=pillars, kpis=kpis, marking=marking,
                           suppress=suppress, commentary=commentary, progress=progress,
                           today=today, recommendations=recommendations)
    if progress:
        progress(f"Writing {fmt.upper()} to {out}")
    writer = {"pptx": write_pptx, "pdf": write_pdf, "docx": write_docx}[fmt]
    out = Path(out)
    writer(content, out)
    return out


def _sources_text(kpi: KpiDefinition) -> tuple[str, str]:
    """(title, details) for the sources and definitions page."""
    unit = kpi.unit.replace("_", " ")
    detail = (f"{kpi.description} Source: {kpi.source}. Unit: {unit}; "
              f"{kpi.periodicity}; KPI id {kpi.kpi_id}, version {kpi.version}.")
    return kpi.title, detail


# --- PowerPoint ------------------------------------------------------------------------


def _slide_table_height(rows: Sequence[Sequence[str]], widths: Sequence[float],
                        points: float) -> float:
    """Roughly how tall (inches) a slide table of ``rows`` is in a ``points`` font.

    A character is taken as half the font size wide (generous for a sans-serif), each
    cell has 0.1 inch of padding either side and 0.05 inch above and below.
    """
    total = 0.0
    for cells in rows:
        lines = max(max(1, math.ceil(len(text) * points / 2 / ((width - 0.2) * 72)))
                    for text, width in zip(cells, widths, strict=True))
        total += lines * points * 1.2 / 72 + 0.1
    return total


def write_pptx(content: PackContent, out: Path) -> None:
    from pptx import Presentation
    from pptx.util import Inches, Pt

    deck = Presentation()
    deck.slide_width, deck.slide_height = Inches(13.333), Inches(7.5)
    blank = deck.slide_layouts[6]
    total = content.pages()
    number = 0

    def text(slide: Any, left: float, top: float, width: float, height: float,
             paragraphs: Sequence[str | tuple[str, int, bool]], size: int = 14,
             align: str = "left") -> Any:
        from pptx.enum.text import PP_ALIGN

        box = slide.shapes.add_textbox(Inches(left), Inches(top), Inches(width), Inches(height))
        frame = box.text_frame
        frame.word_wrap = True
        for i, item in enumerate(paragraphs):
            words, points, bold = item if isinstance(item, tuple) else (item, size, False)
            paragraph = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
            paragraph.alignment = {"left": PP_ALIGN.LEFT, "center": PP_ALIGN.CENTER,
                                   "right": PP_ALIGN.RIGHT}[align]
            run = paragraph.add_run()
            run.text = words
            run.font.size = Pt(points)
            run.font.bold = bold
        return box

    def new_slide(title: str | None) -> Any:
        nonlocal number
        number += 1
        slide = deck.slides.add_slide(blank)
        text(slide, 0.4, 0.05, 12.5, 0.35, [(content.marking, 12, True)], align="center")
        text(slide, 0.4, 7.05, 12.5, 0.35, [(content.marking, 12, True)], align="center")
        text(slide, 0.4, 7.05, 6, 0.35, [(f"{content.force_name}, {content.period_label}"
                                          + ("  |  Demonstration data" if content.demo else ""),
                                          10, False)])
        text(slide, 9.9, 7.05, 3.0, 0.35, [(f"Slide {number} of {total}", 10, False)],
             align="right")
        if title:
            text(slide, 0.4, 0.45, 12.5, 0.6, [(title, 24, True)])
        return slide

    slide = new_slide(None)
    text(slide, 0.8, 1.6, 11.7, 1.2, [(PACK_TITLE, 36, True)])
    text(slide, 0.8, 3.0, 11.7, 3.5, [(line, 18, False) for line in content.title_lines()])

    for section in content.sections:
        slide = new_slide(f"{section.heading}: summary")
        rows = len(section.rows) + 1
        shape = slide.shapes.add_table(rows, len(TABLE_COLUMNS), Inches(0.4), Inches(1.2),
                                       Inches(12.5), Inches(0.4 * rows))
        widths = (4.1, 1.6, 1.4, 2.0, 1.6, 1.8)
        for column, width in enumerate(widths):
            shape.table.columns[column].width = Inches(width)
        for r, values in enumerate([TABLE_COLUMNS, *section.rows]):
            for c, value in enumerate(values):
                cell = shape.table.cell(r, c)
                cell.text = value
                for paragraph in cell.text_frame.paragraphs:
                    for run in paragraph.runs:
                        run.font.size = Pt(12 if len(section.rows) <= 9 else 10)
                        run.font.bold = r == 0
        text(slide, 0.4, 6.4, 12.5, 0.6, [(
            f"Latest period on or before {content.period_label}. Change is on the same "
            "period a year earlier; variation is the SPC reading of the latest point."
            + (f" {SUPPRESSED_LABEL}: withheld by disclosure control." if content.suppress
               else ""), 10, False)])
        for item in section.charts:
            chart = item.chart
            slide = new_slide(chart.kpi.title)
            if item.image is not None:
                slide.shapes.add_picture(io.BytesIO(item.image), Inches(0.3), Inches(1.15),
                                         width=Inches(8.6))
            else:
                text(slide, 0.4, 2.5, 8.4, 1.0, [(chart.summary, 16, False)])
            text(slide, 9.1, 1.15, 3.9, 5.8, [
                ("Summary", 14, True), (chart.summary, 12, False), ("", 8, False),
                ("Commentary", 14, True), (item.commentary, 12, False),
            ])

    widths = (3.3, 1.2, 1.8, 3.7, 2.5)
    for page, group in enumerate(content.recommendation_pages()):
        slide = new_slide(RECOMMENDATIONS_HEADING + (" (continued)" if page else ""))
        # PowerPoint grows a row to fit its text, past the slide's foot if need be: notes
        # are cut to what the slide holds, by an estimate of the rows' heights.
        limit = next((n for n in (NOTE_LIMIT, NOTE_LIMIT // 2) if _slide_table_height(
            [RECOMMENDATION_COLUMNS, *(rec.cells(n) for rec in group)], widths, 10) <= 5.3),
            NOTE_LIMIT // 4)
        rows = len(group) + 1
        shape = slide.shapes.add_table(rows, len(RECOMMENDATION_COLUMNS), Inches(0.4),
                                       Inches(1.15), Inches(12.5), Inches(0.4 * rows))
        for column, width in enumerate(widths):
            shape.table.columns[column].width = Inches(width)
        for r, values in enumerate([RECOMMENDATION_COLUMNS,
                                    *(rec.cells(limit) for rec in group)]):
            for c, value in enumerate(values):
                cell = shape.table.cell(r, c)
                cell.text = value
                for paragraph in cell.text_frame.paragraphs:
                    for run in paragraph.runs:
                        run.font.size = Pt(10 if r else 11)
                        # Overdue is said in words; bold makes it stand out in greyscale.
                        run.font.bold = r == 0 or (c == 2 and group[r - 1].overdue)
        text(slide, 0.4, 6.55, 12.5, 0.45, [(content.recommendations_note, 10, False)])

    for page, group in enumerate(content.source_pages()):
        title = "Sources and definitions" + (" (continued)" if page else "")
        slide = new_slide(title)
        paragraphs: list[str | tuple[str, int, bool]] = []
        for kpi in group:
            name, detail = _sources_text(kpi)
            paragraphs += [(name, 12, True), (detail, 10, False)]
        if page == 0:
            paragraphs += [(SPC_NOTE, 10, False)]
            if content.suppress:
                paragraphs += [(SUPPRESSION_TEXT, 10, False)]
        text(slide, 0.4, 1.15, 12.5, 5.8, paragraphs)
    deck.core_properties.title = content.title
    deck.save(str(out))


# --- PDF -------------------------------------------------------------------------------


def _latin(text: str) -> str:
    """Text the PDF's standard fonts can show (WinAnsi): the minus sign becomes '-'."""
    text = text.replace("\u2212", "-")
    return text.encode("cp1252", errors="replace").decode("cp1252")


def write_pdf(content: PackContent, out: Path) -> None:
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen.canvas import Canvas
    from reportlab.platypus import Frame, Paragraph, Table, TableStyle

    width, height = landscape(A4)
    total = content.pages()
    canvas = Canvas(str(out), pagesize=(width, height))
    canvas.setTitle(content.title)
    body = ParagraphStyle("body", fontName="Helvetica", fontSize=11, leading=14)
    small = ParagraphStyle("small", parent=body, fontSize=9, leading=11)
    strong = ParagraphStyle("strong", parent=body, fontName="Helvetica-Bold", fontSize=12,
                            leading=15, spaceBefore=4)
    cell = ParagraphStyle("cell", parent=body, fontSize=9, leading=11)
    number = 0

    def para(words: str, style: ParagraphStyle) -> Paragraph:
        return Paragraph(escape(_latin(words)), style)

    def frame(x: float, y: float, w: float, h: float, flowables: list[Any]) -> None:
        Frame(x, y, w, h, showBoundary=0).addFromList(flowables, canvas)

    def page(title: str | None) -> None:
        nonlocal number
        if number:
            canvas.showPage()
        number += 1
        canvas.setFont("Helvetica-Bold", 11)
        canvas.drawCentredString(width / 2, height - 22, _latin(content.marking))
        canvas.drawCentredString(width / 2, 14, _latin(content.marking))
        canvas.setFont("Helvetica", 9)
        canvas.drawString(36, 14, _latin(f"{content.force_name}, {content.period_label}"
                                         + ("  |  Demonstration data" if content.demo
                                            else "")))
        canvas.drawRightString(width - 36, 14, f"Page {number} of {total}")
        if title:
            canvas.setFont("Helvetica-Bold", 18)
            canvas.drawString(36, height - 56, _latin(title))

    page(None)
    canvas.setFont("Helvetica-Bold", 28)
    canvas.drawString(60, height - 150, PACK_TITLE)
    frame(60, 80, width - 120, height - 260,
          [para(line, ParagraphStyle("title", parent=body, fontSize=15, leading=22))
           for line in content.title_lines()])

    for section in content.sections:
        page(f"{section.heading}: summary")
        data = [[para(v, cell) for v in TABLE_COLUMNS]]
        data += [[para(v, cell) for v in row] for row in section.rows]
        table = Table(data, colWidths=[230, 90, 80, 130, 90, 150], repeatRows=1)
        table.setStyle(TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#6F777B")),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E5E5E5")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]))
        _, used = table.wrapOn(canvas, width - 72, height - 140)
        table.drawOn(canvas, 36, height - 76 - used)
        note = ("Latest period on or before " + content.period_label + ". Change is on the "
                "same period a year earlier; variation is the SPC reading of the latest point."
                + (f" {SUPPRESSED_LABEL}: withheld by disclosure control."
                   if content.suppress else ""))
        frame(36, 30, width - 72, 40, [para(note, small)])
        for item in section.charts:
            chart = item.chart
            page(chart.kpi.title)
            image_width = 540.0
            if item.image is not None:
                image_height = image_width * EXPORT_HEIGHT / EXPORT_WIDTH
                canvas.drawImage(ImageReader(io.BytesIO(item.image)), 30,
                                 height - 70 - image_height, image_width, image_height)
            frame(585, 40, width - 585 - 30, height - 110, [
                para("Summary", strong), para(chart.summary, body),
                para("Commentary", strong), para(item.commentary, body),
            ])

    bold_cell = ParagraphStyle("bold-cell", parent=cell, fontName="Helvetica-Bold")
    for index, group in enumerate(content.recommendation_pages()):
        page(RECOMMENDATIONS_HEADING + (" (continued)" if index else ""))
        # Notes are cut to fit the page, harder if the first cut still runs over.
        for limit in (NOTE_LIMIT, NOTE_LIMIT // 2, NOTE_LIMIT // 4):
            data = [[para(v, cell) for v in RECOMMENDATION_COLUMNS]]
            data += [[para(v, bold_cell if c == 2 and rec.overdue else cell)
                      for c, v in enumerate(rec.cells(limit))] for rec in group]
            table = Table(data, colWidths=[220, 75, 115, 240, 120], repeatRows=1)
            table.setStyle(TableStyle([
                ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#6F777B")),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E5E5E5")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]))
            _, used = table.wrapOn(canvas, width - 72, height - 140)
            if used <= height - 76 - 80:
                break
        table.drawOn(canvas, 36, height - 76 - used)
        frame(36, 30, width - 72, 40, [para(content.recommendations_note, small)])

    for index, group in enumerate(content.source_pages()):
        page("Sources and definitions" + (" (continued)" if index else ""))
        flowables: list[Any] = []
        for kpi in group:
            name, detail = _sources_text(kpi)
            flowables += [para(name, strong), para(detail, small)]
        if index == 0:
            flowables.append(para(SPC_NOTE, small))
            if content.suppress:
                flowables.append(para(SUPPRESSION_TEXT, small))
        frame(36, 30, width - 72, height - 100, flowables)
    canvas.showPage()
    canvas.save()


# --- Word ------------------------------------------------------------------------------


def _field(paragraph: Any, instruction: str) -> None:
    """A Word field (PAGE, NUMPAGES) in ``paragraph``, updated when the document opens."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    def run_with(element: Any) -> None:
        run = paragraph.add_run()
        run._r.append(element)

    begin = OxmlElement("w:fldChar")
    begin.set(qn("w:fldCharType"), "begin")
    code = OxmlElement("w:instrText")
    code.set(qn("xml:space"), "preserve")
    code.text = f" {instruction} "
    separate = OxmlElement("w:fldChar")
    separate.set(qn("w:fldCharType"), "separate")
    end = OxmlElement("w:fldChar")
    end.set(qn("w:fldCharType"), "end")
    run_with(begin)
    run_with(code)
    run_with(separate)
    paragraph.add_run("1")
    run_with(end)


def _docx_table(document: Any, headings: Sequence[str]) -> Any:
    """A gridded Word table with one bold heading row."""
    table = document.add_table(rows=1, cols=len(headings))
    table.style = "Table Grid"
    for cell, name in zip(table.rows[0].cells, headings, strict=True):
        cell.text = ""
        cell.paragraphs[0].add_run(name).bold = True
    return table


def write_docx(content: PackContent, out: Path) -> None:
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Inches, Pt

    document = Document()
    document.core_properties.title = content.title
    section = document.sections[0]
    header = section.header.paragraphs[0]
    header.alignment = WD_ALIGN_PARAGRAPH.CENTER
    header.add_run(content.marking).bold = True
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run(content.marking).bold = True
    numbers = section.footer.add_paragraph()
    numbers.alignment = WD_ALIGN_PARAGRAPH.CENTER
    numbers.add_run("Page ")
    _field(numbers, "PAGE")
    numbers.add_run(" of ")
    _field(numbers, "NUMPAGES")

    document.add_heading(content.title, level=0)
    for line in content.title_lines():
        document.add_paragraph(line)
    figure = 0
    for part in content.sections:
        document.add_heading(part.heading, level=1)
        table = _docx_table(document, TABLE_COLUMNS)
        for row in part.rows:
            for cell, value in zip(table.add_row().cells, row, strict=True):
                cell.text = value
        caption = document.add_paragraph(
            f"Table: {part.heading}, latest period on or before {content.period_label}.")
        caption.runs[0].font.size = Pt(9)
        for item in part.charts:
            chart = item.chart
            document.add_heading(chart.kpi.title, level=2)
            if item.image is not None:
                figure += 1
                document.add_picture(io.BytesIO(item.image), width=Inches(6.3))
                document.add_paragraph(f"Figure {figure}: {chart.text.title}. "
                                       f"{chart.text.subtitle}.").runs[0].font.size = Pt(9)
            document.add_paragraph(chart.summary)
            commentary = document.add_paragraph()
            commentary.add_run("Commentary: ").bold = True
            commentary.add_run(item.commentary)
    if content.recommendations:
        document.add_heading(RECOMMENDATIONS_HEADING, level=1)
        table = _docx_table(document, RECOMMENDATION_COLUMNS)
        for rec in content.recommendations:
            for c, (cell, value) in enumerate(zip(table.add_row().cells, rec.cells(),
                                                  strict=True)):
                cell.paragraphs[0].add_run(value).bold = c == 2 and rec.overdue
        document.add_paragraph(content.recommendations_note).runs[0].font.size = Pt(9)
    document.add_heading("Sources and definitions", level=1)
    for kpi in content.kpis:
        name, detail = _sources_text(kpi)
        paragraph = document.add_paragraph()
        paragraph.add_run(f"{name}. ").bold = True
        paragraph.add_run(detail)
    document.add_paragraph(SPC_NOTE)
    if content.suppress:
        document.add_paragraph(SUPPRESSION_TEXT)
    document.save(str(out))


def chart_pngs(content: PackContent) -> list[bytes]:
    """The pack's chart images, in page order (for checks and previews)."""
    return [c.image for c in content.charts if c.image is not None]


def frame_of(content: PackContent) -> pd.DataFrame:
    """The pack's pillar tables as one frame (pillar, then TABLE_COLUMNS)."""
    return pd.DataFrame([(s.number, *row) for s in content.sections for row in s.rows],
                        columns=["pillar", *TABLE_COLUMNS])

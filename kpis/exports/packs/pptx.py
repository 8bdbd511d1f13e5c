"""The PowerPoint writer of a board pack's content plan (python-pptx)."""

from __future__ import annotations

import io
import math
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from kpis.exports.packs.plan import (
    NOTE_LIMIT,
    RECOMMENDATION_COLUMNS,
    RECOMMENDATIONS_HEADING,
    TABLE_COLUMNS,
    PackContent,
    _sources_text,
)


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

    def table(slide: Any, top: float, widths: Sequence[float], rows: list[Sequence[str]],
              points: tuple[int, int], bold: Collection[tuple[int, int]] = ()) -> None:
        """A table across the slide: ``points`` for the heading row and the others; the
        heading row and the (row, column) cells in ``bold`` are bold."""
        shape = slide.shapes.add_table(len(rows), len(widths), Inches(0.4), Inches(top),
                                       Inches(12.5), Inches(0.4 * len(rows)))
        for column, width in enumerate(widths):
            shape.table.columns[column].width = Inches(width)
        for r, values in enumerate(rows):
            for c, value in enumerate(values):
                cell = shape.table.cell(r, c)
                cell.text = value
                for paragraph in cell.text_frame.paragraphs:
                    for run in paragraph.runs:
                        run.font.size = Pt(points[0] if r == 0 else points[1])
                        run.font.bold = r == 0 or (r, c) in bold

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
    text(slide, 0.8, 1.6, 11.7, 1.2, [(content.kind, 36, True)])
    text(slide, 0.8, 3.0, 11.7, 3.5, [(line, 18, False) for line in content.title_lines()])

    for section in content.sections:
        slide = new_slide(f"{section.heading}: summary")
        size = 12 if len(section.rows) <= 9 else 10
        table(slide, 1.2, (4.1, 1.6, 1.4, 2.0, 1.6, 1.8), [TABLE_COLUMNS, *section.rows],
              (size, size))
        text(slide, 0.4, 6.4, 12.5, 0.6, [(content.summary_note, 10, False)])
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
        # Overdue is said in words; bold makes it stand out in greyscale.
        table(slide, 1.15, widths, [RECOMMENDATION_COLUMNS, *(rec.cells(limit) for rec in group)],
              (11, 10), bold={(r, 2) for r, rec in enumerate(group, start=1) if rec.overdue})
        text(slide, 0.4, 6.55, 12.5, 0.45, [(content.recommendations_note, 10, False)])

    for page, group in enumerate(content.source_pages()):
        title = "Sources and definitions" + (" (continued)" if page else "")
        slide = new_slide(title)
        paragraphs: list[str | tuple[str, int, bool]] = []
        for kpi in group:
            name, detail = _sources_text(kpi)
            paragraphs += [(name, 12, True), (detail, 10, False)]
        if page == 0:
            paragraphs += [(note, 10, False) for note in content.source_notes]
        text(slide, 0.4, 1.15, 12.5, 5.8, paragraphs)
    deck.core_properties.title = content.title
    deck.save(str(out))


# --- PDF -------------------------------------------------------------------------------

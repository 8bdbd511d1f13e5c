"""The PDF writer of a board pack's content plan (ReportLab)."""

from __future__ import annotations

import io
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
from kpis.exports.render import EXPORT_HEIGHT, EXPORT_WIDTH


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
    # Every table: a grid, a grey heading row, cells aligned at the top.
    grid = TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#6F777B")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E5E5E5")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ])
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
    canvas.drawString(60, height - 150, content.kind)
    frame(60, 80, width - 120, height - 260,
          [para(line, ParagraphStyle("title", parent=body, fontSize=15, leading=22))
           for line in content.title_lines()])

    for section in content.sections:
        page(f"{section.heading}: summary")
        data = [[para(v, cell) for v in TABLE_COLUMNS]]
        data += [[para(v, cell) for v in row] for row in section.rows]
        table = Table(data, colWidths=[230, 90, 80, 130, 90, 150], repeatRows=1, style=grid)
        _, used = table.wrapOn(canvas, width - 72, height - 140)
        table.drawOn(canvas, 36, height - 76 - used)
        frame(36, 30, width - 72, 40, [para(content.summary_note, small)])
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
            table = Table(data, colWidths=[220, 75, 115, 240, 120], repeatRows=1, style=grid)
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
            flowables += [para(note, small) for note in content.source_notes]
        frame(36, 30, width - 72, height - 100, flowables)
    canvas.showPage()
    canvas.save()


# --- Word ------------------------------------------------------------------------------

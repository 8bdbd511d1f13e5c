"""The Word writer of a board pack's content plan (python-docx)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kpis.exports.packs.plan import (
    RECOMMENDATION_COLUMNS,
    RECOMMENDATIONS_HEADING,
    TABLE_COLUMNS,
    PackContent,
    _sources_text,
)


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
    for element in (begin, code, separate):
        run_with(element)
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
    for note in content.source_notes:
        document.add_paragraph(note)
    document.save(str(out))

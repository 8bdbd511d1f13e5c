"""The Word writer of a board pack's content plan (python-docx): an A4 committee paper.

The summary and the exceptions come first, each chart on a page of its own, then the
appendix. Tables have their header row repeated on each page and their columns sized to
their content (:func:`kpis.exports.packs.plan.column_widths`); figures and tables are
numbered in captions; every picture has the chart's plain-English summary as its
alternative text. ``template=`` (a ``.docx`` or ``.dotx``) gives a force's own styles,
headers and page set-up; the default is A4 portrait with 2 cm margins.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kpis.exports.packs.plan import (
    APPENDIX_HEADING,
    COMMENTARY_HEADING,
    DEFINITIONS_HEADING,
    EXCEPTIONS_HEADING,
    LISTS_HEADING,
    NO_EXCEPTIONS,
    NOTES_HEADING,
    OTHER_KPIS_HEADING,
    RECOMMENDATIONS_HEADING,
    PackContent,
    PackTable,
)

__all__ = ["A4", "write_docx"]

A4 = (21.0, 29.7)  # centimetres
MARGIN = 2.0
#: Table text (points), by table: the matrix is dense so that it fits page one.
POINTS = {"matrix": 7.5, "default": 8.5}


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


def _style(document: Any, name: str) -> Any:
    """The named style if the document (a force's template) has it, else None."""
    try:
        return document.styles[name]
    except KeyError:
        return None


def _caption(document: Any, text: str) -> Any:
    paragraph = document.add_paragraph(text, style=_style(document, "Caption"))
    if paragraph.runs:
        paragraph.runs[0].bold = True
    return paragraph


def _repeat_header(row: Any) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    properties = row._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    properties.append(header)


def _fixed(table: Any) -> None:
    """A fixed layout, so Word keeps the widths given instead of sharing the width out
    equally (which broke words such as "percentag e")."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    properties = table._tbl.tblPr
    layout = OxmlElement("w:tblLayout")
    layout.set(qn("w:type"), "fixed")
    properties.append(layout)


def _table(document: Any, table: PackTable, width_cm: float, points: float,
           rows: Sequence[int] | None = None) -> Any:
    from docx.shared import Cm, Pt

    _caption(document, table.label)
    chosen = list(range(len(table.rows))) if rows is None else list(rows)
    grid = document.add_table(rows=1, cols=len(table.columns))
    if _style(document, "Table Grid") is not None:
        grid.style = "Table Grid"
    grid.autofit = False
    _fixed(grid)
    widths = [Cm(width_cm * share) for share in table.widths_at(width_cm / 2.54 * 72, points)]
    for column, width in zip(grid.columns, widths, strict=True):
        column.width = width

    def fill(cells: Sequence[Any], values: Sequence[str], bold: Sequence[bool]) -> None:
        for cell, value, width, strong in zip(cells, values, widths, bold, strict=True):
            cell.width = width
            cell.text = ""
            run = cell.paragraphs[0].add_run(value)
            run.font.size = Pt(points)
            run.bold = strong

    header = grid.rows[0]
    _repeat_header(header)
    fill(header.cells, table.columns, [True] * len(table.columns))
    for i in chosen:
        row = grid.add_row()
        if i in table.groups:
            merged = row.cells[0].merge(row.cells[-1])
            merged.text = ""
            run = merged.paragraphs[0].add_run(table.rows[i][0])
            run.font.size = Pt(points)
            run.bold = True
            continue
        fill(row.cells, table.rows[i],
             [c == 0 or (i, c) in table.bold for c in range(len(table.columns))])
    if table.note:
        note = document.add_paragraph(table.note)
        note.runs[0].font.size = Pt(8)
    return grid


def _describe_picture(shape: Any, title: str, text: str) -> None:
    """Alternative text of an inline picture (Word's "Alt Text": descr, and a title)."""
    properties = shape._inline.docPr
    properties.set("descr", text)
    properties.set("title", title)


def _set_language(document: Any, language: str = "en-GB") -> None:
    """The document's language, on its default run properties (Word's proofing and a
    screen reader's voice follow it)."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    styles = document.styles.element
    defaults = styles.find(qn("w:docDefaults"))
    if defaults is None:
        return
    run = defaults.find(qn("w:rPrDefault"))
    if run is None:
        run = OxmlElement("w:rPrDefault")
        defaults.insert(0, run)
    properties = run.find(qn("w:rPr"))
    if properties is None:
        properties = OxmlElement("w:rPr")
        run.append(properties)
    for old in properties.findall(qn("w:lang")):
        properties.remove(old)
    lang = OxmlElement("w:lang")
    lang.set(qn("w:val"), language)
    properties.append(lang)


def write_docx(content: PackContent, out: Path, *, template: Path | None = None) -> None:
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Pt

    from kpis.exports.packs.templates import open_docx

    document = open_docx(template) if template is not None else Document()
    properties = document.core_properties
    properties.title = content.title
    properties.author = content.author
    properties.subject = content.subject
    properties.keywords = content.marking
    properties.language = "en-GB"
    _set_language(document)
    section = document.sections[0]
    if template is None:
        section.orientation = WD_ORIENT.PORTRAIT
        section.page_width, section.page_height = Cm(A4[0]), Cm(A4[1])
        for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
            setattr(section, side, Cm(MARGIN))
    width_cm = (section.page_width - section.left_margin - section.right_margin) / Cm(1)

    header = section.header.add_paragraph() if section.header.paragraphs[0].text else \
        section.header.paragraphs[0]
    header.alignment = WD_ALIGN_PARAGRAPH.CENTER
    header.add_run(content.marking).bold = True
    footer = section.footer.add_paragraph() if section.footer.paragraphs[0].text else \
        section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run(content.marking).bold = True
    numbers = section.footer.add_paragraph()
    numbers.alignment = WD_ALIGN_PARAGRAPH.CENTER
    numbers.add_run(f"{content.footer}  |  Page ")
    _field(numbers, "PAGE")
    numbers.add_run(" of ")
    _field(numbers, "NUMPAGES")

    # Page one: the title and the matrix.
    document.add_heading(content.title, level=0 if _style(document, "Title") else 1)
    for line in content.title_lines():
        paragraph = document.add_paragraph(line)
        paragraph.paragraph_format.space_after = Pt(2)
    _table(document, content.matrix, width_cm, POINTS["matrix"])
    document.add_page_break()

    document.add_heading(EXCEPTIONS_HEADING, level=1)
    if content.exceptions.rows:
        _table(document, content.exceptions, width_cm, POINTS["default"])
    else:
        document.add_paragraph(NO_EXCEPTIONS)

    for chart in content.charts:
        document.add_page_break()
        document.add_heading(chart.chart.kpi.title, level=1)
        if chart.reason:
            document.add_paragraph().add_run(chart.reason).bold = True
        if chart.image is not None:
            shape = document.add_picture(io.BytesIO(chart.image), width=Cm(width_cm))
            _describe_picture(shape, chart.caption, chart.alt)
            _caption(document, chart.caption)
        document.add_heading("Summary", level=2)
        document.add_paragraph(chart.chart.summary)
        if chart.commentary:
            document.add_heading("Commentary", level=2)
            document.add_paragraph(chart.commentary)
        details = document.add_paragraph(chart.details)
        details.runs[0].font.size = Pt(8.5)

    document.add_page_break()
    document.add_heading(APPENDIX_HEADING, level=1)
    for heading, table in ((OTHER_KPIS_HEADING, content.other_kpis),
                           (COMMENTARY_HEADING, content.commentary),
                           (RECOMMENDATIONS_HEADING, content.recommendations),
                           (DEFINITIONS_HEADING, content.definitions)):
        if table is None:
            continue
        document.add_heading(heading, level=2)
        _table(document, table, width_cm, POINTS["default"])
    document.add_heading(NOTES_HEADING, level=2)
    for note in content.notes:
        document.add_paragraph(note)
    document.add_heading(LISTS_HEADING, level=2)
    for caption in content.list_of_figures() + content.list_of_tables():
        document.add_paragraph(caption, style=_style(document, "List Bullet"))
    document.save(str(out))

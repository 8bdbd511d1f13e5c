"""The PowerPoint writer of a board pack's content plan (python-pptx).

Every slide is made from the template's own layouts ("Title and Content", "Two Content")
and fills their placeholders: the title placeholder holds the slide's title, content
placeholders hold the tables, charts and text, so a force's template (``template=``, a
``.pptx`` or ``.potx``) decides fonts, colours and positions. Charts are native
PowerPoint line charts whose data are the KPI's series, mean, process limits, England
and Wales and target (with disclosure control, the suppressed series: a hidden point is
a blank, never a number), so an analyst can restyle them; ``pictures=True`` puts the
rendered PNG instead. Every chart, picture and table carries alternative text.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from kpis.charts.figures import DARK_BLUE, DARK_PINK, DARK_PURPLE, MID_GREY, ORANGE, TURQUOISE
from kpis.charts.specs import comparator_values
from kpis.domain.formatting import short_period
from kpis.domain.vocabulary import parse_parts
from kpis.engine.measures import hidden_columns
from kpis.exports.packs.html import split_matrix
from kpis.exports.packs.plan import (
    APPENDIX_HEADING,
    EXCEPTIONS_HEADING,
    LISTS_HEADING,
    NO_EXCEPTIONS,
    NOTES_HEADING,
    PackChart,
    PackContent,
    PackTable,
)

__all__ = ["NUMBER_FORMATS", "chart_series", "slide_plan", "write_pptx"]

WIDE = (13.333, 7.5)  # inches: the 16:9 slide of the default template
#: Excel number formats of the chart's value axis and data, by KPI unit.
NUMBER_FORMATS = {"percent": "0.0%", "count": "#,##0", "per_100k": "#,##0.0",
                  "days": "#,##0", "ratio": "0.00"}
TITLE_AND_CONTENT = ("Title and Content", 1)
#: The comparator series' name (a count's line is England and Wales' rate at the
#: force's size; the chart's summary and the pack's notes say so).
COMPARATOR = "England and Wales"
TWO_CONTENT = ("Two Content", 3)
#: Font sizes (points) of table text, by table.
TABLE_POINTS = {"matrix": 7, "exceptions": 10, "other": 10, "commentary": 11,
                "recommendations": 9, "definitions": 9}


def _slide_table_height(rows: Sequence[Sequence[str]], widths: Sequence[float],
                        points: float) -> float:
    """Roughly how tall (inches) a slide table of ``rows`` is in a ``points`` font.

    A character is taken as half the font size wide (generous for a sans-serif), each
    cell has 0.1 inch of padding either side and about 0.035 inch above and below.
    """
    total = 0.0
    for cells in rows:
        lines = max(max(1, math.ceil(len(text) * points / 2 / max((width - 0.2) * 72, 1)))
                    for text, width in zip(cells, widths, strict=True))
        total += lines * points * 1.2 / 72 + 0.07
    return total


@dataclass(frozen=True)
class Slide:
    """One slide of the plan: what it shows, before any shape is made."""

    kind: str  # summary, exceptions, chart, table, notes
    title: str
    table: PackTable | None = None
    rows: list[int] = field(default_factory=list)
    chart: PackChart | None = None
    key: str = ""  # the table's kind (TABLE_POINTS)


def _table_slides(table: PackTable, key: str, heading: str, width: float = 12.5,
                  height: float = 5.2) -> list[Slide]:
    """A table over as many slides as it needs, rows split by their estimated height."""
    points = TABLE_POINTS[key]
    widths = [w * width for w in table.widths_at(width * 72, points)]
    slides: list[list[int]] = [[]]
    used = _slide_table_height([table.columns], widths, points)
    for i, row in enumerate(table.rows):
        need = _slide_table_height([row], widths, points)
        if slides[-1] and used + need > height:
            slides.append([])
            used = _slide_table_height([table.columns], widths, points)
        slides[-1].append(i)
        used += need
    return [Slide("table", f"{heading}{' (continued)' if n else ''}", table, rows, key=key)
            for n, rows in enumerate(slides)]


def slide_plan(content: PackContent) -> list[Slide]:
    """The slides, in order (the page count of the pack)."""
    slides = [Slide("summary", content.title, content.matrix, key="matrix")]
    if content.exceptions.rows:
        slides += _table_slides(content.exceptions, "exceptions", content.exceptions.label)
    else:
        slides.append(Slide("notes", EXCEPTIONS_HEADING))
    slides += [Slide("chart", c.chart.kpi.title, chart=c) for c in content.charts]
    for table, key in ((content.other_kpis, "other"), (content.commentary, "commentary"),
                       (content.recommendations, "recommendations"),
                       (content.definitions, "definitions")):
        if table is not None:
            slides += _table_slides(table, key, f"{APPENDIX_HEADING}: {table.label}")
    slides.append(Slide("notes", f"{APPENDIX_HEADING}: {NOTES_HEADING}"))
    return slides


def chart_series(chart: PackChart) -> tuple[list[str], dict[str, list[float | None]]]:
    """The native chart's categories (periods) and series: the KPI's values (hidden
    points blank), the mean and process limits (blank where SPC is withheld or there
    are too few points), England and Wales (a rate or share's chart only) and the
    target."""
    export = chart.chart
    series = export.series.reset_index(drop=True)
    kpi = export.kpi
    categories = [short_period(kpi, p) for p in series["period_start"]]
    parts = [hidden_columns(parse_parts(p)) for p in series.get(
        "suppressed_parts", pd.Series([""] * len(series)))]
    suppressed = series.get("suppressed", pd.Series([False] * len(series))).astype(bool)

    def numbers(column: str, hide: str) -> list[float | None]:
        if column not in series:
            return [None] * len(series)
        values = pd.to_numeric(series[column], errors="coerce").astype(float).tolist()
        return [None if (v != v or hide in withheld or (hide == "value" and flag))
                else float(v) for v, withheld, flag in zip(values, parts, suppressed,
                                                           strict=True)]

    data: dict[str, list[float | None]] = {"Value": numbers("value", "value")}
    data["Mean"] = numbers("spc_mean", "spc")
    data["Upper process limit"] = numbers("spc_upper", "spc")
    data["Lower process limit"] = numbers("spc_lower", "spc")
    compared = comparator_values(kpi, export.area, series, export.suppress)
    if compared is not None and any(v is not None for v in compared):
        data[COMPARATOR] = compared
    if kpi.target is not None:
        data["Target"] = [float(kpi.target)] * len(series)
    return categories, data


def _layout(deck: Any, wanted: tuple[str, int]) -> Any:
    name, index = wanted
    for layout in deck.slide_layouts:
        if layout.name == name:
            return layout
    layouts = list(deck.slide_layouts)
    return layouts[index] if index < len(layouts) else layouts[-1]


def _widen(deck: Any) -> None:
    """The default template is 4:3: make it 16:9, its layouts' placeholders scaled to
    match, and the Two Content layout's left box (the chart) wider than the right."""
    from pptx.util import Inches

    ratio = Inches(WIDE[0]) / deck.slide_width
    deck.slide_width, deck.slide_height = Inches(WIDE[0]), Inches(WIDE[1])
    # Every box is read (a layout's is inherited from the master) before any is
    # written: setting one dimension of an inherited box writes the other three as 0.
    boxes_of = [(shape, (shape.left, shape.top, shape.width, shape.height))
                for master in deck.slide_masters
                for shape in [*master.placeholders,
                              *(p for layout in master.slide_layouts
                                for p in layout.placeholders)]]
    for shape, (left, top, width, height) in boxes_of:
        if None not in (left, top, width, height):
            shape.left, shape.top = int(left * ratio), top
            shape.width, shape.height = int(width * ratio), height
    side, top, foot = Inches(0.5), Inches(1.45), Inches(0.45)
    for wanted in (TITLE_AND_CONTENT, TWO_CONTENT):
        layout = _layout(deck, wanted)
        title = next((p for p in layout.placeholders if p.placeholder_format.idx == 0), None)
        if title is not None:
            title.left, title.top = side, Inches(0.4)
            title.width, title.height = deck.slide_width - 2 * side, Inches(1.0)
        boxes = sorted((p for p in layout.placeholders if p.placeholder_format.idx != 0
                        and p.placeholder_format.type is not None
                        and p.placeholder_format.idx < 10), key=lambda p: p.left)
        usable = deck.slide_width - 2 * side
        height = deck.slide_height - top - foot
        if len(boxes) == 1:
            boxes[0].left, boxes[0].top, boxes[0].width, boxes[0].height = (
                side, top, usable, height)
        elif len(boxes) == 2:
            gap = Inches(0.3)
            share = 0.5 if wanted is TITLE_AND_CONTENT else 0.64
            first = int((usable - gap) * share)
            boxes[0].left, boxes[0].top, boxes[0].width, boxes[0].height = (
                side, top, first, height)
            boxes[1].left, boxes[1].top = side + first + gap, top
            boxes[1].width, boxes[1].height = usable - first - gap, height


def _no_bullet(paragraph: Any) -> None:
    from pptx.oxml.ns import qn

    properties = paragraph._p.get_or_add_pPr()
    for old in properties.findall(qn("a:buNone")):
        properties.remove(old)
    properties.set("marL", "0")
    properties.set("indent", "0")
    properties.insert(0, properties.makeelement(qn("a:buNone"), {}))


def _write(frame: Any, paragraphs: Sequence[tuple[str, int, bool]]) -> None:
    """Replace a text frame's text with paragraphs of (text, points, bold), no bullets,
    from the top of the box down (a template's title may be anchored at its foot, which
    pushes several lines up off the slide)."""
    from pptx.enum.text import MSO_ANCHOR, MSO_AUTO_SIZE
    from pptx.util import Pt

    frame.clear()
    frame.word_wrap = True
    frame.vertical_anchor = MSO_ANCHOR.TOP
    frame.auto_size = MSO_AUTO_SIZE.NONE
    for i, (words, points, bold) in enumerate(paragraphs):
        paragraph = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        _no_bullet(paragraph)
        run = paragraph.add_run()
        run.text = words
        run.font.size = Pt(points)
        run.font.bold = bold


def _describe(shape: Any, text: str) -> None:
    """Alternative text (PowerPoint's "Alt Text") of a shape."""
    element = shape._element
    for child in element.iter():
        if child.tag.endswith("}cNvPr"):
            child.set("descr", text)
            return


def _placeholders(slide: Any) -> list[Any]:
    """The slide's content placeholders (not the title), left to right."""
    return sorted((p for p in slide.placeholders if p.placeholder_format.idx != 0),
                  key=lambda p: (p.left or 0, p.top or 0))


def _fill_table(placeholder: Any, table: PackTable, rows: Sequence[int], points: int) -> Any:
    from pptx.shapes.placeholder import TablePlaceholder
    from pptx.util import Pt

    # A content placeholder takes a table as PowerPoint's own "Insert Table" does. Its
    # box is the layout's, written on the frame: a viewer that does not inherit it from
    # the layout (LibreOffice) still puts the table there.
    box = (placeholder.left, placeholder.top, placeholder.width, placeholder.height)
    frame = TablePlaceholder(placeholder._element, placeholder._parent).insert_table(
        len(rows) + 1, len(table.columns))
    frame.left, frame.top, frame.width, frame.height = box
    shape = frame.table
    total = box[2]
    for column, share in enumerate(table.widths_at(total / 12700, points)):
        shape.columns[column].width = int(total * share)
    height = Pt(points * 1.25 + 5)
    for r in range(len(rows) + 1):
        shape.rows[r].height = int(height)
    frame.height = int(height * (len(rows) + 1))
    values: list[tuple[str, ...]] = [table.columns] + [table.rows[i] for i in rows]
    for r, cells in enumerate(values):
        group = r > 0 and rows[r - 1] in table.groups
        if group:
            shape.cell(r, 0).merge(shape.cell(r, len(table.columns) - 1))
        for c, value in enumerate(cells):
            if group and c > 0:
                continue
            cell = shape.cell(r, c)
            cell.text = value
            cell.margin_top = cell.margin_bottom = Pt(1.5)
            cell.margin_left = cell.margin_right = Pt(4)
            for paragraph in cell.text_frame.paragraphs:
                for run in paragraph.runs:
                    run.font.size = Pt(points)
                    run.font.bold = (r == 0 or group
                                     or (r > 0 and (rows[r - 1], c) in table.bold))
    _describe(frame, table.label)
    return frame


def _style_line(series: Any, colour: str, width: float, dash: Any = None,
                markers: bool = False) -> None:
    from pptx.dml.color import RGBColor
    from pptx.enum.chart import XL_MARKER_STYLE
    from pptx.util import Pt

    series.smooth = False
    line = series.format.line
    line.color.rgb = RGBColor.from_string(colour.lstrip("#"))
    line.width = Pt(width)
    if dash is not None:
        line.dash_style = dash
    if not markers:
        series.marker.style = XL_MARKER_STYLE.NONE


def _native_chart(placeholder: Any, chart: PackChart) -> Any:
    from pptx.chart.data import CategoryChartData
    from pptx.dml.color import RGBColor
    from pptx.enum.chart import XL_CHART_TYPE, XL_LEGEND_POSITION, XL_MARKER_STYLE
    from pptx.enum.dml import MSO_LINE_DASH_STYLE
    from pptx.shapes.placeholder import ChartPlaceholder
    from pptx.util import Pt

    categories, series = chart_series(chart)
    number_format = NUMBER_FORMATS.get(chart.chart.kpi.unit, "General")
    data = CategoryChartData(number_format=number_format)
    data.categories = categories
    for name, values in series.items():
        data.add_series(name, values)
    box = (placeholder.left, placeholder.top, placeholder.width, placeholder.height)
    frame = ChartPlaceholder(placeholder._element, placeholder._parent).insert_chart(
        XL_CHART_TYPE.LINE_MARKERS, data)
    frame.left, frame.top, frame.width, frame.height = box
    native = frame.chart
    native.has_title = False
    native.has_legend = True
    native.legend.position = XL_LEGEND_POSITION.BOTTOM
    native.legend.include_in_layout = False
    native.legend.font.size = Pt(11)
    native.font.size = Pt(11)
    value_axis = native.value_axis
    value_axis.tick_labels.number_format = number_format
    value_axis.tick_labels.number_format_is_linked = False
    value_axis.has_major_gridlines = True
    value_axis.major_gridlines.format.line.color.rgb = RGBColor(0xE5, 0xE5, 0xE5)
    native.category_axis.tick_labels.font.size = Pt(10)
    styles = {
        "Value": (DARK_BLUE, 2.25, None, True),
        "Mean": ("#0B0C0C", 1.5, None, False),
        "Upper process limit": (MID_GREY, 1.5, MSO_LINE_DASH_STYLE.DASH, False),
        "Lower process limit": (MID_GREY, 1.5, MSO_LINE_DASH_STYLE.DASH, False),
        COMPARATOR: (DARK_PURPLE, 2.0, MSO_LINE_DASH_STYLE.DASH_DOT, False),
        "Target": (DARK_PINK, 2.0, MSO_LINE_DASH_STYLE.ROUND_DOT, False),
    }
    variation = chart.chart.series["variation"].tolist()
    for plotted in native.plots[0].series:
        colour, width, dash, markers = styles[plotted.name]
        _style_line(plotted, colour, width, dash, markers)
        if plotted.name != "Value":
            continue
        plotted.marker.style = XL_MARKER_STYLE.CIRCLE
        plotted.marker.size = 5
        plotted.marker.format.fill.solid()
        plotted.marker.format.fill.fore_color.rgb = RGBColor.from_string(DARK_BLUE[1:])
        # Special-cause points by shape and colour, as the dashboard's chart draws them.
        for i, code in enumerate(variation):
            if code not in ("concern", "improvement") or series["Value"][i] is None:
                continue
            point = plotted.points[i]
            point.marker.style = (XL_MARKER_STYLE.TRIANGLE if code == "improvement"
                                  else XL_MARKER_STYLE.DIAMOND)
            point.marker.size = 9
            point.marker.format.fill.solid()
            point.marker.format.fill.fore_color.rgb = RGBColor.from_string(
                (ORANGE if code == "concern" else TURQUOISE)[1:])
    _describe(frame, chart.alt)
    return frame


def _picture(slide: Any, placeholder: Any, chart: PackChart) -> Any:
    """The rendered chart as a picture in the placeholder's box (not cropped)."""
    left, top, width = placeholder.left, placeholder.top, placeholder.width
    placeholder._element.getparent().remove(placeholder._element)
    picture = slide.shapes.add_picture(io.BytesIO(chart.image), left, top, width=width)
    _describe(picture, chart.alt)
    return picture


def write_pptx(content: PackContent, out: Path, *, template: Path | None = None,
               pictures: bool = False) -> None:
    from pptx import Presentation
    from pptx.enum.text import PP_ALIGN
    from pptx.util import Inches, Pt

    from kpis.exports.packs.templates import open_pptx

    if template is not None:
        deck = open_pptx(template)
    else:
        deck = Presentation()
        _widen(deck)
    plan = slide_plan(content)
    width, height = deck.slide_width, deck.slide_height

    def furniture(slide: Any, number: int) -> None:
        """The marking at the top and foot, the force and period, the slide number."""
        def box(left: int, top: int, box_width: int, words: str, bold: bool,
                align: Any) -> None:
            shape = slide.shapes.add_textbox(left, top, box_width, Inches(0.3))
            frame = shape.text_frame
            frame.word_wrap = True
            run = frame.paragraphs[0].add_run()
            run.text = words
            run.font.size = Pt(10)
            run.font.bold = bold
            frame.paragraphs[0].alignment = align

        side = Inches(0.4)
        box(side, Inches(0.02), width - 2 * side, content.marking, True, PP_ALIGN.CENTER)
        foot = height - Inches(0.34)
        box(side, foot, width - 2 * side, content.marking, True, PP_ALIGN.CENTER)
        box(side, foot, int(width * 0.45), content.footer, False, PP_ALIGN.LEFT)
        box(width - side - Inches(2.6), foot, Inches(2.6),
            f"Slide {number} of {len(plan)}", False, PP_ALIGN.RIGHT)

    for number, item in enumerate(plan, start=1):
        two = item.kind in ("summary", "chart")
        slide = deck.slides.add_slide(_layout(deck, TWO_CONTENT if two
                                              else TITLE_AND_CONTENT))
        boxes = _placeholders(slide)
        if slide.shapes.title is not None:
            title = slide.shapes.title.text_frame
            lines: list[tuple[str, int, bool]] = [(item.title, 22 if two else 20, True)]
            if item.kind == "summary":
                lines[0] = (item.title, 20, True)
                lines += [(line, 10, False) for line in content.title_lines()]
                lines.append((content.matrix.label, 10, True))
            _write(title, lines)
        if item.kind == "summary":
            halves = split_matrix(content.matrix)
            for placeholder, half in zip(boxes, halves, strict=False):
                _fill_table(placeholder, content.matrix, half, TABLE_POINTS["matrix"])
        elif item.kind == "table" and item.table is not None and boxes:
            _fill_table(boxes[0], item.table, item.rows, TABLE_POINTS[item.key])
            for extra in boxes[1:]:
                extra._element.getparent().remove(extra._element)
            if item.table.note and item.rows and item.rows[-1] == len(item.table.rows) - 1:
                note = slide.shapes.add_textbox(Inches(0.4), height - Inches(0.75),
                                                width - Inches(0.8), Inches(0.35))
                _write(note.text_frame, [(item.table.note, 10, False)])
        elif item.kind == "chart" and item.chart is not None and boxes:
            chart = item.chart
            if pictures and chart.image is not None:
                _picture(slide, boxes[0], chart)
            elif chart.chart.figure is not None:
                _native_chart(boxes[0], chart)
            else:
                _write(boxes[0].text_frame, [(chart.chart.summary, 14, False)])
            words: list[tuple[str, int, bool]] = [(chart.caption, 12, True)]
            if chart.reason:
                words.append((chart.reason, 12, True))
            words += [("Summary", 13, True), (chart.chart.summary, 12, False)]
            if chart.commentary:
                words += [("Commentary", 13, True), (chart.commentary, 12, False)]
            words.append((chart.details, 9, False))
            if len(boxes) > 1:
                _write(boxes[1].text_frame, words)
        elif item.kind == "notes" and boxes:
            if item.title == EXCEPTIONS_HEADING:
                paragraphs = [(NO_EXCEPTIONS, 16, False)]
            else:
                paragraphs = [(note, 11, False) for note in content.notes]
                paragraphs.append((LISTS_HEADING, 13, True))
                paragraphs += [(caption, 10, False) for caption in
                               content.list_of_figures() + content.list_of_tables()]
            _write(boxes[0].text_frame, paragraphs)
            for extra in boxes[1:]:
                extra._element.getparent().remove(extra._element)
        furniture(slide, number)
    deck.core_properties.title = content.title
    deck.core_properties.author = content.author
    deck.core_properties.subject = content.subject
    deck.core_properties.keywords = content.marking
    deck.core_properties.language = "en-GB"
    deck.save(str(out))

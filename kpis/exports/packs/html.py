"""A board pack's content plan as one HTML document, for Chromium to print as a tagged PDF.

Why HTML printed by Chromium: the pack must be an accessible, publishable PDF (a
structure tree in reading order, real headings, figures with alternative text, tables
with header cells, the document's title and language). Chromium, which the project
already runs to draw charts, writes exactly that from semantic HTML
(``Page.printToPDF`` with ``generateTaggedPDF``), and lays out tables that flow over
pages with their header rows repeated. ReportLab, used before, writes untagged PDF.

Charts go in as SVG (vector: sharp at any zoom and a few tens of kilobytes each), each
an ``<img>`` whose ``alt`` is the chart's plain-English summary, inside a ``<figure>``
with its numbered caption.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape

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
    PackChart,
    PackContent,
    PackTable,
)

__all__ = ["footer_template", "header_template", "pack_html", "split_matrix"]

STYLE = """
@page { size: A4 landscape; margin: 14mm 12mm 13mm 12mm; }
html { font-family: "Liberation Sans", Arial, "DejaVu Sans", sans-serif; font-size: 10pt;
       color: #0b0c0c; }
body { margin: 0; }
h1 { font-size: 15pt; margin: 0 0 1mm; }
h2 { font-size: 15pt; margin: 0 0 3mm; }
h3 { font-size: 12pt; margin: 4mm 0 2mm; }
p { margin: 0 0 2mm; line-height: 1.3; }
.page { break-after: page; }
.lede p { margin: 0 0 0.6mm; font-size: 9pt; }
table { border-collapse: collapse; width: 100%; margin: 0 0 2mm; table-layout: fixed; }
caption { text-align: left; font-weight: bold; font-size: 9.5pt; padding: 0 0 1mm; }
th, td { border: 0.5pt solid #6f777b; padding: 0.6mm 1.2mm; text-align: left;
         vertical-align: top; font-size: 8.5pt; line-height: 1.2; overflow-wrap: normal;
         word-break: normal; hyphens: manual; }
thead th { background: #e5e5e5; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
th.group { background: #f3f2f1; font-size: 8.5pt; }
.matrix { display: flex; gap: 4mm; align-items: flex-start; }
.matrix table { width: calc(50% - 2mm); table-layout: fixed; }
.matrix th, .matrix td { font-size: 7pt; padding: 0.25mm 0.8mm; line-height: 1.15; }
.matrix img { width: 3.2mm; height: 3.2mm; vertical-align: -0.6mm; margin-right: 0.8mm; }
.note { font-size: 8.5pt; color: #383f43; }
.chart { display: flex; gap: 6mm; align-items: flex-start; }
.chart figure { margin: 0; flex: 0 0 68%; }
.chart figure img { width: 100%; height: auto; }
figcaption { font-size: 9pt; font-weight: bold; margin-top: 1mm; }
.chart .words { flex: 1; }
.chart .words p { font-size: 10pt; }
.chart .details { font-size: 8.5pt; color: #383f43; }
.overdue { font-weight: bold; }
ul.lists { margin: 0 0 2mm 5mm; padding: 0; font-size: 9pt; }
section.appendix h3 { break-after: avoid; }
"""


#: Page one must hold the whole matrix: if a force's rows wrap more than usual, the page
#: is scaled down to fit (measured at the printed page's width, which the renderer sets).
#: 183 mm of A4 landscape less its margins is 691 CSS pixels.
PAGE_HEIGHT_PX = 685
FIT_FIRST_PAGE = (
    "(function(){var page=document.getElementById('first-page');"
    "var height=page.getBoundingClientRect().height;"
    f"if(height>{PAGE_HEIGHT_PX}){{page.style.zoom=({PAGE_HEIGHT_PX}/height).toFixed(3);}}}})();")


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _table(table: PackTable, rows: Sequence[int] | None = None, caption: str | None = None,
           icons: Sequence[tuple[str, str]] | None = None, note: bool = True,
           half: bool = False) -> str:
    """A table with its numbered caption, header cells and column widths by content.

    ``icons``: per row, (variation, assurance) icon data URIs drawn (decoratively) beside
    the words of the matrix's last two columns.
    """
    chosen = list(range(len(table.rows))) if rows is None else list(rows)
    # A4 landscape less the margins is 773 points wide; ``half``: the matrix's halves.
    widths = table.widths_at(380, 7) if half else table.widths_at(773, 8.5)
    cols = "".join(f'<col style="width:{w * 100:.1f}%">' for w in widths)
    head = "".join(f'<th scope="col">{_e(c)}</th>' for c in table.columns)
    body = []
    for i in chosen:
        row = table.rows[i]
        if i in table.groups:
            body.append(f'<tr><th scope="colgroup" colspan="{len(table.columns)}" '
                        f'class="group">{_e(row[0])}</th></tr>')
            continue
        cells = []
        for c, value in enumerate(row):
            text = _e(value)
            if icons is not None and c >= len(row) - 2 and icons[i][c - len(row) + 2]:
                text = f'<img src="{icons[i][c - len(row) + 2]}" alt="">{text}'
            klass = ' class="overdue"' if (i, c) in table.bold else ""
            cells.append(f'<th scope="row">{text}</th>' if c == 0 else f"<td{klass}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    words = f'<p class="note">{_e(table.note)}</p>' if table.note and note else ""
    return (f"<table><caption>{_e(caption or table.label)}</caption><colgroup>{cols}"
            f"</colgroup><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
            f"</table>{words}")


def split_matrix(table: PackTable) -> list[list[int]]:
    """The matrix's rows in two halves side by side, split at a pillar's heading."""
    starts = sorted(table.groups) or [0]
    half = len(table.rows) / 2
    cut = min(starts, key=lambda s: abs(s - half)) if len(starts) > 1 else len(table.rows)
    return [list(range(0, cut)), list(range(cut, len(table.rows)))]


def _image(chart: PackChart) -> str:
    if chart.image is None:
        return f"<p>{_e(chart.chart.summary)}</p>"
    kind = "svg+xml" if chart.image.lstrip().startswith(b"<") else "png"
    data = base64.b64encode(chart.image).decode("ascii")
    return (f'<figure id="figure-{chart.number}"><img src="data:image/{kind};base64,{data}" '
            f'alt="{_e(chart.alt)}"><figcaption>{_e(chart.caption)}</figcaption></figure>')


def pack_html(content: PackContent, icons: Sequence[tuple[str, str]] | None = None) -> str:
    """The whole pack as one HTML document (A4 landscape pages when printed)."""
    lines = content.title_lines()
    parts = [f'<section class="page" id="first-page"><h1>{_e(content.title)}</h1><div class="lede">'
             f'<p>{_e(" ".join(lines[:-1]))}</p><p><strong>{_e(lines[-1])}</strong></p>'
             "</div>"]
    halves = split_matrix(content.matrix)
    parts.append('<div class="matrix">' + "".join(
        _table(content.matrix, half, content.matrix.label + (" (continued)" if n else ""),
               icons, note=False, half=True) for n, half in enumerate(halves) if half)
        + "</div>"
        + f'<p class="note">{_e(content.matrix.note)}</p></section>')

    parts.append(f'<section class="page"><h2>{_e(EXCEPTIONS_HEADING)}</h2>')
    parts.append(_table(content.exceptions) if content.exceptions.rows
                 else f"<p>{_e(NO_EXCEPTIONS)}</p>")
    parts.append("</section>")

    for chart in content.charts:
        heading = f"<h2>{_e(chart.chart.kpi.title)}</h2>"
        words = [f"<h3>Summary</h3><p>{_e(chart.chart.summary)}</p>"]
        if chart.reason:
            words.insert(0, f"<p><strong>{_e(chart.reason)}</strong></p>")
        if chart.commentary:
            words.append(f"<h3>Commentary</h3><p>{_e(chart.commentary)}</p>")
        words.append(f'<p class="details">{_e(chart.details)}</p>')
        parts.append(f'<section class="page">{heading}<div class="chart">{_image(chart)}'
                     f'<div class="words">{"".join(words)}</div></div></section>')

    parts.append(f'<section class="appendix"><h2>{_e(APPENDIX_HEADING)}</h2>')
    if content.other_kpis is not None:
        parts.append(f"<h3>{_e(OTHER_KPIS_HEADING)}</h3>{_table(content.other_kpis)}")
    if content.commentary is not None:
        parts.append(f"<h3>{_e(COMMENTARY_HEADING)}</h3>{_table(content.commentary)}")
    if content.recommendations is not None:
        parts.append(f"<h3>{_e(RECOMMENDATIONS_HEADING)}</h3>"
                     f"{_table(content.recommendations)}")
    parts.append(f"<h3>{_e(DEFINITIONS_HEADING)}</h3>{_table(content.definitions)}")
    parts.append(f"<h3>{_e(NOTES_HEADING)}</h3>"
                 + "".join(f'<p class="note">{_e(n)}</p>' for n in content.notes))
    figures = "".join(f'<li><a href="#figure-{c.number}">{_e(c.caption)}</a></li>'
                      for c in content.charts)
    tables = "".join(f"<li>{_e(label)}</li>" for label in content.list_of_tables())
    parts.append(f"<h3>{_e(LISTS_HEADING)}</h3>"
                 + (f'<ul class="lists">{figures}</ul>' if figures else "")
                 + f'<ul class="lists">{tables}</ul></section>')
    return (f'<!doctype html><html lang="en-GB"><head><meta charset="utf-8">'
            f"<title>{_e(content.title)}</title>"
            f'<meta name="author" content="{_e(content.author)}">'
            f"<style>{STYLE}</style></head><body><main>{''.join(parts)}</main>"
            f"<script>{FIT_FIRST_PAGE}</script></body></html>")


def header_template(content: PackContent) -> str:
    """The marking at the top of every page."""
    return ('<div style="width:100%;font-size:9pt;font-weight:bold;text-align:center;'
            f'font-family:Arial,sans-serif">{_e(content.marking)}</div>')


def footer_template(content: PackContent) -> str:
    """The marking, the force and period (and the demonstration label) and the page."""
    return ('<div style="width:100%;font-size:8pt;font-family:Arial,sans-serif;'
            'display:flex;justify-content:space-between;padding:0 12mm">'
            f"<span>{_e(content.footer)}</span>"
            f'<span style="font-weight:bold">{_e(content.marking)}</span>'
            '<span>Page <span class="pageNumber"></span> of '
            '<span class="totalPages"></span></span></div>')

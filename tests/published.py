"""Home Office workbooks in their published layout, written by code.

The outcomes workbook: a cover, a notes sheet, a pivot sheet and then the data sheet
(``Outcomes open data 2025_26``) with the 13-column header of the year ending March
2026. The police force area table: an ODS with a cover and one sheet per financial
year. Both are written straight as XML (shared strings, as Excel writes them), which
is fast enough for the benchmark's full-size year (676,000 rows).
"""

from __future__ import annotations

import itertools
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from kpis.ingest.tables import column_letter

Cell = str | int | float | None
Rows = Iterable[Sequence[Cell]]

OUTCOMES_HEADER = [
    "Financial Year", "Financial Quarter", "Force Name", "Offence Code",
    "Offence Description", "Offence Group", "Offence Subgroup", "Offence code expired",
    "Outcome Type", "Outcome Description", "Outcome Group",
    "Outcomes for offences that were recorded in the quarter",
    "Outcomes for investigations closed in the quarter",
]
PFA_HEADER = [
    "Financial Year", "Financial Quarter", "Force Name", "Offence Description",
    "Offence Group", "Offence Subgroup", "Offence Code", "Number of Offences",
]
DESCRIPTIONS = {
    "19C": ("Rape of a female aged 16 and over", "Sexual offences", "Rape"),
    "19D": ("Rape of a female child under 16", "Sexual offences", "Rape"),
    "19F": ("Rape of a male aged 16 and over", "Sexual offences", "Rape"),
    "17A": ("Sexual assault on a male aged 13 and over", "Sexual offences",
            "Other sexual offences"),
    "88A": ("Sexual grooming", "Sexual offences", "Other sexual offences"),
    "8N": ("Assault with injury", "Violence against the person", "Violence with injury"),
    "105A": ("Assault without injury", "Violence against the person",
             "Violence without injury"),
}
OUTCOMES = {0: "Not yet assigned an outcome", 1: "Charged/Summonsed",
            5: "Offender died", 14: "Evidential difficulties: suspect not identified; "
            "victim does not support further action",
            15: "Evidential difficulties: suspect identified; victim supports action",
            16: "Evidential difficulties: victim does not support action",
            18: "Investigation complete - no suspect identified"}


def outcome(year: str, quarter: str, force: str, code: str, kind: int,
            recorded: Cell, closed: Cell, expired: bool = False) -> list[Cell]:
    """One data row of the outcomes sheet, described as the Home Office describes it."""
    description, group, subgroup = DESCRIPTIONS[code]
    return [year, quarter, force, code, description, group, subgroup,
            "x" if expired else None, kind, OUTCOMES.get(kind, "Other"),
            "Charged/Summonsed" if kind == 1 else "Other", recorded, closed]


def recorded(year: str, quarter: str, force: str, code: str, offences: Cell) -> list[Cell]:
    description, group, subgroup = DESCRIPTIONS[code]
    return [year, quarter, force, description, group, subgroup, code, offences]


def outcomes_workbook(path: Path, rows: Rows, data_sheet: str = "Outcomes open data 2025_26",
                      header: Sequence[str] = OUTCOMES_HEADER) -> Path:
    """The outcomes year workbook: cover, notes, pivot, then the data sheet."""
    return write_xlsx(path, {
        "Cover sheet": [["Crime outcomes in England and Wales: open data"],
                        ["Source: Home Office"]],
        "Notes": [["Note", "Description"], [1, "Outcome type 0: not yet assigned"],
                  [2, "Negative numbers are corrections to earlier quarters"]],
        "Pivot": [["Sum of outcomes", None, None], ["Force Name", "Q1", "Q2"],
                  ["Kent", 10, 12]],
        data_sheet: itertools.chain([list(header)], rows),
    })


def pfa_workbook(path: Path, years: dict[str, Rows]) -> Path:
    """The police force area ODS: a cover, then one sheet per financial year."""
    sheets: dict[str, Rows] = {"Cover": [["Police recorded crime by police force area"],
                                         ["Source: Home Office"]]}
    for name, rows in years.items():
        sheets[name] = itertools.chain([PFA_HEADER], rows)
    return write_ods(path, sheets)


# ------------------------------------------------------------------------- XLSX


def write_xlsx(path: Path, sheets: dict[str, Rows], formulas: dict[str, dict[str, str]]
               | None = None) -> Path:
    """An OOXML workbook; ``formulas[sheet][ref]`` puts a formula (no cached value)."""
    strings: dict[str, int] = {}
    formulas = formulas or {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for number, (name, rows) in enumerate(sheets.items(), start=1):
            cells_of = formulas.get(name, {})
            letters = [column_letter(c) for c in range(1, 200)]
            # Streamed a row at a time: a published year is 676,000 rows.
            with book.open(f"xl/worksheets/sheet{number}.xml", "w") as sheet:
                sheet.write(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                            b'<worksheet xmlns="http://schemas.openxmlformats.org/'
                            b'spreadsheetml/2006/main"><sheetData>')
                for r, row in enumerate(rows, start=1):
                    parts = [f'<row r="{r}">']
                    for c, value in enumerate(row):
                        ref = f"{letters[c]}{r}"
                        if ref in cells_of:
                            parts.append(f'<c r="{ref}"><f>{escape(cells_of[ref])}</f></c>')
                        elif isinstance(value, str):
                            index = strings.setdefault(value, len(strings))
                            parts.append(f'<c r="{ref}" t="s"><v>{index}</v></c>')
                        elif value is not None:
                            parts.append(f'<c r="{ref}"><v>{value}</v></c>')
                    parts.append("</row>")
                    sheet.write("".join(parts).encode())
                sheet.write(b"</sheetData></worksheet>")
        names = list(sheets)
        book.writestr("[Content_Types].xml", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats'
            '-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.'
            'openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
            + "".join(f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="'
                      'application/vnd.openxmlformats-officedocument.spreadsheetml.'
                      'worksheet+xml"/>' for n in range(1, len(names) + 1))
            + "</Types>"))
        book.writestr("_rels/.rels", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"))
        book.writestr("xl/workbook.xml", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            "<sheets>" + "".join(f'<sheet name="{escape(n)}" sheetId="{i}" r:id="rId{i}"/>'
                                 for i, n in enumerate(names, start=1))
            + "</sheets></workbook>"))
        book.writestr("xl/_rels/workbook.xml.rels", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            'relationships">'
            + "".join(f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/'
                      f'officeDocument/2006/relationships/worksheet" '
                      f'Target="worksheets/sheet{i}.xml"/>'
                      for i in range(1, len(names) + 1))
            + f'<Relationship Id="rId{len(names) + 1}" Type="http://schemas.openxmlformats.'
              'org/officeDocument/2006/relationships/sharedStrings" '
              'Target="sharedStrings.xml"/></Relationships>'))
        ordered = sorted(strings, key=strings.__getitem__)
        book.writestr("xl/sharedStrings.xml", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            f'count="{len(ordered)}" uniqueCount="{len(ordered)}">'
            + "".join(f"<si><t xml:space=\"preserve\">{escape(s)}</t></si>" for s in ordered)
            + "</sst>"))
    return path


# -------------------------------------------------------------------------- ODS

_ODS_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
           'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
           'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"')


def _ods_cell(value: Cell, formula: str | None = None) -> str:
    if formula is not None:
        return (f'<table:table-cell table:formula="of:={escape(formula)}" '
                'office:value-type="float" office:value="0"><text:p>0</text:p>'
                "</table:table-cell>")
    if value is None:
        return "<table:table-cell/>"
    if isinstance(value, str):
        return (f'<table:table-cell office:value-type="string"><text:p>{escape(value)}'
                "</text:p></table:table-cell>")
    return (f'<table:table-cell office:value-type="float" office:value="{value}">'
            f"<text:p>{value}</text:p></table:table-cell>")


def write_ods(path: Path, sheets: dict[str, Rows],
              formulas: dict[str, dict[tuple[int, int], str]] | None = None) -> Path:
    """An OpenDocument spreadsheet; ``formulas[sheet][(row, column)]`` (1-based) puts a
    formula."""
    formulas = formulas or {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr(zipfile.ZipInfo("mimetype"),
                      "application/vnd.oasis.opendocument.spreadsheet",
                      compress_type=zipfile.ZIP_STORED)
        book.writestr("META-INF/manifest.xml", (
            '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="'
            'urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
            '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/'
            'vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path='
            '"content.xml" manifest:media-type="text/xml"/></manifest:manifest>'))
        with book.open("content.xml", "w") as content:
            content.write(('<?xml version="1.0" encoding="UTF-8"?>'
                           f'<office:document-content {_ODS_NS} office:version="1.2">'
                           "<office:body><office:spreadsheet>").encode())
            for name, rows in sheets.items():
                at = formulas.get(name, {})
                content.write(f'<table:table table:name="{escape(name)}">'.encode())
                r = 1
                # As LibreOffice writes them: a run of empty rows, and of empty cells,
                # is written once with a repeat count.
                for empty, run in itertools.groupby(rows, key=lambda row: not any(
                        v is not None for v in row)):
                    group = list(run)
                    if empty:
                        content.write(f'<table:table-row table:number-rows-repeated="'
                                      f'{len(group)}"><table:table-cell/></table:table-row>'
                                      .encode())
                        r += len(group)
                        continue
                    for row in group:
                        cells, blanks = [], 0
                        for c, v in enumerate(row, start=1):
                            if v is None and (r, c) not in at:
                                blanks += 1
                                continue
                            if blanks:
                                cells.append('<table:table-cell table:number-columns-'
                                             f'repeated="{blanks}"/>')
                                blanks = 0
                            cells.append(_ods_cell(v, at.get((r, c))))
                        content.write(f"<table:table-row>{''.join(cells)}</table:table-row>"
                                      .encode())
                        r += 1
                content.write(b"</table:table>")
            content.write(b"</office:spreadsheet></office:body></office:document-content>")
    return path

"""Published workbooks (XLSX and ODS) read fast, every recognised sheet a table.

Home Office open data comes as workbooks of 26 to 45 MB: a cover, notes and a pivot
sheet before the data sheet (outcomes), or a cover and one sheet per financial year
(police force area recorded crime, ODS). python-calamine (Rust) reads a sheet's
cached values in a fraction of openpyxl's time and memory, and reads ODS as well.
Each column is then reduced to its distinct values before it becomes text, so a
676,000-row sheet costs a few seconds, never a Python object per cell kept.

Sheets are found by their header, never by position. Calamine reads values, not
formulas, so formula cells are found separately, by scanning the sheets' XML in
bounded blocks (``<f>`` elements in XLSX, ``table:formula`` attributes in ODS): a
formula is refused as in any other file, naming its sheet, row and column (in ODS,
counted through the rows and cells the file writes once with a repeat count). The
size of every sheet is checked against the limits before it is read.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from kpis.ingest.problems import Report
from kpis.ingest.tables import (
    HEADER_SEARCH_ROWS,
    FormulaCell,
    Recognise,
    SheetLimits,
    Table,
    cell_text,
    check_archive,
    to_table,
)

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".ods")
#: A published year of outcomes is some 676,000 rows; the ODS some 25,000 per year sheet.
PUBLISHED_LIMITS = SheetLimits(sheets=60, rows=2_000_000, columns=60)
MAX_FORMULAS = 200  # formula cells listed per workbook before the scan stops
_BLOCK = 1 << 22
_OVERLAP = 1 << 14  # bytes kept between blocks, so no element is cut in two
_XLSX_FORMULA = re.compile(rb"<f[ >/]")
_CELL_REF = re.compile(rb'\br="([A-Z]{1,3})(\d+)"')
# The start tags that place an ODS cell: a sheet, a row and a cell (each may stand for
# several: ODS writes repeated rows and cells once, with a count).
_ODS_TAG = re.compile(rb"<table:(table|table-row|table-cell|covered-table-cell)(?=[\s/>])"
                      rb"([^>]*)>")
_ODS_NAME = re.compile(rb'table:name="([^"]*)"')
_ODS_FORMULA = re.compile(rb'table:formula="([^"]*)"')
_ODS_ROWS = re.compile(rb'table:number-rows-repeated="(\d+)"')
_ODS_COLUMNS = re.compile(rb'table:number-columns-repeated="(\d+)"')
_RELS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def read_workbook(path: Path, report: Report, recognise: Recognise,
                  limits: SheetLimits = PUBLISHED_LIMITS) -> list[Table]:
    """Every sheet of an XLSX or ODS workbook whose header ``recognise`` knows.

    Each table is named ``FILE, sheet 'NAME'`` and numbered as the sheet is. Sheets
    without a recognised header (cover, notes, pivot) are passed over. A workbook past
    ``limits`` is refused (an error, no tables) before its rows are read.
    """
    from python_calamine import CalamineWorkbook  # only workbooks need it

    path = Path(path)
    name = path.name
    if not check_archive(path, name, report):
        return []
    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises several types for a damaged file
        report.error(name, None, None, None,
                     f"not a readable workbook ({type(exc).__name__}): open it in a "
                     "spreadsheet and save it again as .xlsx or .ods")
        return []
    try:
        names = list(book.sheet_names)
        if len(names) > limits.sheets:
            report.error(name, None, None, str(len(names)),
                         f"too many sheets: a workbook may have at most {limits.sheets}")
            return []
        formulas = _formula_cells(path, names)
        budget = limits.rows
        tables: list[Table] = []
        for sheet_name in names:
            sheet = book.get_sheet_by_name(sheet_name)
            label = f"{name}, sheet '{sheet_name}'"
            rows = sheet.iter_rows()
            head = [next(rows, None) for _ in range(HEADER_SEARCH_ROWS)]
            head = [r for r in head if r is not None]
            if not any(recognise([cell_text(v).strip() for v in r]) for r in head):
                continue  # a cover, notes or pivot sheet
            # Rows come from the sheet's first row, columns from its first used one.
            first_column = (sheet.start or (0, 0))[1]
            height = (sheet.start or (0, 0))[0] + sheet.height
            if height > budget:
                report.error(label, None, None, f"{height:,} rows",
                             f"too many rows: a workbook may have at most {limits.rows:,} "
                             "rows in all")
                return []
            if sheet.width > limits.columns:
                report.error(label, None, None, f"{sheet.width} columns",
                             f"too many columns: a sheet may have at most {limits.columns}")
                return []
            budget -= height
            cells = _text_frame([*head, *rows], sheet.width, 1)
            found = [FormulaCell(f.row, f.column - first_column if f.column >= 0 else -1,
                              f.value) for f in formulas.get(sheet_name, [])]
            table = to_table(label, cells, report, 1, recognise, found)
            if table is not None:
                tables.append(table)
        return tables
    except Exception as exc:  # a sheet damaged inside a sound zip shows up on reading
        report.error(name, None, None, None,
                     f"not a readable workbook: a sheet is damaged ({type(exc).__name__}); "
                     "open it in a spreadsheet and save it again")
        return []
    finally:
        book.close()


def _text_frame(rows: list[list[object]], width: int, first_row: int) -> pd.DataFrame:
    """Rows of cell values as categorical text columns, indexed by sheet row number.

    Each column is factorised on its values (a handful of years, forces, codes and
    small counts) and only the distinct values become text.
    """
    columns: dict[int, pd.Categorical] = {}
    for j in range(width):
        values = np.empty(len(rows), dtype=object)
        values[:] = [r[j] if j < len(r) else "" for r in rows]
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        texts = [cell_text(u) for u in uniques]
        # 1.0 and "1" are different values with the same text: one category each text.
        text_codes, categories = pd.factorize(pd.Series([*texts, ""], dtype=object))
        codes = np.where(codes < 0, len(texts), codes)
        columns[j] = pd.Categorical.from_codes(text_codes[codes], categories=categories)
    return pd.DataFrame(columns, index=range(first_row, first_row + len(rows)))


# ----------------------------------------------------------------- formula cells


def _formula_cells(path: Path, sheet_names: list[str]) -> dict[str, list[FormulaCell]]:
    """Formula cells by sheet name, from the workbook's XML (values cannot show them)."""
    try:
        with zipfile.ZipFile(path) as archive:
            if path.suffix.lower() == ".ods":
                return _ods_formulas(archive)
            return _xlsx_formulas(archive, sheet_names)
    except (zipfile.BadZipFile, KeyError, ET.ParseError, OSError):
        return {}  # calamine read it, so whatever this is holds no formula we can find


def _blocks(member: object) -> Iterator[tuple[int, bytes]]:
    """(offset of the buffer's start, buffer) over a zip member, blocks overlapping."""
    tail, base = b"", 0
    for chunk in iter(lambda: member.read(_BLOCK), b""):  # type: ignore[attr-defined]
        buffer = tail + chunk
        yield base, buffer
        keep = min(len(buffer), _OVERLAP)
        tail, base = buffer[-keep:], base + len(buffer) - keep


def _xlsx_formulas(archive: zipfile.ZipFile, sheet_names: list[str]
                   ) -> dict[str, list[FormulaCell]]:
    book = ET.fromstring(archive.read("xl/workbook.xml"))
    rels = ET.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target", "") for r in rels}
    found: dict[str, list[FormulaCell]] = {}
    total = 0
    for sheet in book.iter():
        if not sheet.tag.endswith("}sheet") or sheet.get("name") not in sheet_names:
            continue
        target = targets.get(sheet.get(_RELS), "")
        member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        cells: list[FormulaCell] = []
        seen = -1
        with archive.open(member) as handle:
            for base, buffer in _blocks(handle):
                for match in _XLSX_FORMULA.finditer(buffer):
                    if base + match.start() <= seen:
                        continue  # in the overlap: seen in the block before
                    seen = base + match.start()
                    start = buffer.rfind(b"<c ", 0, match.start())
                    ref = _CELL_REF.search(buffer, start, match.start()) if start >= 0 else None
                    if ref is None:
                        continue
                    end = buffer.find(b"</f>", match.end())
                    body = buffer[buffer.find(b">", match.start()) + 1:end] if end > 0 else b""
                    text = body.decode("utf-8", "replace") if body and not body.startswith(
                        b"<") else "(shared formula)"
                    cells.append(FormulaCell(int(ref.group(2)), _column_number(ref.group(1)) - 1,
                                          f"={text}"))
                    total += 1
                    if total >= MAX_FORMULAS:
                        break
                if total >= MAX_FORMULAS:
                    break
        if cells:
            found[str(sheet.get("name"))] = cells
    return found


def _ods_formulas(archive: zipfile.ZipFile) -> dict[str, list[FormulaCell]]:
    """ODS formulas by sheet, each at its 1-based row and 0-based column: rows and cells
    are counted as the file declares them, repeats included."""
    found: dict[str, list[FormulaCell]] = {}
    sheet, seen, total = "", -1, 0
    next_row, row, next_column = 1, 0, 0
    with archive.open("content.xml") as handle:
        for base, buffer in _blocks(handle):
            for match in _ODS_TAG.finditer(buffer):
                if base + match.start() <= seen:
                    continue  # in the overlap: seen in the block before
                seen = base + match.start()
                kind, attributes = match.group(1), match.group(2)
                if kind == b"table":
                    name = _ODS_NAME.search(attributes)
                    sheet = name.group(1).decode("utf-8", "replace") if name else ""
                    next_row = 1
                elif kind == b"table-row":
                    row, next_column = next_row, 0
                    next_row += _repeats(_ODS_ROWS, attributes)
                else:
                    column = next_column
                    next_column += _repeats(_ODS_COLUMNS, attributes)
                    formula = _ODS_FORMULA.search(attributes)
                    if formula is None:
                        continue
                    text = html.unescape(formula.group(1).decode("utf-8", "replace"))
                    text = text.removeprefix("of:")
                    found.setdefault(sheet, []).append(FormulaCell(
                        row, column, text if text.startswith("=") else f"={text}"))
                    total += 1
                    if total >= MAX_FORMULAS:
                        return found
    return found


def _repeats(pattern: re.Pattern[bytes], attributes: bytes) -> int:
    count = pattern.search(attributes)
    return int(count.group(1)) if count else 1


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number

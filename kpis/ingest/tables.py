"""Reading CSV and XLSX files into a table of text cells, refusing formulas.

Cells are kept as text so that validation can quote exactly what the file said.
Rows are numbered as a spreadsheet user sees them: the first line of the file is
row 1, and blank rows are skipped without renumbering the rows after them.

A CSV file is checked to be UTF-8 without NUL bytes (streamed, so a large file is
never held twice), then read by pandas' C parser into categorical columns: a
million-row Home Office table has few distinct values per column, so this is fast
and small. A file the C parser cannot read (rows longer than the header) is read
again with the ``csv`` module so that every such row can be reported.

In an XLSX workbook, the first sheet whose header the caller recognises is read
(published workbooks often start with a cover sheet), and the header may sit below
a few title rows.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kpis.ingest.problems import Report

FORMULA_PREFIXES = ("=", "+", "-", "@")
FORMULA_CELL_RULE = "spreadsheet formulas are refused: paste values only"
FORMULA_RULE = "text starting with '=', '+', '-' or '@' is refused (formula injection)"
# Counts are stored as DOUBLE: from 2**53 on, not every whole number can be held exactly
# (9007199254740993 would be stored as ...992), and 1e309 is infinity.
MAX_COUNT = 2**53
TOO_LARGE_RULE = f"too large: a count must be below {MAX_COUNT:,}"
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
# How far down a sheet to look for a recognised header row (below title rows).
HEADER_SEARCH_ROWS = 10
_BLOCK = 1 << 20
_LINE_END = re.compile(rb"[\r\n]")  # the header ends at the first line break of any kind
# What a text table may hold: a wide monthly return has a column per measure (52 in
# the shipped catalogue), a Home Office extract 13; a year of Home Office outcomes is
# some 676,000 rows. Past these a file is refused before it is parsed, so no file
# costs more than that to check.
MAX_TABLE_COLUMNS = 300
MAX_CSV_ROWS = 2_000_000
# A workbook is a zip: its parts may unpack to at most this, and at most this many
# times their packed size (workbooks pack 5 to 80 times; a "zip bomb" thousands).
MAX_UNPACKED_BYTES = 2 << 30
MAX_RETURN_UNPACKED_BYTES = 25 << 20  # a return, read cell by cell: some 7 s at most
# A return workbook is read cell by cell (openpyxl sees every kind of formula): every
# force's 52 measures for a year in long form is some 27,000 rows; larger tables load as
# CSV, which is read far faster.
MAX_RETURN_ROWS = 100_000
MAX_PACKING_RATIO = 400

Recognise = Callable[[list[str]], bool]


@dataclass
class Table:
    file: str
    header: list[str]
    # Text cells ("" for blank), columns as in header, index = row number in the file.
    # Columns may be categorical (large CSV files) or object; both iterate as str.
    frame: pd.DataFrame
    header_row: int = 1


class UnreadableFile(ValueError):
    pass


@dataclass
class FormulaCell:
    row: int
    column: int  # 0-based
    value: object


def read_table(
    path: Path, report: Report, header_rows: int = 1, recognise: Recognise | None = None
) -> Table | None:
    """Read a CSV or XLSX file; on a file-level problem record it and return None.

    ``header_rows`` > 1 skips extra header rows (e.g. the titles row of a template).
    ``recognise`` says whether a row is a header this program understands; it picks
    the sheet of a workbook and lets a header sit below title rows.
    """
    path = Path(path)
    name = path.name
    suffix = path.suffix.lower()
    formulas: list[FormulaCell] = []
    try:
        if suffix in (".xlsx", ".xlsm"):
            if not check_archive(path, name, report, MAX_RETURN_UNPACKED_BYTES):
                return None
            cells = _read_xlsx(path, recognise, formulas)
        elif suffix in (".csv", ".txt"):
            cells = _read_csv(path, name, report)
        else:
            report.error(name, None, None, suffix or "(none)",
                         "unsupported file type: use .csv or .xlsx")
            return None
    except UnreadableFile as exc:
        report.error(name, None, None, None, str(exc))
        return None
    if cells is None:
        return None
    return to_table(name, cells, report, header_rows, recognise, formulas)


def to_table(
    name: str, cells: pd.DataFrame, report: Report, header_rows: int,
    recognise: Recognise | None, formulas: list[FormulaCell],
) -> Table | None:
    blank = np.ones(len(cells), dtype=bool)
    for column in cells.columns:
        blank &= _blank_cells(cells[column])
    cells = cells[~blank]
    if cells.empty:
        report.error(name, None, None, None, "the file is empty")
        return None
    header_at = 0
    if recognise is not None:
        for position in range(min(HEADER_SEARCH_ROWS, len(cells))):
            if recognise([str(v).strip() for v in cells.iloc[position]]):
                header_at = position
                break
    header_row = int(cells.index[header_at])
    header = [str(v).strip() for v in cells.iloc[header_at]]
    body = cells.iloc[header_at + header_rows:]
    for formula in formulas:
        # Row 0 and column -1: somewhere in the sheet (an ODS formula is found by sheet).
        label = (None if formula.column < 0 else header[formula.column]
                 if formula.column < len(header) and header[formula.column]
                 else column_letter(formula.column + 1))
        report.error(name, formula.row or None, label, formula.value, FORMULA_CELL_RULE)

    keep: list[int] = []
    for position, title in enumerate(header):
        if title:
            keep.append(position)
            continue
        filled = ~_blank_cells(body.iloc[:, position])
        if filled.any():
            first = int(np.argmax(filled))
            report.error(
                name, int(body.index[first]), f"(column {column_letter(position + 1)})",
                body.iloc[first, position],
                f"{int(filled.sum())} value(s) in a column with no header: "
                "give the column a header or delete it",
            )
    header = [header[p] for p in keep]
    seen: dict[str, str] = {}
    duplicated = False
    for title in header:
        key = normalise_header(title)
        if key in seen:
            report.error(name, header_row, title, title,
                         f"duplicate column: the header repeats '{seen[key]}'")
            duplicated = True
        seen[key] = title
    if duplicated:
        return None
    frame = pd.DataFrame(
        {title: _tidy(body.iloc[:, p]) for title, p in zip(header, keep, strict=True)},
        index=body.index,
    )
    if frame.empty:
        report.error(name, None, None, None, "the file has a header but no data rows")
        return None
    return Table(name, header, frame, header_row)


def _tidy(column: pd.Series) -> pd.Series:
    """Drop categories no row uses (the header's own text, for one)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.remove_unused_categories()
    return column


def _blank_cells(column: pd.Series) -> np.ndarray:
    """True where a cell is empty or only spaces."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        # The extra True at the end is what code -1 (a missing value) indexes.
        blank = np.array([not str(c).strip() for c in column.cat.categories] + [True])
        return blank[column.cat.codes.to_numpy()]
    return np.array([not str(v).strip() for v in column], dtype=bool)


def _first_line_fits(block: bytes, name: str, report: Report) -> bool:
    """The header line (in the file's first block) has at most MAX_TABLE_COLUMNS cells,
    counted by the csv module; a header longer than the block has more than that."""
    first = _LINE_END.split(block, maxsplit=1)
    if len(first) == 1 and len(block) == _BLOCK:
        report.error(name, 1, None, f"a header line of more than {_BLOCK:,} bytes",
                     f"too many columns: a file may have at most {MAX_TABLE_COLUMNS}")
        return False
    try:
        cells = next(csv.reader([first[0].decode("utf-8", "replace")]), [])
    except csv.Error:
        return True  # not CSV the csv module can split: the parser says what is wrong
    if len(cells) > MAX_TABLE_COLUMNS:
        report.error(name, 1, None, f"{len(cells):,} columns",
                     f"too many columns: a file may have at most {MAX_TABLE_COLUMNS}")
        return False
    return True


def check_archive(path: Path, name: str, report: Report,
                  limit: int = MAX_UNPACKED_BYTES) -> bool:
    """A workbook's zip must unpack to at most ``limit`` bytes and at most
    MAX_PACKING_RATIO times its size, checked from the zip's directory before any part
    is unpacked. Not a zip: left to the reader, which says so."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        return True
    unpacked = sum(part.file_size for part in parts)
    packed = max(path.stat().st_size, 1)
    if unpacked > limit or unpacked > MAX_PACKING_RATIO * packed:
        report.error(name, None, None, f"{unpacked / 2**20:,.0f} MB unpacked",
                     f"the workbook unpacks to more than this program reads (at most "
                     f"{limit / 2**20:,.0f} MB, and {MAX_PACKING_RATIO} times its size): "
                     "is it damaged, or more than one table?")
        return False
    return True


def _check_text(path: Path, name: str, report: Report) -> bool:
    """Stream the file once: it must be non-empty UTF-8 with no NUL bytes."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    content = False
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            nul = block.find(b"\x00")
            if nul >= 0:
                report.error(name, lines + block.count(b"\n", 0, nul) + 1, None, None,
                             "wrong encoding: the file contains NUL bytes "
                             "(is it UTF-16, or not a text file?); save it as CSV UTF-8")
                return False
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                at = max(exc.start - pending, 0)
                byte = block[at] if at < len(block) else None
                report.error(
                    name, lines + block.count(b"\n", 0, at) + 1, None,
                    None if byte is None else f"0x{byte:02X}",
                    "wrong encoding: the file is not UTF-8 (perhaps Latin-1 or Windows-1252); "
                    "save it as CSV UTF-8",
                )
                return False
            if not lines and not _first_line_fits(block, name, report):
                return False
            content = content or bool(block.strip())
            lines += block.count(b"\n")
            if lines > MAX_CSV_ROWS:
                report.error(name, None, None, f"more than {MAX_CSV_ROWS:,} rows",
                             f"too many rows: a file may have at most {MAX_CSV_ROWS:,}")
                return False
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        report.error(name, lines + 1, None, None,
                     "wrong encoding: the file ends in the middle of a UTF-8 character")
        return False
    if not content:
        report.error(name, None, None, None, "the file is empty")
        return False
    return True


def _read_csv(path: Path, name: str, report: Report) -> pd.DataFrame | None:
    if not _check_text(path, name, report):
        return None
    try:
        cells = pd.read_csv(
            path, header=None, dtype="category", keep_default_na=False, na_filter=False,
            skip_blank_lines=False, encoding="utf-8-sig", engine="c",
        )
    except pd.errors.EmptyDataError:
        report.error(name, None, None, None, "the file is empty")
        return None
    except pd.errors.ParserError:
        # Rows longer than the first: read again with the csv module, which pads them.
        return _read_csv_rows(path, name, report)
    cells.index = range(1, len(cells) + 1)
    return cells


def _read_csv_rows(path: Path, name: str, report: Report) -> pd.DataFrame | None:
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = [list(r) for r in reader]
    except csv.Error as exc:  # e.g. a cell longer than the csv module's field limit
        report.error(name, reader.line_num or None, None, None,
                     f"cannot be read as CSV: {exc}")
        return None
    if not rows:
        report.error(name, None, None, None, "the file is empty")
        return None
    # Cells beyond the header are reported once the header row is known.
    return _padded(rows)


def _padded(rows: list[list[str]]) -> pd.DataFrame:
    """Rows of text cells as a frame, short rows padded with blanks, numbered from 1."""
    width = max(len(r) for r in rows)
    frame = pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype=object)
    frame.index = range(1, len(rows) + 1)
    return frame


def _read_xlsx(
    path: Path, recognise: Recognise | None, formulas: list[FormulaCell]
) -> pd.DataFrame | None:
    import openpyxl  # imported here: only XLSX files need it
    from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise UnreadableFile(f"not a readable XLSX workbook ({type(exc).__name__})") from exc
    try:
        sheets = book.worksheets
        if not sheets:
            return pd.DataFrame()
        sheet = sheets[0]
        if recognise is not None and len(sheets) > 1:
            sheet = next((s for s in sheets if _has_header(s, recognise)), sheets[0])
        rows: list[list[str]] = []
        for row_number, row in enumerate(sheet.iter_rows(), start=1):
            if row_number > MAX_RETURN_ROWS:
                raise UnreadableFile(f"too many rows: a return workbook may have at most "
                                     f"{MAX_RETURN_ROWS:,} (load larger tables as CSV)")
            if len(row) > MAX_TABLE_COLUMNS and any(
                    c.value is not None for c in row[MAX_TABLE_COLUMNS:]):
                raise UnreadableFile(f"too many columns: a sheet may have at most "
                                     f"{MAX_TABLE_COLUMNS}")
            cells: list[str] = []
            for position, cell in enumerate(row[:MAX_TABLE_COLUMNS]):
                value = cell.value
                if getattr(cell, "data_type", None) == "f" or isinstance(
                    value, (ArrayFormula, DataTableFormula)
                ) or (isinstance(value, str) and value.startswith("=") and len(value) > 1):
                    formulas.append(FormulaCell(row_number, position, _formula_text(value)))
                    cells.append("")
                    continue
                cells.append(cell_text(value))
            rows.append(cells)
    except UnreadableFile:
        raise
    except Exception as exc:
        # Read-only mode parses each sheet's XML only as its rows are read, so a damaged
        # sheet inside a sound zip (ParseError, and more) shows up here, not on opening.
        raise UnreadableFile(
            f"not a readable XLSX workbook: a sheet is damaged ({type(exc).__name__}); "
            "open it in Excel and save it again"
        ) from exc
    finally:
        book.close()
    return _padded(rows) if rows else pd.DataFrame()


@dataclass(frozen=True)
class SheetLimits:
    """How much of a workbook :func:`read_sheets` reads before it refuses it."""

    sheets: int  # sheets in the workbook
    rows: int  # rows read, over every sheet read (blank rows count: they cost a read too)
    columns: int  # columns in a row


def read_sheets(
    path: Path, report: Report, recognise: Recognise, limits: SheetLimits,
    skip: Callable[[str], str | None] | None = None,
) -> list[Table]:
    """Every sheet of an XLSX workbook whose header ``recognise`` knows, one table each.

    A published workbook may spread one table over several sheets (one per decade, say)
    beside a cover and notes. Each table is named ``FILE, sheet 'NAME'``, so every
    finding names the sheet. ``skip(name)`` gives a reason to pass a sheet over unread
    (recorded as a warning). Reading stops with an error, and no table, once the workbook
    goes past ``limits``, so no file costs more than that to check.
    """
    import openpyxl  # imported here: only XLSX files need it

    name = Path(path).name
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        report.error(name, None, None, None,
                     f"not a readable XLSX workbook ({type(exc).__name__})")
        return []
    tables: list[Table] = []
    try:
        sheets = book.worksheets
        if len(sheets) > limits.sheets:
            report.error(name, None, None, str(len(sheets)),
                         f"too many sheets: a workbook may have at most {limits.sheets}")
            return []
        budget = limits.rows
        for sheet in sheets:
            reason = skip(sheet.title) if skip is not None else None
            if reason:
                report.warning(name, None, None, sheet.title, reason)
                continue
            label = f"{name}, sheet '{sheet.title}'"
            formulas: list[FormulaCell] = []
            rows = _sheet_rows(sheet, label, report, formulas, budget, limits)
            if rows is None:
                return []
            budget -= len(rows)
            if not any(recognise([v.strip() for v in r]) for r in
                       [r for r in rows if any(v.strip() for v in r)][:HEADER_SEARCH_ROWS]):
                continue  # a cover, contents or notes sheet
            table = to_table(label, _padded(rows), report, 1, recognise, formulas)
            if table is not None:
                tables.append(table)
    except Exception as exc:
        # Read-only mode parses each sheet's XML only as its rows are read.
        report.error(name, None, None, None,
                     f"not a readable XLSX workbook: a sheet is damaged "
                     f"({type(exc).__name__}); open it in Excel and save it again")
        return []
    finally:
        book.close()
    return tables


def _sheet_rows(sheet: object, label: str, report: Report, formulas: list[FormulaCell],
                budget: int, limits: SheetLimits) -> list[list[str]] | None:
    """A sheet's cells as text, formulas blanked and recorded; None past the limits."""
    from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula

    rows: list[list[str]] = []
    for row_number, values in enumerate(
            sheet.iter_rows(values_only=True), start=1):  # type: ignore[attr-defined]
        if row_number > budget:
            report.error(label, row_number, None, None,
                         f"too many rows: a workbook may have at most {limits.rows:,} "
                         "rows in all")
            return None
        if len(values) > limits.columns and any(
                v is not None for v in values[limits.columns:]):
            report.error(label, row_number, None, None,
                         f"too many columns: a row may have at most {limits.columns}")
            return None
        cells: list[str] = []
        for position, value in enumerate(values[:limits.columns]):
            if isinstance(value, (ArrayFormula, DataTableFormula)) or (
                    isinstance(value, str) and value.startswith("=") and len(value) > 1):
                formulas.append(FormulaCell(row_number, position, _formula_text(value)))
                cells.append("")
            else:
                cells.append(cell_text(value))
        rows.append(cells)
    return rows if rows else [[""]]


def _has_header(sheet: object, recognise: Recognise) -> bool:
    seen = 0
    for row in sheet.iter_rows(values_only=True):  # type: ignore[attr-defined]
        texts = [cell_text(v).strip() for v in row]
        if not any(texts):
            continue
        if recognise(texts):
            return True
        seen += 1
        if seen >= HEADER_SEARCH_ROWS:
            break
    return False


def _formula_text(value: object) -> str:
    text = getattr(value, "text", None)  # ArrayFormula keeps its formula in .text
    return str(text if text is not None else value)


def column_letter(number: int) -> str:
    letters = ""
    while number:
        number, rem = divmod(number - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dt.date, dt.datetime)):
        return value.strftime("%Y-%m")  # a month typed into Excel becomes a date
    return str(value)


def normalise_header(text: str) -> str:
    """Case- and punctuation-insensitive header key: 'Force Name' -> 'forcename'."""
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def looks_like_formula(text: str) -> bool:
    """Text that a spreadsheet would run as a formula (a plain signed number is not)."""
    stripped = text.strip()
    return stripped.startswith(FORMULA_PREFIXES) and not _NUMBER_RE.match(stripped)


def parse_count(text: str, allow_fraction: bool = False, allow_negative: bool = False
                ) -> tuple[float | None, str | None]:
    """Parse a count cell: (value, None) or (None, rule broken). ``allow_negative``: a
    published correction (Home Office open data) may be below zero."""
    stripped = text.strip().replace(",", "")
    if looks_like_formula(stripped):
        return None, FORMULA_RULE
    if not stripped:
        return None, "blank: a count is required (write 0 for none)"
    if not _NUMBER_RE.match(stripped):
        return None, "not a number"
    value = float(stripped)
    if not value < MAX_COUNT:  # also catches infinity ("1e309")
        return None, TOO_LARGE_RULE
    if value < 0 and not allow_negative:
        return None, "negative values are not allowed"
    if not allow_fraction and not value.is_integer():
        return None, "a count must be a whole number"
    return value, None

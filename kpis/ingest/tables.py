"""Reading CSV and XLSX files into a table of text cells, refusing formulas.

Cells are kept as text so that validation can quote exactly what the file said.
Rows are numbered as a spreadsheet user sees them: the header is row 1.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from kpis.ingest.problems import Report

FORMULA_PREFIXES = ("=", "+", "-", "@")
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass
class Table:
    file: str
    header: list[str]
    frame: pd.DataFrame  # text cells ("" for blank), columns as in header; index = file row


class UnreadableFile(ValueError):
    pass


def read_table(path: Path, report: Report, header_rows: int = 1) -> Table | None:
    """Read a CSV or XLSX file; on a file-level problem record it and return None.

    ``header_rows`` > 1 skips extra header rows (e.g. the titles row of a template).
    """
    name = Path(path).name
    suffix = Path(path).suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            rows = _read_xlsx(Path(path), name, report)
        elif suffix in (".csv", ".txt"):
            rows = _read_csv(Path(path), name, report)
        else:
            report.error(name, None, None, suffix, "unsupported file type: use .csv or .xlsx")
            return None
    except UnreadableFile as exc:
        report.error(name, None, None, None, str(exc))
        return None
    if rows is None:
        return None
    rows = [r for r in rows if any(cell.strip() for cell in r)] if rows else rows
    if not rows:
        report.error(name, None, None, None, "the file is empty")
        return None
    header = [h.strip() for h in rows[0]]
    body = rows[header_rows:]
    width = len(header)
    body = [(r + [""] * width)[:width] for r in body]
    frame = pd.DataFrame(body, columns=header, dtype=object)
    frame.index = range(header_rows + 1, header_rows + 1 + len(body))
    if frame.empty:
        report.error(name, None, None, None, "the file has a header but no data rows")
        return None
    return Table(name, header, frame)


def _read_csv(path: Path, name: str, report: Report) -> list[list[str]] | None:
    raw = path.read_bytes()
    if not raw.strip():
        report.error(name, None, None, None, "the file is empty")
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        report.error(
            name, None, None, None,
            f"wrong encoding: the file is not UTF-8 (byte {exc.start}); save it as CSV UTF-8",
        )
        return None
    if "\x00" in text:
        report.error(name, None, None, None, "wrong encoding: the file contains NUL bytes")
        return None
    return [list(r) for r in csv.reader(io.StringIO(text, newline=""))]


def _read_xlsx(path: Path, name: str, report: Report) -> list[list[str]] | None:
    import openpyxl  # imported here: only XLSX files need it

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise UnreadableFile(f"not a readable XLSX workbook ({type(exc).__name__})") from exc
    try:
        sheet = book.worksheets[0]
        rows: list[list[str]] = []
        for row_number, row in enumerate(sheet.iter_rows(), start=1):
            cells: list[str] = []
            for column_number, cell in enumerate(row, start=1):
                value = cell.value
                if getattr(cell, "data_type", None) == "f" or (
                    isinstance(value, str) and value.startswith("=") and len(value) > 1
                ):
                    report.error(
                        name, row_number, _column_letter(column_number), value,
                        "spreadsheet formulas are refused: paste values only",
                    )
                    cells.append("")
                    continue
                cells.append(_cell_text(value))
            rows.append(cells)
        return rows
    finally:
        book.close()


def _column_letter(number: int) -> str:
    letters = ""
    while number:
        number, rem = divmod(number - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m")  # a month typed into Excel becomes a date
    return str(value)


def normalise_header(text: str) -> str:
    """Case- and punctuation-insensitive header key: 'Force Name' -> 'forcename'."""
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def looks_like_formula(text: str) -> bool:
    """Text that a spreadsheet would run as a formula (a plain negative number is not)."""
    stripped = text.strip()
    return stripped.startswith(FORMULA_PREFIXES) and not _NUMBER_RE.match(stripped)


def parse_count(text: str, allow_fraction: bool = False) -> tuple[float | None, str | None]:
    """Parse a count cell: (value, None) or (None, rule broken)."""
    stripped = text.strip().replace(",", "")
    if looks_like_formula(stripped):
        return None, "text starting with '=', '+', '-' or '@' is refused (formula injection)"
    if not _NUMBER_RE.match(stripped):
        return None, "not a number"
    value = float(stripped)
    if value < 0:
        return None, "negative values are not allowed"
    if not allow_fraction and not value.is_integer():
        return None, "a count must be a whole number"
    return value, None

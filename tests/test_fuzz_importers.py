"""Fuzz every file importer (issue #7): no crash, no unhandled exception, clear errors only.

Hypothesis writes files of three kinds and hands them to the importers:

* arbitrary bytes, named as CSV, XLSX or something else;
* structurally plausible CSV files: the real header of each layout (long and wide
  monthly returns, the template with its titles row, Home Office outcomes in several
  header wordings, Home Office recorded crime) with mutated cells (random and
  unicode text, huge, negative, NaN and infinite numbers, formula text, blanks),
  extra, missing, shuffled and duplicated columns and rows, a BOM, other delimiters
  and line endings, other encodings, and truncation;
* XLSX workbooks built with openpyxl from the same tables, with numbers, dates,
  formulas, cover sheets and title rows, some with a damaged sheet inside the zip.

The contract, as in ``tests/test_ingest_bad_inputs.py``: validation (``check_files``)
never raises; every finding names its file and a non-empty rule, and a problem with
a cell names the row, column and value; whatever passes validation is sane (a known
force and measure, a finite count of 0 or more, a month that has ended); and
``load_files`` on a copy of the demonstration database either loads or refuses with
``LoadRefused``, and a refusal leaves the database file byte-for-byte unchanged.

The catalogue loader and the blank return template are fuzzed the same way.

Examples are derandomized (the same every run) and no example database is kept, so
CI is reproducible. Full loads rewrite the database, so they get fewer examples than
validation alone.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import hashlib
import io
import math
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from kpis.domain.catalogue import CatalogueError, load_yaml, parse_catalogue, read_catalogue
from kpis.domain.periods import format_month
from kpis.ingest.context import EARLIEST_MONTH, IngestContext, build_context
from kpis.ingest.home_office import OTHER_SEXUAL_OFFENCE_CODES, RAPE_CODES
from kpis.ingest.loader import KINDS, check_files, load_files, parse_files
from kpis.ingest.problems import Finding, LoadRefused, Report
from kpis.ingest.returns import TITLES_ROW_MARKER
from kpis.ingest.tables import FORMULA_CELL_RULE, FORMULA_RULE
from kpis.ingest.template import write_template
from kpis.settings import CATALOGUE_FILE
from kpis.storage.duckdb_file import Reader
from tests.test_ingest_home_office import RECORDED_VARIANTS

# openpyxl warns as it reads a number formatted as a date beyond the calendar (the
# fuzzing writes such cells on purpose); it reads the cell as an error value.
pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:Cell .* is marked as a date but the serial value:UserWarning"),
    pytest.mark.slow,  # hundreds of generated files
]

TODAY = dt.date(2025, 10, 15)
CURRENT_MONTH = dt.date(2025, 10, 1)
# Reproducible in CI: the same examples every run, and no example database.
FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
PARSE_EXAMPLES = 150  # validation only: milliseconds each
CHECK_EXAMPLES = 30  # check_files opens the database each time
LOAD_EXAMPLES = 15  # a load copies and rewrites the database

# Rules about one cell: such a finding must say which row, column and value.
CELL_RULES = (
    FORMULA_RULE, FORMULA_CELL_RULE, "not a number", "negative values are not allowed",
    "a count must be a whole number", "blank: a count is required", "unknown force",
    "force is required", "bad month", "month is", "bad financial year",
    "bad financial quarter", "quarter is in the future", "unknown outcome type",
    "duplicate row", "too large",
)

# --------------------------------------------------------------------------- cells

JUNK = [
    "", " ", "\u00a0", "=1+1", "=SUM(A1:A9)", "+1", "-1", "@SUM(A1)", "-cmd|' /C calc'!A0",
    "+", "-", "=", "@", "-0", "0", "1", "3", "1.5", "1e309", "-1e309", "1e308", "1e-400",
    "9007199254740993", "99999999999999999999999", "nan", "NaN", "inf", "-inf", "Infinity",
    "1,000", "1_000", "0x10", " 12 ", "12 ", "١٢", "²", "１２", "TRUE", "#N/A", "#DIV/0!",
    "NULL", "None", "\u202e12", "🚓", "\ufeff7", "'7", '"7"', "7\n8", "a,b", "a;b", "a\tb",
    "9" * 400, "x" * 2000,
]


def junk() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(JUNK), st.text(max_size=25),
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
    )


# Per column: values that pass (so a file can get through to the next check) and odd
# ones that each break a rule or probe an edge (tried as mutations, with junk).
FORCES_OK = ["kent", "Kent", " KENT ", "Avon and Somerset", "avon-and-somerset", "Essex Police",
             "Metropolitan Police Service", "Devon & Cornwall"]
FORCES_ODD = ["British Transport Police", "Action Fraud", "England and Wales", "Nowhere",
              "kent-x", "city of london police"]
MONTHS_OK = ["2025-08", "2025-09", "2019-04", "2025-8", "2025-08-01", " 2024-01 "]
MONTHS_ODD = ["2025-10", "2025-11", "2025-13", "2025-00", "0000-01", "0001-01", "1500-01",
              "1677-09", "1899-12", "9999-12", "Aug 2025", "2025/08", TITLES_ROW_MARKER]
YEARS_OK = ["2023/24", "2023-24", "2023/2024", "2024/25", "2019/20"]
YEARS_ODD = ["2025/26", "2024/23", "2023", "0000/01", "0001/02", "9999/00", "1676/77",
             "1899/00", "٢٠٢٣/٢٤", "2023/24/25"]
QUARTERS_OK = ["1", "2", "3", "4", "Q1", "q4", " Q2 "]
QUARTERS_ODD = ["0", "5", "Q0", "1.0", "Q", "Quarter 1"]
CODES_OK = [*RAPE_CODES, *OTHER_SEXUAL_OFFENCE_CODES, "19c", "8N", "99"]
OUTCOMES_OK = [*(str(n) for n in range(23)), "1A", "1a"]
OUTCOMES_ODD = ["23", "-1", "01", "²", "١", "⑤", "1B", "1.0"]
COUNTS_OK = ["0", "1", "2", "12", " 7 ", "1,000", "0.0"]
COUNTS_ODD = ["1.5", "-1", "1e3", "", "1e308", "9007199254740993", "9007199254740992",
              "1e15", "-0"]


@dataclass(frozen=True)
class Column:
    ok: list[str]
    odd: list[str]


FREE_TEXT = Column(["Rape", "Sexual offences", "", "Charged/Summonsed"], [])


# --------------------------------------------------------------------------- tables


@dataclass
class Layout:
    name: str
    kind: str
    header: list[str]
    columns: list[Column]  # what each header column holds


# The Home Office's three wordings of the outcome count columns.
OUTCOME_COUNT_HEADERS = RECORDED_VARIANTS
TEXT = st.text(max_size=15)


@st.composite
def layouts(draw: st.DrawFn, ctx: IngestContext) -> Layout:
    """The header of one of the importers' layouts, and what each column holds."""
    measures = list(ctx.return_measures)
    forces, months = Column(FORCES_OK, FORCES_ODD), Column(MONTHS_OK, MONTHS_ODD)
    count = Column(COUNTS_OK, COUNTS_ODD)
    choice = draw(st.sampled_from(["long", "wide", "template", "outcomes", "recorded"]))
    if choice == "long":
        names = [draw(st.sampled_from(v)) for v in (["force", "Force", "FORCE "],
                                                     ["month", "Month"], ["measure", "Measure"],
                                                     ["value", "Value", "VALUE"])]
        measure = Column(measures, ["ho_rape_offences", "return_measures_supplied", "nope",
                                    " rape_reports", "RAPE_REPORTS"])
        return Layout(choice, "return", names, [forces, months, measure, count])
    if choice in ("wide", "template"):
        chosen = draw(st.lists(st.sampled_from(measures), min_size=1, max_size=6, unique=True))
        return Layout(choice, "return", ["force", "month", *chosen],
                      [forces, months, *[count] * len(chosen)])
    common = ["Financial Year", "Financial Quarter", "Force Name", "Offence Description",
              "Offence Group", "Offence Subgroup", "Offence Code"]
    common_columns = [Column(YEARS_OK, YEARS_ODD), Column(QUARTERS_OK, QUARTERS_ODD), forces,
                      FREE_TEXT, FREE_TEXT, FREE_TEXT, Column(CODES_OK, [])]
    if choice == "outcomes":
        recorded, closed = draw(st.sampled_from(OUTCOME_COUNT_HEADERS))
        return Layout(choice, "ho-outcomes",
                      [*common, "Outcome Description", "Outcome Group", "Outcome Type",
                       recorded, closed],
                      [*common_columns, FREE_TEXT, FREE_TEXT, Column(OUTCOMES_OK, OUTCOMES_ODD),
                       count, count])
    return Layout(choice, "ho-recorded", [*common, "Number of Offences"],
                  [*common_columns, count])


@st.composite
def tables(draw: st.DrawFn, ctx: IngestContext) -> tuple[str, list[list[Any]]]:
    """(layout kind, rows of cells, header first) with structural mutations."""
    layout = draw(layouts(ctx))
    header = list(layout.header)
    rows = [[draw(st.sampled_from(column.ok)) for column in layout.columns]
            for _ in range(draw(st.integers(min_value=1 if sometimes(draw, 9) else 0,
                                            max_value=6)))]
    # A few cells changed to an odd value of their column, or to junk.
    for _ in range(draw(st.integers(min_value=1, max_value=3)) if sometimes(draw, 6) else 0):
        row = draw(st.sampled_from(rows)) if rows else header
        column = draw(st.integers(min_value=0, max_value=len(header) - 1))
        odd = layout.columns[column].odd
        row[column] = draw(st.one_of(st.sampled_from(odd), junk()) if odd else junk())
    if layout.name == "template":
        rows.insert(0, ["(force slug)", TITLES_ROW_MARKER, *(["title"] * (len(header) - 2))])
    table: list[list[Any]] = [header, *rows]
    for _ in range(draw(st.integers(min_value=1, max_value=3)) if sometimes(draw, 5) else 0):
        mutation = draw(st.sampled_from(["duplicate row", "drop column", "extra column",
                                         "swap columns", "rename header", "blank row",
                                         "short row", "long row", "title row"]))
        table = mutate(draw, table, mutation)
    return layout.kind, table


def mutate(draw: st.DrawFn, table: list[list[Any]], mutation: str) -> list[list[Any]]:
    width = max(len(r) for r in table)
    if mutation == "duplicate row" and len(table) > 1:
        row = draw(st.integers(min_value=1, max_value=len(table) - 1))
        table.insert(row, list(table[row]))
    elif mutation == "drop column" and width > 1:
        column = draw(st.integers(min_value=0, max_value=width - 1))
        table = [r[:column] + r[column + 1:] for r in table]
    elif mutation == "extra column":
        title = draw(st.one_of(st.sampled_from(["", "force", "Notes", "=1+1", "month"]), TEXT))
        table = [[*table[0], title]] + [[*r, draw(junk())] for r in table[1:]]
    elif mutation == "swap columns" and width > 1:
        a, b = draw(st.permutations(range(width)))[:2]
        for row in table:
            if max(a, b) < len(row):
                row[a], row[b] = row[b], row[a]
    elif mutation == "rename header":
        column = draw(st.integers(min_value=0, max_value=len(table[0]) - 1))
        table[0][column] = draw(st.one_of(junk(), st.just(str(table[0][column]).upper())))
    elif mutation == "blank row":
        table.insert(draw(st.integers(min_value=1, max_value=len(table))), [""] * width)
    elif mutation == "short row" and len(table) > 1:
        table[-1] = table[-1][: draw(st.integers(min_value=0, max_value=len(table[-1])))]
    elif mutation == "long row" and len(table) > 1:
        table[-1] = [*table[-1], *draw(st.lists(junk(), min_size=1, max_size=3))]
    elif mutation == "title row":
        table.insert(0, [draw(TEXT)])
    return table


def sometimes(draw: st.DrawFn, tenths: int) -> bool:
    """True ``tenths`` times in ten: most files keep their usual form, so that the
    cells inside are reached, and a few take the odd one."""
    return draw(st.integers(min_value=0, max_value=99)) < tenths * 10


@st.composite
def csv_files(draw: st.DrawFn, ctx: IngestContext) -> tuple[str, str, bytes]:
    """(kind, file name, bytes) of a CSV table in a drawn dialect, encoding and state."""
    kind, table = draw(tables(ctx))
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        delimiter=draw(st.sampled_from([";", "\t", "|"])) if sometimes(draw, 1) else ",",
        lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"])),
        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
    )
    writer.writerows(table)
    text = buffer.getvalue()
    if draw(st.booleans()):
        text = "\ufeff" + text
    encoding = (draw(st.sampled_from(["latin-1", "utf-16", "cp1252"])) if sometimes(draw, 1)
                else "utf-8")
    data = text.encode(encoding, errors="replace")
    if sometimes(draw, 1):
        data = data[: draw(st.integers(min_value=0, max_value=len(data)))]
    name = draw(st.sampled_from(["return.csv", "HO table.CSV", "data.txt"]))
    return kind, name, data


def _xlsx_cell(text: str, number_style: int) -> Any:
    """A cell as a spreadsheet holds it: numbers as numbers, some as dates."""
    if number_style == 0:
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    if number_style == 1 and math.isfinite(number) and number.is_integer():
        return int(number)
    return number if math.isfinite(number) else text


@st.composite
def xlsx_files(draw: st.DrawFn, ctx: IngestContext) -> tuple[str, str, bytes]:
    """(kind, file name, bytes) of a workbook holding a drawn table, perhaps damaged."""
    kind, table = draw(tables(ctx))
    book = openpyxl.Workbook()
    sheet = book.active
    if draw(st.booleans()):
        sheet.title = "Cover"
        sheet.append(["Crime outcomes in England and Wales"])
        sheet = book.create_sheet("Data")
    style = draw(st.integers(min_value=0, max_value=2))
    for r, row in enumerate(table, start=1):
        for c, text in enumerate(row, start=1):
            value = _xlsx_cell(str(text), style if r > 1 else 0)
            try:
                cell = sheet.cell(row=r, column=c, value=value)
            except (ValueError, openpyxl.utils.exceptions.IllegalCharacterError):
                cell = sheet.cell(row=r, column=c, value="?")  # control characters
            if isinstance(value, int | float) and draw(st.integers(0, 9)) == 0:
                cell.number_format = "yyyy-mm-dd"  # a number Excel shows as a date
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        sheet.cell(row=len(table) + 1, column=1, value=dt.datetime(2025, 8, 1))
    buffer = io.BytesIO()
    book.save(buffer)
    data = buffer.getvalue()
    damage = draw(st.integers(min_value=0, max_value=7))
    if damage == 0:
        # A fraction, not a length: a saved workbook's size varies with the clock.
        data = data[: len(data) * draw(st.integers(min_value=0, max_value=99)) // 100]
    elif damage == 1:
        data = damaged_sheet(data, draw(st.binary(max_size=60)),
                             draw(st.integers(min_value=0, max_value=2000)))
    return kind, draw(st.sampled_from(["return.xlsx", "outcomes.XLSX", "r.xlsm"])), data


def damaged_sheet(data: bytes, garbage: bytes, keep: int) -> bytes:
    """The workbook with its sheets' XML cut short and followed by ``garbage``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                content = content[:keep] + garbage
            target.writestr(item, content)
    return out.getvalue()


def raw_files() -> st.SearchStrategy[tuple[str | None, str, bytes]]:
    """Arbitrary bytes under any name, including a zip header posing as a workbook."""
    return st.tuples(
        st.none(),
        st.sampled_from(["file.csv", "file.xlsx", "file.txt", "file.xls", "file", "f.json"]),
        st.one_of(st.binary(max_size=600),
                  st.binary(max_size=600).map(lambda b: b"PK\x03\x04" + b),
                  st.binary(max_size=600).map(lambda b: b"\xef\xbb\xbf" + b)),
    )


def any_files(ctx: IngestContext) -> st.SearchStrategy[tuple[str | None, str, bytes]]:
    return st.one_of(raw_files(), csv_files(ctx), csv_files(ctx), xlsx_files(ctx))


# --------------------------------------------------------------------------- checks


def line_count(data: bytes, name: str) -> int:
    """An upper bound on the row numbers a finding about this file may name."""
    if name.lower().endswith((".xlsx", ".xlsm")):
        return 10**6  # rows of a sheet: checked for sanity, not exactly
    return data.count(b"\n") + data.count(b"\r") + 1


def assert_clear_findings(report: Report, files: dict[str, int]) -> None:
    """Every finding names its file and a rule; one about a cell also its place.

    ``files`` maps each file name to the highest row number a finding may name.
    """
    for finding in report.findings:
        assert isinstance(finding, Finding)
        where = str(finding)  # renders without error
        # A workbook's findings name the sheet as well: "FILE, sheet 'NAME'".
        file = finding.file.split(", sheet '", 1)[0]
        assert file in files or finding.file == "(no file)", where
        assert finding.severity in ("error", "warning"), where
        assert isinstance(finding.rule, str) and finding.rule.strip(), where
        assert finding.value is None or isinstance(finding.value, str), where
        assert finding.column is None or (isinstance(finding.column, str)
                                          and finding.column.strip()), where
        if finding.row is not None:
            assert isinstance(finding.row, int), where
            assert 1 <= finding.row <= files.get(file, 1), where
        if finding.rule.startswith(CELL_RULES) and finding.row is not None:
            assert finding.column is not None and finding.value is not None, where


def assert_sane_observations(observations: Any, ctx: IngestContext) -> None:
    """What passed validation is what the database can hold and the pages can show."""
    for force, measure, period, value in zip(
        observations["force_slug"], observations["measure_id"], observations["period_start"],
        observations["value"], strict=True,
    ):
        assert force in ctx.force_slugs, force
        assert measure in ctx.measures, measure
        assert math.isfinite(value) and 0 <= value < 2**53, value
        assert EARLIEST_MONTH <= period < CURRENT_MONTH, period


def validate(files: list[tuple[str | None, str, bytes]], ctx: IngestContext,
             kind: str | None) -> Report:
    """Write the files to a fresh folder and validate them with the loader's own parser."""
    with tempfile.TemporaryDirectory(prefix="fuzz-import-") as folder:
        paths, bounds = write_files(Path(folder), files)
        parsed, report = parse_files(paths, ctx, kind)
        assert_clear_findings(report, bounds)
        if not report.errors:
            for item in parsed:
                assert_sane_observations(item.observations, ctx)
        return report


def write_files(folder: Path, files: list[tuple[str | None, str, bytes]]
                ) -> tuple[list[Path], dict[str, int]]:
    """The files on disk, and the highest row a finding may name in each file name."""
    paths: list[Path] = []
    rows: dict[str, int] = {}
    for number, (_, name, data) in enumerate(files):
        # One subfolder each: two files in one load may share a name.
        path = folder / str(number) / name
        path.parent.mkdir()
        path.write_bytes(data)
        paths.append(path)
        rows[name] = max(rows.get(name, 1), line_count(data, name))
    return paths, rows


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


CLEAN_RETURN = b"force,month,measure,value\nkent,2025-08,rape_reports,10\n"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def ctx(demo_db_readonly: Path) -> Iterator[IngestContext]:
    """What the demonstration database validates files against (built once)."""
    reader = Reader(demo_db_readonly)
    try:
        with reader.connect() as conn:
            yield build_context(conn, today=TODAY)
    finally:
        reader.close()


@pytest.fixture(scope="module")
def load_db(demo_db_readonly: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private, writable copy of the demonstration database for the load tests."""
    path = tmp_path_factory.mktemp("fuzz-load") / "flightdeck.duckdb"
    shutil.copyfile(demo_db_readonly, path)
    return path


# --------------------------------------------------------------------------- tests

KIND_CHOICES = st.sampled_from([None, None, None, *KINDS])


def test_validation_of_any_file_reports_clearly_and_never_raises(ctx: IngestContext) -> None:
    @settings(FUZZ, max_examples=PARSE_EXAMPLES)
    @given(files=st.lists(any_files(ctx), min_size=1, max_size=3), kind=KIND_CHOICES)
    def fuzz(files: list[tuple[str | None, str, bytes]], kind: str | None) -> None:
        validate(files, ctx, kind)

    fuzz()


def test_validation_of_plausible_csv_files_reports_clearly(ctx: IngestContext) -> None:
    @settings(FUZZ, max_examples=PARSE_EXAMPLES)
    @given(file=csv_files(ctx), forced=st.booleans())
    def fuzz(file: tuple[str, str, bytes], forced: bool) -> None:
        validate([file], ctx, file[0] if forced else None)

    fuzz()


def test_validation_of_plausible_workbooks_reports_clearly(ctx: IngestContext) -> None:
    @settings(FUZZ, max_examples=PARSE_EXAMPLES // 2)
    @given(file=xlsx_files(ctx), forced=st.booleans())
    def fuzz(file: tuple[str, str, bytes], forced: bool) -> None:
        validate([file], ctx, file[0] if forced else None)

    fuzz()


def test_check_files_against_the_database_never_raises(demo_db_readonly: Path,
                                                       ctx: IngestContext) -> None:
    """The upload page's preview: the public entry point, reading the database itself."""

    @settings(FUZZ, max_examples=CHECK_EXAMPLES)
    @given(files=st.lists(any_files(ctx), min_size=1, max_size=2), kind=KIND_CHOICES)
    def fuzz(files: list[tuple[str | None, str, bytes]], kind: str | None) -> None:
        with tempfile.TemporaryDirectory(prefix="fuzz-check-") as folder:
            paths, bounds = write_files(Path(folder), files)
            parsed, report = check_files(demo_db_readonly, paths, kind, today=TODAY)
            assert_clear_findings(report, bounds)
            if not report.errors:
                for item in parsed:
                    assert_sane_observations(item.observations, ctx)

    fuzz()


def test_the_only_error_check_files_raises_is_for_an_unknown_kind(
    demo_db_readonly: Path, tmp_path: Path
) -> None:
    """The documented refusal of the caller's mistake (every problem with a file is a
    finding instead)."""
    path = tmp_path / "return.csv"
    path.write_bytes(CLEAN_RETURN)
    with pytest.raises(ValueError, match="unknown kind 'returns'"):
        check_files(demo_db_readonly, [path], "returns", today=TODAY)
    _, report = check_files(demo_db_readonly, [], today=TODAY)
    assert [f.rule for f in report.errors] == ["no files were given to load"]


def test_a_load_either_loads_or_refuses_leaving_the_database_byte_identical(
    load_db: Path, ctx: IngestContext
) -> None:
    outcomes: set[str] = set()

    @settings(FUZZ, max_examples=LOAD_EXAMPLES)
    @given(file=st.one_of(csv_files(ctx), csv_files(ctx), xlsx_files(ctx), raw_files()))
    # A clean file too, so that a successful load is always among the examples.
    @example(file=("return", "clean.csv", CLEAN_RETURN))
    def fuzz(file: tuple[str | None, str, bytes]) -> None:
        with tempfile.TemporaryDirectory(prefix="fuzz-load-") as folder:
            paths, bounds = write_files(Path(folder), [file])
            _, checked = check_files(load_db, paths, today=TODAY)
            before = sha256(load_db)
            try:
                result = load_files(load_db, paths, user="fuzz", today=TODAY)
            except LoadRefused as refused:
                assert refused.report.errors, "refused without an error"
                assert_clear_findings(refused.report, bounds)
                assert sha256(load_db) == before, "a refused load changed the database"
                # The preview said the same: what it passed, the load does not refuse.
                assert checked.errors, str(refused)
                outcomes.add("refused")
            else:
                assert not checked.errors, checked.summary()
                assert result.load_ids
                assert_clear_findings(result.report, bounds)
                outcomes.add("loaded")
            assert not list(load_db.parent.glob(".*staging*"))

    fuzz()
    assert outcomes == {"loaded", "refused"}, outcomes  # both ways were tried


def test_a_load_of_fuzzed_values_in_a_valid_return_is_consistent(
    load_db: Path, ctx: IngestContext
) -> None:
    """Valid force and month, fuzzed values: loads (and changes the file) or refuses."""
    measures = list(ctx.return_measures)
    outcomes: set[str] = set()

    @settings(FUZZ, max_examples=LOAD_EXAMPLES)
    @given(rows=st.lists(st.tuples(st.sampled_from(["kent", "Essex", "avon-and-somerset"]),
                                   st.sampled_from(["2025-07", "2025-08", "2025-09"]),
                                   st.sampled_from(measures),
                                   st.sampled_from(COUNTS_OK + COUNTS_ODD)),
                         min_size=1, max_size=5))
    def fuzz(rows: list[tuple[str, str, str, str]]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer).writerows([["force", "month", "measure", "value"], *rows])
        data = buffer.getvalue().encode()
        with tempfile.TemporaryDirectory(prefix="fuzz-load-") as folder:
            paths, bounds = write_files(Path(folder), [(None, "return.csv", data)])
            before = sha256(load_db)
            try:
                load_files(load_db, paths, user="fuzz", today=TODAY)
            except LoadRefused as refused:
                assert_clear_findings(refused.report, bounds)
                assert sha256(load_db) == before
                outcomes.add("refused")
            else:
                assert sha256(load_db) != before
                outcomes.add("loaded")

    fuzz()
    assert outcomes == {"loaded", "refused"}, outcomes


def test_a_blank_template_validates_and_a_fuzzed_one_never_crashes(ctx: IngestContext) -> None:
    forces = sorted(ctx.force_slugs)

    @settings(FUZZ, max_examples=40)
    @given(force=st.one_of(st.sampled_from(forces), st.sampled_from(["nope", "", "Kent"])),
           start=st.dates(min_value=dt.date(1998, 1, 1), max_value=dt.date(2026, 1, 1)),
           months=st.integers(min_value=-2, max_value=14),
           suffix=st.sampled_from([".csv", ".xlsx", ".xlsx", ".pdf", ""]),
           filling=st.lists(junk(), max_size=6))
    def fuzz(force: str, start: dt.date, months: int, suffix: str, filling: list[str]) -> None:
        end = dt.date(start.year + (start.month - 1 + months) // 12,
                      (start.month - 1 + months) % 12 + 1, 1)
        with tempfile.TemporaryDirectory(prefix="fuzz-template-") as folder:
            path = Path(folder) / f"template{suffix}"
            try:
                write_template(path, ctx, force, start, end)
            except ValueError as problem:
                # The documented refusals: unknown force, months reversed or too early,
                # a suffix other than .csv or .xlsx.
                assert str(problem)
                first = dt.date(start.year, start.month, 1)
                assert (force not in ctx.force_slugs or end < first
                        or first < EARLIEST_MONTH or suffix not in (".csv", ".xlsx"))
                return
            _, report = parse_files([path], ctx)
            assert_clear_findings(report, {path.name: line_count(path.read_bytes(), path.name)})
            future = format_month(end) >= format_month(CURRENT_MONTH)
            if not future:
                # Untouched, it is accepted: blanks are warnings ("not supplied").
                assert not report.errors, report.summary()
            if filling and suffix == ".csv":
                lines = path.read_text(encoding="utf-8").splitlines()
                if len(lines) > 2:
                    lines[2] = ",".join([*lines[2].split(",")[:2], *map(_csv_cell, filling)])
                    path.write_text("\n".join(lines), encoding="utf-8")
                    validate([(None, path.name, path.read_bytes())], ctx, None)

    fuzz()


def _csv_cell(text: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([text])
    return buffer.getvalue()


# --------------------------------------------------------------------------- catalogue

CATALOGUE_TEXT = CATALOGUE_FILE.read_text(encoding="utf-8")
CATALOGUE = load_yaml(CATALOGUE_TEXT)
YAML_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
              st.dates()),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)
YAML_SNIPPETS = [
    "deadline: 2025-02-30", "effective_from: 9999-99-99", "a: !!float abc", "a: !!int abc",
    "a: !!timestamp 2025-13-01", "a: !!binary '!!!'", "a: !!python/object:os.system x",
    "a: &a [*a]", "[" * 200 + "]" * 200, "[" * 5000 + "]" * 5000, "{a: 1", "\t- x",
    "pillars: 1\nmeasures: 2\nkpis: 3", "--- a\n--- b", "%YAML 9.9\n--- a", "\x00",
]


def assert_catalogue_refusal(problem: CatalogueError) -> None:
    assert problem.problems
    for item in problem.problems:
        assert isinstance(item.rule, str) and item.rule.strip()
        assert item.file and item.entry and item.field
        assert str(item)


def test_the_catalogue_loader_refuses_a_mutated_catalogue_clearly() -> None:
    sections = ["pillars", "recommendations", "measures", "kpis"]

    @settings(FUZZ, max_examples=40)
    @given(section=st.sampled_from(sections), data=st.data())
    def fuzz(section: str, data: st.DataObject) -> None:
        raw = copy.deepcopy(CATALOGUE)  # a fresh copy to mutate
        items = raw[section]
        index = data.draw(st.integers(min_value=0, max_value=len(items) - 1))
        if isinstance(items[index], dict) and data.draw(st.booleans()):
            key = data.draw(st.sampled_from([*items[index], "extra"]))
            items[index][key] = data.draw(YAML_VALUES)
        else:
            items[index] = data.draw(YAML_VALUES)
        # The C dumper where PyYAML has it: ten times faster, the same YAML.
        text = yaml.dump(raw, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
                         allow_unicode=True)
        try:
            parse_catalogue(text)
        except CatalogueError as problem:
            assert_catalogue_refusal(problem)

    fuzz()


def test_the_catalogue_loader_refuses_any_text_clearly(tmp_path: Path) -> None:
    @settings(FUZZ, max_examples=40)
    @given(text=st.one_of(st.text(max_size=200), st.sampled_from(YAML_SNIPPETS),
                          st.sampled_from(YAML_SNIPPETS).map(lambda s: CATALOGUE_TEXT + "\n" + s),
                          st.integers(min_value=0, max_value=len(CATALOGUE_TEXT)).map(
                              lambda n: CATALOGUE_TEXT[:n])))
    def fuzz(text: str) -> None:
        assume(text != CATALOGUE_TEXT)
        try:
            parse_catalogue(text)
        except CatalogueError as problem:
            assert_catalogue_refusal(problem)

    fuzz()
    # The file reader too: bytes that are not UTF-8 are refused, not raised.
    path = tmp_path / "catalogue.yaml"
    path.write_bytes(b"\xff\xfe" + CATALOGUE_TEXT.encode("utf-16-le"))
    with pytest.raises(CatalogueError):
        read_catalogue(path)


def test_the_fuzzing_reaches_past_the_header(ctx: IngestContext) -> None:
    """The strategies are not all refused at the first check: some files pass and some
    are refused for a cell, in each layout; otherwise the fuzzing would prove little."""
    outcomes: dict[str, set[str]] = {}

    @settings(FUZZ, max_examples=PARSE_EXAMPLES)
    @given(file=csv_files(ctx))
    def fuzz(file: tuple[str, str, bytes]) -> None:
        report = validate([file], ctx, None)
        verdict = ("cell" if any(f.row is not None and f.column is not None
                                 for f in report.errors)
                   else "file" if report.errors else "passed")
        outcomes.setdefault(file[0], set()).add(verdict)

    fuzz()
    for kind in KINDS:
        assert {"passed", "cell"} <= outcomes.get(kind, set()), (kind, outcomes)


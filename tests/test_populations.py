"""ONS mid-year population estimates: ``flightdeck populations load FILE`` and ``list``.

The ONS publishes them as ad hoc release 3194, *Population estimates for police force
areas in England and Wales by single year of age and sex, mid-1991 to mid-2024*: an
XLSX with a cover, then a sheet per span of years ("Mid-2011 to Mid-2020", "Mid-2021
to Mid-2024"), three title rows, and the header ``PFA 2023 Code, PFA 2023 Name, Year,
F0 ... F90, M0 ... M90``. The workbooks here are built in code in that layout.

The figures, by hand: each of a force's 182 age-and-sex cells holds its approximate
population (data/forces.csv) divided by 182, rounded down, in 2019, and one more each
year after. Kent (1,870,000): 10,274 a cell in 2019, so 182 x 10,274 = 1,869,868; in
2024 10,279 a cell, 182 x 10,279 = 1,870,778. City of London (9,000): 49 a cell, so
182 x 49 = 8,918 in 2019.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

from kpis.domain.access import AccessDenied, Principal, Role
from kpis.ingest.populations import LIMITS, MAX_BYTES, MAX_ROWS
from kpis.ingest.problems import LoadRefused
from kpis.ingest.tables import FORMULA_CELL_RULE, FORMULA_RULE
from kpis.storage import security
from kpis.storage.duckdb_file import Reader
from kpis.storage.reference import population_by_year, read_forces
from tests.test_adoption import (
    ADMIN,
    assert_one_problem,
    audit_events,
    refused_without_a_change,
    run,
    sha256,
    through_service,
)

FORCES = read_forces()
SLUGS = [str(f["slug"]) for f in FORCES]
AGES = [f"F{age}" for age in range(91)] + [f"M{age}" for age in range(91)]
HEADER = ["PFA 2023 Code", "PFA 2023 Name", "Year", *AGES]
RECENT = "Mid-2021 to Mid-2024"
Row = list[object]


def per_cell(force: dict[str, object], year: int) -> int:
    return int(force["population"]) // 182 + (year - 2019)  # type: ignore[call-overload]


def ons_rows(years: Iterable[int]) -> list[Row]:
    """One row per force and year (forces in data/forces.csv order), every age cell equal."""
    return [[f["ons_code"], f["name"], year, *([per_cell(f, year)] * len(AGES))]
            for f in FORCES for year in years]


def ons_workbook(path: Path, sheets: dict[str, list[Row]]) -> Path:
    """A workbook laid out as the ONS's: a cover, then each data sheet with three title
    rows above the header (so the first force is on row 5)."""
    book = openpyxl.Workbook(write_only=True)
    cover = book.create_sheet("Cover")
    cover.append(["Population estimates for police force areas in England and Wales"])
    cover.append(["Source: Office for National Statistics"])
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        sheet.append([f"{title}: population estimates by police force area, single year "
                      "of age and sex"])
        sheet.append(["This worksheet contains one table."])
        sheet.append(["Source: Office for National Statistics"])
        sheet.append(HEADER)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def ons_row_number(slug: str, year: int, years: list[int]) -> int:
    return 5 + SLUGS.index(slug) * len(years) + years.index(year)


def long_csv(path: Path, years: Iterable[int], value: Callable[[dict, int], object]
             = lambda f, y: 182 * per_cell(f, y), extra: str = "") -> Path:
    lines = ["force,year,population"] + [f"{f['slug']},{y},{value(f, y)}"
                                         for y in years for f in FORCES]
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def estimates_in(db: Path) -> pd.DataFrame:
    reader = Reader(db)
    try:
        with reader.connect() as conn:
            return population_by_year(conn)
    finally:
        reader.close()


def by_force_and_year(db: Path) -> dict[tuple[str, int], int]:
    frame = estimates_in(db)
    return {(s, int(y)): int(p) for s, y, p in frame.itertuples(index=False)}


def load(db: Path, path: Path, principal: Principal = ADMIN) -> Any:
    return through_service(db, principal, "load_populations", path)


def refusal(db: Path, path: Path) -> LoadRefused:
    """Load ``path``, which must be refused without changing a byte of ``db``."""
    return refused_without_a_change(db, lambda: load(db, path))


@pytest.mark.slow  # a workbook of 23,000 cells written and read (about 2 s)
def test_the_ons_workbook_loads_summing_ages_matched_by_code_and_is_listed(
    empty_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The ONS layout, cut to a few years: a decade sheet before the data (not read);
    # 2018 and 2019 (2018 passed over); 2023 and 2024, with England and Wales rows
    # (passed over).
    path = ons_workbook(tmp_path / "policeforceareas1991to2024.xlsx", {
        "Mid-2001 to Mid-2010": [["E23000032", "Kent", 2010, "not read", *AGES[1:]]],
        "Mid-2011 to Mid-2020": ons_rows([2018, 2019]),
        RECENT: ons_rows([2023, 2024]) + [
            ["K04000001", "England and Wales", year, *([1] * len(AGES))]
            for year in (2023, 2024)],
    })
    code, out, err = run(["populations", "load", "--db", str(empty_db), str(path)], capsys)
    assert code == 0, err
    assert out == (f"loaded {path}: 129 population estimate(s) for year(s) 2019 (0 replaced), "
                   "2023 (0 replaced), 2024 (0 replaced)\n")
    assert "sheet not read: estimates of years before 2019" in err  # Mid-2001 to Mid-2010
    assert "ignored 43 row(s) of years before 2019" in err  # the 2018 rows
    assert "ignored 2 row(s) for areas that are not police force areas" in err

    stored = by_force_and_year(empty_db)
    assert set(stored) == {(s, y) for s in SLUGS for y in (2019, 2023, 2024)}
    assert stored[("kent", 2019)] == 1_869_868
    assert stored[("kent", 2024)] == 1_870_778
    assert stored[("city-of-london", 2019)] == 8_918

    code, out, _ = run(["populations", "list", "--db", str(empty_db)], capsys)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 129
    assert ("2024\tkent\tKent\t1870778\tpoliceforceareas1991to2024.xlsx" in lines)


def test_one_ons_sheet_loads_summing_each_forces_ages(empty_db: Path,
                                                      tmp_path: Path) -> None:
    result = load(empty_db, ons_workbook(tmp_path / "pfa.xlsx", {RECENT: ons_rows([2024])}))
    assert (result.years, result.rows) == ([2024], 43)
    stored = by_force_and_year(empty_db)
    assert stored[("kent", 2024)] == 1_870_778
    # Metropolitan Police (8,800,000): 48,351 a cell in 2019, 48,356 in 2024: 8,800,792.
    assert stored[("metropolitan", 2024)] == 8_800_792


def test_population_by_year_gives_force_year_and_population_sorted(
    empty_db: Path, tmp_path: Path
) -> None:
    empty = estimates_in(empty_db)
    assert list(empty.columns) == ["force_slug", "year", "population"] and empty.empty
    load(empty_db, long_csv(tmp_path / "pop.csv", [2024, 2023]))
    frame = estimates_in(empty_db)
    assert list(frame.columns) == ["force_slug", "year", "population"]
    assert str(frame["year"].dtype) == "int64" and str(frame["population"].dtype) == "int64"
    assert list(frame["year"]) == [2023] * 43 + [2024] * 43
    assert list(frame["force_slug"][:43]) == sorted(SLUGS)
    # Kent in 2023: 182 x (10,274 + 4) = 1,870,596.
    assert frame.set_index(["force_slug", "year"]).at[("kent", 2023), "population"] == 1_870_596


def test_codes_match_first_then_names_through_the_aliases(empty_db: Path,
                                                          tmp_path: Path) -> None:
    # One column per year (as the ONS summary tables). Kent's name is wrong but its code
    # right; Devon and Cornwall has no code, only a Home Office spelling; Dyfed-Powys has
    # a code this database does not know, and is found by name; the South East region
    # is passed over; so is the column for mid-2018.
    rows = ["Code,Name,Geography,Mid-2024,Mid-2018"]
    for f in FORCES:
        code, name = f["ons_code"], f["name"]
        if f["slug"] == "kent":
            name = "Not Kent at all"
        elif f["slug"] == "devon-and-cornwall":
            code, name = "", "Devon & Cornwall"
        elif f["slug"] == "dyfed-powys":
            code, name = "W15000099", "Dyfed Powys"
        rows.append(f"{code},{name},Police Force Area,{182 * per_cell(f, 2024)},1")
    rows.append("E12000008,South East,Region,9400000,9100000")
    path = tmp_path / "summary.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = load(empty_db, path)
    assert result.report.ignored == {
        "for areas that are not police force areas (England and Wales, countries, regions, "
        "local authorities)": 1}
    assert [str(w) for w in result.report.warnings] == [
        "warning: summary.csv, row 1: value 'Mid-2018': column(s) not read: estimates of "
        "years before 2019 (the flight deck's data starts in April 2019)"]
    stored = by_force_and_year(empty_db)
    assert set(stored) == {(s, 2024) for s in SLUGS}
    assert stored[("kent", 2024)] == 1_870_778
    # Devon and Cornwall (1,800,000): 9,890 a cell in 2019, 9,895 in 2024: 1,800,890.
    assert stored[("devon-and-cornwall", 2024)] == 1_800_890
    # Dyfed-Powys (520,000): 2,857 a cell in 2019, 2,862 in 2024: 520,884.
    assert stored[("dyfed-powys", 2024)] == 520_884


def test_a_long_csv_names_forces_by_slug_name_or_code(empty_db: Path, tmp_path: Path) -> None:
    spelled = {"kent": "Kent Police", "metropolitan": "Metropolitan Police Service",
               "city-of-london": "E23000034", "avon-and-somerset": "Avon & Somerset"}
    lines = ["force,year,population"] + [
        f"{spelled.get(str(f['slug']), f['slug'])},2023,{1000 + i}"
        for i, f in enumerate(FORCES)]
    path = tmp_path / "long.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    load(empty_db, path)
    stored = by_force_and_year(empty_db)
    assert stored[("avon-and-somerset", 2023)] == 1000  # the first in data/forces.csv
    assert stored[("city-of-london", 2023)] == 1000 + SLUGS.index("city-of-london")
    assert len(stored) == 43


def test_reloading_a_year_replaces_that_year_and_keeps_the_others(
    empty_db: Path, tmp_path: Path
) -> None:
    first = load(empty_db, long_csv(tmp_path / "first.csv", [2022, 2023]))
    assert first.replaced == {2022: 0, 2023: 0} and first.rows == 86
    again = load(empty_db, long_csv(tmp_path / "revised.csv", [2023],
                                    value=lambda f, y: int(f["population"]) + 7))
    assert again.replaced == {2023: 43} and again.rows == 43
    stored = by_force_and_year(empty_db)
    assert len(stored) == 86
    assert stored[("kent", 2022)] == 182 * (10_274 + 3)  # 1,870,414: as first loaded
    assert stored[("kent", 2023)] == 1_870_007  # revised
    reader = Reader(empty_db)
    try:
        with reader.connect() as conn:
            sources = dict(conn.exec_driver_sql(
                "SELECT year, string_agg(DISTINCT source, ',') FROM force_populations "
                "GROUP BY year").fetchall())
    finally:
        reader.close()
    assert sources == {2022: "first.csv", 2023: "revised.csv"}


def test_every_bad_value_in_a_long_file_is_reported_at_once(demo_db: Path,
                                                            tmp_path: Path) -> None:
    wrong = {"kent": "abc", "durham": "-5", "essex": "1.5", "norfolk": "", "suffolk": "0",
             "surrey": "=1+1", "sussex": "1e309", "dorset": "100000000"}
    path = long_csv(tmp_path / "bad.csv", [2023],
                    value=lambda f, y: wrong.get(str(f["slug"]), 182 * per_cell(f, y)),
                    extra="Atlantis,2023,1000\ngwent,20x3,1000\ncumbria,2026,1000\n"
                          "wiltshire,2023,500000\n")
    refused = refusal(demo_db, path)
    row = {slug: 2 + i for i, slug in enumerate(SLUGS)}  # the header is row 1
    found = {(f.file, f.row, f.column, f.value, f.rule) for f in refused.report.errors}
    assert found == {
        ("bad.csv", row["kent"], "population", "abc", "not a number"),
        ("bad.csv", row["durham"], "population", "-5", "negative values are not allowed"),
        ("bad.csv", row["essex"], "population", "1.5", "a population must be a whole number"),
        ("bad.csv", row["norfolk"], "population", "", "blank: a population is required"),
        ("bad.csv", row["suffolk"], "population", "0", "a population must be more than 0"),
        ("bad.csv", row["surrey"], "population", "=1+1", FORMULA_RULE),
        ("bad.csv", row["sussex"], "population", "1e309",
         "too large: a population must be below 100,000,000"),
        ("bad.csv", row["dorset"], "population", "100000000",
         "too large: a population must be below 100,000,000"),
        ("bad.csv", 45, "force", "Atlantis",
         "unknown force: give its slug (e.g. kent), its name or its ONS code"),
        ("bad.csv", 46, "year", "20x3",
         "not a year: write it as YYYY (the estimate at 30 June of that year)"),
        ("bad.csv", 47, "year", "2026",
         "the estimate for mid-2026 is in the future (today is 2025-10-15)"),
        ("bad.csv", 48, "force", "Wiltshire",
         f"duplicate: an estimate for Wiltshire in 2023 is already given in row "
         f"{row['wiltshire']}"),
    }
    assert ("bad.csv, row 45, column 'force': value 'Atlantis': unknown force"
            in str(refused))


def test_a_year_is_loaded_whole_or_not_at_all(empty_db: Path, tmp_path: Path) -> None:
    path = tmp_path / "kent_only.csv"
    path.write_text("force,year,population\nkent,2023,1870000\ndurham,2023,640000\n",
                    encoding="utf-8")
    refused = refusal(empty_db, path)
    [finding] = refused.report.errors
    assert (finding.file, finding.row, finding.column, finding.value) == (
        "kent_only.csv", None, "year", "2023")
    assert finding.rule.startswith("no estimate for 41 of the 43 forces (Avon and Somerset, "
                                   "Bedfordshire, ")
    assert finding.rule.endswith("and 31 more): a year is loaded whole, replacing that "
                                 "year's estimates")


def test_a_bad_cell_in_the_ons_workbook_names_its_sheet_row_and_column(
    empty_db: Path, tmp_path: Path
) -> None:
    years = [2024]
    rows = ons_rows(years)
    kent, durham = (ons_row_number(s, 2024, years) - 5 for s in ("kent", "durham"))
    rows[kent][3 + AGES.index("F5")] = "x"
    rows[durham][3 + AGES.index("M90")] = "=1+2"
    rows.append(["E23000099", "Atlantis", 2024, *([1] * len(AGES))])
    path = ons_workbook(tmp_path / "pfa.xlsx", {RECENT: rows})
    refused = refusal(empty_db, path)
    sheet = f"pfa.xlsx, sheet '{RECENT}'"
    found = [(f.file, f.row, f.column, f.value, f.rule) for f in refused.report.errors]
    assert sorted(found, key=lambda f: f[1]) == [
        (sheet, ons_row_number("durham", 2024, years), "M90", "=1+2", FORMULA_CELL_RULE),
        (sheet, ons_row_number("kent", 2024, years), "F5", "x", "not a number"),
        (sheet, 5 + 43, "PFA 2023 Code", "E23000099",
         "unknown police force area code: neither the code nor the name matches a "
         "territorial force"),
    ]
    assert (f"{sheet}, row {ons_row_number('kent', 2024, years)}, column 'F5': value 'x': "
            "not a number") in str(refused)


def _write(text: str) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        path.write_text(text, encoding="utf-8")
        return path
    return build


def _latin1(path: Path) -> Path:
    path.write_bytes("force,year,population\nYnys Môn,2023,70000\n".encode("latin-1"))
    return path


def _too_large(path: Path) -> Path:
    path.write_bytes(b"force,year,population\n" + b"0" * MAX_BYTES)
    return path


def _too_many_csv_rows(path: Path) -> Path:
    path.write_text("force,year,population\n" + "kent,2023,1\n" * (MAX_ROWS + 1),
                    encoding="utf-8")
    return path


def _workbook(path: Path, rows: list[Row], sheets: int = 1) -> Path:
    book = openpyxl.Workbook(write_only=True)
    for number in range(sheets):
        sheet = book.create_sheet(f"Sheet {number + 1}")
        for row in rows:
            sheet.append(row)
    target = path.with_suffix(".xlsx")
    book.save(target)
    return target


FILE_PROBLEMS = [
    ("no_year.csv", _write("force,population\nkent,1870000\n"),
     "row 1: value 'force, population': cannot tell which columns hold the areas, years "
     "and populations"),
    ("latin1.csv", _latin1, "row 2: value '0xF4': wrong encoding: the file is not UTF-8"),
    ("header_only.csv", _write("force,year,population\n"),
     "the file has a header but no data rows"),
    ("estimates.ods", _write("not a spreadsheet this program reads"),
     "value '.ods': unsupported file type for population estimates: use .csv or .txt or "
     ".xlsx or .xlsm"),
    ("too_large.csv", _too_large,
     f"too large: a file of population estimates may be at most {MAX_BYTES:,} bytes"),
    ("too_many_rows.csv", _too_many_csv_rows,
     "value '5,001 rows': too many rows: a population file has at most 5,000"),
    ("sheets", lambda p: _workbook(p, [["force", "year", "population"]],
                                   sheets=LIMITS.sheets + 1),
     f"value '{LIMITS.sheets + 1}': too many sheets: a workbook may have at most "
     f"{LIMITS.sheets}"),
    ("rows", lambda p: _workbook(p, [["force", "year", "population"]]
                                 + [["kent", 2023, 1]] * LIMITS.rows),
     f"sheet 'Sheet 1', row {LIMITS.rows + 1}: too many rows: a workbook may have at most "
     f"{LIMITS.rows:,} rows in all"),
    ("columns", lambda p: _workbook(p, [["force", "year", "population",
                                         *range(LIMITS.columns)]]),
     f"sheet 'Sheet 1', row 1: too many columns: a row may have at most {LIMITS.columns}"),
    ("not_a_workbook", lambda p: _write("plain text")(p.with_suffix(".xlsx")),
     "not a readable XLSX workbook"),
    ("no_data_sheet", lambda p: _workbook(p, [["Contents"], ["Notes"]]),
     "no sheet has police force area population estimates"),
]


@pytest.mark.parametrize(("name", "build", "expected"), FILE_PROBLEMS,
                         ids=[case[0] for case in FILE_PROBLEMS])
def test_a_file_that_cannot_be_read_or_is_too_big_to_check_is_refused_whole(
    empty_db: Path, tmp_path: Path, name: str, build, expected: str
) -> None:
    path = build(tmp_path / name)
    assert_one_problem(refusal(empty_db, path), path, expected)


def test_figures_in_thousands_are_loaded_with_a_warning(empty_db: Path,
                                                        tmp_path: Path) -> None:
    path = long_csv(tmp_path / "thousands.csv", [2023],
                    value=lambda f, y: int(f["population"]) // 1000)
    result = load(empty_db, path)
    kent = [str(w) for w in result.report.warnings if "Kent's" in str(w)]
    assert kent == [f"warning: thousands.csv, row {2 + SLUGS.index('kent')}, column "
                    "'population': value '1870': far from Kent's approximate population "
                    "(1,870,000): is the file in thousands, or for another area?"]
    assert by_force_and_year(empty_db)[("kent", 2023)] == 1870


def test_the_audit_log_records_who_when_and_what_was_replaced(empty_db: Path,
                                                              tmp_path: Path) -> None:
    started = dt.datetime.now().replace(microsecond=0)
    path = long_csv(tmp_path / "pop.csv", [2023])
    load(empty_db, path)
    load(empty_db, path)  # the same year again: it replaces the 43 estimates
    bad = tmp_path / "bad.csv"
    bad.write_text("force,year,population\nAtlantis,2023,1\n", encoding="utf-8")
    with pytest.raises(LoadRefused):
        load(empty_db, bad)
    loaded = audit_events(empty_db, security.REFERENCE)
    refused = audit_events(empty_db, security.REFERENCE_REFUSED)
    assert [e.username for e in loaded] == ["alice", "alice"]
    assert all(started <= e.occurred_at <= dt.datetime.now() for e in loaded)
    prefix = f"population estimates (every force) from pop.csv (sha256 {sha256(path)[:12]}): "
    assert [e.detail for e in loaded] == [  # newest first
        prefix + "43 population estimate(s) for year(s) 2023 (43 replaced)",
        prefix + "43 population estimate(s) for year(s) 2023 (0 replaced)",
    ]
    # Atlantis is unknown (and with no force known, no year is checked for gaps).
    assert [e.detail for e in refused] == [
        "population estimates from bad.csv: 1 error(s), nothing written"]


@pytest.mark.parametrize("principal", [
    Principal("vera", Role.VIEWER),
    Principal("andy", Role.ANALYST),
    Principal("kim", Role.ADMIN, force="kent"),
], ids=["viewer", "analyst", "force-scoped admin"])
def test_only_an_administrator_covering_every_force_may_load(
    empty_db: Path, tmp_path: Path, principal: Principal
) -> None:
    path = long_csv(tmp_path / "pop.csv", [2023])
    before = sha256(empty_db)
    with pytest.raises(AccessDenied):
        load(empty_db, path, principal)
    assert sha256(empty_db) == before
    denied = audit_events(empty_db, security.ACCESS_DENIED)
    assert [e.username for e in denied] == [principal.username]


def test_a_refused_file_exits_non_zero_and_list_says_when_nothing_is_loaded(
    empty_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["populations", "list", "--db", str(empty_db)], capsys)
    assert code == 0 and out.startswith("no population estimates loaded")
    bad = tmp_path / "bad.csv"
    bad.write_text("force,year,population\nkent,2023,lots\n", encoding="utf-8")
    code, out, err = run(["populations", "load", "--db", str(empty_db), str(bad)], capsys)
    assert code == 1 and out == ""
    assert "bad.csv, row 2, column 'population': value 'lots': not a number" in err

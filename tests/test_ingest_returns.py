"""Force monthly returns: long and wide layouts, CSV and XLSX, validated in full.

Every test loads real files into a real DuckDB file and reads back what was stored.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

from kpis.ingest.loader import load_files
from kpis.ingest.problems import LoadRefused
from kpis.storage import schema
from kpis.storage.duckdb_file import Reader

TODAY = dt.date(2025, 10, 15)
AUG = dt.date(2025, 8, 1)


def stored(db: Path, force: str | None = None) -> dict[tuple[str, str, dt.date], float]:
    """Every observation in the database, keyed by (force, measure, period)."""
    reader = Reader(db)
    try:
        with reader.connect() as conn:
            query = sa.select(schema.observations.c.force_slug, schema.observations.c.measure_id,
                              schema.observations.c.period_start, schema.observations.c.value)
            if force:
                query = query.where(schema.observations.c.force_slug == force)
            return {(f, m, p): v for f, m, p, v in conn.execute(query)}
    finally:
        reader.close()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def write_xlsx(path: Path, rows: list[list[object]], title_rows: int = 0) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    for _ in range(title_rows):
        sheet.append(["Kent Police RASSO monthly return"])
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def return_values(db: Path) -> dict[tuple[str, str, dt.date], float]:
    """Stored observations other than the computed completeness measures."""
    return {k: v for k, v in stored(db).items() if not k[1].startswith("return_measures_")}


def test_long_csv_return_stores_each_value_for_its_force_month_and_measure(
    empty_db: Path, tmp_path: Path
) -> None:
    file = write(tmp_path / "kent_long.csv",
                 "force,month,measure,value\n"
                 "kent,2025-08,rape_reports,41\n"
                 "kent,2025-08,reports_named_suspect,30\n"
                 "kent,2025-07,rape_reports,38\n"
                 "essex,2025-08,sickness_days,12.5\n")
    result = load_files(empty_db, [file], today=TODAY)
    assert result.report.errors == []
    assert return_values(empty_db) == {
        ("kent", "rape_reports", AUG): 41.0,
        ("kent", "reports_named_suspect", AUG): 30.0,
        ("kent", "rape_reports", dt.date(2025, 7, 1)): 38.0,
        ("essex", "sickness_days", AUG): 12.5,
    }


def test_wide_csv_return_stores_one_value_per_measure_column(
    empty_db: Path, tmp_path: Path
) -> None:
    file = write(tmp_path / "wide.csv",
                 "force,month,rape_reports,cps_referrals,charges_total\n"
                 "kent,2025-07,38,4,2\n"
                 "kent,2025-08,41,5,3\n")
    load_files(empty_db, [file], today=TODAY)
    assert return_values(empty_db) == {
        ("kent", "rape_reports", dt.date(2025, 7, 1)): 38.0,
        ("kent", "cps_referrals", dt.date(2025, 7, 1)): 4.0,
        ("kent", "charges_total", dt.date(2025, 7, 1)): 2.0,
        ("kent", "rape_reports", AUG): 41.0,
        ("kent", "cps_referrals", AUG): 5.0,
        ("kent", "charges_total", AUG): 3.0,
    }


def test_long_xlsx_return_loads_like_the_csv(empty_db: Path, tmp_path: Path) -> None:
    file = write_xlsx(tmp_path / "long.xlsx", [
        ["force", "month", "measure", "value"],
        ["kent", "2025-08", "rape_reports", 41],
        ["kent", "2025-08", "sickness_days", 7.5],
    ])
    load_files(empty_db, [file], today=TODAY)
    assert return_values(empty_db) == {
        ("kent", "rape_reports", AUG): 41.0, ("kent", "sickness_days", AUG): 7.5,
    }


def test_wide_xlsx_month_typed_as_an_excel_date_is_read_as_that_month(
    empty_db: Path, tmp_path: Path
) -> None:
    file = write_xlsx(tmp_path / "wide.xlsx", [
        ["force", "month", "rape_reports", "cps_referrals"],
        ["kent", dt.datetime(2025, 8, 1), 41, 5],
    ])
    load_files(empty_db, [file], today=TODAY)
    assert return_values(empty_db) == {
        ("kent", "rape_reports", AUG): 41.0, ("kent", "cps_referrals", AUG): 5.0,
    }


def test_forces_may_be_named_by_name_or_variant_as_well_as_slug(
    empty_db: Path, tmp_path: Path
) -> None:
    file = write(tmp_path / "names.csv",
                 "force,month,measure,value\n"
                 "Kent Police,2025-08,rape_reports,1\n"
                 "Devon & Cornwall,2025-08,rape_reports,2\n"
                 "Metropolitan Police Service,2025-08,rape_reports,3\n"
                 "avon-and-somerset,2025-08,rape_reports,4\n")
    load_files(empty_db, [file], today=TODAY)
    assert return_values(empty_db) == {
        ("kent", "rape_reports", AUG): 1.0,
        ("devon-and-cornwall", "rape_reports", AUG): 2.0,
        ("metropolitan", "rape_reports", AUG): 3.0,
        ("avon-and-somerset", "rape_reports", AUG): 4.0,
    }


def test_every_problem_in_a_file_is_reported_with_file_row_column_value_and_rule(
    empty_db: Path, tmp_path: Path
) -> None:
    file = write(tmp_path / "many.csv",
                 "force,month,measure,value\n"
                 "kent,2025-08,rape_reports,10\n"
                 "Gotham,2025-08,rape_reports,1\n"
                 "kent,2025-13,rape_reports,2\n"
                 "kent,2025-08,bogus,abc\n"
                 "kent,2025-07,cps_referrals,-1\n")
    with pytest.raises(LoadRefused) as refused:
        load_files(empty_db, [file], today=TODAY)
    found = {(f.file, f.row, f.column, f.value, f.rule) for f in refused.value.report.errors}
    assert found == {
        ("many.csv", 3, "force", "Gotham", "unknown force"),
        ("many.csv", 4, "month", "2025-13", "bad month: write it as YYYY-MM"),
        ("many.csv", 5, "measure", "bogus", "unknown measure"),
        ("many.csv", 5, "value", "abc", "not a number"),
        ("many.csv", 6, "value", "-1", "negative values are not allowed"),
    }
    assert all(f.severity == "error" for f in refused.value.report.errors)


def test_rows_keep_their_line_numbers_when_blank_lines_are_skipped(
    empty_db: Path, tmp_path: Path
) -> None:
    file = write(tmp_path / "gaps.csv",
                 "force,month,measure,value\n\nkent,2025-08,rape_reports,10\n\n\n"
                 "kent,2025-08,cps_referrals,x\n")
    with pytest.raises(LoadRefused) as refused:
        load_files(empty_db, [file], today=TODAY)
    assert [f.row for f in refused.value.report.errors] == [6]


def test_blank_wide_cell_is_a_warning_and_the_rest_of_the_file_loads(
    empty_db: Path, tmp_path: Path
) -> None:
    file = write(tmp_path / "blank.csv",
                 "force,month,rape_reports,cps_referrals\n"
                 "kent,2025-08,41,\n")
    result = load_files(empty_db, [file], today=TODAY)
    assert result.report.errors == []
    blank = [w for w in result.report.warnings if w.row == 2]
    assert len(blank) == 1
    assert (blank[0].file, blank[0].column, blank[0].severity) == ("blank.csv", "cps_referrals",
                                                                    "warning")
    assert "not supplied" in blank[0].rule
    assert return_values(empty_db) == {("kent", "rape_reports", AUG): 41.0}


def test_blank_long_value_is_a_warning_not_an_error(empty_db: Path, tmp_path: Path) -> None:
    file = write(tmp_path / "blank_long.csv",
                 "force,month,measure,value\nkent,2025-08,rape_reports,\n"
                 "kent,2025-08,cps_referrals,3\n")
    result = load_files(empty_db, [file], today=TODAY)
    assert [(w.row, w.column) for w in result.report.warnings] == [(2, "value")]
    assert return_values(empty_db) == {("kent", "cps_referrals", AUG): 3.0}


def test_missing_measure_columns_are_warnings_naming_each_measure(
    empty_db: Path, tmp_path: Path
) -> None:
    file = write(tmp_path / "partial.csv", "force,month,rape_reports\nkent,2025-08,41\n")
    result = load_files(empty_db, [file], today=TODAY)
    missing = {w.value for w in result.report.warnings if "column missing" in w.rule}
    assert "cps_referrals" in missing and "sickness_days" in missing
    assert "rape_reports" not in missing


def test_warnings_are_counted_in_the_audit_record_of_the_load(
    empty_db: Path, tmp_path: Path
) -> None:
    file = write(tmp_path / "warn.csv",
                 "force,month,measure,value\nkent,2025-08,rape_reports,\n"
                 "kent,2025-08,cps_referrals,\n")
    result = load_files(empty_db, [file], today=TODAY)
    reader = Reader(empty_db)
    with reader.connect() as conn:
        warnings = conn.execute(sa.select(schema.loads.c.warnings)).scalar_one()
    reader.close()
    assert warnings == 2 == len(result.report.warnings)


def test_template_titles_row_is_not_loaded_as_data(empty_db: Path, tmp_path: Path) -> None:
    file = write(tmp_path / "titled.csv",
                 "force,month,rape_reports\n"
                 "(force slug),YYYY-MM,RASSO reports received in the month\n"
                 "kent,2025-08,41\n")
    result = load_files(empty_db, [file], today=TODAY)
    assert result.report.errors == []
    assert return_values(empty_db) == {("kent", "rape_reports", AUG): 41.0}


def test_header_below_title_rows_in_a_workbook_is_found(empty_db: Path, tmp_path: Path) -> None:
    file = write_xlsx(tmp_path / "titled.xlsx", [
        ["force", "month", "rape_reports"],
        ["kent", "2025-08", 41],
    ], title_rows=2)
    load_files(empty_db, [file], today=TODAY)
    assert return_values(empty_db) == {("kent", "rape_reports", AUG): 41.0}


def test_days_may_be_fractional_but_counts_must_be_whole(empty_db: Path, tmp_path: Path) -> None:
    good = write(tmp_path / "days.csv",
                 "force,month,sickness_days,abstraction_days\nkent,2025-08,3.5,0.25\n")
    load_files(empty_db, [good], today=TODAY)
    assert return_values(empty_db) == {
        ("kent", "sickness_days", AUG): 3.5, ("kent", "abstraction_days", AUG): 0.25,
    }
    bad = write(tmp_path / "counts.csv", "force,month,rape_reports\nkent,2025-08,3.5\n")
    with pytest.raises(LoadRefused, match="a count must be a whole number"):
        load_files(empty_db, [bad], today=TODAY)


def test_thousands_separators_in_counts_are_accepted(empty_db: Path, tmp_path: Path) -> None:
    file = write(tmp_path / "commas.csv",
                 'force,month,measure,value\nkent,2025-08,open_investigations,"1,204"\n')
    load_files(empty_db, [file], today=TODAY)
    assert return_values(empty_db) == {("kent", "open_investigations", AUG): 1204.0}


def test_last_month_is_accepted_but_the_unfinished_current_month_is_refused(
    empty_db: Path, tmp_path: Path
) -> None:
    ended = write(tmp_path / "ended.csv",
                  "force,month,measure,value\nkent,2025-09,rape_reports,3\n")
    load_files(empty_db, [ended], today=TODAY)
    current = write(tmp_path / "current.csv",
                    "force,month,measure,value\nkent,2025-10,rape_reports,3\n")
    with pytest.raises(LoadRefused, match=r"row 2, column 'month': value '2025-10': month is "
                                          r"in the future or not yet ended \(today is "
                                          r"2025-10-15\)"):
        load_files(empty_db, [current], today=TODAY)


def test_numerator_equal_to_denominator_is_allowed_but_above_is_refused(
    empty_db: Path, tmp_path: Path
) -> None:
    equal = write(tmp_path / "equal.csv",
                  "force,month,charges_total,charges_within_365d\nkent,2025-08,4,4\n")
    load_files(empty_db, [equal], today=TODAY)
    above = write(tmp_path / "above.csv",
                  "force,month,charges_total,charges_within_365d\nkent,2025-07,4,5\n")
    with pytest.raises(LoadRefused) as refused:
        load_files(empty_db, [above], today=TODAY)
    (finding,) = refused.value.report.errors
    assert (finding.row, finding.column, finding.value) == (2, "charges_within_365d", "5")
    assert "charges_within_365d = 5 > charges_total = 4" in finding.rule


def test_numerator_without_its_denominator_in_the_file_is_not_compared(
    empty_db: Path, tmp_path: Path
) -> None:
    file = write(tmp_path / "num_only.csv",
                 "force,month,measure,value\nkent,2025-08,charges_within_365d,9\n")
    result = load_files(empty_db, [file], today=TODAY)
    assert result.report.errors == []


def test_duplicate_wide_row_values_are_still_checked(empty_db: Path, tmp_path: Path) -> None:
    file = write(tmp_path / "dupe.csv",
                 "force,month,rape_reports\nkent,2025-08,4\nkent,2025-08,x\n")
    with pytest.raises(LoadRefused) as refused:
        load_files(empty_db, [file], today=TODAY)
    rules = sorted((f.row, f.column, f.rule.split(":")[0]) for f in refused.value.report.errors)
    assert rules == [(3, "month", "duplicate row"), (3, "rape_reports", "not a number")]


def test_csv_saved_by_excel_with_a_byte_order_mark_and_crlf_lines_loads(
    empty_db: Path, tmp_path: Path
) -> None:
    file = tmp_path / "excel.csv"
    file.write_bytes(b"\xef\xbb\xbfforce,month,rape_reports\r\nkent,2025-08,41\r\n")
    load_files(empty_db, [file], today=TODAY)
    assert return_values(empty_db) == {("kent", "rape_reports", AUG): 41.0}


def test_csv_with_a_title_line_above_the_header_loads_and_keeps_row_numbers(
    empty_db: Path, tmp_path: Path
) -> None:
    file = write(tmp_path / "titled.csv",
                 "Kent monthly return\nforce,month,rape_reports,cps_referrals\n"
                 "kent,2025-08,41,x\n")
    with pytest.raises(LoadRefused) as refused:
        load_files(empty_db, [file], today=TODAY)
    (finding,) = refused.value.report.errors
    assert (finding.row, finding.column, finding.value) == (3, "cps_referrals", "x")

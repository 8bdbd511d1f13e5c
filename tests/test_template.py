"""The blank wide return template: its layout, and that a filled-in one loads."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

from kpis.domain.catalogue import load_yaml
from kpis.ingest.context import IngestContext, build_context
from kpis.ingest.loader import load_files
from kpis.ingest.template import write_template
from kpis.settings import CATALOGUE_FILE
from kpis.storage import schema
from kpis.storage.duckdb_file import Reader

TODAY = dt.date(2025, 10, 15)


@pytest.fixture
def ctx(empty_db: Path) -> IngestContext:
    reader = Reader(empty_db)
    try:
        with reader.connect() as conn:
            return build_context(conn, today=TODAY)
    finally:
        reader.close()


def catalogue_titles() -> dict[str, str]:
    catalogue = load_yaml(CATALOGUE_FILE.read_text(encoding="utf-8"))
    return {m["id"]: m["title"] for m in catalogue["measures"]}


def return_measures_needed() -> set[str]:
    """Force-return measures used by the latest published version of any KPI."""
    catalogue = load_yaml(CATALOGUE_FILE.read_text(encoding="utf-8"))
    sources = {m["id"]: m["source"] for m in catalogue["measures"]}
    latest: dict[str, dict[str, object]] = {}
    for kpi in catalogue["kpis"]:
        if kpi["status"] == "published" and (
            kpi["id"] not in latest or kpi["version"] > latest[kpi["id"]]["version"]
        ):
            latest[kpi["id"]] = kpi
    return {m for k in latest.values() for m in k["numerator"] + k.get("denominator", [])
            if sources[m] == "force_return"}


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def stored(db: Path) -> dict[tuple[str, str, dt.date], float]:
    reader = Reader(db)
    try:
        with reader.connect() as conn:
            obs = schema.observations.c
            rows = conn.execute(sa.select(obs.force_slug, obs.measure_id, obs.period_start,
                                          obs.value))
            return {(f, m, p): v for f, m, p, v in rows}
    finally:
        reader.close()


def test_csv_template_has_header_titles_row_and_one_blank_row_per_month(
    ctx: IngestContext, tmp_path: Path
) -> None:
    path = tmp_path / "kent.csv"
    write_template(path, ctx, "kent", dt.date(2024, 11, 1), dt.date(2025, 2, 1))
    rows = read_csv(path)
    header, titles, *months = rows
    assert header[:2] == ["force", "month"]
    assert set(header[2:]) == return_measures_needed()
    assert len(header) == len(set(header))
    assert titles[:2] == ["(force slug)", "YYYY-MM"]
    names = catalogue_titles()
    assert titles[2:] == [names[m] for m in header[2:]]
    assert [r[:2] for r in months] == [["kent", "2024-11"], ["kent", "2024-12"],
                                       ["kent", "2025-01"], ["kent", "2025-02"]]
    assert all(cell == "" for r in months for cell in r[2:])
    assert all(len(r) == len(header) for r in rows)


def test_xlsx_template_has_a_bold_header_frozen_below_the_two_header_rows(
    ctx: IngestContext, tmp_path: Path
) -> None:
    path = tmp_path / "kent.xlsx"
    write_template(path, ctx, "kent", dt.date(2025, 4, 1), dt.date(2025, 6, 1))
    sheet = openpyxl.load_workbook(path).active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0][:2] == ["force", "month"]
    assert set(values[0][2:]) == return_measures_needed()
    assert values[1][:2] == ["(force slug)", "YYYY-MM"]
    assert [r[:2] for r in values[2:]] == [["kent", "2025-04"], ["kent", "2025-05"],
                                           ["kent", "2025-06"]]
    assert all(v is None for r in values[2:] for v in r[2:])
    assert all(cell.font.b for cell in sheet[1])
    assert sheet.freeze_panes == "A3"
    assert isinstance(sheet["B3"].value, str)  # a month stays text, not an Excel date


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_filled_in_template_loads_every_value_and_not_the_titles_row(
    suffix: str, ctx: IngestContext, empty_db: Path, tmp_path: Path
) -> None:
    path = tmp_path / f"kent{suffix}"
    write_template(path, ctx, "kent", dt.date(2025, 7, 1), dt.date(2025, 8, 1))
    measures = list(ctx.return_measures)
    # Fill every measure cell with a small number that keeps each share at or below 100%.
    if suffix == ".csv":
        rows = read_csv(path)
        for row in rows[2:]:
            row[2:] = ["3"] * len(measures)
        with open(path, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(rows)
    else:
        book = openpyxl.load_workbook(path)
        sheet = book.active
        for row in sheet.iter_rows(min_row=3, min_col=3):
            for cell in row:
                cell.value = 3
        book.save(path)

    result = load_files(empty_db, [path], today=TODAY)
    assert result.report.errors == []
    assert result.report.warnings == []
    values = stored(empty_db)
    expected = {("kent", m, p): 3.0 for m in measures
                for p in (dt.date(2025, 7, 1), dt.date(2025, 8, 1))}
    assert {k: v for k, v in values.items() if not k[1].startswith("return_measures_")} \
        == expected
    assert values[("kent", "return_measures_supplied", dt.date(2025, 8, 1))] == len(measures)


def test_a_partly_filled_template_loads_with_a_warning_for_each_blank(
    ctx: IngestContext, empty_db: Path, tmp_path: Path
) -> None:
    path = tmp_path / "kent.csv"
    write_template(path, ctx, "kent", dt.date(2025, 8, 1), dt.date(2025, 8, 1))
    rows = read_csv(path)
    rows[2][rows[0].index("rape_reports")] = "41"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    result = load_files(empty_db, [path], today=TODAY)
    assert len(result.report.warnings) == len(ctx.return_measures) - 1
    assert all(w.row == 3 for w in result.report.warnings)
    assert stored(empty_db)[("kent", "rape_reports", dt.date(2025, 8, 1))] == 41.0


def test_template_refuses_an_unknown_force_a_reversed_range_and_other_formats(
    ctx: IngestContext, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="unknown force 'gotham'"):
        write_template(tmp_path / "x.csv", ctx, "gotham", dt.date(2025, 1, 1),
                       dt.date(2025, 2, 1))
    with pytest.raises(ValueError, match="before"):
        write_template(tmp_path / "x.csv", ctx, "kent", dt.date(2025, 3, 1),
                       dt.date(2025, 2, 1))
    with pytest.raises(ValueError, match=r"use \.csv or \.xlsx"):
        write_template(tmp_path / "x.ods", ctx, "kent", dt.date(2025, 1, 1),
                       dt.date(2025, 2, 1))
    assert not (tmp_path / "x.csv").exists()

"""Data that flows out cleanly: plain CSV, XLSX with notes, and the marking by source.

Every data file (a chart's CSV, ``flightdeck kpis``) opens with exactly one header row,
read as it is by the csv module and by pandas with no ``skiprows``: Power Query and
Excel's import do the same. The protective marking and the demonstration-data label are
columns on every row, and in the file's name; an XLSX has the same rows on its Data
sheet and a Notes sheet. Outputs of Home Office open data only are marked OFFICIAL and
not suppressed (the Home Office publishes them, small counts and all); anything with
force-return figures stays OFFICIAL-SENSITIVE.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook

from kpis.charts.specs import compare_export, funnel_export, spc_export, trend_export
from kpis.cli import main
from kpis.engine.dataset import Dataset
from kpis.engine.disclosure import (
    DEFAULT_MARKING,
    OPEN_DATA_MARKING,
    default_marking,
    open_data_only,
    suppression_required,
)
from kpis.exports.charts import chart_bytes
from kpis.exports.data_files import COLUMN_DEFINITIONS, DATA_LABEL, LABEL_COLUMNS
from kpis.exports.kpi_csv import kpi_table_for_cli
from tests.conftest import app_over
from tests.test_downloads import components, render_page

OPEN = "ho_rape_charge_rate"  # Home Office open data: many counts of 1 to 4 in the demo
RETURN = "suspect_contact_30d"  # force returns
QUERY = "force=kent&period=2025-09"


@pytest.fixture(scope="module")
def client(demo_db_readonly: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[FlaskClient]:
    """The app over a copy of the demonstration database (an unsecured demonstration on
    this computer: the test client's requests come from 127.0.0.1)."""
    from web.context import SERVICE_KEY

    db = tmp_path_factory.mktemp("plain-csv") / "flightdeck.duckdb"
    shutil.copyfile(demo_db_readonly, db)
    dash_app = app_over(db)
    yield dash_app.server.test_client()
    dash_app.server.config[SERVICE_KEY].close()


def check_plain(text: str) -> pd.DataFrame:
    """Exactly one header row: no comment line, every row as long as the header, and
    pandas reads it with no rows skipped; the label columns last, on every row."""
    assert text and not text.startswith("#")
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    assert header[-2:] == list(LABEL_COLUMNS)
    assert all(len(row) == len(header) for row in rows[1:])
    assert not any(cell.startswith("#") for row in rows for cell in row[:1])
    frame = pd.read_csv(io.StringIO(text), keep_default_na=False, dtype=str)
    assert list(frame.columns) == header and len(frame) == len(rows) - 1
    return frame


def workbook_of(data: bytes) -> tuple[list[tuple[object, ...]], dict[str, str]]:
    """An XLSX's Data rows (header first) and its Notes (heading -> text)."""
    book = load_workbook(io.BytesIO(data), read_only=True)
    assert book.sheetnames == ["Data", "Notes"]
    rows = list(book["Data"].iter_rows(values_only=True))
    notes = {str(row[0]): str(row[1]) for row in book["Notes"].iter_rows(values_only=True)
             if row and row[0]}
    return rows, notes


# --- chart downloads ---------------------------------------------------------------------


@pytest.mark.parametrize("chart", ["spc", "trend", "funnel", "compare"])
def test_a_chart_csv_has_one_header_row_and_the_marking_on_every_row(
        client: FlaskClient, chart: str) -> None:
    response = client.get(f"/download/chart/{chart}/{RETURN}.csv?{QUERY}")
    assert response.status_code == 200, response.data[:300]
    frame = check_plain(response.data.decode("utf-8"))
    assert len(frame) > 1
    assert set(frame["marking"]) == {DEFAULT_MARKING}
    assert set(frame["data_label"]) == {DATA_LABEL}
    disposition = response.headers["Content-Disposition"]
    assert disposition.endswith(f'-{DEFAULT_MARKING}-demo.csv"'), disposition


@pytest.mark.parametrize("chart", ["spc", "funnel"])
def test_a_chart_xlsx_has_the_same_rows_and_a_notes_sheet(client: FlaskClient,
                                                          chart: str) -> None:
    as_csv = check_plain(client.get(f"/download/chart/{chart}/{RETURN}.csv?{QUERY}")
                         .data.decode("utf-8"))
    response = client.get(f"/download/chart/{chart}/{RETURN}.xlsx?{QUERY}")
    assert response.status_code == 200, response.data[:300]
    assert response.headers["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert response.headers["Content-Disposition"].endswith(f'-{DEFAULT_MARKING}-demo.xlsx"')
    rows, notes = workbook_of(response.data)
    assert list(rows[0]) == list(as_csv.columns)
    assert len(rows) - 1 == len(as_csv)
    assert {row[-2] for row in rows[1:]} == {DEFAULT_MARKING}
    assert notes["Title"].startswith("Suspect arrested or interviewed within 30 days")
    assert notes["Source"] == "Force monthly return"
    assert notes["Protective marking"] == DEFAULT_MARKING
    assert notes["Demonstration data"].startswith("DEMONSTRATION DATA")
    assert notes["Disclosure control"].startswith("Not applied")
    assert notes["Generated"][:2] == "20"
    for column in as_csv.columns:  # every column is defined
        assert notes[column] == COLUMN_DEFINITIONS[column]
    assert RETURN in notes  # the KPI's definition


def test_xlsx_text_is_never_a_formula(demo_dataset: Dataset) -> None:
    export = spc_export(demo_dataset, RETURN, "kent", None, marking="=cmd|' /C calc'!A0")
    _, notes = workbook_of(chart_bytes(export, "xlsx"))
    book = load_workbook(io.BytesIO(chart_bytes(export, "xlsx")))
    cells = [cell for row in book["Data"].iter_rows() for cell in row
             if cell.value == "=cmd|' /C calc'!A0"]
    assert cells and {cell.data_type for cell in cells} == {"s"}
    assert notes["Protective marking"] == "=cmd|' /C calc'!A0"
    # The CSV of the same chart neutralises it instead.
    text = chart_bytes(export, "csv").decode("utf-8")
    assert "'=cmd|' /C calc'!A0" in text


def test_every_column_of_every_chart_and_of_the_kpi_table_is_defined(
        demo_dataset: Dataset) -> None:
    from kpis.charts.specs import chart_rows

    period = demo_dataset.as_of
    exports = [spc_export(demo_dataset, RETURN, "kent", period),
               trend_export(demo_dataset, RETURN, "kent", period, "england-and-wales"),
               funnel_export(demo_dataset, RETURN, period, "kent"),
               compare_export(demo_dataset, RETURN, period, "kent"),
               compare_export(demo_dataset, "cps_referrals", period, "kent")]
    columns = {c for export in exports for c in chart_rows(export).columns}
    table = kpi_table_for_cli(demo_dataset, [RETURN], ["kent"], period, period,
                              marking=DEFAULT_MARKING)
    columns |= set(table.columns)
    # A count compared per a measure (per 100 reports) has that measure's column.
    bases = {kpi.comparison_base for kpi in demo_dataset.kpis.values()}
    assert "rape_reports" in columns & bases
    assert columns - set(COLUMN_DEFINITIONS) - bases == set()


# --- the marking by source ---------------------------------------------------------------


def test_open_data_only_is_official_and_anything_with_force_returns_stays_sensitive(
        demo_dataset: Dataset) -> None:
    catalogue, kpis = demo_dataset.catalogue, demo_dataset.kpis
    assert default_marking(catalogue, [kpis[OPEN]]) == OPEN_DATA_MARKING == "OFFICIAL"
    assert default_marking(catalogue, [kpis[RETURN]]) == DEFAULT_MARKING
    assert default_marking(catalogue, [kpis[OPEN], kpis[RETURN]]) == DEFAULT_MARKING
    assert default_marking(catalogue, []) == DEFAULT_MARKING  # nothing known: the safe side
    # Computed from force returns: not open data.
    assert default_marking(catalogue, [kpis["data_return_completeness"]]) == DEFAULT_MARKING
    assert open_data_only(catalogue, [kpis[OPEN]])
    assert not open_data_only(catalogue, [kpis[OPEN], kpis[RETURN]])
    # Open data marked OFFICIAL needs no suppression; force returns marked so do.
    assert not suppression_required("OFFICIAL", open_data=True)
    assert suppression_required("OFFICIAL", open_data=False)


def test_an_open_data_download_is_official_and_keeps_its_small_counts(
        client: FlaskClient, demo_dataset: Dataset) -> None:
    table = kpi_table_for_cli(demo_dataset, [OPEN], list(demo_dataset.forces["slug"]))
    numerators = pd.to_numeric(table["numerator"])
    small = table[(numerators > 0) & (numerators < 5)]
    assert len(small), "the demo has small open-data counts"
    when = small["period_start"].iloc[-1][:7]
    path = f"/download/chart/funnel/{OPEN}.csv?force=kent&period={when}"
    response = client.get(path)
    assert response.headers["Content-Disposition"].endswith('-OFFICIAL-demo.csv"')
    shown = check_plain(response.data.decode("utf-8"))
    assert set(shown["marking"]) == {"OFFICIAL"}
    counts = pd.to_numeric(shown["numerator"])
    assert ((counts > 0) & (counts < 5)).any()  # published by the Home Office: not hidden
    asked = check_plain(client.get(f"{path}&suppress=1").data.decode("utf-8"))
    assert asked.equals(shown)  # nothing to suppress in open data
    _, notes = workbook_of(client.get(path.replace(".csv?", ".xlsx?")).data)
    assert notes["Disclosure control"].startswith("Not needed")
    assert "suppressed" not in notes["Subtitle"]


def test_a_force_return_download_marked_official_is_suppressed(client: FlaskClient) -> None:
    path = "/download/chart/spc/s63g_applications.csv?force=kent&period=2025-08"
    whole = check_plain(client.get(path).data.decode("utf-8"))
    assert set(whole["marking"]) == {DEFAULT_MARKING}
    official = check_plain(client.get(f"{path}&marking=OFFICIAL").data.decode("utf-8"))
    assert set(official["marking"]) == {"OFFICIAL"}
    assert (official["numerator"] == "[c]").any()


def test_the_download_menu_shows_the_marking_by_source(client: FlaskClient) -> None:
    tree = render_page(client, "/pillar/1", "?force=kent&period=2025-06")
    # Each menu is a block of markup (layouts/_downloads.py).
    menus = [b["html"] for b in components(tree, "HtmlBlock")
             if 'class="chart-downloads' in b.get("html", "")]
    markings = [re.search(r'<strong class="chart-marking">([^<]*)</strong>', menu).group(1)
                for menu in menus]
    assert "OFFICIAL" in markings and DEFAULT_MARKING in markings  # open data, returns
    for menu, marking in zip(menus, markings, strict=True):
        names = re.findall(r' download="([^"]*)"', menu)
        assert names and all(f"-{marking}-demo." in name for name in names), (marking, names)


def test_the_board_pack_page_offers_the_marking_of_its_selection(
        client: FlaskClient) -> None:
    tree = render_page(client, "/board-pack", "?force=kent")
    field = next(i for i in components(tree, "Input") if i.get("id") == "pack-marking")
    assert field["value"] == DEFAULT_MARKING  # every pillar holds force-return KPIs


# --- flightdeck kpis ---------------------------------------------------------------------


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_flightdeck_kpis_csv_is_plain_with_the_marking_by_source(
        demo_db_readonly: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["kpis", "--db", str(demo_db_readonly), "--force", "kent", "--from", "2025-01"]
    code, out, err = run([*db, "--kpi", OPEN], capsys)
    assert code == 0 and "Protective marking: OFFICIAL;" in err
    frame = check_plain(out)
    assert set(frame["marking"]) == {"OFFICIAL"} and set(frame["data_label"]) == {DATA_LABEL}
    code, out, err = run([*db, "--kpi", OPEN, RETURN], capsys)
    assert code == 0 and f"Protective marking: {DEFAULT_MARKING};" in err
    assert set(check_plain(out)["marking"]) == {DEFAULT_MARKING}
    code, out, _ = run([*db, "--kpi", RETURN, "--marking", "OFFICIAL"], capsys)
    assert code == 0 and set(check_plain(out)["marking"]) == {"OFFICIAL"}
    code, out, _ = run([*db, "--kpi", OPEN, "--format", "json"], capsys)
    assert {r["marking"] for r in json.loads(out)} == {"OFFICIAL"}


def test_flightdeck_kpis_at_official_suppresses_returns_not_open_data(
        demo_db_readonly: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["kpis", "--db", str(demo_db_readonly), "--kpi", OPEN, "s63g_applications"]
    code, out, _ = run([*db, "--marking", "OFFICIAL"], capsys)
    assert code == 0
    frame = check_plain(out)
    numerators = pd.to_numeric(frame["numerator"].replace("", None))
    small = (numerators > 0) & (numerators < 5)
    assert small[frame["kpi"] == OPEN].any()  # open data: published, shown
    assert not small[frame["kpi"] == "s63g_applications"].any()  # returns: suppressed
    assert (frame.loc[frame["kpi"] == "s63g_applications", "suppressed"] == "true").any()


def test_flightdeck_kpis_xlsx_has_the_data_and_notes_sheets(
        demo_db_readonly: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "kpis.xlsx"
    args = ["kpis", "--db", str(demo_db_readonly), "--kpi", OPEN, RETURN, "--force", "kent",
            "--from", "2025-01", "--to", "2025-06"]
    code, as_csv, _ = run(args, capsys)
    assert code == 0
    code, _, _ = run([*args, "--format", "xlsx", "--out", str(out)], capsys)
    assert code == 0
    rows, notes = workbook_of(out.read_bytes())
    frame = check_plain(as_csv)
    assert list(rows[0]) == list(frame.columns) and len(rows) - 1 == len(frame)
    assert notes["Title"] == "NOM flight deck KPIs"
    assert notes["Protective marking"] == DEFAULT_MARKING
    assert "Home Office" in notes["Source"] and "Force monthly return" in notes["Source"]
    assert notes["Demonstration data"].startswith("DEMONSTRATION DATA")
    assert notes["Disclosure control"].startswith("Not applied")
    assert OPEN in notes and RETURN in notes
    # A workbook is not text: it needs a file.
    code, _, err = run([*args[:-6], "--format", "xlsx"], capsys)
    assert code == 2 and "--out" in err

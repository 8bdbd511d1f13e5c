"""Home Office open data loads as published: the outcomes year workbook (cover, notes
and pivot sheets before the data sheet, the 13-column header, Q1 quarters, the N/A
family, x flags, negative corrections, BTP rows, non-sexual offences) and the police
force area ODS (a cover and one sheet per financial year).

Every figure below is worked out by hand from the rows written in the test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kpis.cli import main
from kpis.engine.measures import flight_deck_table
from kpis.ingest.loader import check_files, load_files
from kpis.ingest.problems import LoadRefused
from tests.conftest import dataset_of
from tests.published import (
    outcome,
    outcomes_workbook,
    pfa_workbook,
    recorded,
    write_ods,
    write_xlsx,
)

TODAY = dt.date(2025, 10, 15)
Q1, Q2 = dt.date(2024, 4, 1), dt.date(2024, 7, 1)  # 2024/25 Q1 and Q2
SHEET = "Outcomes open data 2024_25"
YEAR = "2024/25"

OUTCOME_ROWS = [
    # Kent, Q1: rape 19C, 19F and a correction on 19D; other sexual offences 17A, 88A.
    outcome(YEAR, "Q1", "Kent", "19C", 1, 3, 2),
    outcome(YEAR, "Q1", "Kent", "19C", 0, 5, "N/A"),  # no closed basis for outcome 0
    outcome(YEAR, "Q1", "Kent", "19C", 14, 4, 6),
    outcome(YEAR, "Q1", "Kent", "19F", 1, 2, 1),
    outcome(YEAR, "Q1", "Kent", "19D", 1, -1, 0),  # a published correction
    outcome(YEAR, "Q1", "Kent", "17A", 1, 2, 1),
    outcome(YEAR, "Q1", "Kent", "88A", 1, "N/A - Offence code expired", 2, expired=True),
    outcome(YEAR, "Q1", "Kent", "8N", 1, 50, 40),  # not a sexual offence
    outcome(YEAR, "Q1", "British Transport Police", "19C", 1, 1, 1),
    # Durham, Q1.
    outcome(YEAR, "Q1", "Durham", "19C", 15, "N/A - data not provided", 3),
    outcome(YEAR, "Q1", "Durham", "19C", 0, 4, "N/A"),
    outcome(YEAR, "Q1", "Durham", "19C", 1, 2, 1),
    # Kent, Q2.
    outcome(YEAR, "Q2", "Kent", "19C", 1, 1, 1),
    outcome(YEAR, "Q2", "Kent", "19C", 0, 9, "N/A"),
    outcome(YEAR, "Q2", "Kent", "105A", 0, 70, "NA"),
]


def value(db: Path, kpi: str, force: str, period: dt.date) -> float:
    table = flight_deck_table(dataset_of(db), [kpi], [force], start=period, end=period,
                              spc=None)
    assert len(table) == 1, (kpi, force, period)
    return float(table["value"].iloc[0])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def outcomes_file(tmp_path: Path) -> Path:
    return outcomes_workbook(tmp_path / "prc-outcomes-open-data-mar2025-tables-240725.xlsx",
                             OUTCOME_ROWS, data_sheet=SHEET)


@pytest.mark.slow  # a workbook through the CLI (about 1.2 s)
def test_the_outcomes_workbook_loads_as_published_through_the_cli(
        empty_db: Path, outcomes_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["load", "--db", str(empty_db), str(outcomes_file)]) == 0
    out = capsys.readouterr()
    # Kent Q1 on the recorded basis: rape 3 + 5 + 4 + 2 - 1 = 13, charged 3 + 2 - 1 = 4,
    # not yet assigned 5. Durham: "N/A - data not provided" + 4 + 2 = 6, charged 2.
    assert value(empty_db, "ho_rape_charge_rate", "kent", Q1) == pytest.approx(4 / 13)
    assert value(empty_db, "ho_rape_outcome_pending_share", "kent", Q1) == pytest.approx(5 / 13)
    assert value(empty_db, "ho_rape_recorded", "kent", Q1) == 13
    assert value(empty_db, "ho_rape_charge_rate", "durham", Q1) == pytest.approx(2 / 6)
    assert value(empty_db, "ho_rape_charge_rate", "kent", Q2) == pytest.approx(1 / 10)
    # Other sexual offences: 17A (2) and the expired 88A, whose recorded cell is N/A.
    assert value(empty_db, "ho_oso_charge_rate", "kent", Q1) == pytest.approx(2 / 2)
    # Closed basis: victim does not support (14 and 16) 6 of 2 + 6 + 1 + 0 = 9 closed.
    assert value(empty_db, "ho_rape_victim_not_supporting_share", "kent", Q1) == (
        pytest.approx(6 / 9))
    summary = next(line for line in out.out.splitlines()
                   if line.startswith(outcomes_file.name))
    assert f"sheet {SHEET}" in summary
    assert "15 rows read, 12 kept" in summary
    assert "ignored 1 rows for bodies that are not territorial forces" in summary
    assert "ignored 2 rows for offence codes outside rape and other sexual offences" in summary
    assert "3 cells read as no count (N/A: not applicable" in summary
    assert "1 cells read as no count (N/A - Offence code expired" in summary
    assert "1 cells read as no count (N/A - data not provided" in summary
    assert "1 negative corrections summed as published" in summary
    assert "2024/25 Q1 to 2024/25 Q2, 2 forces" in summary
    # The correction is a warning naming its sheet, row and column, not a refusal.
    assert (f"warning: {outcomes_file.name}, sheet '{SHEET}', row 6, column "
            "'Outcomes for offences that were recorded in the quarter': value '-1'") in out.err


def test_a_real_error_in_the_published_workbook_names_sheet_row_column_and_value(
        empty_db: Path, tmp_path: Path) -> None:
    rows = [*OUTCOME_ROWS]
    rows[3] = outcome(YEAR, "Q1", "Gotham", "19F", 1, 2, 1)  # sheet row 5
    rows[11] = outcome(YEAR, "Q1", "Durham", "19C", 1, "two", 1)  # sheet row 13
    path = outcomes_workbook(tmp_path / "outcomes.xlsx", rows, data_sheet=SHEET)
    before = sha256(empty_db)
    with pytest.raises(LoadRefused) as refused:
        load_files(empty_db, [path], today=TODAY)
    found = {(f.file, f.row, f.column, f.value, f.rule) for f in refused.value.report.errors}
    label = f"outcomes.xlsx, sheet '{SHEET}'"
    assert found == {
        (label, 5, "Force Name", "Gotham", "unknown force"),
        (label, 13, "Outcomes for offences that were recorded in the quarter", "two",
         "not a number"),
    }
    assert sha256(empty_db) == before


def test_a_formula_in_the_data_sheet_is_refused_naming_its_cell(
        empty_db: Path, tmp_path: Path) -> None:
    header = ["Financial Year", "Financial Quarter", "Force Name", "Offence Code",
              "Outcome Type", "Outcomes for offences that were recorded in the quarter",
              "Outcomes for investigations closed in the quarter"]
    path = write_xlsx(tmp_path / "outcomes.xlsx", {
        "Cover": [["Crime outcomes"]],
        "Data": [header, [YEAR, "Q1", "Kent", "19C", 1, 3, 2],
                 [YEAR, "Q1", "Kent", "19F", 1, None, 1]],
    }, formulas={"Data": {"F3": "F2*2"}})
    before = sha256(empty_db)
    with pytest.raises(LoadRefused) as refused:
        load_files(empty_db, [path], today=TODAY)
    (error,) = refused.value.report.errors
    assert (error.file, error.row, error.column, error.value) == (
        "outcomes.xlsx, sheet 'Data'", 3,
        "Outcomes for offences that were recorded in the quarter", "=F2*2")
    assert "formulas are refused" in error.rule
    assert sha256(empty_db) == before


def pfa_rows(year: str, kent_rape: int) -> list[list[object]]:
    return [
        recorded(year, "Q1", "Kent", "19C", kent_rape),
        recorded(year, "Q1", "Kent", "19D", 10),
        recorded(year, "Q1", "Kent", "17A", 20),
        recorded(year, "Q1", "Kent", "8N", 500),
        recorded(year, "Q1", "Durham", "19C", 8),
        recorded(year, "Q1", "British Transport Police", "19C", 5),
        recorded(year, "Q1", "Action Fraud", "8N", 900),
    ]


@pytest.mark.slow  # writes and reads a three-year ODS (about 1.5 s)
def test_the_police_force_area_ods_loads_every_year_sheet(
        empty_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = pfa_workbook(tmp_path / "prc-pfa-mar2013-onwards-tables-240725.ods", {
        "2012_13": pfa_rows("2012/13", 99),  # the table starts in 2012/13
        "2022_23": pfa_rows("2022/23", 30),
        "2023_24": pfa_rows("2023/24", 40),
        "2024_25": pfa_rows("2024/25", 50),
    })
    assert main(["load", "--db", str(empty_db), str(path)]) == 0
    out = capsys.readouterr().out
    ds = dataset_of(empty_db)
    kent = int(ds.forces.set_index("slug").loc["kent", "population"])
    # Rape (19C + 19D) per 100,000 people, one year sheet each: 109, 40, 50 and 60.
    for year, offences in ((2012, 109), (2022, 40), (2023, 50), (2024, 60)):
        quarter = dt.date(year, 4, 1)
        assert value(empty_db, "ho_rape_rate_per_100k", "kent", quarter) == pytest.approx(
            offences / kent * 100_000)
        assert value(empty_db, "ho_oso_recorded", "kent", quarter) == 20
    summary = next(line for line in out.splitlines() if line.startswith(path.name))
    assert "sheets 2012_13, 2022_23, 2023_24, 2024_25" in summary
    assert "28 rows read, 16 kept" in summary
    assert "ignored 8 rows for bodies that are not territorial forces" in summary
    assert "ignored 4 rows for offence codes outside" in summary
    assert "2012/13 Q1 to 2024/25 Q1, 2 forces" in summary


def test_two_year_sheets_giving_the_same_quarter_are_refused(
        empty_db: Path, tmp_path: Path) -> None:
    path = pfa_workbook(tmp_path / "pfa.ods", {"2023_24": pfa_rows("2023/24", 40),
                                                "2023_24 (copy)": pfa_rows("2023/24", 41)})
    with pytest.raises(LoadRefused) as refused:
        load_files(empty_db, [path], today=TODAY)
    (error,) = refused.value.report.errors
    assert error.file == "pfa.ods, sheet '2023_24 (copy)'"
    assert "also supplied by pfa.ods, sheet '2023_24'" in error.rule


def test_text_in_a_count_of_the_ods_names_its_sheet_row_and_column(
        empty_db: Path, tmp_path: Path) -> None:
    rows = pfa_rows("2023/24", 40)
    rows[4] = recorded("2023/24", "Q1", "Durham", "19C", "eight")  # sheet row 6
    path = pfa_workbook(tmp_path / "pfa.ods", {"2022_23": pfa_rows("2022/23", 30),
                                                "2023_24": rows})
    before = sha256(empty_db)
    with pytest.raises(LoadRefused) as refused:
        load_files(empty_db, [path], today=TODAY)
    (error,) = refused.value.report.errors
    assert (error.file, error.row, error.column, error.value, error.rule) == (
        "pfa.ods, sheet '2023_24'", 6, "Number of Offences", "eight", "not a number")
    assert sha256(empty_db) == before


def test_a_formula_in_an_ods_is_refused_naming_its_sheet_row_and_column(
        empty_db: Path, tmp_path: Path) -> None:
    header = ["Financial Year", "Financial Quarter", "Force Name", "Offence Code",
              "Number of Offences"]
    # Empty rows and cells are written once with a repeat count, as LibreOffice does:
    # the formula's row (7) and column (E) are counted through them.
    path = write_ods(tmp_path / "pfa.ods", {
        "Cover": [["Police recorded crime"], [None], [None], ["=x"]],
        "2023_24": [header, ["2023/24", "Q1", "Kent", "19C", 4], [None] * 5, [None] * 5,
                    ["2023/24", "Q1", "Durham", None, None],
                    ["2023/24", "Q2", "Kent", "19C", 3],
                    ["2023/24", "Q2", "Durham", "19C", None]],
    }, formulas={"2023_24": {(7, 5): "2+2"}})
    before = sha256(empty_db)
    with pytest.raises(LoadRefused) as refused:
        load_files(empty_db, [path], today=TODAY)
    formula = next(e for e in refused.value.report.errors if "formula" in e.rule)
    assert (formula.file, formula.row, formula.column, formula.value) == (
        "pfa.ods, sheet '2023_24'", 7, "Number of Offences", "=2+2")
    assert "formulas are refused" in formula.rule
    assert sha256(empty_db) == before


def test_the_upload_check_reads_the_published_files(empty_db: Path, outcomes_file: Path,
                                                     tmp_path: Path) -> None:
    pfa = pfa_workbook(tmp_path / "pfa.ods", {"2024_25": pfa_rows("2024/25", 50)})
    parsed, report = check_files(empty_db, [outcomes_file, pfa], today=TODAY)
    assert report.errors == []
    assert [p.kind for p in parsed] == ["ho-outcomes", "ho-recorded"]
    kent = parsed[1].observations.set_index(["force_slug", "measure_id"])
    assert kent.loc[("kent", "ho_rape_offences"), "value"] == 60
    assert pd.Timestamp(kent.loc[("kent", "ho_rape_offences"), "period_start"]) == (
        pd.Timestamp(Q1))


@pytest.mark.slow  # two releases loaded (about 1.1 s)
def test_a_revised_release_replaces_the_year_and_lists_what_changed(
        empty_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = pfa_workbook(tmp_path / "prc-pfa-mar2013-onwards-tables-240425.ods", {
        "2023_24": [recorded("2023/24", "Q1", "Kent", "19C", 40),
                    recorded("2023/24", "Q2", "Kent", "19C", 41),
                    recorded("2023/24", "Q1", "Kent", "17A", 20),
                    recorded("2023/24", "Q1", "Durham", "19C", 8)],
        "2024_25": [recorded("2024/25", "Q1", "Kent", "19C", 50)]})
    assert main(["load", "--db", str(empty_db), str(first)]) == 0
    # The next release revises Kent's 2023/24 Q1 rapes (40 -> 43) and no longer has its
    # Q2 row; Durham and 2024/25 are as before (no revision), other offences unchanged.
    revised = pfa_workbook(tmp_path / "prc-pfa-mar2013-onwards-tables-240725.ods", {
        "2023_24": [recorded("2023/24", "Q1", "Kent", "19C", 43),
                    recorded("2023/24", "Q1", "Kent", "17A", 20),
                    recorded("2023/24", "Q1", "Durham", "19C", 8)],
        "2024_25": [recorded("2024/25", "Q1", "Kent", "19C", 50)]})
    capsys.readouterr()
    assert main(["load", "--db", str(empty_db), str(revised)]) == 0
    out = capsys.readouterr().out
    # Kent's Q2 is gone: its rapes (41) and its other sexual offences (0, as the first
    # release had no 17A row for Q2) are withdrawn.
    assert "1 stored values revised, 2 withdrawn" in out
    assert "  revised: kent ho_rape_offences 2023/24 Q1: 40 -> 43" in out
    assert "  revised: kent ho_rape_offences 2023/24 Q2: 41 -> withdrawn" in out
    assert "  revised: kent ho_oso_offences 2023/24 Q2: 0 -> withdrawn" in out
    assert out.count("  revised: ") == 3
    ds = dataset_of(empty_db)
    kent = list(ds.forces["slug"]).index("kent")
    column = {p: i for i, p in enumerate(ds.cube.periods)}
    rapes = ds.cube.measure("ho_rape_offences")[kent]
    assert rapes[column[pd.Timestamp("2023-04-01")]] == 43
    assert pd.isna(rapes[column[pd.Timestamp("2023-07-01")]])
    # Rolling the revision back restores both values.
    assert main(["rollback", "--db", str(empty_db), "2"]) == 0
    rapes = dataset_of(empty_db).cube.measure("ho_rape_offences")[kent]
    assert rapes[column[pd.Timestamp("2023-04-01")]] == 40
    assert rapes[column[pd.Timestamp("2023-07-01")]] == 41


def test_a_recorded_basis_quarter_with_many_outcomes_pending_is_provisional(
        empty_db: Path, tmp_path: Path) -> None:
    from kpis.charts.figures import PROVISIONAL_LEGEND
    from kpis.charts.specs import spc_export
    from kpis.domain.periods import add_months
    from kpis.engine.summary import summarise

    # Kent, 20 quarters from 2019/20 Q1: each 10 rapes recorded, 1 not yet assigned
    # (10%: below the catalogue's 20%), except the 10th (5 of 10 pending: 50%). The
    # 20th is the latest quarter published, provisional whatever its share.
    quarters = [add_months(dt.date(2019, 4, 1), 3 * i) for i in range(20)]
    rows = []
    for i, quarter in enumerate(quarters):
        year = f"{quarter.year if quarter.month >= 4 else quarter.year - 1}"
        label = f"{year}/{(int(year) + 1) % 100:02d}"
        fq = f"Q{((quarter.month - 4) % 12) // 3 + 1}"
        pending = 5 if i == 9 else 1
        rows += [outcome(label, fq, "Kent", "19C", 0, pending, "N/A"),
                 outcome(label, fq, "Kent", "19C", 1, 2 + i % 3, 2),
                 outcome(label, fq, "Kent", "19C", 18, 8 - pending - i % 3, 3)]
    load_files(empty_db, [outcomes_workbook(tmp_path / "o.xlsx", rows)], today=TODAY)
    ds = dataset_of(empty_db)
    table = flight_deck_table(ds, ["ho_rape_charge_rate", "ho_rape_no_suspect_share"],
                              ["kent"])
    charge = table[table["kpi"] == "ho_rape_charge_rate"].reset_index(drop=True)
    assert list(np.flatnonzero(charge["provisional"])) == [9, 19]
    # Limits from the 18 others (trial limits: 15 to 19 points); no signal on the two.
    assert set(charge["spc_points"]) == {18}
    assert set(charge["spc_limits"]) == {"trial"}
    assert charge.loc[[9, 19], "variation"].isna().all()
    usable = charge["value"].drop(index=[9, 19])
    assert charge["spc_mean"].iloc[0] == pytest.approx(usable.mean())
    # The closed basis is never provisional: all 20 points make its limits.
    closed = table[table["kpi"] == "ho_rape_no_suspect_share"]
    assert not closed["provisional"].any() and set(closed["spc_points"]) == {20}
    # Said in words and drawn apart on the chart.
    words = summarise(ds, charge.iloc[9].to_dict())
    assert "(provisional: outcomes still being assigned)" in words
    assert "provisional" not in summarise(ds, charge.iloc[8].to_dict())
    export = spc_export(ds, "ho_rape_charge_rate", "kent", quarters[-1])
    drawn = [t for t in export.figure["data"] if t.get("name") == PROVISIONAL_LEGEND]
    assert len(drawn) == 1 and len(drawn[0]["x"]) == 2


def test_the_alternate_offence_workbook_loads_as_an_extra_without_double_counting(
        empty_db: Path, outcomes_file: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["load", "--db", str(empty_db), str(outcomes_file)]) == 0
    before = value(empty_db, "ho_rape_charge_rate", "kent", Q1)
    # Outcomes 1a, 2a and 3a (alternate offences) are published in their own workbook:
    # subsets of outcomes 1, 2 and 3, so loading it changes no figure.
    extra = outcomes_workbook(tmp_path / "prc-outcomes-open-data-alternate-offences.xlsx", [
        [*outcome(YEAR, "Q1", "Kent", "19C", 1, 1, 1)[:8], kind, "Alternate offence",
         "Charged/Summonsed", 1, 1] for kind in ("1a", "2a", "3a")],
        data_sheet="Alternate offences 2024_25")
    capsys.readouterr()
    assert main(["load", "--db", str(empty_db), str(extra)]) == 0
    out = capsys.readouterr().out
    assert ("ignored 3 rows for outcomes 1A, 2A and 3A (alternate offences, already counted "
            "within outcomes 1, 2 and 3)") in out
    assert value(empty_db, "ho_rape_charge_rate", "kent", Q1) == before == pytest.approx(4 / 13)

"""Home Office open data: outcomes and recorded-crime tables, with their variants.

The KPI arithmetic test uses a small hand-made outcomes table whose expected
measures were worked out by hand (see the comments beside each figure).
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

from kpis.ingest.loader import load_files
from kpis.ingest.problems import LoadRefused
from kpis.storage import schema
from kpis.storage.backend import open_store
from tests.backends import empty_db_on_both  # noqa: F401 (fixtures: both backends)

TODAY = dt.date(2025, 10, 15)
Q1_2023 = dt.date(2023, 4, 1)  # 2023/24 Q1 is April to June 2023
Q2_2023 = dt.date(2023, 7, 1)
Q4_2023 = dt.date(2024, 1, 1)  # 2023/24 Q4 is January to March 2024

RECORDED_VARIANTS = (
    ("Number of outcomes for offences that were recorded in the quarter",
     "Number of outcomes for investigations that were closed in the quarter"),
    ("Outcomes for offences recorded in the quarter",
     "Outcomes for investigations closed in the quarter"),
    ("Force outcomes for offences recorded in quarter",
     "Force outcomes for offences closed in quarter"),
)


def outcomes_header(recorded: str = RECORDED_VARIANTS[0][0],
                    closed: str = RECORDED_VARIANTS[0][1]) -> list[str]:
    return ["Financial Year", "Financial Quarter", "Force Name", "Offence Description",
            "Offence Group", "Offence Subgroup", "Offence Code", "Outcome Description",
            "Outcome Group", "Outcome Type", recorded, closed]


def outcome_row(year: str, quarter: str, force: str, code: str, outcome: str,
                recorded: int, closed: int) -> list[object]:
    return [year, quarter, force, f"Offence {code}", "Sexual offences", "", code,
            f"Outcome {outcome}", "", outcome, recorded, closed]


RECORDED_HEADER = ["Financial Year", "Financial Quarter", "Force Name", "Offence Description",
                   "Offence Group", "Offence Subgroup", "Offence Code", "Number of Offences"]


def recorded_row(year: str, quarter: str, force: str, code: str, count: int) -> list[object]:
    return [year, quarter, force, f"Offence {code}", "Sexual offences", "", code, count]


def stored(db: Path) -> dict[tuple[str, str, dt.date], float]:
    """Every observation in the database, keyed by (force, measure, period)."""
    reader = open_store(db)
    try:
        with reader.connect() as conn:
            rows = conn.execute(sa.select(
                schema.observations.c.force_slug, schema.observations.c.measure_id,
                schema.observations.c.period_start, schema.observations.c.value))
            return {(f, m, p): v for f, m, p, v in rows}
    finally:
        reader.close()


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(header)
        out.writerows(rows)
    return path


def measures_for(db: Path, force: str, period: dt.date) -> dict[str, float]:
    return {m: v for (f, m, p), v in stored(db).items() if f == force and p == period}


# --------------------------------------------------------------------- outcomes arithmetic

KENT_Q1 = [
    # code, outcome, recorded basis, closed basis
    ("19C", "0", 5, 7),    # pending: recorded 5; its closed count is not an assigned outcome
    ("19C", "1", 2, 3),
    ("19C", "1A", 1, 1),   # alternate offence: a subset of outcome 1, not added again
    ("19C", "14", 1, 4),
    ("19C", "15", 0, 6),
    ("19D", "21", 2, 5),
    ("19F", "16", 3, 2),
    ("19F", "18", 1, 1),
    ("19H", "1", 1, 0),
    ("20A", "0", 6, 0),    # other sexual offence
    ("20A", "1", 4, 4),    # other sexual offence
    ("8N", "1", 50, 50),   # not a sexual offence: ignored
]


def test_hand_made_outcomes_table_gives_the_hand_worked_measures(
    empty_db: Path, tmp_path: Path
) -> None:
    rows = [outcome_row("2023/24", "1", "Kent", c, o, r, cl) for c, o, r, cl in KENT_Q1]
    rows.append(outcome_row("2023/24", "1", "British Transport Police", "19C", "1", 9, 9))
    file = write_csv(tmp_path / "outcomes.csv", outcomes_header(), rows)
    result = load_files(empty_db, [file], today=TODAY)

    assert measures_for(empty_db, "kent", Q1_2023) == {
        # recorded basis, rape 19C-19H, every outcome type incl. 0, without 1A:
        # 5 + 2 + 1 + 0 + 2 + 3 + 1 + 1 = 15
        "ho_rape_outcomes_recorded_all": 15.0,
        "ho_rape_outcome1_recorded": 3.0,     # 19C 2 + 19H 1
        "ho_rape_outcome0_recorded": 5.0,     # 19C 5
        # closed basis, types 1-22 only: 3 + 4 + 6 + 5 + 2 + 1 + 0 = 21 (outcome 0's 7 left out)
        "ho_rape_outcomes_closed_all": 21.0,
        "ho_rape_outcome1_closed": 3.0,       # 19C 3 + 19H 0
        "ho_rape_outcome14_closed": 4.0,
        "ho_rape_outcome15_closed": 6.0,
        "ho_rape_outcome16_closed": 2.0,
        "ho_rape_outcome18_closed": 1.0,
        "ho_oso_outcomes_recorded_all": 10.0,  # 20A 6 + 4
        "ho_oso_outcome1_recorded": 4.0,
        "ho_oso_outcome0_recorded": 6.0,       # 20A, not yet assigned
    }
    assert result.report.ignored == {
        "for bodies that are not territorial forces": 1,
        "for offence codes outside rape and other sexual offences": 1,
        "for outcomes 1A, 2A and 3A (alternate offences, already counted within outcomes "
        "1, 2 and 3)": 1,
    }
    assert {f for f, _, _ in stored(empty_db)} == {"kent"}


def test_force_quarter_with_no_rape_rows_gets_zero_rape_outcomes(
    empty_db: Path, tmp_path: Path
) -> None:
    rows = [
        outcome_row("2023/24", "1", "Kent", "19C", "1", 2, 3),
        outcome_row("2023/24", "1", "Surrey", "20A", "1", 4, 4),
    ]
    load_files(empty_db, [write_csv(tmp_path / "o.csv", outcomes_header(), rows)], today=TODAY)
    surrey = measures_for(empty_db, "surrey", Q1_2023)
    assert surrey["ho_rape_outcomes_recorded_all"] == 0.0
    assert surrey["ho_rape_outcome1_recorded"] == 0.0
    assert surrey["ho_oso_outcomes_recorded_all"] == 4.0
    kent = measures_for(empty_db, "kent", Q1_2023)
    assert kent["ho_oso_outcomes_recorded_all"] == 0.0
    assert kent["ho_rape_outcome14_closed"] == 0.0


def test_rape_only_table_writes_no_other_sexual_offence_measures(
    empty_db: Path, tmp_path: Path
) -> None:
    rows = [outcome_row("2023/24", "1", "Kent", "19C", "1", 2, 3)]
    load_files(empty_db, [write_csv(tmp_path / "o.csv", outcomes_header(), rows)], today=TODAY)
    assert not any(m.startswith("ho_oso") for _, m, _ in stored(empty_db))


# ------------------------------------------------------------------------------ variants

@pytest.mark.parametrize(("recorded", "closed"), RECORDED_VARIANTS)
def test_each_published_wording_of_the_count_headers_is_understood(
    recorded: str, closed: str, empty_db: Path, tmp_path: Path
) -> None:
    rows = [outcome_row("2023/24", "1", "Kent", "19C", "1", 2, 3),
            outcome_row("2023/24", "1", "Kent", "19C", "15", 4, 5)]
    file = write_csv(tmp_path / "o.csv", outcomes_header(recorded, closed), rows)
    result = load_files(empty_db, [file], today=TODAY)
    assert result.report.errors == []
    kent = measures_for(empty_db, "kent", Q1_2023)
    assert kent["ho_rape_outcomes_recorded_all"] == 6.0
    assert kent["ho_rape_outcomes_closed_all"] == 8.0


def test_headers_match_whatever_their_case_and_punctuation(
    empty_db: Path, tmp_path: Path
) -> None:
    header = ["FINANCIAL YEAR", "financial_quarter", "Force name", "Offence code",
              "OUTCOME TYPE", "Outcomes for offences recorded in the quarter.",
              "outcomes for investigations closed in the quarter"]
    file = write_csv(tmp_path / "o.csv", header, [["2023/24", "1", "Kent", "19C", "1", 2, 3]])
    load_files(empty_db, [file], today=TODAY)
    assert measures_for(empty_db, "kent", Q1_2023)["ho_rape_outcome1_closed"] == 3.0


@pytest.mark.parametrize(("year", "quarter", "period"), [
    ("2023/24", "1", Q1_2023), ("2023-24", "Q1", Q1_2023), ("2023/24", "q2", Q2_2023),
    ("2023-24", "4", Q4_2023), ("2023/2024", "Q4", Q4_2023),
])
def test_year_and_quarter_notations_give_the_quarter_start(
    year: str, quarter: str, period: dt.date, empty_db: Path, tmp_path: Path
) -> None:
    rows = [outcome_row(year, quarter, "Kent", "19C", "1", 2, 3)]
    load_files(empty_db, [write_csv(tmp_path / "o.csv", outcomes_header(), rows)], today=TODAY)
    assert {p for _, _, p in stored(empty_db)} == {period}


def test_the_two_year_notations_in_one_file_are_the_same_quarter(
    empty_db: Path, tmp_path: Path
) -> None:
    rows = [outcome_row("2023/24", "1", "Kent", "19C", "1", 2, 3),
            outcome_row("2023-24", "Q1", "Kent", "19C", "1", 2, 3)]
    with pytest.raises(LoadRefused, match=r"row 3, column 'Outcome Type'.*duplicate row"):
        load_files(empty_db, [write_csv(tmp_path / "o.csv", outcomes_header(), rows)],
                   today=TODAY)


@pytest.mark.parametrize(("name", "slug"), [
    ("Metropolitan Police Service", "metropolitan"),
    ("Metropolitan Police", "metropolitan"),
    ("London, City of", "city-of-london"),
    ("Devon & Cornwall", "devon-and-cornwall"),
    ("Avon & Somerset", "avon-and-somerset"),
    ("Dyfed Powys", "dyfed-powys"),
    ("Hampshire and Isle of Wight", "hampshire"),
])
def test_home_office_force_name_variants_load_as_the_force(
    name: str, slug: str, empty_db: Path, tmp_path: Path
) -> None:
    rows = [outcome_row("2023/24", "1", name, "19C", "1", 2, 3)]
    load_files(empty_db, [write_csv(tmp_path / "o.csv", outcomes_header(), rows)], today=TODAY)
    assert {f for f, _, _ in stored(empty_db)} == {slug}


def test_non_territorial_rows_are_ignored_and_counted(empty_db: Path, tmp_path: Path) -> None:
    rows = [outcome_row("2023/24", "1", "Kent", "19C", "1", 2, 3)]
    for body in ("Action Fraud", "CIFAS", "UK Finance", "British Transport Police"):
        rows += [outcome_row("2023/24", "1", body, "19C", "1", 1, 1),
                 outcome_row("2023/24", "1", body, "19C", "0", 1, 1)]
    result = load_files(empty_db, [write_csv(tmp_path / "o.csv", outcomes_header(), rows)],
                        today=TODAY)
    assert result.report.ignored == {"for bodies that are not territorial forces": 8}
    assert {f for f, _, _ in stored(empty_db)} == {"kent"}
    assert measures_for(empty_db, "kent", Q1_2023)["ho_rape_outcomes_recorded_all"] == 2.0


def test_outcomes_workbook_with_a_cover_sheet_and_title_rows_loads(
    empty_db: Path, tmp_path: Path
) -> None:
    book = openpyxl.Workbook()
    cover = book.active
    cover.title = "Cover"
    cover.append(["Crime outcomes in England and Wales: open data"])
    data = book.create_sheet("Outcomes")
    data.append(["Table 1: outcomes by force"])
    data.append([])
    data.append(outcomes_header(*RECORDED_VARIANTS[1]))
    data.append(outcome_row("2023/24", "Q1", "Kent", "19C", "1", 2, 3))
    data.append(outcome_row("2023/24", "Q1", "Kent", "19F", "0", 4, 0))
    book.save(tmp_path / "outcomes.xlsx")
    result = load_files(empty_db, [tmp_path / "outcomes.xlsx"], today=TODAY)
    assert result.report.errors == []
    kent = measures_for(empty_db, "kent", Q1_2023)
    assert kent["ho_rape_outcomes_recorded_all"] == 6.0
    assert kent["ho_rape_outcome0_recorded"] == 4.0


def test_every_problem_in_an_outcomes_table_is_reported(empty_db: Path, tmp_path: Path) -> None:
    rows = [
        outcome_row("2023/24", "1", "Kent", "19C", "1", 2, 3),
        outcome_row("2023/25", "1", "Kent", "19C", "2", 2, 3),
        outcome_row("2023/24", "Q7", "Kent", "19C", "3", 2, 3),
        outcome_row("2023/24", "1", "Gotham", "19C", "4", 2, 3),
        outcome_row("2023/24", "1", "Kent", "19C", "99", 2, 3),
        outcome_row("2023/24", "1", "Kent", "19C", "5", "two", 3),
        # A published correction (negative) is a warning, never a refusal.
        outcome_row("2023/24", "1", "Kent", "19C", "6", -2, 3),
    ]
    header = outcomes_header()
    with pytest.raises(LoadRefused) as refused:
        load_files(empty_db, [write_csv(tmp_path / "bad.csv", header, rows)], today=TODAY)
    found = {(f.file, f.row, f.column, f.value) for f in refused.value.report.errors}
    assert found == {
        ("bad.csv", 3, "Financial Year", "2023/25"),
        ("bad.csv", 4, "Financial Quarter", "Q7"),
        ("bad.csv", 5, "Force Name", "Gotham"),
        ("bad.csv", 6, "Outcome Type", "99"),
        ("bad.csv", 7, header[10], "two"),
    }
    warned = {(f.row, f.column, f.value) for f in refused.value.report.warnings}
    assert (8, header[10], "-2") in warned


def test_past_a_thousand_rows_breaking_one_rule_the_rest_are_counted(
    empty_db: Path, tmp_path: Path
) -> None:
    rows = [outcome_row("2023/24", "1", f"Nowhere {n}", "19C", "1", 1, 1) for n in range(1005)]
    with pytest.raises(LoadRefused) as refused:
        load_files(empty_db, [write_csv(tmp_path / "many.csv", outcomes_header(), rows)],
                   today=TODAY)
    errors = refused.value.report.errors
    assert len(errors) == 1001
    assert errors[0].row is None and "5 more row(s) from row 1002 on: unknown force" in str(
        errors[0])
    assert [f.row for f in errors[1:]] == list(range(2, 1002))


# -------------------------------------------------------------------------- recorded crime

def test_recorded_crime_sums_rape_and_other_sexual_offence_codes_per_force_quarter(
    empty_db: Path, tmp_path: Path
) -> None:
    rows = [
        recorded_row("2023/24", "1", "Kent", "19C", 30),
        recorded_row("2023/24", "1", "Kent", "19D", 6),
        recorded_row("2023/24", "1", "Kent", "19H", 2),
        recorded_row("2023/24", "1", "Kent", "17A", 11),
        recorded_row("2023/24", "1", "Kent", "23", 40),
        recorded_row("2023/24", "1", "Kent", "28E", 500),            # burglary: ignored
        recorded_row("2023-24", "Q2", "Kent", "19C", 25),
        recorded_row("2023-24", "Q2", "British Transport Police", "19C", 3),
    ]
    result = load_files(empty_db, [write_csv(tmp_path / "r.csv", RECORDED_HEADER, rows)],
                        today=TODAY)
    assert stored(empty_db) == {
        ("kent", "ho_rape_offences", Q1_2023): 38.0,   # 30 + 6 + 2
        ("kent", "ho_oso_offences", Q1_2023): 51.0,    # 11 + 40
        ("kent", "ho_rape_offences", Q2_2023): 25.0,
        ("kent", "ho_oso_offences", Q2_2023): 0.0,     # no other sexual offences that quarter
    }
    assert result.report.ignored == {
        "for bodies that are not territorial forces": 1,
        "for offence codes outside rape and other sexual offences": 1,
    }


def test_recorded_crime_workbook_with_force_name_variants_loads(
    empty_db: Path, tmp_path: Path
) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(RECORDED_HEADER)
    sheet.append(recorded_row("2023/24", "1", "London, City of", "19C", 1))
    sheet.append(recorded_row("2023/24", "1", "Hampshire and Isle of Wight", "19C", 90))
    book.save(tmp_path / "recorded.xlsx")
    load_files(empty_db, [tmp_path / "recorded.xlsx"], today=TODAY)
    assert stored(empty_db) == {
        ("city-of-london", "ho_rape_offences", Q1_2023): 1.0,
        ("hampshire", "ho_rape_offences", Q1_2023): 90.0,
    }


def test_both_home_office_tables_load_together_as_two_audited_loads(
    empty_db: Path, tmp_path: Path
) -> None:
    outcomes = write_csv(tmp_path / "o.csv", outcomes_header(),
                         [outcome_row("2023/24", "1", "Kent", "19C", "1", 2, 3)])
    recorded = write_csv(tmp_path / "r.csv", RECORDED_HEADER,
                         [recorded_row("2023/24", "1", "Kent", "19C", 30)])
    result = load_files(empty_db, [outcomes, recorded], today=TODAY)
    assert len(result.load_ids) == 2
    kent = measures_for(empty_db, "kent", Q1_2023)
    assert kent["ho_rape_offences"] == 30.0
    assert kent["ho_rape_outcome1_recorded"] == 2.0

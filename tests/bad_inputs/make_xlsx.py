"""Regenerate the XLSX files of the bad-input corpus: ``python tests/bad_inputs/make_xlsx.py``.

They are committed (small) so the corpus is plain files; this script documents exactly
what is in each. ``expected.csv`` lists every file of the corpus and the message it
must be refused with.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl

HERE = Path(__file__).resolve().parent
HO_OUTCOMES_HEADER = [
    "Financial Year", "Financial Quarter", "Force Name", "Offence Description", "Offence Group",
    "Offence Subgroup", "Offence Code", "Outcome Description", "Outcome Group", "Outcome Type",
    "Outcomes for offences recorded in the quarter",
    "Outcomes for investigations closed in the quarter",
]
RECORDED_HEADER = [
    "Financial Year", "Financial Quarter", "Force Name", "Offence Description", "Offence Group",
    "Offence Subgroup", "Offence Code", "Number of Offences",
]


def _save(name: str, *sheets: tuple[str, list[list[object]]]) -> None:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(HERE / name)


def main() -> None:
    # A wide return whose rape_reports cell is a formula.
    _save("return_formula.xlsx", ("Return", [
        ["force", "month", "rape_reports", "cps_referrals"],
        ["kent", "2025-08", "=SUM(D2:D2)", 4],
    ]))
    # A formula in a count of a Home Office outcomes table, on the second sheet.
    _save("ho_outcomes_formula.xlsx",
          ("Cover", [["Crime outcomes in England and Wales"], ["Open data table"]]),
          ("Outcomes", [
              HO_OUTCOMES_HEADER,
              ["2023/24", 1, "Kent", "Rape", "Sexual offences", "Rape", "19C", "Charge", "", 1,
               3, 2],
              ["2023/24", 1, "Kent", "Rape", "Sexual offences", "Rape", "19C", "Evidential", "",
               15, "=2*3", 4],
          ]))
    # Text (not a formula) that a spreadsheet would run: starts with '-' and is no number.
    _save("return_text_formula.xlsx", ("Return", [
        ["force", "month", "measure", "value"],
        ["kent", "2025-08", "rape_reports", "-1+cmd"],
    ]))
    # A wide return whose month is a real Excel date (read as 2025-08) but force unknown.
    import datetime as dt

    _save("return_unknown_force.xlsx", ("Return", [
        ["force", "month", "rape_reports"],
        ["Gotham", dt.datetime(2025, 8, 1), 7],
    ]))
    # Recorded crime with a title row above the header, and an unknown force.
    _save("ho_recorded_unknown_force.xlsx", ("Data", [
        ["Police recorded crime by police force area"],
        [],
        RECORDED_HEADER,
        ["2023-24", "Q1", "Kent", "Rape", "Sexual offences", "Rape", "19C", 12],
        ["2023-24", "Q1", "Metropolis", "Rape", "Sexual offences", "Rape", "19C", 40],
    ]))


if __name__ == "__main__":
    main()

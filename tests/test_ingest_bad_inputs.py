"""The bad-input corpus: every file in ``tests/bad_inputs`` is refused, nothing is written.

``tests/bad_inputs/expected.csv`` lists each file, the kind to load it as (blank: detect
from the header) and a piece of text the refusal must contain: the row, column, value
and rule where the problem has a place in the file. Each file is loaded into a copy
of the demonstration database; the database file must be byte-for-byte unchanged.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from pathlib import Path

import pytest

from kpis.ingest.loader import load_files
from kpis.ingest.problems import LoadRefused

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
TODAY = dt.date(2025, 10, 15)


def _cases() -> list[dict[str, str]]:
    with open(CORPUS / "expected.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


CASES = _cases()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_corpus_has_at_least_thirty_files_each_listed_once() -> None:
    listed = [case["file"] for case in CASES]
    on_disk = {p.name for p in CORPUS.iterdir() if p.name not in ("expected.csv", "make_xlsx.py")}
    assert len(listed) >= 30
    assert len(listed) == len(set(listed))
    assert set(listed) == on_disk
    assert any(name.endswith(".xlsx") for name in listed)


@pytest.mark.slow  # a sweep over every file in tests/bad_inputs (about 9 s)
@pytest.mark.parametrize("case", CASES, ids=[case["file"] for case in CASES])
def test_bad_file_is_refused_with_its_reason_and_database_is_unchanged(
    case: dict[str, str], demo_db: Path
) -> None:
    path = CORPUS / case["file"]
    before = sha256(demo_db)
    with pytest.raises(LoadRefused) as refused:
        load_files(demo_db, [path], kind=case["kind"] or None, user="test", today=TODAY)
    message = str(refused.value)
    assert case["expected"] in message
    assert sha256(demo_db) == before
    assert not list(demo_db.parent.glob(".*staging*"))

    # The finding that carries the expected text names the file, and a row and column
    # whenever the expected text places the problem in the file.
    matching = [f for f in refused.value.report.errors if case["expected"] in str(f)]
    assert matching, message
    finding = matching[0]
    # A workbook's findings name its sheet too: "FILE, sheet 'NAME'".
    assert finding.file == case["file"] or finding.file.startswith(f"{case['file']}, sheet '")
    assert case["file"] in message
    if "row " in case["expected"]:
        assert finding.row is not None
    if "column '" in case["expected"]:
        assert finding.column is not None


def test_refused_load_into_missing_database_creates_no_database(tmp_path: Path) -> None:
    db = tmp_path / "new.duckdb"
    with pytest.raises(LoadRefused):
        load_files(db, [CORPUS / "return_negative.csv"], today=TODAY)
    assert not db.exists()


def test_all_files_in_one_load_are_refused_together_with_every_file_reported(
    demo_db: Path, tmp_path: Path
) -> None:
    good = tmp_path / "good.csv"
    good.write_text("force,month,measure,value\nkent,2025-08,rape_reports,10\n", encoding="utf-8")
    before = sha256(demo_db)
    bad = [CORPUS / "return_negative.csv", CORPUS / "ho_outcomes_bad_year.csv"]
    with pytest.raises(LoadRefused) as refused:
        load_files(demo_db, [good, *bad], today=TODAY)
    files = {f.file for f in refused.value.report.errors}
    assert files == {"return_negative.csv", "ho_outcomes_bad_year.csv"}
    assert sha256(demo_db) == before

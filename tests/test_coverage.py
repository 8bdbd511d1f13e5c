"""Return coverage: in, late, missing and not due, worked out by hand on small databases.

Returns are due 15 days after their month ends: January 2025 on 15 February, February
on 15 March, December 2024 on 15 January.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest

from kpis.engine.dataset import Dataset
from kpis.ingest.loader import load_files, rollback
from kpis.storage.coverage import (
    STATUSES,
    cached_submissions,
    coverage,
    coverage_grid,
    data_as_of,
    latest_load_time,
    load_coverage_frame,
    load_history,
    status_counts,
)
from kpis.storage.duckdb_file import Reader
from tests.conftest import dataset_of

DEC = dt.date(2024, 12, 1)
JAN = dt.date(2025, 1, 1)
FEB = dt.date(2025, 2, 1)


def long_return(path: Path, rows: list[tuple[str, str, str, object]]) -> Path:
    lines = ["force,month,measure,value"] + [",".join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load_at(db: Path, file: Path, when: dt.datetime) -> int:
    """Load ``file`` as if at ``when`` (the loader checks months against that day)."""
    return load_files(db, [file], user="analyst", now=when, today=when.date()).load_ids[0]


def read(db: Path) -> tuple[Dataset, pd.DataFrame]:
    dataset = dataset_of(db)
    reader = Reader(db)
    try:
        with reader.connect() as conn:
            return dataset, load_coverage_frame(conn)
    finally:
        reader.close()


def statuses(frame: pd.DataFrame, forces: tuple[str, ...]) -> dict[tuple[str, dt.date], str]:
    rows = frame[frame["force_slug"].isin(forces)]
    return {(r.force_slug, r.period_start.date()): r.status for r in rows.itertuples()}


@pytest.fixture(scope="module")
def history_template(empty_db_template: Path, tmp_path_factory: pytest.TempPathFactory
                     ) -> Path:
    """Kent on time then late, Durham late then on the due date, Surrey silent.

    1. 10 Feb 2025: Kent January             (due 15 Feb)  -> in
    2. 20 Mar 2025: Kent February            (due 15 Mar)  -> late
                    Durham January           (due 15 Feb)  -> late
    3. 15 Mar 2025 23:30: Durham February    (due 15 Mar)  -> in (on the due date)
    4. 1 Apr 2025: Kent January resubmitted  -> still in: it first arrived on time
    """
    tmp_path = tmp_path_factory.mktemp("history")
    empty_db = tmp_path / "empty.duckdb"
    shutil.copyfile(empty_db_template, empty_db)
    load_at(empty_db, long_return(tmp_path / "kent_jan.csv", [
        ("kent", "2025-01", "rape_reports", 10)]), dt.datetime(2025, 2, 10, 10, 0))
    load_at(empty_db, long_return(tmp_path / "late.csv", [
        ("kent", "2025-02", "rape_reports", 11), ("durham", "2025-01", "rape_reports", 4)]),
        dt.datetime(2025, 3, 20, 9, 0))
    load_at(empty_db, long_return(tmp_path / "durham_feb.csv", [
        ("durham", "2025-02", "cps_referrals", 2)]), dt.datetime(2025, 3, 15, 23, 30))
    load_at(empty_db, long_return(tmp_path / "kent_jan_v2.csv", [
        ("kent", "2025-01", "rape_reports", 12)]), dt.datetime(2025, 4, 1, 8, 0))
    return empty_db


@pytest.fixture
def history_db(history_template: Path, tmp_path: Path) -> Path:
    """A private copy of ``history_template`` (built once for the module)."""
    path = tmp_path / "empty.duckdb"
    shutil.copyfile(history_template, path)
    return path


def test_in_late_missing_worked_out_by_hand(history_db: Path) -> None:
    dataset, submissions = read(history_db)
    frame = coverage(dataset, submissions, months=3, today=dt.date(2025, 4, 10))
    assert statuses(frame, ("kent", "durham", "surrey")) == {
        ("kent", DEC): "missing", ("kent", JAN): "in", ("kent", FEB): "late",
        ("durham", DEC): "missing", ("durham", JAN): "late", ("durham", FEB): "in",
        ("surrey", DEC): "missing", ("surrey", JAN): "missing", ("surrey", FEB): "missing",
    }


def test_the_load_time_is_the_earliest_load_that_supplied_the_month(history_db: Path) -> None:
    dataset, submissions = read(history_db)
    frame = coverage(dataset, submissions, months=3, today=dt.date(2025, 4, 10))
    kent = frame[frame["force_slug"] == "kent"].set_index("period_start")["loaded_at"]
    assert kent[pd.Timestamp(JAN)] == pd.Timestamp(2025, 2, 10, 10, 0)  # not the resubmission
    assert kent[pd.Timestamp(FEB)] == pd.Timestamp(2025, 3, 20, 9, 0)
    assert pd.isna(kent[pd.Timestamp(DEC)])


def test_one_row_per_force_and_month_up_to_the_as_of_month(history_db: Path) -> None:
    dataset, submissions = read(history_db)
    assert dataset.as_of == FEB
    frame = coverage(dataset, submissions, months=24, today=dt.date(2025, 4, 10))
    assert len(frame) == len(dataset.forces) * 24
    months = sorted(frame["period_start"].unique())
    assert months[0] == pd.Timestamp(2023, 3, 1) and months[-1] == pd.Timestamp(FEB)
    assert set(frame["status"]) <= set(STATUSES)
    assert list(frame["force"].drop_duplicates()) == list(dataset.forces["name"])
    due = frame.set_index(["force_slug", "period_start"])["due"]
    assert due[("kent", pd.Timestamp(FEB))] == pd.Timestamp(2025, 3, 15)


def test_not_due_until_the_due_date_has_passed(empty_db: Path, tmp_path: Path) -> None:
    load_at(empty_db, long_return(tmp_path / "kent_feb.csv", [
        ("kent", "2025-02", "rape_reports", 10)]), dt.datetime(2025, 3, 5, 12, 0))
    dataset, submissions = read(empty_db)
    on_due_date = coverage(dataset, submissions, months=1, today=dt.date(2025, 3, 15))
    assert statuses(on_due_date, ("kent", "durham")) == {
        ("kent", FEB): "in", ("durham", FEB): "not due",
    }
    day_after = coverage(dataset, submissions, months=1, today=dt.date(2025, 3, 16))
    assert statuses(day_after, ("durham",)) == {("durham", FEB): "missing"}
    assert status_counts(on_due_date) == {
        "in": 1, "late": 0, "missing": 0, "not due": len(dataset.forces) - 1,
    }


def test_a_rolled_back_load_no_longer_counts(history_db: Path, tmp_path: Path) -> None:
    extra = load_at(history_db, long_return(tmp_path / "surrey_feb.csv", [
        ("surrey", "2025-02", "rape_reports", 3)]), dt.datetime(2025, 3, 1, 9, 0))
    dataset, submissions = read(history_db)
    frame = coverage(dataset, submissions, months=1, today=dt.date(2025, 4, 10))
    assert statuses(frame, ("surrey",)) == {("surrey", FEB): "in"}
    rollback(history_db, extra)
    dataset, submissions = read(history_db)
    frame = coverage(dataset, submissions, months=1, today=dt.date(2025, 4, 10))
    assert statuses(frame, ("surrey",)) == {("surrey", FEB): "missing"}


def test_home_office_tables_are_not_returns(empty_db: Path, tmp_path: Path) -> None:
    recorded = tmp_path / "ho.csv"
    recorded.write_text("Financial Year,Financial Quarter,Force Name,Offence Code,"
                        "Number of Offences\n2024/25,3,Kent,19C,5\n", encoding="utf-8")
    load_at(empty_db, recorded, dt.datetime(2025, 1, 20, 9, 0))
    dataset, submissions = read(empty_db)
    assert submissions.empty
    frame = coverage(dataset, submissions, months=3, today=dt.date(2025, 2, 1))
    # Data to October 2024 (the quarter's first month), nothing of it a return.
    assert dataset.as_of == dt.date(2024, 10, 1)
    assert set(frame["status"]) == {"missing"}


def test_an_empty_database_counts_back_from_the_last_complete_month(empty_db: Path) -> None:
    dataset, submissions = read(empty_db)
    frame = coverage(dataset, submissions, months=2, today=dt.date(2025, 3, 10))
    assert sorted(frame["period_start"].unique()) == [pd.Timestamp(JAN), pd.Timestamp(FEB)]
    kent = statuses(frame, ("kent",))
    assert kent == {("kent", JAN): "missing", ("kent", FEB): "not due"}
    assert data_as_of(dataset) == "No data has been loaded yet."
    assert latest_load_time(dataset) is None


def test_months_must_be_positive(empty_db: Path) -> None:
    dataset, submissions = read(empty_db)
    with pytest.raises(ValueError, match="months"):
        coverage(dataset, submissions, months=0)


def test_grid_has_forces_down_and_months_across(history_db: Path) -> None:
    dataset, submissions = read(history_db)
    grid = coverage_grid(coverage(dataset, submissions, months=3, today=dt.date(2025, 4, 10)))
    assert list(grid.index) == list(dataset.forces["name"])
    assert list(grid.columns) == [pd.Timestamp(DEC), pd.Timestamp(JAN), pd.Timestamp(FEB)]
    assert grid.loc["Kent", pd.Timestamp(FEB)] == "late"


def test_as_of_text_and_load_history(history_db: Path) -> None:
    dataset, _ = read(history_db)
    # The latest load by time, not by id: load 3 was made before load 2's time.
    assert latest_load_time(dataset) == dt.datetime(2025, 4, 1, 8, 0)
    assert data_as_of(dataset) == "Data to February 2025, last loaded 1 April 2025 at 08:00."
    history = load_history(dataset)
    assert list(history["file_name"]) == [
        "kent_jan_v2.csv", "durham_feb.csv", "late.csv", "kent_jan.csv"]
    assert all(len(s) == 12 and full.startswith(s)
               for s, full in zip(history["sha_short"], history["sha256"], strict=True))


def test_submissions_are_cached_per_data_version(history_db: Path, tmp_path: Path) -> None:
    reader = Reader(history_db)
    try:
        dataset = dataset_of(history_db)
        first = cached_submissions(reader, dataset.data_version)
        assert cached_submissions(reader, dataset.data_version) is first
        load_at(history_db, long_return(tmp_path / "surrey.csv", [
            ("surrey", "2025-02", "rape_reports", 3)]), dt.datetime(2025, 3, 1, 9, 0))
        newer = dataset_of(history_db)
        assert newer.data_version != dataset.data_version
        fresh = cached_submissions(reader, newer.data_version)
        assert "surrey" in set(fresh["force_slug"]) and "surrey" not in set(first["force_slug"])
    finally:
        reader.close()

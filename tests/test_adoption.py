"""NOM adoption months: ``flightdeck adoption load FILE`` and ``flightdeck adoption list``.

Every file is built here, in code. Loads run on real DuckDB files (copies of the empty
or the demonstration database) through the service, as the command line does; a
refused file must leave the database byte for byte as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from kpis.cli import main
from kpis.domain.access import AccessDenied, Principal, Role
from kpis.ingest.adoption import MAX_BYTES, MAX_ROWS, AdoptionChange
from kpis.ingest.problems import LoadRefused
from kpis.service import FlightDeckService
from kpis.storage import security
from kpis.storage.duckdb_file import Reader
from kpis.storage.reference import adoption_months, read_forces
from tests.conftest import dataset_of

TODAY = dt.date(2025, 10, 15)
ADMIN = Principal("alice", Role.ADMIN, display_name="Alice Admin")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def months_in(db: Path) -> dict[str, dt.date | None]:
    reader = Reader(db)
    try:
        with reader.connect() as conn:
            return {slug: month for slug, _, month in adoption_months(conn)}
    finally:
        reader.close()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def through_service(db: Path, principal: Principal, method: str, path: Path) -> Any:
    """``service.METHOD(path)`` as ``principal``, on ``TODAY`` (the service closed after)."""
    service = FlightDeckService(db, principal)
    try:
        return getattr(service, method)(path, today=TODAY)
    finally:
        service.close()


def load(db: Path, path: Path, principal: Principal = ADMIN) -> Any:
    return through_service(db, principal, "load_adoption", path)


def refused_without_a_change(db: Path, attempt: Callable[[], object]) -> LoadRefused:
    """``attempt`` must be refused without changing a byte of ``db``."""
    before = sha256(db)
    with pytest.raises(LoadRefused) as refused:
        attempt()
    assert sha256(db) == before
    assert not list(db.parent.glob(".*staging*"))
    return refused.value


def refusal(db: Path, path: Path) -> LoadRefused:
    return refused_without_a_change(db, lambda: load(db, path))


def audit_events(db: Path, event: str) -> list[security.AuditEvent]:
    """The audit log's events of one kind, newest first."""
    store = security.SecurityStore(security.security_db_path(db))
    try:
        return store.events(event=event)
    finally:
        store.close()


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_good_file_loads_by_slug_and_alias_and_is_listed(
    empty_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "adoption.csv",
                 "force,adoption_month\nkent,2023-07\nDevon & Cornwall,2022-01\n"
                 "Metropolitan Police Service,2021-06\n")
    code, out, _ = run(["adoption", "load", "--db", str(empty_db), str(path)], capsys)
    assert code == 0
    assert out.startswith(f"loaded {path}: NOM adoption months of 3 of 3 force(s) changed: ")
    assert "kent: not known -> 2023-07" in out

    code, out, _ = run(["adoption", "list", "--db", str(empty_db)], capsys)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 43  # every territorial force, by name
    assert "kent\tKent\t2023-07" in lines
    assert "devon-and-cornwall\tDevon and Cornwall\t2022-01" in lines
    assert "metropolitan\tMetropolitan Police\t2021-06" in lines
    assert sum(line.endswith("\tnot known") for line in lines) == 40

    # The dataset the SPC baselines read carries the months.
    forces = dataset_of(empty_db).forces.set_index("slug")["nom_adoption"]
    assert pd.Timestamp(forces["kent"]) == pd.Timestamp(2023, 7, 1)
    assert pd.Timestamp(forces["metropolitan"]) == pd.Timestamp(2021, 6, 1)
    assert forces.isna().sum() == 40


def test_an_empty_month_clears_it_and_forces_not_named_keep_theirs(
    demo_db: Path, tmp_path: Path
) -> None:
    before = months_in(demo_db)
    assert before["durham"] is not None and before["essex"] is not None  # the demo sets them
    path = write(tmp_path / "adoption.csv",
                 "force,adoption_month\ndurham,\nkent,2024-01\nessex,"
                 f"{before['essex']:%Y-%m}\n")
    result = load(demo_db, path)
    after = months_in(demo_db)
    assert after["durham"] is None
    assert after["kent"] == dt.date(2024, 1, 1)
    assert {s: m for s, m in after.items() if s not in ("durham", "kent")} == {
        s: m for s, m in before.items() if s not in ("durham", "kent")}
    assert result.changes == [
        AdoptionChange("durham", "Durham", before["durham"], None),
        AdoptionChange("kent", "Kent", before["kent"], dt.date(2024, 1, 1)),
    ]
    assert (result.forces, result.unchanged) == (3, 1)  # essex kept its month


def test_the_months_at_each_end_of_the_allowed_range_load(empty_db: Path,
                                                         tmp_path: Path) -> None:
    # The data starts in April 2019; today (15 October 2025) is in October 2025.
    path = write(tmp_path / "edges.csv", "force,adoption_month\nkent,2019-04\ndurham,2025-10\n")
    load(empty_db, path)
    months = months_in(empty_db)
    assert (months["kent"], months["durham"]) == (dt.date(2019, 4, 1), dt.date(2025, 10, 1))


def test_every_problem_is_reported_at_once_naming_row_column_value_and_rule(
    demo_db: Path, tmp_path: Path
) -> None:
    path = write(tmp_path / "bad.csv", "\n".join([
        "force,adoption_month",
        "kent,2023-07",        # row 2: fine
        "Atlantis,2023-07",    # row 3: unknown force
        ",2023-07",            # row 4: no force
        "=HYPERLINK(1),",      # row 5: a formula
        "Kent,2024-01",        # row 6: Kent again (by name)
        "durham,July 2023",    # row 7: not YYYY-MM
        "essex,2023-7",        # row 8: not YYYY-MM
        "norfolk,2023-13",     # row 9: no such month
        "suffolk,2019-03",     # row 10: before the data starts
        "surrey,2025-11",      # row 11: after this month
        "sussex,=NOW()",       # row 12: a formula
    ]) + "\n")
    refused = refusal(demo_db, path)
    found = [(f.file, f.row, f.column, f.value, f.rule) for f in refused.report.errors]
    formula = "text starting with '=', '+', '-' or '@' is refused (formula injection)"
    not_a_month = ("not a month: write it as YYYY-MM (e.g. 2023-07), or leave it empty to "
                   "clear it")
    assert found == [
        ("bad.csv", 3, "force", "Atlantis", "unknown force: give its slug (e.g. kent) or its "
                                            "name"),
        ("bad.csv", 4, "force", "", "force is required"),
        ("bad.csv", 5, "force", "=HYPERLINK(1)", formula),
        ("bad.csv", 6, "force", "Kent", "duplicate force: Kent is already given in row 2"),
        ("bad.csv", 7, "adoption_month", "July 2023", not_a_month),
        ("bad.csv", 8, "adoption_month", "2023-7", not_a_month),
        ("bad.csv", 9, "adoption_month", "2023-13", not_a_month),
        ("bad.csv", 10, "adoption_month", "2019-03",
         "too early: the flight deck's data starts in April 2019"),
        ("bad.csv", 11, "adoption_month", "2025-11", "in the future (today is 2025-10-15)"),
        ("bad.csv", 12, "adoption_month", "=NOW()", formula),
    ]
    assert "bad.csv, row 3, column 'force': value 'Atlantis': unknown force" in str(refused)


def _latin1(path: Path) -> Path:
    path.write_bytes("force,adoption_month\nYnys Môn,2023-07\n".encode("latin-1"))
    return path


def _nul(path: Path) -> Path:
    path.write_bytes(b"force,adoption_month\nkent,2023-07\x00\n")
    return path


def _too_large(path: Path) -> Path:
    row = "kent,2023-07\n"
    path.write_text("force,adoption_month\n" + row * (MAX_BYTES // len(row) + 1),
                    encoding="utf-8")
    return path


def _too_many_rows(path: Path) -> Path:
    # Small (some 15 kB) but longer than any adoption file: refused before any row is read.
    return write(path, "force,adoption_month\n" + "kent,2023-07\n" * (MAX_ROWS + 1))


def _workbook(path: Path) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["force", "adoption_month"])
    book.active.append(["kent", "2023-07"])
    target = path.with_suffix(".xlsx")
    book.save(target)
    return target


FILE_PROBLEMS = [
    ("missing_column.csv", lambda p: write(p, "force,month\nkent,2023-07\n"),
     "row 1: value 'adoption_month': missing required column(s)"),
    ("latin1.csv", _latin1, "row 2: value '0xF4': wrong encoding: the file is not UTF-8"),
    ("nul.csv", _nul, "row 2: wrong encoding: the file contains NUL bytes"),
    ("empty.csv", lambda p: write(p, ""), "the file is empty"),
    ("header_only.csv", lambda p: write(p, "force,adoption_month\n"),
     "the file has a header but no data rows"),
    ("adoption", _workbook,
     "value '.xlsx': unsupported file type for NOM adoption months: use .csv or .txt"),
    ("too_large.csv", _too_large,
     f"too large: a file of NOM adoption months may be at most {MAX_BYTES:,} bytes"),
    ("too_many_rows.csv", _too_many_rows,
     "value '1,001 rows': too many rows: an adoption file has at most 1,000 (one row a force)"),
]


@pytest.mark.parametrize(("name", "build", "expected"), FILE_PROBLEMS,
                         ids=[case[0] for case in FILE_PROBLEMS])
def test_a_file_that_is_not_a_utf8_adoption_csv_is_refused_whole(
    empty_db: Path, tmp_path: Path, name: str, build, expected: str
) -> None:
    path = build(tmp_path / name)
    assert_one_problem(refusal(empty_db, path), path, expected)


def assert_one_problem(refused: LoadRefused, path: Path, expected: str) -> None:
    """The refusal has one error, about ``path`` (or a sheet of it), saying ``expected``."""
    assert len(refused.report.errors) == 1, refused.report.summary()
    finding = refused.report.errors[0]
    assert finding.file == path.name or finding.file.startswith(f"{path.name}, sheet ")
    assert expected in str(finding), str(finding)
    assert str(finding) in str(refused)


def test_a_missing_file_is_refused(empty_db: Path, tmp_path: Path) -> None:
    refused = refusal(empty_db, tmp_path / "nowhere.csv")
    assert "nowhere.csv: value" in str(refused) and "file not found" in str(refused)


def test_the_load_publishes_a_new_data_version_and_the_service_picks_it_up(
    demo_db: Path, tmp_path: Path
) -> None:
    service = FlightDeckService(demo_db, ADMIN)
    try:
        first = service.dataset()
        service.load_adoption(write(tmp_path / "a.csv", "force,adoption_month\nkent,2024-02\n"),
                              today=TODAY)
        second = service.dataset()
        assert second is not first
        assert second.data_version != first.data_version
        kent = second.forces.set_index("slug").at["kent", "nom_adoption"]
        assert pd.Timestamp(kent) == pd.Timestamp(2024, 2, 1)
    finally:
        service.close()


def test_the_audit_log_records_who_when_and_what_changed(empty_db: Path,
                                                         tmp_path: Path) -> None:
    started = dt.datetime.now().replace(microsecond=0)
    path = write(tmp_path / "adoption.csv", "force,adoption_month\nkent,2023-07\ndurham,\n")
    load(empty_db, path)
    with pytest.raises(LoadRefused):
        load(empty_db, write(tmp_path / "typo.csv", "force,adoption_month\nkent,2023/07\n"))
    loaded = audit_events(empty_db, security.REFERENCE)
    refused = audit_events(empty_db, security.REFERENCE_REFUSED)
    assert len(loaded) == 1 and len(refused) == 1
    event = loaded[0]
    assert event.username == "alice"
    assert started <= event.occurred_at <= dt.datetime.now()
    digest = sha256(path)[:12]
    assert event.detail == (f"NOM adoption months (every force) from adoption.csv (sha256 "
                            f"{digest}): NOM adoption months of 1 of 2 force(s) changed: "
                            "kent: not known -> 2023-07")
    assert refused[0].username == "alice"
    assert refused[0].detail == "NOM adoption months from typo.csv: 1 error(s), nothing written"


@pytest.mark.parametrize("principal", [
    Principal("vera", Role.VIEWER),
    Principal("andy", Role.ANALYST),
    Principal("kim", Role.ADMIN, force="kent"),  # reference data is national
], ids=["viewer", "analyst", "force-scoped admin"])
def test_only_an_administrator_covering_every_force_may_load(
    empty_db: Path, tmp_path: Path, principal: Principal
) -> None:
    path = write(tmp_path / "adoption.csv", "force,adoption_month\nkent,2023-07\n")
    before = sha256(empty_db)
    with pytest.raises(AccessDenied):
        load(empty_db, path, principal)
    assert sha256(empty_db) == before
    denied = audit_events(empty_db, security.ACCESS_DENIED)
    assert [e.username for e in denied] == [principal.username]


def test_a_refused_file_exits_non_zero_naming_the_problem(
    empty_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "bad.csv", "force,adoption_month\nAtlantis,2023-07\n")
    before = sha256(empty_db)
    code, out, err = run(["adoption", "load", "--db", str(empty_db), str(path)], capsys)
    assert code == 1
    assert "load refused, nothing was written: 1 error(s)" in err
    assert "bad.csv, row 2, column 'force': value 'Atlantis': unknown force" in err
    assert out == ""
    assert sha256(empty_db) == before


def test_list_without_a_database_fails_clearly(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["adoption", "list", "--db", str(tmp_path / "none.duckdb")], capsys)
    assert code == 1 and "no database at" in err
    assert not (tmp_path / "none.duckdb").exists()


def test_every_force_in_the_shipped_list_can_be_named_by_slug_and_by_name(
    empty_db: Path, tmp_path: Path
) -> None:
    forces = read_forces()
    rows = [f"{f['slug'] if i % 2 else f['name']},2023-07" for i, f in enumerate(forces)]
    load(empty_db, write(tmp_path / "all.csv", "force,adoption_month\n" + "\n".join(rows)))
    assert set(months_in(empty_db).values()) == {dt.date(2023, 7, 1)}

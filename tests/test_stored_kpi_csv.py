"""The whole catalogue's KPI CSV kept in a DuckDB file (kpis.exports.stored_kpi_csv):
byte for byte what the engine computes, used by ``flightdeck kpis`` only while it is
current for the file's data and this code, refreshed by the writes that change it, and
never a reason for a write or an upgrade to fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from kpis.cli import main
from kpis.domain.baseline import Baseline
from kpis.domain.events import EXPORT
from kpis.engine.disclosure import default_marking
from kpis.exports import stored_kpi_csv
from kpis.exports.kpi_csv import kpi_table_for_cli, write_csv
from kpis.exports.stored_kpi_csv import META_TABLE, TABLE, open_stored_csv, refresh_stored_csv
from kpis.service import FlightDeckService
from kpis.storage.backend import bump
from kpis.storage.dataset_loader import load_dataset
from kpis.storage.duckdb_file import Reader, write_transaction
from kpis.storage.security import SecurityStore, security_db_path
from tests.conftest import PROJECT_ROOT
from tests.test_subscriptions import one_value

pytestmark = pytest.mark.slow  # each test computes the whole catalogue at least once


def computed_csv(db: Path, out: Path) -> bytes:
    """The CSV the engine computes for the whole catalogue, as the command decides its
    marking (no --marking, no --suppress: OFFICIAL-SENSITIVE for the demonstration)."""
    with Reader(db) as reader, reader.connect() as conn:
        dataset = load_dataset(conn)
    marking = default_marking(dataset.catalogue, list(dataset.kpis.values()))
    assert marking == "OFFICIAL-SENSITIVE"
    write_csv(kpi_table_for_cli(dataset, marking=marking), out)
    return out.read_bytes()


def kept_tables(db: Path) -> set[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {row[0] for row in con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}


def test_the_kept_table_writes_the_bytes_the_engine_computes(demo_db: Path,
                                                            tmp_path: Path) -> None:
    assert open_stored_csv(demo_db, Baseline()) is None  # the test's build keeps none
    assert refresh_stored_csv(demo_db) is True
    assert {TABLE, META_TABLE} <= kept_tables(demo_db)
    expected = computed_csv(demo_db, tmp_path / "computed.csv")
    stored = open_stored_csv(demo_db, Baseline())
    assert stored is not None
    with stored:
        assert (stored.marking, stored.suppress) == ("OFFICIAL-SENSITIVE", False)
        assert stored.rows == expected.count(b"\n") - 1  # every row but the header
        calls: list[bool] = []
        out = tmp_path / "kept.csv"
        out.write_text("an older file, longer than nothing " * 10, encoding="utf-8")
        stored.write(out, before_writing=lambda: calls.append(out.exists()))
    assert calls == [True]  # called once, before the file was touched
    assert out.read_bytes() == expected

    # Another baseline is not the kept table's: the command computes it.
    assert open_stored_csv(demo_db, Baseline.parse("all")) is None


def test_a_refusal_before_writing_leaves_the_file_as_it_was(demo_db: Path,
                                                           tmp_path: Path) -> None:
    assert refresh_stored_csv(demo_db)
    out = tmp_path / "kept.csv"
    out.write_text("as it was\n", encoding="utf-8")

    def refuse() -> None:
        raise RuntimeError("not audited")

    stored = open_stored_csv(demo_db, Baseline())
    assert stored is not None
    with stored, pytest.raises(RuntimeError):
        stored.write(out, before_writing=refuse)
    assert out.read_text(encoding="utf-8") == "as it was\n"


def test_a_write_since_the_refresh_makes_the_table_stale(demo_db: Path) -> None:
    assert refresh_stored_csv(demo_db)
    assert open_stored_csv(demo_db, Baseline()) is not None
    with write_transaction(demo_db):  # any write of the data bumps data_version
        pass
    assert open_stored_csv(demo_db, Baseline()) is None
    assert refresh_stored_csv(demo_db)
    assert open_stored_csv(demo_db, Baseline()) is not None


def test_other_code_does_not_use_the_table(demo_db: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    assert refresh_stored_csv(demo_db)
    monkeypatch.setattr(stored_kpi_csv, "_fingerprint", "another release of the code")
    assert open_stored_csv(demo_db, Baseline()) is None


def test_a_process_older_than_its_code_keeps_nothing(demo_db: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import kpis

    monkeypatch.setattr(kpis, "LOADED_AT", 0.0)  # every source file is "newer"
    assert refresh_stored_csv(demo_db) is False
    assert TABLE not in kept_tables(demo_db)


def test_postgresql_and_missing_files_keep_nothing(tmp_path: Path) -> None:
    assert refresh_stored_csv("postgresql+psycopg://nobody@/nowhere") is False
    assert refresh_stored_csv(tmp_path / "missing.duckdb") is False
    assert not (tmp_path / "missing.duckdb").exists()
    assert open_stored_csv("postgresql+psycopg://nobody@/nowhere", Baseline()) is None


def test_the_command_copies_the_kept_table_and_audits_it(demo_db: Path,
                                                        tmp_path: Path) -> None:
    expected = computed_csv(demo_db, tmp_path / "computed.csv")
    assert refresh_stored_csv(demo_db)
    # Without the engine: numpy and pandas are never imported.
    out = tmp_path / "kept.csv"
    probe = ("import sys\nfrom kpis.cli import main\n"
             f"assert main(['kpis', '--db', {str(demo_db)!r}, '--out', {str(out)!r}]) == 0\n"
             "print(' '.join(m for m in ('pandas', 'numpy', 'sqlalchemy') "
             "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
    assert "Protective marking: OFFICIAL-SENSITIVE; disclosure control not applied" \
        in result.stderr
    assert out.read_bytes() == expected
    store = SecurityStore(security_db_path(demo_db))
    try:
        exported = store.events(event=EXPORT)
    finally:
        store.close()
    assert exported and exported[0].detail.startswith("KPI table (csv) to ")
    assert "KPIs all; areas all; periods first to latest; OFFICIAL-SENSITIVE, " \
           "disclosure control not applied" in exported[0].detail

    # A filtered table is computed, from the same data.
    one = tmp_path / "one.csv"
    assert main(["kpis", "--db", str(demo_db), "--kpi", "cps_referrals",
                 "--out", str(one)]) == 0
    lines = one.read_text(encoding="utf-8").splitlines()
    assert lines[0] == expected.decode("utf-8").splitlines()[0]
    assert len(lines) > 1 and all(line.startswith("cps_referrals,") for line in lines[1:])


def test_a_load_keeps_the_table_current(demo_db: Path, tmp_path: Path) -> None:
    def kept_bytes(name: str) -> bytes:
        stored = open_stored_csv(demo_db, Baseline())
        assert stored is not None, f"no current table {name}"
        with stored:
            stored.write(tmp_path / name)
        return (tmp_path / name).read_bytes()

    assert refresh_stored_csv(demo_db)
    before = kept_bytes("before.csv")
    service = FlightDeckService(demo_db)
    try:
        service.load([one_value(tmp_path, "surrey", "2025-09")])
    finally:
        service.close()
    after = kept_bytes("after.csv")  # refreshed by the load, for the new data version
    assert after != before
    assert after == computed_csv(demo_db, tmp_path / "computed.csv")


def test_an_upgrade_drops_a_kept_table_rather_than_refusing(demo_db: Path,
                                                           tmp_path: Path) -> None:
    from kpis.storage.duckdb_file import _check_nothing_is_dropped
    from kpis.storage.errors import StoreError
    from kpis.storage.schema import FLIGHT_DECK

    columns = {"meta": ["key", "value"], TABLE: ["kpi"], META_TABLE: ["key"]}
    _check_nothing_is_dropped(columns, FLIGHT_DECK, "a file")  # derived: not lost
    with pytest.raises(StoreError, match="would drop stray_table"):
        _check_nothing_is_dropped({**columns, "stray_table": ["x"]}, FLIGHT_DECK, "a file")


def test_a_copy_of_the_file_carries_its_table(demo_db: Path, tmp_path: Path) -> None:
    assert refresh_stored_csv(demo_db)
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(demo_db, copy)
    stored = open_stored_csv(copy, Baseline())
    assert stored is not None
    stored.close()
    with Reader(copy) as reader, reader.write() as conn:
        bump(conn, "data_version")  # a write to the copy: its own table goes stale
    assert open_stored_csv(copy, Baseline()) is None
    assert open_stored_csv(demo_db, Baseline()) is not None

"""``kpis.storage.duckdb_reader``: a DuckDB file's dataset read with ``duckdb`` alone
(``flightdeck kpis``'s read) is the dataset the store reads, and anything the narrow
path does not handle (an older or a newer schema, a file that is not a database) is
left to the store."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from kpis.cli import main
from kpis.domain.catalogue import read_catalogue
from kpis.engine.dataset import Dataset
from kpis.settings import CATALOGUE_FILE
from kpis.storage import schema
from kpis.storage.backend import open_store
from kpis.storage.dataset_loader import load_dataset
from kpis.storage.duckdb_reader import READS_SCHEMA_VERSION, read_dataset


def through_the_store(db: Path) -> Dataset:
    with open_store(db) as store, store.connect() as conn:
        return load_dataset(conn)


def load_forces_as_sets(frame: pd.DataFrame) -> pd.DataFrame:
    # string_agg gives each load's forces in no set order (on either path).
    return frame.assign(forces=frame["forces"].map(lambda text: sorted(text.split(","))))


def assert_same_dataset(fast: Dataset, slow: Dataset) -> None:
    assert fast.catalogue == slow.catalogue
    assert (fast.is_demo, fast.data_version) == (slow.is_demo, slow.data_version)
    for name in ("forces", "areas", "members"):
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(slow, name), check_exact=True)
    pd.testing.assert_frame_equal(load_forces_as_sets(fast.loads),
                                  load_forces_as_sets(slow.loads), check_exact=True)
    for field in dataclasses.fields(fast.cube):
        mine, theirs = getattr(fast.cube, field.name), getattr(slow.cube, field.name)
        if isinstance(mine, np.ndarray):
            assert mine.dtype == theirs.dtype and mine.shape == theirs.shape, field.name
            assert np.array_equal(mine, theirs, equal_nan=mine.dtype.kind == "f"), field.name
        elif isinstance(mine, pd.Index):
            assert mine.equals(theirs) and mine.dtype == theirs.dtype, field.name
        else:
            assert mine == theirs, field.name


def test_the_demonstration_database_reads_as_the_store_reads_it(
        demo_db_readonly: Path) -> None:
    fast = read_dataset(demo_db_readonly)
    assert fast is not None
    assert_same_dataset(fast, through_the_store(demo_db_readonly))
    # And, independently of the rows-to-catalogue code both paths share: the
    # catalogue the demonstration database was built from, every field.
    assert fast.catalogue == read_catalogue(CATALOGUE_FILE)


def test_an_empty_database_reads_as_the_store_reads_it(empty_db: Path) -> None:
    fast = read_dataset(empty_db)
    assert fast is not None and not fast.cube.values.size
    assert_same_dataset(fast, through_the_store(empty_db))


def test_the_reader_knows_the_schema_version_it_reads() -> None:
    # Changing the schema? Check the queries in kpis/storage/duckdb_reader.py read it,
    # then bump READS_SCHEMA_VERSION (till then such files go through the store).
    assert READS_SCHEMA_VERSION == schema.SCHEMA_VERSION


def with_schema_version(source: Path, target: Path, version: str | None) -> Path:
    shutil.copyfile(source, target)
    with duckdb.connect(str(target)) as con:
        if version is None:
            con.execute("DROP TABLE meta")
        else:
            con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [version])
    return target


@pytest.mark.parametrize("version", ["6", "99", "seven", None])
def test_another_schema_version_is_left_to_the_store(empty_db: Path, tmp_path: Path,
                                                     version: str | None) -> None:
    db = with_schema_version(empty_db, tmp_path / "other.duckdb", version)
    assert read_dataset(db) is None


def test_a_file_that_is_not_a_database_is_left_to_the_store(tmp_path: Path) -> None:
    (tmp_path / "text.duckdb").write_text("not a database\n" * 100)
    assert read_dataset(tmp_path / "text.duckdb") is None


def test_kpis_on_a_newer_database_still_refuses_it(demo_db: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    db = with_schema_version(demo_db, tmp_path / "newer.duckdb", "99")
    assert main(["kpis", "--db", str(db), "--kpi", "cps_referrals",
                 "--out", str(tmp_path / "out.csv")]) == 1
    assert "newer flight deck" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()


def test_kpis_on_an_older_database_upgrades_it_as_before(demo_db: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    # A file recording the previous version: the store upgrades it on the way (the
    # upgrade step from it runs on a private copy, published by rename), then reads it.
    previous = str(schema.SCHEMA_VERSION - 1)
    db = with_schema_version(demo_db, tmp_path / "older.duckdb", previous)
    out = tmp_path / "out.csv"
    assert main(["kpis", "--db", str(db), "--kpi", "cps_referrals", "--out", str(out)]) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'"
                           ).fetchone() == (str(schema.SCHEMA_VERSION),)
    assert out.read_text(encoding="utf-8").startswith("kpi,force,period_start,")
    capsys.readouterr()


def test_kpis_on_postgresql_reads_through_the_store_and_writes_the_same_file(
        demo_db_readonly: Path, postgres_demo_db: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # The same data in PostgreSQL (through SQLAlchemy) and in the DuckDB file (duckdb
    # alone): the same CSV, byte for byte, and the same messages.
    args = ["kpis", "--kpi", "cps_referrals", "ho_rape_charge_rate", "--suppress"]
    assert main([*args, "--db", postgres_demo_db, "--out", str(tmp_path / "pg.csv")]) == 0
    from_postgres = capsys.readouterr().err
    assert main([*args, "--db", str(demo_db_readonly), "--out", str(tmp_path / "file.csv")]) == 0
    assert capsys.readouterr().err == from_postgres
    assert (tmp_path / "pg.csv").read_bytes() == (tmp_path / "file.csv").read_bytes()

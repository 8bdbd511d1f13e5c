"""The storage seam (``kpis.storage.backend``) and schema versions, on real DuckDB files.

Older databases are made the way they were written: by the current code, then the
file is changed directly with DuckDB (the ``schema_version`` row deleted, columns and
tables taken away) as the code before schema versions left it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa

from kpis.domain.catalogue import read_catalogue
from kpis.settings import CATALOGUE_FILE
from kpis.storage import annotations, schema
from kpis.storage.backend import (
    SchemaTooNew,
    Store,
    StoreNotSupported,
    UpgradeError,
    get_meta,
    open_store,
    query_frame,
)
from kpis.storage.dataset_loader import load_dataset
from kpis.storage.duckdb_file import DuckDBStore, Reader
from kpis.storage.postgres import PostgresStore
from kpis.storage.schema import SCHEMA_VERSION, UPGRADES, VersionedSchema
from kpis.storage.security import SECURITY_SCHEMA, SecurityStore
from tests.conftest import PROJECT_ROOT

KPI = "investigators_accredited"
NEWER = re.escape(f"this database was written by a newer flight deck (schema "
                  f"{SCHEMA_VERSION + 1}); upgrade the software")
COUNT_OBSERVATIONS = sa.select(sa.func.count()).select_from(schema.observations)


# ------------------------------------------------------------------------------ helpers


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def raw(path: Path, *statements: str) -> None:
    """Change the file directly with DuckDB (bypassing the store), checkpointed."""
    conn = duckdb.connect(str(path))
    try:
        for statement in statements:
            conn.execute(statement)
        conn.execute("CHECKPOINT")
    finally:
        conn.close()


def raw_meta(path: Path) -> dict[str, str]:
    conn = duckdb.connect(str(path), read_only=True)
    try:
        return dict(conn.execute("SELECT key, value FROM meta").fetchall())
    finally:
        conn.close()


def contents(path: Path) -> dict[str, pd.DataFrame]:
    """Every table's rows, sorted, read directly (no store: nothing is upgraded)."""
    conn = duckdb.connect(str(path), read_only=True)
    try:
        names = [row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables ORDER BY table_name").fetchall()]
        found = {}
        for name in names:
            frame = conn.execute(f'SELECT * FROM "{name}"').df()
            if name == "meta":  # the versions change on every write; an upgrade drops
                # the catalogue's digest (its steps may change the catalogue's rows)
                frame = frame[~frame["key"].isin(["schema_version", "data_version",
                                                  "catalogue_digest"])]
            columns = sorted(frame.columns)
            found[name] = frame[columns].sort_values(columns).reset_index(drop=True)
        return found
    finally:
        conn.close()


def make_version_1(path: Path) -> None:
    """A file as the code before schema versions wrote it: no schema_version row."""
    raw(path, "DELETE FROM meta WHERE key = 'schema_version'")


def make_version_5(path: Path) -> None:
    """A file as schema version 5 wrote it: recommendation progress has no area (every
    note was national)."""
    raw(path,
        "UPDATE meta SET value = '5' WHERE key = 'schema_version'",
        "CREATE TABLE recommendation_progress_v5 AS SELECT * EXCLUDE (area) "
        "FROM recommendation_progress ORDER BY progress_id",
        "DROP TABLE recommendation_progress",
        "ALTER TABLE recommendation_progress_v5 RENAME TO recommendation_progress")


def make_version_3(path: Path) -> None:
    """A file as schema version 3 wrote it: no comparison base on KPI definitions."""
    make_version_5(path)
    raw(path,
        "UPDATE meta SET value = '3' WHERE key = 'schema_version'",
        "CREATE TABLE kpi_definitions_v3 AS SELECT * EXCLUDE (comparison_base, "
        "comparison_per) FROM kpi_definitions ORDER BY position, version",
        "DROP TABLE kpi_definitions",
        "ALTER TABLE kpi_definitions_v3 RENAME TO kpi_definitions")


def make_version_2(path: Path) -> None:
    """A file as schema version 2 wrote it: no stock or missing rule on measures, no SPC
    run length or fixed baseline on KPI definitions."""
    make_version_3(path)
    raw(path,
        "UPDATE meta SET value = '2' WHERE key = 'schema_version'",
        "CREATE TABLE measures_v2 AS SELECT * EXCLUDE (stock, missing) FROM measures "
        "ORDER BY position",
        "DROP TABLE measures",
        "ALTER TABLE measures_v2 RENAME TO measures",
        "CREATE TABLE kpi_definitions_v2 AS SELECT * EXCLUDE (spc_run_length, "
        "spc_baseline_points) FROM kpi_definitions ORDER BY position, version",
        "DROP TABLE kpi_definitions",
        "ALTER TABLE kpi_definitions_v2 RENAME TO kpi_definitions")


def make_pre_ordering(path: Path) -> None:
    """A version-1 file from before the catalogue kept its order or had annotations:
    no measures.position, no kpi_terms.term_order, no commentary or progress tables.
    Rows are in the order they were written, which was catalogue order."""
    make_version_2(path)
    make_version_1(path)
    raw(path,
        "CREATE TABLE measures_v1 AS SELECT * EXCLUDE (position) FROM measures "
        "ORDER BY position",
        "DROP TABLE measures",
        "ALTER TABLE measures_v1 RENAME TO measures",
        "CREATE TABLE kpi_terms_v1 AS SELECT * EXCLUDE (term_order) FROM kpi_terms "
        "ORDER BY kpi_id, version, role, term_order",
        "DROP TABLE kpi_terms",
        "ALTER TABLE kpi_terms_v1 RENAME TO kpi_terms",
        "DROP TABLE commentary",
        "DROP TABLE recommendation_progress")


def leftovers(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if ".staging-" in p.name)


def upgrades_with(step: Callable[[sa.Connection], None]) -> VersionedSchema:
    """The flight deck's schema with ``step`` as its upgrade from version 1."""
    return VersionedSchema("flight deck database", schema.metadata, SCHEMA_VERSION,
                           {**UPGRADES, 1: step})


# ------------------------------------------------------------------------- the seam


def test_open_store_gives_the_duckdb_store_for_a_path_and_it_reads_and_writes(
    tmp_path: Path
) -> None:
    path = tmp_path / "new.duckdb"
    store = open_store(path)
    assert isinstance(store, Store) and isinstance(store, DuckDBStore)
    assert store.location == str(path) and not store.exists()
    with store:
        with store.write() as conn:
            conn.execute(sa.insert(schema.meta).values(key="note", value="first"))
        assert store.exists()
        first = store.identity
        hash(first)  # a token callers keep and compare
        with store.connect() as conn:
            assert get_meta(conn, "note") == "first"
            assert get_meta(conn, "schema_version") == str(SCHEMA_VERSION)
        with store.write() as conn:
            conn.execute(sa.update(schema.meta).where(schema.meta.c.key == "note")
                         .values(value="second"))
        assert store.identity != first
        with store.connect() as conn:
            assert get_meta(conn, "note") == "second"
        assert store.frame(sa.select(schema.meta.c.value)
                           .where(schema.meta.c.key == "note"))["value"].tolist() == ["second"]
    assert open_store(f"duckdb:///{path}").location == str(path)


def test_a_write_that_raises_publishes_nothing_and_keeps_the_identity(empty_db: Path) -> None:
    store = open_store(empty_db)
    before, identity = sha256(empty_db), store.identity
    with pytest.raises(RuntimeError, match="boom"), store.write() as conn:
        conn.execute(sa.delete(schema.forces))
        raise RuntimeError("boom")
    assert sha256(empty_db) == before and store.identity == identity
    assert leftovers(empty_db) == []


def test_a_connection_keeps_its_version_while_a_write_lands_and_cannot_write(
    empty_db: Path
) -> None:
    with open_store(empty_db) as store, store.connect() as held:
        with store.write() as conn:
            conn.execute(sa.insert(schema.observations).values(
                force_slug="kent", measure_id="rape_reports",
                period_start=dt.date(2025, 9, 1), value=5.0, load_id=1))
        assert held.execute(COUNT_OBSERVATIONS).scalar_one() == 0
        with store.connect() as fresh:
            assert fresh.execute(COUNT_OBSERVATIONS).scalar_one() == 1
        with pytest.raises(sa.exc.DBAPIError):
            held.execute(sa.delete(schema.forces))


def test_reader_is_the_duckdb_store_by_its_older_name(empty_db: Path) -> None:
    reader = Reader(empty_db)
    assert isinstance(reader, Store) and reader.layout is schema.FLIGHT_DECK
    reader.close()


@pytest.mark.parametrize("location", [
    "postgresql+psycopg://flightdeck:s3cret@db.example:5432/flightdeck",
    "postgresql://flightdeck:s3cret@db.example/flightdeck",
])
def test_a_postgresql_url_gives_the_postgresql_store_without_its_password(location: str
                                                                          ) -> None:
    store = open_store(location)
    assert isinstance(store, PostgresStore) and store.url.drivername == "postgresql+psycopg"
    assert "s3cret" not in store.location and "db.example" in store.location
    assert store.layout is schema.FLIGHT_DECK and store.namespace == "flightdeck"


def test_a_postgresql_url_whose_slashes_a_path_collapsed_is_refused() -> None:
    with pytest.raises(StoreNotSupported, match="must keep its two slashes"):
        open_store(Path("postgresql+psycopg://flightdeck@db.example/flightdeck"))


def test_another_kind_of_url_is_refused() -> None:
    with pytest.raises(StoreNotSupported, match="'mysql' databases are not supported") as no:
        open_store("mysql://db.example/flightdeck")
    assert "PostgreSQL URL" in str(no.value)


def test_query_frame_works_on_a_database_other_than_duckdb() -> None:
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        schema.meta.create(conn)
        conn.execute(sa.insert(schema.meta).values(key="k", value="v"))
        frame = query_frame(conn, sa.select(schema.meta))
        assert frame.to_dict("records") == [{"key": "k", "value": "v"}]
        assert query_frame(conn, "SELECT value FROM meta")["value"].tolist() == ["v"]


# ------------------------------------------------------------------- schema versions


def test_every_version_before_the_current_one_has_an_upgrade_step() -> None:
    assert SCHEMA_VERSION == 7
    assert list(UPGRADES) == list(range(1, SCHEMA_VERSION))
    with pytest.raises(ValueError, match="one upgrade step from each version"):
        VersionedSchema("test", schema.metadata, 3, {1: UPGRADES[1]})
    with pytest.raises(ValueError, match="one upgrade step from each version"):
        VersionedSchema("test", schema.metadata, 3, {2: UPGRADES[2], 1: UPGRADES[1]})


def test_initialise_and_every_write_record_the_schema_version(empty_db: Path) -> None:
    assert raw_meta(empty_db)["schema_version"] == str(SCHEMA_VERSION)
    raw(empty_db, "UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with open_store(empty_db) as store, store.write():
        pass
    assert raw_meta(empty_db)["schema_version"] == str(SCHEMA_VERSION)


@pytest.mark.slow  # upgrades a whole demonstration database (about 2 s)
def test_a_version_1_database_is_upgraded_on_first_read_with_its_data_intact(
    demo_db: Path
) -> None:
    comment_id = annotations.write_commentary(demo_db, KPI, "kent", "2025-09", "Rising.", "Ana")
    progress_id = annotations.record_progress(demo_db, "R2", "in progress", "Started", "Ana")
    make_version_1(demo_db)
    before, meta = contents(demo_db), raw_meta(demo_db)
    assert "schema_version" not in meta

    with open_store(demo_db) as store:
        with store.connect() as conn:
            assert get_meta(conn, "schema_version") == str(SCHEMA_VERSION)
            assert conn.execute(COUNT_OBSERVATIONS).scalar_one() == len(before["observations"])
            dataset = load_dataset(conn)
        after = contents(demo_db)
        assert set(after) == set(before)
        for name in before:
            pd.testing.assert_frame_equal(after[name], before[name], check_dtype=False,
                                          obj=name)
        assert len(after["observations"]) > 10_000 and len(after["loads"]) > 5
        assert dataset.is_demo
        assert int(raw_meta(demo_db)["data_version"]) == int(meta["data_version"]) + 1
        assert leftovers(demo_db) == []
        # The sequences carry on after the rows copied into the new file.
        assert annotations.write_commentary(
            demo_db, KPI, "kent", "2025-08", "Falling.", "Ana") == comment_id + 1
        assert annotations.record_progress(
            demo_db, "R2", "complete", "Done", "Ana") == progress_id + 1
        assert annotations.commentary_for(store, KPI, "kent", "2025-09").text == "Rising."


@pytest.mark.slow  # upgrades a demonstration database (over a second)
def test_a_file_from_before_the_catalogue_kept_its_order_is_upgraded_and_readable(
    empty_db: Path
) -> None:
    catalogue = read_catalogue(CATALOGUE_FILE)
    measure_order = [m.measure_id for m in catalogue.measures]
    assert measure_order != sorted(measure_order)  # so the order is really restored
    make_pre_ordering(empty_db)
    assert "position" not in contents(empty_db)["measures"].columns

    with open_store(empty_db) as store, store.connect() as conn:
        upgraded = load_dataset(conn).catalogue
    assert [m.measure_id for m in upgraded.measures] == measure_order
    assert {(k.kpi_id, k.version): (k.numerator, k.denominator) for k in upgraded.kpis} == {
        (k.kpi_id, k.version): (k.numerator, k.denominator) for k in catalogue.kpis}
    tables = contents(empty_db)
    assert tables["commentary"].empty and tables["recommendation_progress"].empty
    assert sorted(tables["measures"]["position"]) == list(range(len(measure_order)))
    annotations.write_commentary(empty_db, KPI, "kent", "2025-09", "First.", "Ana")


@pytest.mark.slow  # builds and upgrades an old database (about 1 s)
def test_a_version_2_database_takes_the_shipped_measure_and_spc_rules(empty_db: Path) -> None:
    make_version_2(empty_db)
    assert "stock" not in contents(empty_db)["measures"].columns
    with open_store(empty_db) as store, store.connect() as conn:
        assert get_meta(conn, "schema_version") == str(SCHEMA_VERSION)
        upgraded = load_dataset(conn).catalogue
    shipped = read_catalogue(CATALOGUE_FILE)
    assert upgraded.measures == shipped.measures
    assert upgraded.kpis == shipped.kpis
    stocks = {m.measure_id for m in upgraded.measures if m.stock}
    assert "devices_awaiting_examination" in stocks and "cps_referrals" not in stocks
    missing = {m.measure_id: m.missing for m in upgraded.measures if m.missing != "gap"}
    assert missing == {"return_measures_expected": "carry", "return_measures_supplied": "zero"}


def test_a_version_3_database_takes_the_shipped_comparison_bases(empty_db: Path) -> None:
    make_version_3(empty_db)
    assert "comparison_base" not in contents(empty_db)["kpi_definitions"].columns
    with open_store(empty_db) as store, store.connect() as conn:
        assert get_meta(conn, "schema_version") == str(SCHEMA_VERSION)
        upgraded = {k.kpi_id: k for k in load_dataset(conn).catalogue.kpis}
    referrals = upgraded["cps_referrals"]
    assert (referrals.comparison_base, referrals.comparison_per) == ("rape_reports", 100)
    assert referrals.comparison_basis == "per 100 RASSO reports received in the month"
    devices = upgraded["devices_awaiting_examination"]
    assert (devices.comparison_base, devices.comparison_per) == ("population", 100_000)
    assert devices.comparison_basis == "per 100,000 people"


@pytest.mark.slow  # about a second
def test_a_write_to_a_version_1_database_upgrades_it_in_the_same_publish(
    empty_db: Path
) -> None:
    make_pre_ordering(empty_db)
    before = raw_meta(empty_db)
    annotations.record_progress(empty_db, "R2", "in progress", "Started", "Ana")
    meta = raw_meta(empty_db)
    assert meta["schema_version"] == str(SCHEMA_VERSION)
    # An annotation moves the annotation version; the data version stays.
    assert meta["data_version"] == before["data_version"]
    assert int(meta["annotation_version"]) == int(before.get("annotation_version", 0)) + 1
    assert len(contents(empty_db)["recommendation_progress"]) == 1
    assert leftovers(empty_db) == []


@pytest.mark.slow  # concurrency: threads racing an upgrade
def test_threads_opening_an_old_database_at_once_upgrade_it_once(empty_db: Path) -> None:
    make_version_1(empty_db)
    version = int(raw_meta(empty_db)["data_version"])
    store = open_store(empty_db)
    start = threading.Barrier(4)
    counts: list[object] = []

    def read() -> None:
        start.wait()
        try:
            with store.connect() as conn:
                counts.append(conn.execute(COUNT_OBSERVATIONS).scalar_one())
        except Exception as problem:  # the failure is what the test reports
            counts.append(problem)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    store.close()
    assert counts == [0, 0, 0, 0]
    assert int(raw_meta(empty_db)["data_version"]) == version + 1


def test_a_newer_database_is_refused_and_left_unchanged(empty_db: Path) -> None:
    raw(empty_db, f"UPDATE meta SET value = '{SCHEMA_VERSION + 1}' WHERE key = 'schema_version'")
    before = sha256(empty_db)
    store = open_store(empty_db)
    for _ in range(2):  # refused every time, not only the first
        with pytest.raises(SchemaTooNew, match=NEWER), store.connect():
            pass
    with pytest.raises(SchemaTooNew, match=NEWER), store.write():
        pass
    with pytest.raises(SchemaTooNew, match=NEWER):
        annotations.record_progress(empty_db, "R2", "in progress", "Started", "Ana")
    store.close()
    assert sha256(empty_db) == before
    assert leftovers(empty_db) == []


@pytest.mark.slow  # an upgrade that fails (fault test)
def test_an_upgrade_that_fails_midway_leaves_the_old_file_byte_for_byte(
    empty_db: Path
) -> None:
    make_pre_ordering(empty_db)
    before = sha256(empty_db)

    def fails_after_its_work(conn: sa.Connection) -> None:
        UPGRADES[1](conn)  # the real step's changes, on the private copy ...
        raise RuntimeError("upgrade killed midway")  # ... then it dies

    with pytest.raises(RuntimeError, match="killed midway"), \
            open_store(empty_db, upgrades_with(fails_after_its_work)) as store, \
            store.connect():
        pass
    assert sha256(empty_db) == before
    assert leftovers(empty_db) == []
    # The real upgrade still works afterwards.
    with open_store(empty_db) as store, store.connect() as conn:
        assert get_meta(conn, "schema_version") == str(SCHEMA_VERSION)


def test_an_upgrade_that_would_drop_data_is_refused(empty_db: Path) -> None:
    make_version_1(empty_db)
    raw(empty_db, "ALTER TABLE loads ADD COLUMN reviewer VARCHAR",
        "CREATE TABLE retired (x INTEGER)")
    before = sha256(empty_db)
    with pytest.raises(UpgradeError, match=r"would drop loads\.reviewer, retired"), \
            open_store(empty_db) as store, store.connect():
        pass
    assert sha256(empty_db) == before
    assert leftovers(empty_db) == []


def test_the_users_file_is_never_upgraded_into_a_flight_deck_database(tmp_path: Path) -> None:
    path = tmp_path / "security.duckdb"
    users = SecurityStore(path)
    users.record("sign-in", "ana")
    users.close()
    assert raw_meta(path)["schema_version"] == str(SECURITY_SCHEMA.version)
    before = sha256(path)
    with pytest.raises(UpgradeError, match="would drop api_tokens, audit_log, "
                                           "pack_subscriptions, packs_sent, users"), \
            open_store(path) as store, store.connect():
        pass
    assert sha256(path) == before


def test_a_users_file_written_before_versions_is_upgraded_with_its_rows_intact(
        tmp_path: Path) -> None:
    path = tmp_path / "security.duckdb"
    users = SecurityStore(path)
    users.record("sign-in", "ana")
    users.add_user("ana", "analyst", None, "kent", actor="tests")
    users.close()
    # As version 1 wrote it: no schema version, no email addresses, no subscriptions.
    make_version_1(path)
    raw(path, "DROP TABLE pack_subscriptions", "DROP TABLE packs_sent",
        "DROP TABLE api_tokens", "ALTER TABLE users DROP COLUMN email")
    users = SecurityStore(path)
    assert [e.username for e in users.events()] == ["tests", "ana"]
    ana = users.user("ana")
    assert ana is not None and (ana.role, ana.force_slug, ana.email) == ("analyst", "kent", None)
    assert users.subscriptions() == []
    assert users.tokens() == []
    users.close()
    assert raw_meta(path)["schema_version"] == str(SECURITY_SCHEMA.version) == "4"


def test_a_users_file_of_version_2_gets_api_tokens_with_its_rows_intact(
        tmp_path: Path) -> None:
    path = tmp_path / "security.duckdb"
    users = SecurityStore(path)
    users.add_user("ana", "analyst", None, "kent", actor="tests")
    users.close()
    # As version 2 wrote it: no API tokens.
    raw(path, "UPDATE meta SET value = '2' WHERE key = 'schema_version'",
        "DROP TABLE api_tokens")
    users = SecurityStore(path)
    ana = users.user("ana")
    assert ana is not None and ana.force_slug == "kent"
    token, secret = users.create_token("ana", "Power BI")
    assert users.token_for(secret) == (token, ana)
    users.close()
    assert raw_meta(path)["schema_version"] == str(SECURITY_SCHEMA.version)


# An upgrade SIGKILLed at a point of its rebuild, in a process of its own.
_KILLER = r"""
import os, signal, sys
from pathlib import Path

import kpis.storage.duckdb_file as duckdb_file
import kpis.storage.publication as publication
from kpis.storage.backend import open_store

path, where = Path(sys.argv[1]), sys.argv[2]
ours = (duckdb_file.__dict__, publication.__dict__)


def hook(frame, event, arg):
    if event == "call" and frame.f_code.co_name == where and (
            any(frame.f_globals is names for names in ours) or where == "_catalogue_order"):
        os.kill(os.getpid(), signal.SIGKILL)
    if (event == "c_call" and where == "replace" and arg is os.replace
            and frame.f_code.co_name == "private_copy"):  # the publish, not a pin
        os.kill(os.getpid(), signal.SIGKILL)


sys.setprofile(hook)
with open_store(path).connect():
    pass
"""


@pytest.mark.parametrize("where", [
    "_catalogue_order",  # in the upgrade step, on the private copy
    "_sequence_starts",  # the new file created, nothing copied yet
    "remove_database_files",  # the new file complete, the copy not yet removed
    "replace",  # the new file checkpointed and synced, about to be published
])
@pytest.mark.slow  # an upgrade killed at every step (fault test)
def test_an_upgrade_killed_at_any_point_leaves_the_old_file_byte_for_byte(
    empty_db: Path, where: str
) -> None:
    make_pre_ordering(empty_db)
    before = sha256(empty_db)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    result = subprocess.run([sys.executable, "-c", _KILLER, str(empty_db), where],
                            cwd=PROJECT_ROOT, env=env, capture_output=True, timeout=120,
                            check=False)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    assert sha256(empty_db) == before
    # The next store upgrades it and clears the killed upgrade's files.
    with open_store(empty_db) as store, store.connect() as conn:
        assert get_meta(conn, "schema_version") == str(SCHEMA_VERSION)
        assert len(load_dataset(conn).catalogue.measures) > 0
    assert leftovers(empty_db) == []

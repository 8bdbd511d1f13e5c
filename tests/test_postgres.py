"""The PostgreSQL store on a real server: transactions, snapshots, locks per force,
schemas of their own, migrations, copying a laptop's file in and out, and the same
KPI table as DuckDB, byte for byte.

The tests that run on both backends (loads, rollbacks, annotations, users and the audit
log) are in their own modules, through the ``any_empty_db`` and ``any_demo_db``
fixtures (tests/conftest.py); here is what only a server has.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from kpis.ingest.loader import load_files
from kpis.storage import schema
from kpis.storage.backend import SchemaTooNew, get_meta, open_store, set_meta
from kpis.storage.copying import CopyRefused, copy_databases, copy_store
from kpis.storage.migrations import current_revision, head_revision, migrate_database
from kpis.storage.postgres import NeedsMigration, PostgresStore
from kpis.storage.schema import FLIGHT_DECK
from kpis.storage.security import SECURITY_SCHEMA, SecurityStore
from tests import postgres
from tests.conftest import database_digest, wait_until

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COUNT_OBSERVATIONS = sa.select(sa.func.count()).select_from(schema.observations)
TODAY = dt.date(2025, 10, 15)


def observation(force: str, value: float, month: dt.date = dt.date(2025, 9, 1)
                ) -> dict[str, object]:
    return {"force_slug": force, "measure_id": "rape_reports", "period_start": month,
            "value": value, "load_id": 1}


# ------------------------------------------------------------------ transactions


def test_a_write_commits_whole_and_a_reader_keeps_its_snapshot(postgres_db: str) -> None:
    with open_store(postgres_db) as store:
        assert isinstance(store, PostgresStore) and not store.exists()
        with store.write() as conn:
            conn.execute(sa.insert(schema.meta).values(key="note", value="first"))
        assert store.exists()
        first = store.identity
        with store.connect() as held:
            assert get_meta(held, "note") == "first"
            with store.write() as conn:
                conn.execute(sa.insert(schema.observations), [observation("kent", 5.0)])
            # The held connection still sees the version it started with ...
            assert held.execute(COUNT_OBSERVATIONS).scalar_one() == 0
            # ... and what it does is never published (its transaction is rolled back).
            held.execute(sa.insert(schema.meta).values(key="reader", value="never"))
        with store.connect() as fresh:
            assert get_meta(fresh, "reader") is None
        with store.connect() as fresh:
            assert fresh.execute(COUNT_OBSERVATIONS).scalar_one() == 1
        second = store.identity
        assert second != first
        # Every write adds one to the data version.
        assert int(second[2]) == int(first[2]) + 1  # type: ignore[arg-type]


def test_a_write_that_raises_leaves_nothing_and_keeps_the_identity(
    postgres_empty_db: str
) -> None:
    with open_store(postgres_empty_db) as store:
        before, identity = database_digest(postgres_empty_db), store.identity
        with pytest.raises(RuntimeError, match="boom"), store.write() as conn:
            conn.execute(sa.delete(schema.forces))
            raise RuntimeError("boom")
        assert database_digest(postgres_empty_db) == before and store.identity == identity


def test_the_data_and_the_users_live_in_schemas_of_their_own(postgres_db: str) -> None:
    with open_store(postgres_db) as data, data.write() as conn:
        set_meta(conn, "note", "data")
    users = SecurityStore(postgres_db)
    users.record("sign-in", "alice", "test")
    with open_store(postgres_db, SECURITY_SCHEMA) as security, security.connect() as conn:
        assert get_meta(conn, "note") is None  # not the data's meta table
        assert get_meta(conn, "schema_version") == str(SECURITY_SCHEMA.version)
    with open_store(postgres_db) as data, data.connect() as conn:
        assert get_meta(conn, "note") == "data"
        assert get_meta(conn, "schema_version") == str(FLIGHT_DECK.version)
    assert [e.username for e in users.events()] == ["alice"]
    users.close()
    assert set(postgres.row_counts(postgres_db, "flightdeck_security")) >= {"users", "audit_log"}


# ------------------------------------------------------------------ locks per force


def _hold_write(store: PostgresStore, area: str | None, entered: threading.Event,
                release: threading.Event, force: str) -> None:
    with store.write(area=area) as conn:
        conn.execute(sa.insert(schema.observations), [observation(force, 1.0)])
        entered.set()
        release.wait(30)


def test_writes_of_different_forces_proceed_at_once_and_a_whole_write_waits(
    postgres_empty_db: str
) -> None:
    store = open_store(postgres_empty_db)
    assert isinstance(store, PostgresStore)
    entered, release = threading.Event(), threading.Event()
    kent = threading.Thread(target=_hold_write, args=(store, "kent", entered, release, "kent"))
    kent.start()
    try:
        assert entered.wait(30)
        # Another force's write commits while Kent's is open.
        with store.write(area="essex") as conn:
            conn.execute(sa.insert(schema.observations), [observation("essex", 2.0)])
        # A whole-database write (a Home Office table, a rollback) waits for Kent's.
        whole_done = threading.Event()

        def whole() -> None:
            with store.write() as conn:
                conn.execute(sa.insert(schema.observations), [observation("surrey", 3.0)])
            whole_done.set()

        waiting = threading.Thread(target=whole)
        waiting.start()
        assert not whole_done.wait(1.0), "the whole-database write did not wait"
        # So does a second write of Kent's own.
        release.set()
        kent.join(30)
        waiting.join(30)
        assert whole_done.is_set()
    finally:
        release.set()
        kent.join(30)
    with store.connect() as conn:
        forces = sorted(conn.execute(sa.select(schema.observations.c.force_slug)).scalars())
        assert forces == ["essex", "kent", "surrey"]
    store.close()


_KILLED_AT = """
import sys, time
from pathlib import Path
from kpis.ingest.loader import load_files
db, files = sys.argv[1], [Path(p) for p in sys.argv[2:]]
print("started", flush=True)
load_files(db, files, today=__import__("datetime").date(2025, 10, 15))
print("loaded", flush=True)
time.sleep(60)
"""


@pytest.mark.slow  # loader processes killed at several points
def test_a_load_killed_at_any_point_leaves_the_old_state_or_the_new(
    postgres_demo_db: str, tmp_path: Path
) -> None:
    forces = ["kent", "essex", "surrey", "sussex"]
    new = sorted((force, 900.0 + n) for n, force in enumerate(forces))
    lines = ["force,month,measure,value"] + [f"{f},2025-09,rape_reports,{v:g}" for f, v in new]
    file = tmp_path / "return.csv"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    old = database_digest(postgres_demo_db)
    obs = schema.observations.c

    def state() -> tuple[int, list[tuple[str, float]]]:
        with open_store(postgres_demo_db) as store, store.connect() as conn:
            loads = conn.execute(sa.select(sa.func.count()).select_from(schema.loads)
                                 .where(schema.loads.c.file_name == "return.csv")).scalar_one()
            values = conn.execute(sa.select(obs.force_slug, obs.value).where(
                obs.measure_id == "rape_reports", obs.period_start == dt.date(2025, 9, 1),
                obs.force_slug.in_(forces))).all()
            return loads, sorted((f, float(v)) for f, v in values)

    landed = False
    for delay in (0.0, 0.3, 0.6, 1.0, 1.5, 2.5, 4.0):
        loader = subprocess.Popen(
            [sys.executable, "-c", _KILLED_AT, postgres_demo_db, str(file)],
            cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
            stdout=subprocess.PIPE, text=True)
        assert loader.stdout is not None and loader.stdout.readline().strip() == "started"
        time.sleep(delay)
        loader.send_signal(signal.SIGKILL)
        loader.wait(30)
        loads, values = state()
        if loads == 0:  # killed before the commit: exactly the old database
            assert database_digest(postgres_demo_db) == old
        else:  # landed whole: one load, every value
            assert (loads, values) == (1, new)
            landed = True
            break
    if not landed:  # every kill came before the commit: the next load works
        load_files(postgres_demo_db, [file], today=TODAY)
        assert state() == (1, new)


# ------------------------------------------------------------------ 43 at once

# One loader process: each of its files loaded by a thread of its own, all at once.
_LOADERS = """
import datetime as dt, sys, threading
from pathlib import Path
from kpis.ingest.loader import load_files
db, start, files = sys.argv[1], Path(sys.argv[2]), [Path(p) for p in sys.argv[3:]]
results = {}
def load(file):
    results[file.name] = load_files(db, [file], today=dt.date(2025, 10, 15)).load_ids[0]
threads = [threading.Thread(target=load, args=(file,)) for file in files]
while not start.exists():
    pass
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
for name, load_id in sorted(results.items()):
    print(name, load_id)
"""
PROCESSES = 4  # loader processes (as app servers' workers), the 43 loads spread over them


@pytest.mark.slow  # 43 loads in four processes
def test_43_loads_started_together_all_land_with_no_lost_or_mixed_rows(
    postgres_empty_db: str, tmp_path: Path
) -> None:
    any_empty_db = postgres_empty_db
    from kpis.storage.reference import read_forces

    forces = [str(f["slug"]) for f in read_forces()]
    assert len(forces) == 43
    measures = ["rape_reports", "cps_referrals", "charges_total"]
    files = []
    for n, force in enumerate(forces):
        rows = [f"{force},2025-{m:02d},{measure},{n * 100 + m * 10 + k}"
                for m in (7, 8, 9) for k, measure in enumerate(measures)]
        file = tmp_path / f"{force}.csv"
        file.write_text("force,month,measure,value\n" + "\n".join(rows) + "\n")
        files.append(file)
    start = tmp_path / "go"
    with open_store(any_empty_db) as store:
        before = int(store.identity[2])  # type: ignore[arg-type]
    loaders = [subprocess.Popen(
        [sys.executable, "-c", _LOADERS, str(any_empty_db), str(start),
         *map(str, files[n::PROCESSES])],
        cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(PROCESSES)]
    start.touch()
    outcomes = [loader.communicate(timeout=600) for loader in loaders]
    assert [(loader.returncode, err[-800:]) for loader, (_, err) in zip(
        loaders, outcomes, strict=True) if loader.returncode != 0] == []
    landed = dict(line.split() for out, _ in outcomes for line in out.splitlines())
    assert sorted(landed) == sorted(f.name for f in files)  # every load succeeded
    load_ids = {int(v) for v in landed.values()}
    assert len(load_ids) == 43
    with open_store(any_empty_db) as store, store.connect() as conn:
        obs = schema.observations.c
        rows = conn.execute(sa.select(obs.force_slug, obs.measure_id, obs.period_start,
                                      obs.value, obs.load_id)
                            .where(obs.measure_id.in_(measures))).all()
        loads = dict(conn.execute(sa.select(schema.loads.c.load_id,
                                            schema.loads.c.file_name)).all())
        assert int(store.identity[2]) == before + 43  # type: ignore[arg-type]
    assert len(rows) == 43 * 3 * 3
    for force_slug, measure, month, value, load_id in rows:
        n = forces.index(force_slug)
        k = measures.index(measure)
        assert value == n * 100 + month.month * 10 + k  # no value lost or mixed
        assert loads[load_id] == f"{force_slug}.csv"  # each row from its own force's file


# ------------------------------------------------------------------ migrations


def test_a_new_database_is_stamped_at_its_revision_and_migrate_has_nothing_to_run(
    postgres_db: str
) -> None:
    SecurityStore(postgres_db).record("sign-in", "alice")
    with open_store(postgres_db) as store, store.write():
        pass
    for layout in (FLIGHT_DECK, SECURITY_SCHEMA):
        with open_store(postgres_db, layout) as store, store.connect() as conn:
            assert current_revision(conn, layout) == head_revision(layout)
            assert head_revision(layout).endswith(f"_{layout.version:04d}")
    lines = migrate_database(postgres_db, postgres_db)
    assert lines == [
        f"flight deck database at {open_store(postgres_db).location}: schema "
        f"{FLIGHT_DECK.version} (nothing to run)",
        f"users and audit file at {open_store(postgres_db).location}: schema "
        f"{SECURITY_SCHEMA.version} (nothing to run)"]


def test_an_older_database_asks_for_migrate_which_restores_what_it_lacks(
    postgres_empty_db: str
) -> None:
    any_empty_db = postgres_empty_db
    store = open_store(any_empty_db)
    assert isinstance(store, PostgresStore)
    engine = store.engine()
    with engine.begin() as conn:  # as a database of the version before would be
        conn.exec_driver_sql("DROP TABLE plausibility_comparisons")
        conn.exec_driver_sql("ALTER TABLE recommendation_progress DROP COLUMN area")
        set_meta(conn, "schema_version", str(FLIGHT_DECK.version - 1))
    store.close()
    with pytest.raises(NeedsMigration, match="flightdeck migrate"), \
            open_store(any_empty_db) as fresh, fresh.connect():
        pass
    with pytest.raises(NeedsMigration), open_store(any_empty_db) as fresh, fresh.write():
        pass
    assert open_store(any_empty_db).migrate() == []  # no revision to run: the tables made
    with open_store(any_empty_db) as fresh, fresh.connect() as conn:
        assert get_meta(conn, "schema_version") == str(FLIGHT_DECK.version)
        columns = conn.execute(sa.text(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = 'recommendation_progress'")).scalars().all()
        assert "area" in columns
        assert conn.execute(sa.select(sa.func.count()).select_from(
            schema.plausibility_comparisons)).scalar_one() == 0


def test_a_newer_database_is_refused(postgres_db: str) -> None:
    with open_store(postgres_db) as store, store.write() as conn:
        pass
    engine = open_store(postgres_db).engine()
    with engine.begin() as conn:
        set_meta(conn, "schema_version", str(FLIGHT_DECK.version + 1))
    with pytest.raises(SchemaTooNew, match="newer flight deck"), \
            open_store(postgres_db) as store, store.connect():
        pass
    with pytest.raises(SchemaTooNew), open_store(postgres_db) as store:
        store.migrate()


# ------------------------------------------------------------------ copying


@pytest.mark.slow  # the demonstration database copied twice
def test_a_laptop_database_copied_to_the_server_and_back_gives_the_same_kpis(
    demo_db: Path, postgres_db: str, tmp_path: Path
) -> None:
    users = SecurityStore(demo_db.with_name(demo_db.stem + "-security.duckdb"))
    users.add_user("alice", "analyst", "a long password 123", "kent", actor="tests")
    users.close()
    copied = copy_databases(demo_db, postgres_db)
    assert len(copied) == 2 and copied[1].rows["users"] == 1
    back = tmp_path / "back" / "flightdeck.duckdb"
    copy_databases(postgres_db, back)
    # Row for row the same, both ways.
    for location in (postgres_db, back):
        with open_store(demo_db) as a, open_store(location) as b, \
                a.connect() as one, b.connect() as two:
            for table in FLIGHT_DECK.metadata.sorted_tables:
                if table.name == "meta":
                    continue
                order = list(table.primary_key.columns) or list(table.columns)
                assert one.execute(sa.select(table).order_by(*order)).all() == (
                    two.execute(sa.select(table).order_by(*order)).all()), table.name
    assert SecurityStore(postgres_db).user("alice").force_slug == "kent"  # type: ignore[union-attr]
    # The server's copy carries on numbering loads after the laptop's.
    with open_store(demo_db) as store, store.connect() as conn:
        highest = conn.execute(sa.select(sa.func.max(schema.loads.c.load_id))).scalar_one()
    file = tmp_path / "r.csv"
    file.write_text("force,month,measure,value\nkent,2025-09,rape_reports,5\n")
    assert load_files(postgres_db, [file], today=TODAY).load_ids == [highest + 1]
    assert load_files(back, [file], today=TODAY).load_ids == [highest + 1]
    # Never into a database that holds data.
    with pytest.raises(CopyRefused, match="already holds data"):
        copy_databases(demo_db, postgres_db)


def test_kpis_are_byte_identical_on_duckdb_and_postgresql(
    demo_db_readonly: Path, postgres_demo_db: str, tmp_path: Path
) -> None:
    # A clone, not the template: the command writes its audit row in the database.
    outputs = []
    for db in (str(demo_db_readonly), postgres_demo_db):
        done = subprocess.run([sys.executable, "-m", "kpis.cli", "kpis", "--db", db],
                              cwd=PROJECT_ROOT, capture_output=True, check=True,
                              env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
        outputs.append(done.stdout)
    assert len(outputs[0].splitlines()) > 100_000
    assert outputs[0] == outputs[1]


def test_copying_into_itself_or_from_nothing_is_refused(postgres_db: str, tmp_path: Path
                                                       ) -> None:
    with pytest.raises(CopyRefused, match="same database"):
        copy_databases(postgres_db, postgres_db)
    with pytest.raises(CopyRefused, match="no flight deck database to copy"), \
            open_store(postgres_db) as source, open_store(tmp_path / "x.duckdb") as target:
        copy_store(source, target)


def test_a_reader_notices_another_servers_write_at_once(any_empty_db: Path | str) -> None:
    reader, writer = open_store(any_empty_db), open_store(any_empty_db)
    seen = reader.identity
    with writer.write() as conn:
        set_meta(conn, "note", "from the other server")
    wait_until(lambda: reader.identity != seen, "the reader to see the write", timeout=5)
    with reader.connect() as conn:
        assert get_meta(conn, "note") == "from the other server"
    reader.close()
    writer.close()


# ------------------------------------------------------------------ audit in the action


def test_a_load_and_its_audit_row_commit_together_or_not_at_all(
    postgres_secured_db: str, tmp_path: Path
) -> None:
    from kpis.domain.access import Principal
    from kpis.domain.events import LOAD
    from kpis.service import FlightDeckService

    service = FlightDeckService(postgres_secured_db,
                                Principal("analyst", "analyst", display_name="Ana"))
    file = tmp_path / "r.csv"
    file.write_text("force,month,measure,value\nkent,2025-09,rape_reports,5\n")
    result = service.load([file])
    events = service.security.events(event=LOAD)
    assert [(e.username, e.detail) for e in events][:1] == [
        ("analyst", f"r.csv: load id(s) {result.load_ids[0]}, {result.observations} values")]
    # The row was written by the load's own transaction: a write that fails after its
    # audit row leaves neither.
    before = len(service.security.events(event=LOAD, limit=10_000))
    with pytest.raises(RuntimeError, match="after the audit row"), \
            service._audited(LOAD) as audit, service.reader.write() as conn:
        conn.execute(sa.delete(schema.observations))
        audit(conn, "a change that never lands")
        raise RuntimeError("after the audit row")
    assert len(service.security.events(event=LOAD, limit=10_000)) == before
    with service.reader.connect() as conn:
        assert conn.execute(COUNT_OBSERVATIONS).scalar_one() > 0
    service.close()


def test_migrate_on_an_empty_database_creates_it_at_the_current_version(
    postgres_db: str
) -> None:
    with open_store(postgres_db) as store:
        assert store.migrate() == []
    with open_store(postgres_db) as store, store.connect() as conn:  # readable, no refusal
        assert get_meta(conn, "schema_version") == str(FLIGHT_DECK.version)
        assert current_revision(conn, FLIGHT_DECK) == head_revision(FLIGHT_DECK)

"""Loads: audited, all-or-nothing, resubmission with history, rollback, and publishing.

The concurrency tests run real separate processes: a reader that queries the file
in a loop while this process loads, and a loader that is killed mid-load.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from kpis.domain.catalogue import load_yaml
from kpis.ingest.loader import KINDS, RollbackRefused, load_files, rollback
from kpis.ingest.problems import LoadRefused
from kpis.settings import CATALOGUE_FILE
from kpis.storage import schema
from kpis.storage.backend import open_store
from kpis.storage.duckdb_file import Reader, get_meta
from kpis.storage.reference import read_forces
from tests.backends import demo_db_on_both, empty_db_on_both  # noqa: F401 (fixtures: both backends)
from tests.conftest import database_digest, wait_until

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2025, 10, 15)
NOW = dt.datetime(2025, 10, 15, 9, 30)
AUG = dt.date(2025, 8, 1)
SEP = dt.date(2025, 9, 1)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


sha256 = database_digest  # a file's bytes; a server database's rows


def query(db: Path | str, statement: sa.Executable) -> list[tuple[object, ...]]:
    with open_store(db) as store, store.connect() as conn:
        return [tuple(row) for row in conn.execute(statement)]


def value_of(db: Path, force: str, measure: str, period: dt.date) -> tuple[float, int] | None:
    obs = schema.observations.c
    rows = query(db, sa.select(obs.value, obs.load_id).where(
        obs.force_slug == force, obs.measure_id == measure, obs.period_start == period))
    return rows[0] if rows else None  # type: ignore[return-value]


def history_of(db: Path) -> list[tuple[object, ...]]:
    h = schema.observation_history.c
    return query(db, sa.select(h.force_slug, h.measure_id, h.period_start, h.value, h.load_id,
                               h.superseded_by)
                 .where(~h.measure_id.startswith("return_measures_"))
                 .order_by(h.superseded_by, h.measure_id))


def long_return(path: Path, rows: list[tuple[str, str, str, object]]) -> Path:
    lines = ["force,month,measure,value"] + [",".join(map(str, r)) for r in rows]
    return write(path, "\n".join(lines) + "\n")


# ---------------------------------------------------------------------------- new database

@pytest.mark.slow  # about a second
def test_loading_into_a_missing_database_creates_it_with_reference_data_and_no_demo_data(
    tmp_path: Path
) -> None:
    db = tmp_path / "fresh" / "flightdeck.duckdb"
    file = long_return(tmp_path / "r.csv", [("kent", "2025-08", "rape_reports", 10)])
    load_files(db, [file], today=TODAY)
    assert db.exists()
    forces = query(db, sa.select(schema.forces.c.slug).where(schema.forces.c.kind == "force"))
    assert {f for (f,) in forces} == {str(f["slug"]) for f in read_forces()}
    measures = {m for (m,) in query(db, sa.select(schema.measures.c.measure_id))}
    catalogue = load_yaml(CATALOGUE_FILE.read_text(encoding="utf-8"))
    assert measures == {m["id"] for m in catalogue["measures"]}
    assert query(db, sa.select(sa.func.count()).select_from(schema.kpi_definitions))[0][0] > 0
    # Only what the file supplied (and its completeness): no demonstration data.
    slugs = query(db, sa.select(schema.observations.c.force_slug).distinct())
    assert slugs == [("kent",)]
    reader = Reader(db)
    with reader.connect() as conn:
        assert get_meta(conn, "demo") == "false"
    reader.close()


# ----------------------------------------------------------------------------------- audit

def test_each_file_is_audited_with_name_checksum_kind_rows_user_and_time(
    empty_db: Path, tmp_path: Path
) -> None:
    file = long_return(tmp_path / "kent_aug.csv", [
        ("kent", "2025-08", "rape_reports", 10), ("kent", "2025-08", "cps_referrals", ""),
    ])
    result = load_files(empty_db, [file], user="analyst@kent", now=NOW, today=TODAY)
    loads = schema.loads.c
    rows = query(empty_db, sa.select(loads.load_id, loads.file_name, loads.sha256, loads.kind,
                                     loads.rows, loads.loaded_by, loads.loaded_at, loads.status,
                                     loads.warnings))
    assert rows == [(result.load_ids[0], "kent_aug.csv",
                     hashlib.sha256(file.read_bytes()).hexdigest(), "return", 2,
                     "analyst@kent", NOW, "loaded", 1)]


def test_the_operating_system_user_is_recorded_when_no_user_is_given(
    empty_db: Path, tmp_path: Path
) -> None:
    import getpass

    file = long_return(tmp_path / "r.csv", [("kent", "2025-08", "rape_reports", 1)])
    load_files(empty_db, [file], today=TODAY)
    assert query(empty_db, sa.select(schema.loads.c.loaded_by)) == [(getpass.getuser(),)]


@pytest.mark.parametrize("kind", KINDS)
def test_kind_is_detected_from_the_header(kind: str, empty_db: Path, tmp_path: Path) -> None:
    headers = {
        "return": "force,month,measure,value\nkent,2025-08,rape_reports,1\n",
        "ho-outcomes": "Financial Year,Financial Quarter,Force Name,Offence Code,Outcome Type,"
                       "Outcomes for offences recorded in the quarter,"
                       "Outcomes for investigations closed in the quarter\n"
                       "2023/24,1,Kent,19C,1,2,3\n",
        "ho-recorded": "Financial Year,Financial Quarter,Force Name,Offence Code,"
                       "Number of Offences\n2023/24,1,Kent,19C,5\n",
    }
    load_files(empty_db, [write(tmp_path / "f.csv", headers[kind])], today=TODAY)
    assert query(empty_db, sa.select(schema.loads.c.kind)) == [(kind,)]


def test_an_unknown_kind_is_refused_before_anything_is_opened(tmp_path: Path) -> None:
    db = tmp_path / "never.duckdb"
    with pytest.raises(ValueError, match="unknown kind 'xlsx'"):
        load_files(db, [tmp_path / "x.csv"], kind="xlsx")
    assert not db.exists()


# --------------------------------------------------------------------------- all or nothing

def test_one_bad_file_refuses_the_whole_load_and_leaves_the_file_unchanged(
    demo_db: Path, tmp_path: Path
) -> None:
    good = long_return(tmp_path / "good.csv", [("kent", "2025-09", "rape_reports", 999)])
    bad = long_return(tmp_path / "bad.csv", [("kent", "2025-09", "cps_referrals", "many")])
    before = sha256(demo_db)
    with pytest.raises(LoadRefused, match=r"bad\.csv, row 2, column 'value'"):
        load_files(demo_db, [good, bad], today=TODAY)
    assert sha256(demo_db) == before


def test_a_failure_after_writing_but_before_publishing_leaves_the_file_unchanged(
    demo_db: Path, tmp_path: Path
) -> None:
    file = long_return(tmp_path / "r.csv", [("kent", "2025-09", "rape_reports", 999)])
    before = sha256(demo_db)

    def fail(conn: sa.Connection) -> None:
        obs = schema.observations.c
        assert conn.execute(sa.select(obs.value).where(
            obs.force_slug == "kent", obs.measure_id == "rape_reports",
            obs.period_start == SEP)).scalar_one() == 999.0
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        load_files(demo_db, [file], today=TODAY, before_publish=fail)
    assert sha256(demo_db) == before
    if isinstance(demo_db, Path):
        assert [p.name for p in demo_db.parent.iterdir() if "staging" in p.name] == []


_KILLED_LOADER = """
import datetime as dt, sys, threading
from pathlib import Path
from kpis.ingest.loader import load_files
from kpis.settings import as_location
db, file, marker = as_location(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
def stall(conn):
    marker.write_text("written, not yet published")
    threading.Event().wait(60)  # until the test kills this process
load_files(db, [file], today=dt.date(2025, 10, 15), before_publish=stall)
"""


@pytest.mark.slow  # a loader process, killed
def test_a_loader_killed_mid_load_leaves_the_previous_data_and_the_next_load_works(
    demo_db: Path, tmp_path: Path
) -> None:
    file = long_return(tmp_path / "r.csv", [("kent", "2025-09", "rape_reports", 999)])
    marker = tmp_path / "marker"
    before = sha256(demo_db)
    old = value_of(demo_db, "kent", "rape_reports", SEP)
    process = subprocess.Popen(
        [sys.executable, "-c", _KILLED_LOADER, str(demo_db), str(file), str(marker)],
        cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    try:
        def at_the_publish_step() -> bool:
            assert process.poll() is None, "the loader exited early"
            return marker.exists()

        wait_until(at_the_publish_step, "the loader never reached the publish step",
                   timeout=60)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert sha256(demo_db) == before
    assert value_of(demo_db, "kent", "rape_reports", SEP) == old
    result = load_files(demo_db, [file], today=TODAY)
    assert value_of(demo_db, "kent", "rape_reports", SEP) == (999.0, result.load_ids[0])


def test_two_files_supplying_the_same_values_are_refused_together(
    empty_db: Path, tmp_path: Path
) -> None:
    one = long_return(tmp_path / "one.csv", [("kent", "2025-08", "rape_reports", 1)])
    two = write(tmp_path / "two.csv", "force,month,rape_reports\nkent,2025-08,2\n")
    with pytest.raises(LoadRefused) as refused:
        load_files(empty_db, [one, two], today=TODAY)
    (finding,) = refused.value.report.errors
    assert finding.file == "two.csv"
    assert "also supplied by one.csv" in finding.rule


def test_the_same_file_twice_in_one_load_is_refused(empty_db: Path, tmp_path: Path) -> None:
    file = long_return(tmp_path / "r.csv", [("kent", "2025-08", "rape_reports", 1)])
    with pytest.raises(LoadRefused, match=r"the same contents as r\.csv"):
        load_files(empty_db, [file, file], today=TODAY)


def test_an_empty_list_of_files_is_refused(empty_db: Path) -> None:
    before = sha256(empty_db)
    with pytest.raises(LoadRefused, match="no files were given"):
        load_files(empty_db, [], today=TODAY)
    assert sha256(empty_db) == before


def test_reloading_identical_contents_warns_but_loads(empty_db: Path, tmp_path: Path) -> None:
    file = long_return(tmp_path / "r.csv", [("kent", "2025-08", "rape_reports", 1)])
    first = load_files(empty_db, [file], today=TODAY)
    again = load_files(empty_db, [file], today=TODAY)
    assert any(f"loaded before as load {first.load_ids[0]}" in w.rule
               for w in again.report.warnings)
    assert value_of(empty_db, "kent", "rape_reports", AUG) == (1.0, again.load_ids[0])


# ------------------------------------------------------------------ resubmission and history

@pytest.mark.slow  # about a second
def test_resubmitted_force_month_replaces_values_and_keeps_the_old_ones_as_history(
    empty_db: Path, tmp_path: Path
) -> None:
    v1 = load_files(empty_db, [long_return(tmp_path / "v1.csv", [
        ("kent", "2025-08", "rape_reports", 10), ("kent", "2025-08", "cps_referrals", 4),
        ("kent", "2025-09", "rape_reports", 12),
    ])], today=TODAY).load_ids[0]
    v2 = load_files(empty_db, [long_return(tmp_path / "v2.csv", [
        ("kent", "2025-08", "rape_reports", 11),
    ])], today=TODAY).load_ids[0]
    assert value_of(empty_db, "kent", "rape_reports", AUG) == (11.0, v2)
    assert value_of(empty_db, "kent", "cps_referrals", AUG) == (4.0, v1)  # not resubmitted
    assert value_of(empty_db, "kent", "rape_reports", SEP) == (12.0, v1)
    assert history_of(empty_db) == [("kent", "rape_reports", AUG, 10.0, v1, v2)]

    v3 = load_files(empty_db, [long_return(tmp_path / "v3.csv", [
        ("kent", "2025-08", "rape_reports", 13),
    ])], today=TODAY).load_ids[0]
    assert value_of(empty_db, "kent", "rape_reports", AUG) == (13.0, v3)
    assert history_of(empty_db) == [
        ("kent", "rape_reports", AUG, 10.0, v1, v2),
        ("kent", "rape_reports", AUG, 11.0, v2, v3),
    ]


def test_completeness_counts_supplied_measures_of_each_force_month_after_the_load(
    empty_db: Path, tmp_path: Path
) -> None:
    catalogue = load_yaml(CATALOGUE_FILE.read_text(encoding="utf-8"))
    sources = {m["id"]: m["source"] for m in catalogue["measures"]}
    latest: dict[str, dict[str, object]] = {}
    for kpi in catalogue["kpis"]:
        if kpi["status"] == "published" and (
            kpi["id"] not in latest or kpi["version"] > latest[kpi["id"]]["version"]
        ):
            latest[kpi["id"]] = kpi
    expected = {m for k in latest.values() for m in k["numerator"] + k.get("denominator", [])
                if sources[m] == "force_return"}

    load_files(empty_db, [write(tmp_path / "a.csv",
                                "force,month,rape_reports,cps_referrals,charges_total\n"
                                "kent,2025-08,10,3,\n")], today=TODAY)
    assert value_of(empty_db, "kent", "return_measures_supplied", AUG)[0] == 2.0  # type: ignore[index]
    assert value_of(empty_db, "kent", "return_measures_expected", AUG)[0] == len(expected)  # type: ignore[index]

    # A later return filling in more measures of the same month raises its completeness.
    load_files(empty_db, [long_return(tmp_path / "b.csv", [
        ("kent", "2025-08", "charges_total", 1), ("kent", "2025-08", "sickness_days", 2),
    ])], today=TODAY)
    assert value_of(empty_db, "kent", "return_measures_supplied", AUG)[0] == 4.0  # type: ignore[index]


# ------------------------------------------------------------------------------- rollback

def test_rollback_restores_the_values_a_load_replaced_and_removes_what_it_added(
    empty_db: Path, tmp_path: Path
) -> None:
    v1 = load_files(empty_db, [long_return(tmp_path / "v1.csv", [
        ("kent", "2025-08", "rape_reports", 10),
    ])], today=TODAY).load_ids[0]
    state_after_v1 = sha256(empty_db)
    v2 = load_files(empty_db, [long_return(tmp_path / "v2.csv", [
        ("kent", "2025-08", "rape_reports", 11), ("kent", "2025-09", "rape_reports", 5),
    ])], today=TODAY).load_ids[0]
    changed = rollback(empty_db, v2)
    assert changed > 0
    assert value_of(empty_db, "kent", "rape_reports", AUG) == (10.0, v1)
    assert value_of(empty_db, "kent", "rape_reports", SEP) is None
    assert history_of(empty_db) == []
    statuses = dict(query(empty_db, sa.select(schema.loads.c.load_id, schema.loads.c.status)))
    assert statuses == {v1: "loaded", v2: "rolled back"}
    assert sha256(empty_db) != state_after_v1  # the audit trail records the rollback


@pytest.mark.slow  # about a second
def test_rollback_of_a_load_later_loads_replaced_is_refused_and_changes_nothing(
    empty_db: Path, tmp_path: Path
) -> None:
    v1 = load_files(empty_db, [long_return(tmp_path / "v1.csv", [
        ("kent", "2025-08", "rape_reports", 10)])], today=TODAY).load_ids[0]
    v2 = load_files(empty_db, [long_return(tmp_path / "v2.csv", [
        ("kent", "2025-08", "rape_reports", 11)])], today=TODAY).load_ids[0]
    before = sha256(empty_db)
    with pytest.raises(RollbackRefused, match=f"later load\\(s\\) {v2}"):
        rollback(empty_db, v1)
    assert sha256(empty_db) == before
    rollback(empty_db, v2)
    rollback(empty_db, v1)
    assert value_of(empty_db, "kent", "rape_reports", AUG) is None


def test_rollback_twice_or_of_an_unknown_load_is_refused(empty_db: Path, tmp_path: Path) -> None:
    v1 = load_files(empty_db, [long_return(tmp_path / "v1.csv", [
        ("kent", "2025-08", "rape_reports", 10)])], today=TODAY).load_ids[0]
    rollback(empty_db, v1)
    with pytest.raises(RollbackRefused, match="already rolled back"):
        rollback(empty_db, v1)
    with pytest.raises(RollbackRefused, match="no load with id 999"):
        rollback(empty_db, 999)


def test_rollback_of_a_home_office_load_restores_the_previous_quarter_figures(
    empty_db: Path, tmp_path: Path
) -> None:
    header = ("Financial Year,Financial Quarter,Force Name,Offence Code,Number of Offences\n")
    first = load_files(empty_db, [write(tmp_path / "r1.csv", header + "2023/24,1,Kent,19C,30\n")],
                       today=TODAY).load_ids[0]
    second = load_files(empty_db, [write(tmp_path / "r2.csv",
                                         header + "2023/24,1,Kent,19C,31\n")],
                        today=TODAY).load_ids[0]
    q1 = dt.date(2023, 4, 1)
    assert value_of(empty_db, "kent", "ho_rape_offences", q1) == (31.0, second)
    rollback(empty_db, second)
    assert value_of(empty_db, "kent", "ho_rape_offences", q1) == (30.0, first)


# ------------------------------------------------------------------- reading while loading

_READER = """
import json, sys, time, traceback
from pathlib import Path
from kpis.settings import as_location
from kpis.storage.backend import open_store
db = as_location(sys.argv[1])
ready, stop, out = (Path(a) for a in sys.argv[2:5])
reader = open_store(db)
seen, errors = [], []
while not stop.exists():
    try:
        frame = reader.frame(
            "SELECT (SELECT count(*) FROM loads) AS loads, count(*) AS n, "
            "coalesce(sum(value), 0) AS total FROM observations "
            "WHERE measure_id NOT LIKE 'return_measures_%'"
        )
        state = [int(frame["loads"][0]), int(frame["n"][0]), float(frame["total"][0])]
        if not seen or seen[-1] != state:
            seen.append(state)
            # Tell the test which load the reader has seen last (written whole).
            ready.with_suffix(".tmp").write_text(str(state[0]))
            ready.with_suffix(".tmp").replace(ready)
    except Exception:
        errors.append(traceback.format_exc())
out.write_text(json.dumps({"seen": seen, "errors": errors}))
"""


@pytest.mark.slow  # a reader process beside six loads
def test_a_reader_process_querying_during_loads_only_ever_sees_whole_loads(
    empty_db: Path, tmp_path: Path
) -> None:
    forces = [str(f["slug"]) for f in read_forces()]
    measures = ["rape_reports", "cps_referrals", "charges_total", "open_investigations",
                "sickness_days", "devices_returned", "isva_referrals", "order_applications"]
    # Load k supplies every force and measure for one month with value k + 1, and the
    # last load resubmits the first month: each published state is known in advance.
    months = ["2025-03", "2025-04", "2025-05", "2025-06", "2025-07", "2025-03"]
    per_load = len(forces) * len(measures)
    expected = [(0, 0, 0.0)]
    held: dict[str, float] = {}
    files = []
    for k, month in enumerate(months):
        held[month] = float(k + 1)
        expected.append((k + 1, per_load * len(held), per_load * sum(held.values())))
        files.append(long_return(tmp_path / f"load{k}.csv",
                                 [(f, month, m, k + 1) for f in forces for m in measures]))

    ready, stop, out = tmp_path / "ready", tmp_path / "stop", tmp_path / "seen.json"
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, str(empty_db), str(ready), str(stop), str(out)],
        cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    def reader_has_seen(loads: int) -> Callable[[], bool]:
        def seen() -> bool:
            assert reader.poll() is None, "the reader process died"
            return ready.exists() and ready.read_text() == str(loads)
        return seen

    try:
        wait_until(reader_has_seen(0), "the reader never answered", timeout=60)
        for number, file in enumerate(files, start=1):
            load_files(empty_db, [file], today=TODAY)
            # The reader queries each published version before the next is published.
            wait_until(reader_has_seen(number), f"the reader to see load {number}",
                       timeout=60)
    finally:
        stop.touch()
        reader.wait(timeout=60)
    result = json.loads(out.read_text())
    assert result["errors"] == []
    seen = [tuple(s) for s in result["seen"]]
    assert set(seen) <= set(expected), f"a partial state was seen: {set(seen) - set(expected)}"
    # States appear in publication order, and the reader saw the loads land.
    assert seen == sorted(seen, key=expected.index)
    assert seen[-1] == expected[-1]
    assert len(seen) >= 3

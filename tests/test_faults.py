"""No fault may lose or corrupt data (issue #7): writers killed with SIGKILL.

A load (and a rollback) runs in a child process that counts profile events as it
goes: calls of functions in ``kpis``, the staging copy (``shutil.copyfile``), every
SQL statement, commit and close (SQLAlchemy's ``do_*`` hooks) and the operating
system calls the store makes (``flock``, ``sendfile``, ``fsync``, ``replace``). A
first, unkilled run lists the events; each kill run then sends itself SIGKILL just
before event k. The kill points are chosen per phase of the write (locking, staging
copy, opening the copy, parsing, writing, commit and checkpoint, fsync, rename,
after the rename), so they are deterministic, distinct and cover the whole write.

After each kill the database must open read-only and hold exactly the state before
the write (killed up to the rename) or exactly the state after it (killed after),
comparing every row of every table; and it must take a further write.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from kpis.ingest.context import build_context
from kpis.ingest.loader import load_files, rollback
from kpis.storage import schema
from kpis.storage.duckdb_file import Reader
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow  # processes killed at each step of a write

NOW = dt.datetime(2025, 10, 15, 9, 30)
TODAY = NOW.date()
USER = "fault-test"
AUG, SEP = dt.date(2025, 8, 1), dt.date(2025, 9, 1)
# Two forces resubmit August and September and a force whose September return is
# missing from the demonstration data sends it, so the load both replaces values
# (moving the old ones to the history) and adds new ones.
RESUBMITTING = ("kent", "surrey")
# Writers running at once (each is one CPU-bound process) and how long they may take.
PARALLEL = 4
TIMEOUT = 180

# The launcher imports the write path once and forks one writer per job, so a kill
# costs the write and not Python's start-up; it opens no database before forking
# (DuckDB handles do not survive a fork). Each writer runs the operation under a
# profile hook that labels the events we count, and SIGKILLs itself just before event
# ``kill_at``; with -1 it runs to the end and writes every event's label to
# ``events.json`` beside its database. The launcher prints each writer's exit code as
# subprocess reports one (-9: killed by SIGKILL). PYTHONHASHSEED is fixed by the test
# so set iteration, and so the sequence of events, repeats exactly.
_LAUNCHER = r"""
import datetime as dt, json, os, shutil, signal, sys, traceback
from pathlib import Path

import kpis
from kpis.ingest.loader import load_files, rollback

operation, argument, user, now = sys.argv[1:5]
jobs, parallel = json.loads(sys.argv[5]), int(sys.argv[6])
KPIS = str(Path(kpis.__file__).parent) + os.sep
SHUTIL = shutil.__file__
SQLALCHEMY_DEFAULT = os.path.join("sqlalchemy", "engine", "default.py")


def call_label(code):
    if code.co_filename.startswith(KPIS):
        return f"call {code.co_filename[len(KPIS):]}:{code.co_name}"
    if code.co_filename == SHUTIL and code.co_name in ("copyfile", "_fastcopy_sendfile"):
        return f"call shutil.{code.co_name}"
    if code.co_filename.endswith(SQLALCHEMY_DEFAULT) and code.co_name.startswith("do_"):
        return f"call sqlalchemy:{code.co_name}"
    return None


# The hook sees every call in the process: answers per code object are remembered.
call_labels, system_callers = {}, {}


def label(frame, event, arg):
    code = frame.f_code
    if event == "call":
        if code not in call_labels:
            call_labels[code] = call_label(code)
        return call_labels[code]
    if event == "c_call":
        if code not in system_callers:
            system_callers[code] = (code.co_filename.startswith(KPIS)
                                    or code.co_filename == SHUTIL)
        module = getattr(arg, "__module__", None) if system_callers[code] else None
        if module in ("posix", "fcntl"):
            return f"c_call {module}.{arg.__name__}"
    return None


def write(db, kill_at):
    events = []

    def hook(frame, event, arg):
        found = label(frame, event, arg)
        if found is None:
            return
        events.append(found)
        if len(events) - 1 == kill_at:
            sys.setprofile(None)
            # Written before the kill, so it is in the page cache for the test to read.
            (db.parent / "killed-at").write_text(found)
            os.kill(os.getpid(), signal.SIGKILL)

    sys.setprofile(hook)
    if operation == "load":
        when = dt.datetime.fromisoformat(now)
        load_files(db, [Path(argument)], user=user, now=when, today=when.date())
    else:
        rollback(db, int(argument))
    sys.setprofile(None)
    if kill_at >= 0:
        raise SystemExit(f"finished after {len(events)} events, before event {kill_at}")
    (db.parent / "events.json").write_text(json.dumps(events))


codes, running, pending = {}, {}, list(enumerate(jobs))
while pending or running:
    while pending and len(running) < parallel:
        number, (db, kill_at) = pending.pop(0)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            try:
                write(Path(db), kill_at)
                os._exit(0)
            except BaseException:
                traceback.print_exc()
                os._exit(2)
        running[pid] = number
    pid, status = os.wait()
    codes[running.pop(pid)] = os.waitstatus_to_exitcode(status)
print(json.dumps([codes[number] for number in range(len(jobs))]))
"""


# ------------------------------------------------------------------------------ helpers

State = dict[str, tuple[int, str]]


def state_of(db: Path) -> State:
    """Every table of the database as (rows, digest of its rows), opened read-only.

    The digest is the exact sum of DuckDB's 64-bit hash of each whole row: a canonical
    digest of the table's rows as a multiset, whatever their order in the file, worked
    out inside DuckDB (fetching and sorting every row costs twenty times as much).
    """
    reader = Reader(db)
    try:
        tables = reader.frame(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        )["table_name"]
        state: State = {}
        for table in sorted(tables):
            rows, digest = reader.frame(
                f'SELECT count(*), CAST(sum(hash(t)) AS VARCHAR) FROM "{table}" AS t'
            ).iloc[0]
            state[table] = (int(rows), str(digest))
        return state
    finally:
        reader.close()


def differences(state: State, old: State, new: State) -> str:
    """Which tables differ from the old and from the new state (for a failure message)."""
    changed_old = [t for t in sorted(set(state) | set(old)) if state.get(t) != old.get(t)]
    changed_new = [t for t in sorted(set(state) | set(new)) if state.get(t) != new.get(t)]
    return f"differs from the old state in {changed_old}, from the new state in {changed_new}"


def staging_leftovers(db: Path) -> list[str]:
    return sorted(p.name for p in db.parent.iterdir() if ".staging-" in p.name)


def copy_into(source: Path, folder: Path) -> Path:
    """Copy a database file into a folder of its own (its own lock and staging files)."""
    folder.mkdir(parents=True)
    return Path(shutil.copyfile(source, folder / source.name))


def write_resubmission(db: Path, path: Path) -> Path:
    """A wide return: twice last August and September's figures for a few forces.

    Doubling keeps every numerator at or below its denominator, so the file passes
    validation. The first force with no September return sends its August figures as
    September's.
    """
    obs = schema.observations.c
    reader = Reader(db)
    try:
        with reader.connect() as conn:
            measures = list(build_context(conn, today=TODAY).return_measures)
        frame = reader.frame(
            sa.select(obs.force_slug, obs.measure_id, obs.period_start, obs.value)
            .where(obs.period_start.in_([AUG, SEP]), obs.measure_id.in_(measures))
        )
    finally:
        reader.close()
    months = pd.to_datetime(frame["period_start"]).dt.date
    values = dict(zip(zip(frame["force_slug"], frame["measure_id"], months, strict=True),
                      frame["value"], strict=True))
    late = sorted(set(frame["force_slug"]) - set(frame.loc[months == SEP, "force_slug"]))
    assert late, "the demonstration data should have a force with no September return"

    def row(force: str, month: dt.date, source: dt.date, factor: int) -> str:
        cells = [values.get((force, m, source)) for m in measures]
        return ",".join([force, f"{month:%Y-%m}",
                         *("" if v is None else str(int(v) * factor) for v in cells)])

    lines = [",".join(["force", "month", *measures])]
    lines += [row(force, month, month, 2) for force in RESUBMITTING for month in (AUG, SEP)]
    lines.append(row(late[0], SEP, AUG, 1))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_writers(operation: str, argument: str, jobs: Sequence[tuple[Path, int]]) -> list[int]:
    """Run ``operation`` once per (database, kill_at) job; return the writers' exit codes."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "PYTHONHASHSEED": "0"}
    command = [sys.executable, "-c", _LAUNCHER, operation, argument, USER, NOW.isoformat(),
               json.dumps([(str(db), kill_at) for db, kill_at in jobs]), str(PARALLEL)]
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True,
                            text=True, timeout=TIMEOUT, check=False)
    assert result.returncode == 0, result.stderr
    codes: list[int] = json.loads(result.stdout)
    return codes


def count_events(operation: str, db: Path, argument: str) -> list[str]:
    """Run the operation to completion under the hook; return its events in order."""
    [code] = run_writers(operation, argument, [(db, -1)])
    assert code == 0, f"the unkilled {operation} failed with exit code {code}"
    events: list[str] = json.loads((db.parent / "events.json").read_text())
    return events


@dataclass(frozen=True)
class Phase:
    name: str
    starts_at: str  # the label of the phase's first event (searched after the last phase's)
    points: int


@dataclass(frozen=True)
class KillPoint:
    index: int
    phase: str
    label: str


def kill_points(events: Sequence[str], phases: Sequence[Phase]) -> list[KillPoint]:
    """``phase.points`` events spread evenly over each phase, first and last included."""
    starts: list[int] = []
    for phase in phases:
        after = starts[-1] + 1 if starts else 0
        assert phase.starts_at in events[after:], (
            f"no event {phase.starts_at!r} starts the {phase.name} phase: has the write "
            "path changed? Update the phases to the new steps")
        starts.append(events.index(phase.starts_at, after))
    points: list[KillPoint] = []
    for phase, start, end in zip(phases, starts, [*starts[1:], len(events)], strict=True):
        last = end - 1
        assert last - start + 1 >= phase.points, f"the {phase.name} phase is too short"
        spread = [start] if phase.points == 1 else [
            start + round(i * (last - start) / (phase.points - 1)) for i in range(phase.points)
        ]
        points += [KillPoint(k, phase.name, events[k]) for k in spread]
    return points


def kill_at_each_point(operation: str, source: Path, argument: str,
                       points: Sequence[KillPoint], folder: Path) -> list[Path]:
    """Copy ``source`` once per point, run the operation on each copy and SIGKILL it
    there; returns the copies. Each copy has a folder of its own (its own lock and
    staging files), so the writers can run at once."""
    copies = [copy_into(source, folder / f"killed-at-{point.index:05d}") for point in points]
    codes = run_writers(operation, argument,
                        [(db, point.index) for db, point in zip(copies, points, strict=True)])
    for point, db, code in zip(points, copies, codes, strict=True):
        where = f"the writer to be killed at event {point.index} ({point.label}, {point.phase})"
        assert code == -signal.SIGKILL, f"{where} exited with {code}"
        # The same event as in the counting run: the kill points are deterministic.
        assert (db.parent / "killed-at").read_text() == point.label, where
    return copies


# Each phase starts at the first event with its label after the previous phase's start.
# The staging copy's points are its start and its last sendfile (the copy written, not
# yet opened); "after the rename" ends with the lock's release. A load reads the
# published catalogue and parses its files before it takes the lock.
LOAD_PHASES = [
    Phase("reading the published context", "call ingest/loader.py:load_files", 2),
    Phase("parsing, before the lock", "call ingest/loader.py:parse_files", 4),
    Phase("locking and the staging copy", "call shutil.copyfile", 2),
    Phase("opening the copy", "call storage/duckdb_file.py:engine_url", 2),
    Phase("writing", "call ingest/loader.py:_record_load", 3),
    Phase("commit and checkpoint", "call sqlalchemy:do_commit", 2),
    Phase("fsync", "call storage/publication.py:fsync_path", 2),
    Phase("rename", "c_call posix.replace", 1),
    Phase("after the rename", "call storage/publication.py:fsync_path", 2),
]

ROLLBACK_PHASES = [
    Phase("locking", "call ingest/loader.py:rollback", 1),
    Phase("staging copy", "call shutil.copyfile", 1),
    Phase("writing", "call sqlalchemy:do_execute", 2),
    Phase("commit and checkpoint", "call sqlalchemy:do_commit", 1),
    Phase("fsync", "call storage/publication.py:fsync_path", 1),
    Phase("rename", "c_call posix.replace", 1),
    Phase("after the rename", "call storage/publication.py:fsync_path", 1),
]


def expected_states(points: Sequence[KillPoint], events: Sequence[str], old: State,
                    new: State, copies: Sequence[Path]) -> list[str]:
    """Check every killed copy holds the old or the new state; return which, per copy.

    Killed at or before the rename, the published file is untouched (old); after it,
    the rename has published the whole write (new).
    """
    # The publishing rename: the first after the staging copy's fsync (a reader's pin of
    # the published version, before the write, renames a link too).
    rename = events.index("c_call posix.replace",
                          events.index("call storage/publication.py:fsync_path"))
    outcomes = []
    for point, db in zip(points, copies, strict=True):
        state = state_of(db)  # opens read-only through the dashboard's reader
        where = f"killed at event {point.index} ({point.label}, {point.phase})"
        assert state in (old, new), f"{where}: {differences(state, old, new)}"
        expected = "old" if point.index <= rename else "new"
        assert state == (old if expected == "old" else new), f"{where}: not the {expected} state"
        outcomes.append(expected)
    return outcomes


# -------------------------------------------------------------------------------- tests

def test_a_load_killed_at_twenty_points_leaves_the_old_or_the_new_state_and_takes_a_load(
    demo_db: Path, tmp_path: Path
) -> None:
    file = write_resubmission(demo_db, tmp_path / "resubmission.csv")
    old = state_of(demo_db)
    reference = copy_into(demo_db, tmp_path / "reference")
    events = count_events("load", reference, str(file))
    new = state_of(reference)
    assert new["observations"] != old["observations"]
    assert new["observation_history"] != old["observation_history"]

    points = kill_points(events, LOAD_PHASES)
    assert len(points) == 20
    assert len({p.index for p in points}) == 20, "two kill points are the same event"
    copies = kill_at_each_point("load", demo_db, str(file), points, tmp_path / "kills")
    outcomes = expected_states(points, events, old, new, copies)
    # The points straddle the publish: some kills leave the old state, some the new.
    assert "old" in outcomes and "new" in outcomes

    for point, db, outcome in zip(points, copies, outcomes, strict=True):
        where = f"after a kill at event {point.index} ({point.label}, {point.phase})"
        result = load_files(db, [file], user=USER, now=NOW, today=TODAY)
        if outcome == "old":
            # The interrupted load, done again, gives exactly the uninterrupted result.
            assert state_of(db) == new, f"{where}: {differences(state_of(db), old, new)}"
        else:
            assert any("loaded before" in w.rule for w in result.report.warnings), where
            assert state_of(db)["loads"][0] == new["loads"][0] + 1, where
        assert staging_leftovers(db) == [], where


def test_a_rollback_killed_at_eight_points_leaves_the_old_or_the_new_state_and_takes_a_write(
    demo_db: Path, tmp_path: Path
) -> None:
    file = write_resubmission(demo_db, tmp_path / "resubmission.csv")
    loaded = load_files(demo_db, [file], user=USER, now=NOW, today=TODAY)
    load_id = loaded.load_ids[0]
    old = state_of(demo_db)
    reference = copy_into(demo_db, tmp_path / "reference")
    events = count_events("rollback", reference, str(load_id))
    new = state_of(reference)
    assert new["observations"] != old["observations"]

    points = kill_points(events, ROLLBACK_PHASES)
    assert len({p.index for p in points}) == len(points) == 8
    copies = kill_at_each_point("rollback", demo_db, str(load_id), points, tmp_path / "kills")
    outcomes = expected_states(points, events, old, new, copies)
    assert "old" in outcomes and "new" in outcomes

    for point, db, outcome in zip(points, copies, outcomes, strict=True):
        where = f"after a kill at event {point.index} ({point.label}, {point.phase})"
        if outcome == "old":
            rollback(db, load_id)
            assert state_of(db) == new, f"{where}: {differences(state_of(db), old, new)}"
        else:
            load_files(db, [file], user=USER, now=NOW, today=TODAY)
            assert state_of(db)["loads"][0] == new["loads"][0] + 1, where
        assert staging_leftovers(db) == [], where

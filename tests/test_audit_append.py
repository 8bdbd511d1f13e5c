"""A command's audit row appended with DuckDB alone (kpis.storage.audit_append) is the
row the store writes, in a file published the store's way; anything the module was not
written for declines before the detail is asked for, and the store writes the row."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from kpis.domain.events import EXPORT, SIGN_IN
from kpis.storage import audit_append
from kpis.storage.audit_append import append_when_told, record_when_told
from kpis.storage.security import SECURITY_SCHEMA, SecurityStore, metadata
from tests.conftest import PROJECT_ROOT

# Text the log must not keep as it is: a line break, a tab, an escape code and a
# Unicode line separator; and more than the log keeps of a detail.
FORGED = "kent\nSIGN_IN admin\t\x1b[2J\u2028"
LONG = "KPI table (csv) to /tmp/x.csv: " + "y" * 1200


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def users_file(path: Path) -> Path:
    """A users and audit file as the store makes it: one user, one event."""
    store = SecurityStore(path)
    store.add_user("analyst", "analyst", "a long enough passphrase", actor="setup")
    store.record(SIGN_IN, "analyst", "signed in")
    store.close()
    return path


def contents(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {name: con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()
                for name in sorted(metadata.tables)}


def leftovers(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir()
                  if p.name.startswith(f".{path.name}.staging"))


def test_it_is_written_for_the_users_file_of_this_version() -> None:
    assert SECURITY_SCHEMA.version == audit_append.SCHEMA_VERSION
    assert sorted(audit_append.TABLES) == sorted(metadata.tables)
    audit_log = metadata.tables["audit_log"]
    assert [c for c, _ in audit_append._AUDIT_COLUMNS] == [c.name for c in audit_log.columns]


def test_the_row_and_the_file_are_those_the_store_writes(tmp_path: Path) -> None:
    by_store = users_file(tmp_path / "store" / "users.duckdb")
    by_duckdb = tmp_path / "duckdb" / "users.duckdb"
    by_duckdb.parent.mkdir()
    by_duckdb.write_bytes(by_store.read_bytes())
    assert contents(by_store) == contents(by_duckdb)

    asked: list[str] = []

    def detail() -> str:
        asked.append("asked")
        return LONG
    before = dt.datetime.now().replace(microsecond=0)
    assert SecurityStore(by_store).record_when_told(EXPORT, FORGED, lambda: LONG) is True
    assert append_when_told(by_duckdb, EXPORT, FORGED, detail) is True
    after = dt.datetime.now()
    assert asked == ["asked"]

    store, duck = contents(by_store), contents(by_duckdb)
    # When each was written may differ by the clock's second; nothing else may.
    assert [row[:1] + row[2:] for row in store.pop("audit_log")] == [
        row[:1] + row[2:] for row in duck["audit_log"]]
    assert store == {name: rows for name, rows in duck.items() if name != "audit_log"}
    # The new row, worked out by hand: the next number, the escapes, 1,000 characters.
    newest = duck["audit_log"][-1]
    assert newest[0] == duck["audit_log"][-2][0] + 1
    assert before <= newest[1] <= after and newest[1].microsecond == 0
    assert newest[2:5] == (EXPORT, "kent\\nSIGN_IN admin\\t\\x1b[2J\\u2028", "")
    assert newest[5] == LONG[:1000] and len(newest[5]) == 1000
    meta = dict(duck["meta"])
    assert meta["schema_version"] == str(SECURITY_SCHEMA.version)
    # One more write than the file had seen: the user, the sign-in, and this row.
    assert int(meta["data_version"]) == 3
    # Readers see it as the store's own: the newest event, through the store.
    event = SecurityStore(by_duckdb).events(limit=1)[0]
    assert (event.event, event.detail) == (EXPORT, LONG[:1000])
    assert leftovers(by_duckdb) == []


def test_no_detail_writes_nothing_and_leaves_the_file_byte_for_byte(tmp_path: Path) -> None:
    path = users_file(tmp_path / "users.duckdb")
    before = sha256(path)
    assert append_when_told(path, EXPORT, "analyst", lambda: None) is False
    assert sha256(path) == before and leftovers(path) == []


def test_a_failure_while_waiting_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = users_file(tmp_path / "users.duckdb")
    before = sha256(path)

    def detail() -> str:
        raise RuntimeError("the command died")

    with pytest.raises(RuntimeError, match="the command died"):
        append_when_told(path, EXPORT, "analyst", detail)
    assert sha256(path) == before and leftovers(path) == []


def older(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")


def without_a_table(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("DROP TABLE packs_sent")


def with_another_column(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("ALTER TABLE audit_log ADD COLUMN scope VARCHAR DEFAULT ''")


@pytest.mark.parametrize("change", [older, without_a_table, with_another_column])
def test_a_file_it_was_not_written_for_is_declined_untouched(tmp_path: Path, change) -> None:
    path = users_file(tmp_path / "users.duckdb")
    change(path)
    before = sha256(path)
    asked: list[str] = []
    assert append_when_told(path, EXPORT, "analyst", lambda: asked.append("") or "x") is None
    assert asked == [] and sha256(path) == before and leftovers(path) == []


def test_no_file_is_declined_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "users.duckdb"
    assert append_when_told(path, EXPORT, "analyst", lambda: "x") is None
    assert not path.exists() and leftovers(path) == []


def test_declined_the_store_writes_the_row_creating_what_is_missing(tmp_path: Path) -> None:
    missing_table = users_file(tmp_path / "a" / "users.duckdb")
    without_a_table(missing_table)
    no_file = tmp_path / "b" / "users.duckdb"
    for path in (missing_table, no_file):
        assert record_when_told(path, EXPORT, "analyst", lambda: "the KPI table") is True
        events = SecurityStore(path).events()
        assert (events[0].event, events[0].detail) == (EXPORT, "the KPI table")
        with duckdb.connect(str(path), read_only=True) as con:
            assert con.execute("SELECT count(*) FROM packs_sent").fetchone() == (0,)


def test_a_store_write_waits_for_the_row_and_both_are_kept(tmp_path: Path) -> None:
    path = users_file(tmp_path / "users.duckdb")
    began, go = threading.Event(), threading.Event()

    def detail() -> str:
        began.set()  # the lock held, the copy open: a store write must wait for it
        assert go.wait(30)
        return "the KPI table"

    appending = threading.Thread(target=append_when_told,
                                 args=(path, EXPORT, "analyst", detail))
    appending.start()
    assert began.wait(30)
    storing = threading.Thread(target=SecurityStore(path).record,
                               args=(SIGN_IN, "analyst", "signed in again"))
    storing.start()
    storing.join(0.5)
    assert storing.is_alive(), "the store wrote while the row's write held the lock"
    go.set()
    appending.join(30)
    storing.join(30)
    details = [e.detail for e in SecurityStore(path).events()]
    assert details[:2] == ["signed in again", "the KPI table"]


APPEND_ALONE = """
import sys
from pathlib import Path
from kpis.storage.audit_append import record_when_told
assert record_when_told(Path(sys.argv[1]), "export", "analyst", lambda: "the KPI table")
print(" ".join(m for m in ("sqlalchemy", "duckdb_engine", "kpis.storage.security",
                           "pandas") if m in sys.modules))
"""


@pytest.mark.slow  # a new process
def test_appending_imports_neither_sqlalchemy_nor_the_store(tmp_path: Path) -> None:
    path = users_file(tmp_path / "users.duckdb")
    done = subprocess.run([sys.executable, "-c", APPEND_ALONE, str(path)], cwd=PROJECT_ROOT,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
    assert SecurityStore(path).events(limit=1)[0].detail == "the KPI table"

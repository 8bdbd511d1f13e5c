"""One audit row appended to the users and audit file by a one-shot command.

``flightdeck kpis`` audits its export as every export is audited (a row in the users
and audit file, ``kpis.storage.security``), from a child process working beside the
command (``kpis.background_audit``). Through the store that row costs some 0.5 s of
CPU: SQLAlchemy's and duckdb-engine's imports (the latter pulls in SQLAlchemy's
PostgreSQL dialect) and an engine, for one INSERT. On a 2-core machine that is CPU
the command's own CSV writers need (bench/bench_cli.py). So, on a DuckDB users file
at the schema version this module was written for, the row is appended with DuckDB
alone, through the one write path's publication (``kpis.storage.publication``: the
lock, a private copy, the atomic rename) and exactly as the store writes it: the row
as :func:`kpis.storage.security.SecurityStore.record` writes it, the file's data
version bumped, its schema version as it was (tests/test_audit_append.py compares
the two files row by row).

Anything else (a PostgreSQL log, no file yet, another schema version, a table or
column missing or different) declines before the row's detail is asked for, and the
row is then written by the store, which creates, upgrades or refuses the file as it
always does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kpis.settings import Location
from kpis.storage.keys import DATA_VERSION_KEY, SCHEMA_VERSION_KEY
from kpis.storage.publication import private_copy

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

__all__ = ["SCHEMA_VERSION", "TABLES", "append_when_told", "audit_time", "printable",
           "record_when_told"]

#: The users and audit file's schema version this module's SQL is written for (a test
#: checks it against ``kpis.storage.security.SECURITY_SCHEMA``): any other declines.
SCHEMA_VERSION = 4
#: Every table of that version (the store creates a missing one on each write; here a
#: missing one declines, so that the store does).
TABLES = ("api_tokens", "audit_log", "meta", "pack_subscriptions", "packs_sent", "users")
# The audit log's columns, in order, with DuckDB's types (event_id: its sequence).
_AUDIT_COLUMNS = (("event_id", "INTEGER"), ("occurred_at", "TIMESTAMP"),
                  ("event", "VARCHAR"), ("username", "VARCHAR"), ("address", "VARCHAR"),
                  ("detail", "VARCHAR"))
_META_COLUMNS = (("key", "VARCHAR"), ("value", "VARCHAR"))
# What the log keeps of each text (kpis.storage.security writes through these too).
USERNAME_MOST, ADDRESS_MOST, DETAIL_MOST = 200, 64, 1000


def printable(text: str) -> str:
    """``text`` with every character that is not printable (line breaks, tabs, escape
    codes, Unicode line separators) written as its escape, ``\\n`` for a line break: a
    user name typed at the sign-in page cannot forge a line of the audit log."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def audit_time() -> dt.datetime:
    """When an event happened, as the log records it (local time, whole seconds)."""
    return dt.datetime.now().replace(microsecond=0)


class _Declined(Exception):
    """The file is not one this module writes: the store is to write the row."""


class _NotWanted(Exception):
    """The row's detail never came: nothing is written."""


def append_when_told(path: Path, event: str, username: str,
                     detail: Callable[[], str | None]) -> bool | None:
    """Append the event to the DuckDB users file at ``path`` with DuckDB alone: the
    write begun (the lock taken, the file copied, the transaction open), then
    ``detail()`` waited for. Whether the row was written (False: ``detail()`` gave
    None, nothing written); None if the file is not one this module writes (see the
    module), ``detail()`` then not called and nothing written."""
    import duckdb  # here: nothing else in this module needs it

    try:
        with private_copy(path) as staging:
            if not staging.existed:
                raise _Declined
            with duckdb.connect(str(staging.path), config={"threads": 1}) as con:
                if not _current(con):
                    raise _Declined
                con.execute("BEGIN TRANSACTION")
                text = detail()
                if text is None:
                    raise _NotWanted
                con.execute(
                    "INSERT INTO audit_log (occurred_at, event, username, address, detail) "
                    "VALUES (?, ?, ?, ?, ?)",
                    # No client address: a command's row, as the store's record() writes it.
                    [audit_time(), event, printable(username)[:USERNAME_MOST], "",
                     printable(text)[:DETAIL_MOST]])
                found = con.execute("SELECT value FROM meta WHERE key = ?",
                                    [DATA_VERSION_KEY]).fetchone()
                # (The schema version is already SCHEMA_VERSION: _current checked it.)
                _set_meta(con, DATA_VERSION_KEY, str(int(found[0] if found else 0) + 1))
                con.execute("COMMIT")
    except _Declined:
        return None
    except _NotWanted:
        return False
    return True


def record_when_told(location: Location, event: str, username: str,
                     detail: Callable[[], str | None]) -> bool:
    """:meth:`kpis.storage.security.SecurityStore.record_when_told` for the users and
    audit file at ``location``: with DuckDB alone where it can be
    (:func:`append_when_told`), else through the store."""
    if isinstance(location, Path):
        appended = append_when_told(location, event, username, detail)
        if appended is not None:
            return appended
    from kpis.storage.security import SecurityStore

    return SecurityStore(location).record_when_told(event, username, detail)


def _current(con: DuckDBPyConnection) -> bool:
    """Whether the open copy is at :data:`SCHEMA_VERSION` with exactly the tables and
    the audit log's and meta's columns this module writes."""
    tables = {name for (name,) in con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = current_schema()").fetchall()}
    if not set(TABLES) <= tables:
        return False
    columns = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name IN ('audit_log', 'meta') "
        "ORDER BY table_name, ordinal_position").fetchall()
    expected = [("audit_log", *column) for column in _AUDIT_COLUMNS]
    expected += [("meta", *column) for column in _META_COLUMNS]
    if columns != expected:
        return False
    found = con.execute("SELECT value FROM meta WHERE key = ?",
                        [SCHEMA_VERSION_KEY]).fetchone()
    return found is not None and found[0] == str(SCHEMA_VERSION)


def _set_meta(con: DuckDBPyConnection, key: str, value: str) -> None:
    # As kpis.storage.backend.set_meta: the key's row replaced.
    con.execute("DELETE FROM meta WHERE key = ?", [key])
    con.execute("INSERT INTO meta (key, value) VALUES (?, ?)",
                [key, value])

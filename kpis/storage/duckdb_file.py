"""The DuckDB store: one write path, many read-only readers, in one file.

DuckDB lets one process write a file and excludes every other process meanwhile, so
the dashboard's workers never open it for writing. A write (a load, a catalogue
reload, a rollback) works on a private copy of the file and, only once it has
committed and closed, swaps the copy in with an atomic rename. Readers notice the
new file (its inode changes) and reopen; a reader that is mid-query keeps the old
file's inode open until it finishes, so nobody ever sees half a load, and a writer
killed at any point leaves the previous file untouched.

Schema versions (``kpis.storage.schema``): the write path checks the version its
private copy records, and each reader checks every version it opens. An older file
is upgraded on the way: the upgrade steps run on the private copy, a new file is
built with the current tables and the rows copied into it, and that file is what
gets published, by the same atomic rename. A newer file is refused and left alone.

:class:`DuckDBStore` is the :class:`~kpis.storage.backend.Store` for a file;
``Reader`` and ``write_transaction`` are its older names, still used by tests and
scripts.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from kpis.storage import schema
from kpis.storage.backend import (
    DATA_VERSION_KEY,
    SCHEMA_VERSION_KEY,
    Store,
    UpgradeError,
    bump,
    check_version,
    create_missing_tables,
    get_meta,
    query_frame,
    run_upgrade_steps,
    set_meta,
    stored_version,
)
from kpis.storage.keys import DERIVED_PREFIX
from kpis.storage.publication import (
    WriteError,
    exclusive_lock,
    private_copy,
    remove_database_files,
)
from kpis.storage.schema import VersionedSchema

__all__ = [
    "DuckDBStore",
    "FileIdentity",
    "Reader",
    "WriteError",
    "engine_url",
    "file_identity",
    "get_meta",
    "query_frame",
    "set_meta",
    "write_transaction",
]

# The upgrade attaches the old file under this name while it copies the rows.
_OLD = "upgrading"


def engine_url(path: Path) -> str:
    return f"duckdb:///{path}"


@contextlib.contextmanager
def write_transaction(path: Path, layout: VersionedSchema | None = None,
                      version: str = DATA_VERSION_KEY) -> Iterator[sa.Connection]:
    """Yield a connection to a private copy of the database; publish it on success.

    Everything done on the connection is one transaction. If the block raises, the
    copy is thrown away and the published file is exactly as it was
    (:func:`kpis.storage.publication.private_copy`: the lock, the copy, the publication).
    ``layout`` is what the file holds (default: the flight deck's tables; the users and
    audit file has its own, which must include a ``meta`` table for the versions). A
    file at an older schema version is upgraded before the block runs, and published
    upgraded with the block's changes; a newer one raises ``SchemaTooNew`` (nothing
    written).
    """
    layout = layout or schema.FLIGHT_DECK
    with private_copy(Path(path)) as staging:
        engine = sa.create_engine(engine_url(staging.path), poolclass=NullPool)
        try:
            conn = engine.connect()
            try:
                if staging.existed:
                    found = stored_version(conn)
                    conn.rollback()
                    if check_version(layout, found, str(path)):
                        conn.close()
                        engine.dispose()
                        staging.path = _rebuild(staging.path, layout, found, str(path))
                        engine = sa.create_engine(engine_url(staging.path),
                                                  poolclass=NullPool)
                        conn = engine.connect()
                with conn.begin():
                    create_missing_tables(conn, layout.metadata)
                    yield conn
                    bump(conn, version)
                    set_meta(conn, SCHEMA_VERSION_KEY, str(layout.version))
            finally:
                conn.close()
        finally:
            # Closed before the copy is published (or removed): a clean close
            # checkpoints the write-ahead log into the file itself.
            engine.dispose()


# ------------------------------------------------------------------------- upgrades


def _rebuild(source: Path, layout: VersionedSchema, found: int, location: str) -> Path:
    """Upgrade the private copy ``source`` from version ``found``; return the new file.

    The upgrade steps run on ``source`` itself, in one transaction. Then a new file is
    created with the current tables and the rows are copied into it table by table
    (the columns both have; a new column takes its default), every sequence carrying
    on after the highest value it had given. ``source`` is removed once the new file
    is complete; if anything fails the new file is removed and the error raised (the
    caller removes ``source``). Both are private staging files: the published file is
    not touched either way.
    """
    engine = sa.create_engine(engine_url(source), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            run_upgrade_steps(conn, layout, found)
    finally:
        engine.dispose()
    # Still named like a staging copy, so a killed upgrade's is cleared by the next writer.
    target = source.with_name(source.name + "-upgraded")
    engine = sa.create_engine(engine_url(target), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            attach = f"ATTACH '{_sql_string(source)}' AS {_OLD} (READ_ONLY)"
            # Read the old file's tables and sequences, then detach it while the new
            # tables are created (create_all must not see the old file's).
            conn.exec_driver_sql(attach)
            old_columns = _old_columns(conn)
            _check_nothing_is_dropped(old_columns, layout, location)
            starts = _sequence_starts(conn, old_columns, layout)
            conn.exec_driver_sql(f"DETACH {_OLD}")
            quote = conn.dialect.identifier_preparer.quote
            for name, start in starts.items():
                conn.exec_driver_sql(f"CREATE SEQUENCE {quote(name)} START WITH {start}")
            layout.metadata.create_all(conn)
            conn.exec_driver_sql(attach)
            for table in layout.metadata.sorted_tables:
                if table.name not in old_columns:
                    continue  # new in this version: created empty
                names = ", ".join(quote(c.name) for c in table.columns
                                  if c.name in old_columns[table.name])
                conn.exec_driver_sql(
                    f"INSERT INTO main.{quote(table.name)} ({names}) "
                    f"SELECT {names} FROM {_OLD}.main.{quote(table.name)}")
            conn.exec_driver_sql(f"DETACH {_OLD}")
            set_meta(conn, SCHEMA_VERSION_KEY, str(layout.version))
        engine.dispose()
    except BaseException:
        engine.dispose()
        remove_database_files(target)
        raise
    remove_database_files(source)
    return target


def _sql_string(path: Path) -> str:
    return str(path).replace("'", "''")


def _old_columns(conn: sa.Connection) -> dict[str, list[str]]:
    """The attached old file's tables and their columns, in order."""
    rows = conn.execute(sa.text(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_catalog = :old AND table_schema = 'main' "
        "ORDER BY table_name, ordinal_position"), {"old": _OLD})
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    return columns


def _check_nothing_is_dropped(old_columns: dict[str, list[str]], layout: VersionedSchema,
                              location: str) -> None:
    """Refuse an upgrade that would silently lose a table or column of the old file.
    A ``derived_`` table is not lost: it is worked out from the rest and made again
    (:data:`DERIVED_PREFIX`)."""
    tables = layout.metadata.tables
    lost = [name for name in old_columns
            if name not in tables and not name.startswith(DERIVED_PREFIX)]
    lost += [f"{name}.{column}" for name, columns in old_columns.items() if name in tables
             for column in columns if column not in tables[name].c]
    if lost:
        raise UpgradeError(
            f"{location}: upgrading it to {layout.name} schema {layout.version} would drop "
            f"{', '.join(sorted(lost))}; is it a {layout.name}? (An upgrade step must "
            "move or drop what the schema no longer has.)")


def _sequence_starts(conn: sa.Connection, old_columns: dict[str, list[str]],
                     layout: VersionedSchema) -> dict[str, int]:
    """Where each of the layout's sequences starts in the new file: after every value
    the old file's sequence gave and every value its column holds."""
    quote = conn.dialect.identifier_preparer.quote
    starts: dict[str, int] = {}
    for table in layout.metadata.sorted_tables:
        for column in table.columns:
            if not isinstance(column.default, sa.Sequence):
                continue
            highest = 0
            if column.name in old_columns.get(table.name, []):
                highest = conn.exec_driver_sql(
                    f"SELECT coalesce(max({quote(column.name)}), 0) "
                    f"FROM {_OLD}.main.{quote(table.name)}").scalar_one()
            name = column.default.name
            starts[name] = max(starts.get(name, 1), int(highest) + 1)
    for name, start, last in conn.execute(sa.text(
            "SELECT sequence_name, start_value, last_value FROM duckdb_sequences() "
            "WHERE database_name = :old"), {"old": _OLD}):
        if name in starts:
            starts[name] = max(starts[name], int(start), int(last or 0) + 1)
    return starts


# -------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class FileIdentity:
    """What changes when a write is published: the file's inode and modification time."""

    inode: int
    mtime_ns: int
    size: int


def file_identity(path: Path) -> FileIdentity:
    stat = path.stat()
    return FileIdentity(stat.st_ino, stat.st_mtime_ns, stat.st_size)


class DuckDBStore(Store):
    """A DuckDB file: read-only readers, reopened when a write lands; the write path.

    One engine per process; SQLAlchemy's pool gives each thread its own DuckDB
    connection. Create it after a fork, never before (DuckDB handles do not survive
    fork).

    DuckDB shares one database instance per path within a process, so reopening the
    same path after a swap would hand back the old file. Each published version is
    therefore opened through a hard link named after its inode: a new path per
    version, the same bytes, and no copy.

    The first connection to each version checks its schema version: an older file is
    upgraded through the write path and the new version opened instead; a newer one
    raises ``SchemaTooNew`` on every connect, and nothing is written.
    """

    def __init__(self, path: str | os.PathLike[str], layout: VersionedSchema | None = None
                 ) -> None:
        self.path = Path(path)
        self.layout = layout or schema.FLIGHT_DECK
        self._pins = self.path.with_name(f".{self.path.name}.readers")
        self._lock = threading.Lock()
        self._upgrade_lock = threading.Lock()
        self._engine: sa.Engine | None = None
        self._identity: FileIdentity | None = None
        self._checked: sa.Engine | None = None  # the engine whose version was checked

    @property
    def location(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.exists()

    def _pin_current_version(self) -> tuple[FileIdentity, Path]:
        self._pins.mkdir(exist_ok=True)
        # Link first, then ask the link what it is: the published path may be swapped
        # between a stat and a link, but the link's own inode cannot change.
        temporary = self._pins / f"pin-{os.getpid()}-{threading.get_ident()}.tmp"
        temporary.unlink(missing_ok=True)
        os.link(self.path, temporary)
        identity = file_identity(temporary)
        pinned = self._pins / f"{identity.inode}-{identity.mtime_ns}.duckdb"
        os.replace(temporary, pinned)
        for stale in self._pins.glob("*.duckdb"):
            if stale != pinned:
                # Unlinking a file another process has open is safe: its handle lives on.
                stale.unlink(missing_ok=True)
        return identity, pinned

    def _current_engine(self, stale: sa.Engine | None = None) -> sa.Engine:
        """The engine for the published version (``stale``: one whose link has gone)."""
        identity = file_identity(self.path)
        with self._lock:
            if self._engine is None or identity != self._identity or self._engine is stale:
                if self._engine is not None:
                    self._engine.dispose()
                self._identity, pinned = self._pin_current_version()
                self._engine = sa.create_engine(
                    engine_url(pinned), connect_args={"read_only": True}
                )
            return self._engine

    @property
    def identity(self) -> FileIdentity:
        """Changes whenever a new version of the database is published."""
        return file_identity(self.path)

    def _connection(self) -> tuple[sa.Engine, sa.Connection]:
        engine = self._current_engine()
        try:
            return engine, engine.connect()
        except sa.exc.DBAPIError:
            # Between choosing the engine and connecting, a newer version was published
            # and a reader (another thread's, or another process's) moved on to it and
            # removed the link this engine opens: open the version published now.
            if Path(str(engine.url.database)).exists():
                raise
            engine = self._current_engine(stale=engine)
            return engine, engine.connect()

    def _checked_connection(self) -> sa.Connection:
        """A connection to a version whose schema this code reads (upgraded if older)."""
        upgraded = False
        while True:
            engine, conn = self._connection()
            if engine is self._checked:
                return conn
            try:
                outdated = check_version(self.layout, stored_version(conn), self.location)
            except BaseException:
                conn.close()
                raise
            if not outdated:
                self._checked = engine
                return conn
            conn.close()
            if upgraded:
                raise UpgradeError(f"{self.location}: still not at {self.layout.name} "
                                   f"schema {self.layout.version} after an upgrade")
            self._upgrade(engine)
            upgraded = True

    def _upgrade(self, outdated: sa.Engine) -> None:
        """Publish the file upgraded (one thread at a time; not if already replaced)."""
        with self._upgrade_lock:
            if self._current_engine() is outdated:  # nothing published since we looked
                with write_transaction(self.path, self.layout):
                    pass

    @contextlib.contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        with self._checked_connection() as conn:
            yield conn

    def write(self, area: str | None = None, version: str = DATA_VERSION_KEY
              ) -> contextlib.AbstractContextManager[sa.Connection]:
        # One writer at a time whatever the area: a write publishes the whole file.
        return write_transaction(self.path, self.layout, version)

    def destroy(self) -> None:
        self.close()
        with exclusive_lock(self.path):
            remove_database_files(self.path)

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
            self._engine = None
            self._identity = None
            self._checked = None


#: The store's older name: ``Reader(path)`` is the flight deck database's store.
Reader = DuckDBStore

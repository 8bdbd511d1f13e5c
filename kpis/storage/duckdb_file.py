"""Opening the DuckDB file: one write path, many read-only readers.

DuckDB lets one process write a file and excludes every other process meanwhile, so
the dashboard's workers never open it for writing. A write (a load, a catalogue
reload, a rollback) works on a private copy of the file and, only once it has
committed and closed, swaps the copy in with an atomic rename. Readers notice the
new file (its inode changes) and reopen; a reader that is mid-query keeps the old
file's inode open until it finishes, so nobody ever sees half a load, and a writer
killed at any point leaves the previous file untouched.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from kpis.storage import schema


def engine_url(path: Path) -> str:
    return f"duckdb:///{path}"


class WriteError(RuntimeError):
    """A write could not be published."""


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """Serialise writers across processes with an advisory lock beside the database."""
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def write_transaction(path: Path, metadata: sa.MetaData | None = None
                      ) -> Iterator[sa.Connection]:
    """Yield a connection to a private copy of the database; publish it on success.

    Everything done on the connection is one transaction. If the block raises, the
    copy is thrown away and the published file is exactly as it was. ``metadata`` is
    the set of tables the file holds (default: the flight deck's; the users and audit
    file has its own, which must include a ``meta`` table for the data version).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(path):
        # Holding the lock, any staging copy left behind is a killed writer's: remove it.
        for stale in path.parent.glob(f".{path.name}.staging-*"):
            stale.unlink(missing_ok=True)
        staging = path.with_name(f".{path.name}.staging-{os.getpid()}")
        if path.exists():
            shutil.copyfile(path, staging)
        engine = sa.create_engine(engine_url(staging), poolclass=NullPool)
        try:
            with engine.begin() as conn:
                (metadata if metadata is not None else schema.metadata).create_all(conn)
                yield conn
                _bump_data_version(conn)
            # A clean close checkpoints the write-ahead log into the file itself.
            engine.dispose()
            if staging.with_name(staging.name + ".wal").exists():
                raise WriteError(f"DuckDB left a write-ahead log beside {staging}")
            _fsync_path(staging)
            os.replace(staging, path)
            _fsync_path(path.parent)
        except BaseException:
            engine.dispose()
            _remove_database_files(staging)
            raise


def _remove_database_files(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + ".wal")):
        candidate.unlink(missing_ok=True)


def _bump_data_version(conn: sa.Connection) -> None:
    current = get_meta(conn, "data_version")
    set_meta(conn, "data_version", str(int(current or 0) + 1))


def get_meta(conn: sa.Connection, key: str) -> str | None:
    return conn.execute(
        sa.select(schema.meta.c.value).where(schema.meta.c.key == key)
    ).scalar_one_or_none()


def set_meta(conn: sa.Connection, key: str, value: str) -> None:
    conn.execute(sa.delete(schema.meta).where(schema.meta.c.key == key))
    conn.execute(sa.insert(schema.meta).values(key=key, value=value))


def query_frame(conn: sa.Connection, statement: sa.Executable | str) -> pd.DataFrame:
    """Run a query through DuckDB's own result-to-DataFrame path.

    Going through DuckDB's columnar fetch is some thirty times faster than building a
    frame from SQLAlchemy rows, which matters for the observations table. Statements
    are compiled with literal values; they are built from our own code, never from
    user text.
    """
    if not isinstance(statement, str):
        compiled = statement.compile(
            dialect=conn.dialect, compile_kwargs={"literal_binds": True}
        )
        statement = str(compiled)
    return conn.connection.dbapi_connection.execute(statement).df()


@dataclass(frozen=True)
class FileIdentity:
    """What changes when a write is published: the file's inode and modification time."""

    inode: int
    mtime_ns: int
    size: int


def file_identity(path: Path) -> FileIdentity:
    stat = path.stat()
    return FileIdentity(stat.st_ino, stat.st_mtime_ns, stat.st_size)


class Reader:
    """Read-only access to the published database, reopened when a write lands.

    One engine per process; SQLAlchemy's pool gives each thread its own DuckDB
    connection. Create it after a fork, never before (DuckDB handles do not survive
    fork).

    DuckDB shares one database instance per path within a process, so reopening the
    same path after a swap would hand back the old file. Each published version is
    therefore opened through a hard link named after its inode: a new path per
    version, the same bytes, and no copy.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._pins = self.path.with_name(f".{self.path.name}.readers")
        self._lock = threading.Lock()
        self._engine: sa.Engine | None = None
        self._identity: FileIdentity | None = None

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

    @contextlib.contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        engine = self._current_engine()
        try:
            conn = engine.connect()
        except sa.exc.DBAPIError:
            # Between choosing the engine and connecting, a newer version was published
            # and a reader (another thread's, or another process's) moved on to it and
            # removed the link this engine opens: open the version published now.
            if Path(str(engine.url.database)).exists():
                raise
            conn = self._current_engine(stale=engine).connect()
        with conn:
            yield conn

    def frame(self, statement: sa.Executable | str) -> pd.DataFrame:
        """Run a query and return a DataFrame."""
        with self.connect() as conn:
            return query_frame(conn, statement)

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
            self._engine = None
            self._identity = None

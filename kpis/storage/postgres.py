"""The PostgreSQL store: the shared database of a national deployment.

Past one machine the flight deck keeps its data in PostgreSQL (psycopg 3, through
SQLAlchemy Core), so any number of app servers and workers share one set of data,
accounts and audit trail. The same tables as the DuckDB file (``kpis.storage.schema``),
each kind of database (the flight deck's data; users and the audit log) in a schema of
its own, so their ``meta`` tables do not meet: the connection's ``search_path`` names
it, and every statement, Core or text, finds its tables there.

- **Reading**: a REPEATABLE READ transaction, so a reader sees one committed version
  from its first query to its last, whatever is written meanwhile; readers never wait
  for a writer. Not READ ONLY: PostgreSQL refuses even a temporary table in a read-only
  transaction, and a reader stages rows in one as DuckDB's read-only connection
  registers a frame (the load preview, ``kpis.storage.backend.staged``); a reader's
  transaction is always rolled back, so nothing it does is ever published.
- **Writing**: one transaction. It takes a transaction-level advisory lock first (the
  whole database's, or one area's: see :meth:`PostgresStore.write`), so writers of the
  same thing wait for each other and a writer killed at any point leaves nothing
  behind (PostgreSQL rolls its transaction back). Every write records a new
  ``data_version`` in ``meta``, and NOTIFYs it.
- **Identity**: the ``data_version`` row, one indexed read, so a worker notices another
  server's write at its next request without a restart.
- **Schema versions**: a new database is created at the current version (and stamped
  for Alembic, ``kpis.storage.migrations``); an older one is upgraded only by
  ``flightdeck migrate`` (Alembic), never by a request; a newer one is refused.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
import zlib
from collections.abc import Iterator

import sqlalchemy as sa

from kpis.storage import schema
from kpis.storage.backend import (
    ANNOTATION_VERSION_KEY,
    DATA_VERSION_KEY,
    SCHEMA_VERSION_KEY,
    Store,
    StoreError,
    check_version,
    create_missing_tables,
    set_meta,
    stored_version,
)
from kpis.storage.schema import VersionedSchema

__all__ = ["DATA_CHANNEL", "NeedsMigration", "PostgresStore", "namespace_of"]

#: The LISTEN/NOTIFY channel every write announces its data version on.
DATA_CHANNEL = "flightdeck_data"
# Lock keys: a write of the whole database takes the exclusive key; a write of one area
# (a force's return) takes the shared key and the area's own exclusive key, so different
# forces write at once while a whole-database write excludes them all.
_WHOLE = "*"


class NeedsMigration(StoreError):
    """The database was written by an older flight deck: run ``flightdeck migrate``."""


def namespace_of(layout: VersionedSchema) -> str:
    """The PostgreSQL schema a kind of database lives in."""
    if layout.namespace:
        return layout.namespace
    return re.sub(r"[^a-z0-9]+", "_", layout.name.lower()).strip("_")


def _lock_key(namespace: str, area: str) -> int:
    """A signed 64-bit advisory lock key for an area of a namespace (stable across
    processes and releases: a CRC of the names, not Python's salted hash)."""
    high = zlib.crc32(namespace.encode("utf-8"))
    low = zlib.crc32(area.encode("utf-8"))
    key = (high << 32) | low
    return key - (1 << 64) if key >= 1 << 63 else key


class PostgresStore(Store):
    """One kind of flight deck database (``layout``) in a PostgreSQL database.

    One engine per process, made at first use (and again after a fork: a pooled
    connection must never be shared by two processes); the pool gives each thread its
    own connection.
    """

    def __init__(self, url: str, layout: VersionedSchema | None = None) -> None:
        self.url = sa.engine.make_url(url)
        self.layout = layout or schema.FLIGHT_DECK
        self.namespace = namespace_of(self.layout)
        self._lock = threading.Lock()
        self._engine: sa.Engine | None = None
        self._pid = 0
        self._checked = False

    @property
    def location(self) -> str:
        return self.url.render_as_string(hide_password=True)

    # ------------------------------------------------------------------ engine

    def engine(self) -> sa.Engine:
        with self._lock:
            if self._engine is None or self._pid != os.getpid():
                if self._engine is not None:
                    self._engine.dispose(close=False)  # the parent's connections stay its own
                self._engine = self._new_engine()
                self._pid = os.getpid()
                self._checked = False
            return self._engine

    def _new_engine(self) -> sa.Engine:
        engine = sa.create_engine(self.url, pool_pre_ping=True, pool_size=4,
                                  max_overflow=8, pool_recycle=1800)
        search_path = f'SET search_path TO "{self.namespace}"'

        @sa.event.listens_for(engine, "connect")
        def _set_search_path(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            # Outside any transaction, so a rollback cannot undo it.
            autocommit = dbapi_connection.autocommit
            dbapi_connection.autocommit = True
            with dbapi_connection.cursor() as cursor:
                cursor.execute(search_path)
            dbapi_connection.autocommit = autocommit

        return engine

    # ------------------------------------------------------------------ reading

    def exists(self) -> bool:
        try:
            with self.engine().connect() as conn:
                return conn.execute(sa.text(
                    "SELECT count(*) FROM information_schema.tables "
                    "WHERE table_schema = :namespace AND table_name = 'meta'"),
                    {"namespace": self.namespace}).scalar_one() > 0
        except sa.exc.OperationalError as error:
            raise StoreError(f"{self.location}: cannot reach the database ({error.orig})"
                             ) from None

    @property
    def identity(self) -> tuple[str, str, str | None, str | None]:
        """The database, and the data and annotation versions published now (one
        indexed read)."""
        with self.engine().connect() as conn:
            try:
                found = dict(conn.execute(sa.text(
                    "SELECT key, value FROM meta WHERE key IN (:data, :notes)"),
                    {"data": DATA_VERSION_KEY, "notes": ANNOTATION_VERSION_KEY}).all())
            except sa.exc.ProgrammingError:  # not created yet
                found = {}
            return (self.location, self.namespace, found.get(DATA_VERSION_KEY),
                    found.get(ANNOTATION_VERSION_KEY))

    @contextlib.contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        with self.engine().connect() as conn:
            # Not postgresql_readonly: see "Reading" above (temporary tables only).
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            transaction = conn.begin()
            try:
                if not self._checked:
                    self._check_current(conn)
                    self._checked = True
                yield conn
            finally:
                # Whatever a reader did (a staged temporary table) is never published.
                transaction.rollback()

    # ------------------------------------------------------------------ writing

    def write(self, area: str | None = None, version: str = DATA_VERSION_KEY
              ) -> contextlib.AbstractContextManager[sa.Connection]:
        """One transaction, committed if the block returns.

        ``area`` (a force's slug) writes only that area's rows: writers of different
        areas proceed at once, while a write of the whole database (``area`` None: a
        Home Office table, a rollback, the catalogue) waits for them all and excludes
        them.
        """
        return self._write(area, version)

    @contextlib.contextmanager
    def _write(self, area: str | None, version: str) -> Iterator[sa.Connection]:
        with self.engine().connect() as conn, conn.begin():
            if area is None:
                self._lock_whole(conn)
            else:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock_shared(:key), "
                                     "pg_advisory_xact_lock(:own)"),
                             {"key": _lock_key(self.namespace, _WHOLE),
                              "own": _lock_key(self.namespace, area)})
            if not self._create_if_new(conn):
                self._check_current(conn)
            yield conn
            self._bump_version(conn, version)

    def _lock_whole(self, conn: sa.Connection) -> None:
        """Wait for, then exclude, every other write (this transaction's end frees it)."""
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                     {"key": _lock_key(self.namespace, _WHOLE)})

    def _create_if_new(self, conn: sa.Connection) -> bool:
        """Create the namespace and its tables at the current version, stamped for
        Alembic, if nothing is there yet; True if it was created now."""
        if stored_version(conn) != schema.UNVERSIONED or _has_any_table(conn, self.namespace):
            return False
        # Two first writers at once: the advisory lock lets one in at a time.
        conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.namespace}"')
        create_missing_tables(conn, self.layout.metadata)
        from kpis.storage.migrations import stamp_current

        stamp_current(conn, self.layout)
        set_meta(conn, SCHEMA_VERSION_KEY, str(self.layout.version))
        return True

    def _check_current(self, conn: sa.Connection) -> None:
        """Refuse a database of a newer version (SchemaTooNew) or an older one."""
        found = stored_version(conn)
        if check_version(self.layout, found, self.location):
            raise NeedsMigration(
                f"{self.location}: the {self.layout.name} is at schema {found}, this "
                f"version needs {self.layout.version}: run `flightdeck migrate` once (it "
                "upgrades it in one transaction)")

    def _bump_version(self, conn: sa.Connection, key: str = DATA_VERSION_KEY) -> None:
        # Under concurrent area writes two transactions may read the same version: an
        # UPDATE of the one row serialises them (the second waits for the first's
        # commit and then adds one to the committed value).
        updated = conn.execute(sa.text(
            "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR) "
            "WHERE key = :key RETURNING value"), {"key": key}).scalar_one_or_none()
        if updated is None:
            # A database made again (a demonstration rebuilt, a restore into a new
            # schema) must not repeat an old version that a server's caches still hold:
            # its versions start from the clock, in microseconds.
            updated = str(time.time_ns() // 1000)
            set_meta(conn, key, updated)
        self._notify(conn, updated)

    def _notify(self, conn: sa.Connection, what: str) -> None:
        conn.execute(sa.text("SELECT pg_notify(:channel, :payload)"),
                     {"channel": DATA_CHANNEL, "payload": f"{self.namespace}:{what}"})

    def migrate(self) -> list[str]:
        """Upgrade the database to this version's schema in one transaction, holding the
        whole database's lock (``flightdeck migrate``); returns the revisions run. A
        database not created yet is created at the current version."""
        from kpis.storage.migrations import migrate

        with self.engine().connect() as conn, conn.begin():
            self._lock_whole(conn)
            ran: list[str] = []
            if not self._create_if_new(conn):
                check_version(self.layout, stored_version(conn), self.location)  # newer
                ran = migrate(conn, self.layout)
            self._bump_version(conn)
        self._checked = False
        return ran

    def destroy(self) -> None:
        with self.engine().connect() as conn, conn.begin():
            self._lock_whole(conn)
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.namespace}" CASCADE')
            self._notify(conn, "dropped")
        self._checked = False

    def close(self) -> None:
        with self._lock:
            if self._engine is not None and self._pid == os.getpid():
                self._engine.dispose()
            self._engine = None
            self._checked = False


def _has_any_table(conn: sa.Connection, namespace: str) -> bool:
    return bool(conn.execute(sa.text(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = :namespace"),
        {"namespace": namespace}).scalar_one())

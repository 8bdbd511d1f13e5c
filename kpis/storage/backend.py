"""The storage seam: what the flight deck needs from a database, whatever holds it.

A :class:`Store` is one database: ``connect()`` for reading, ``write()`` for an
all-or-nothing change, ``identity`` to notice that a new version has been published,
``close()``. :func:`open_store` picks the implementation from the location: today a
file path gives the DuckDB store (``kpis.storage.duckdb_file``), a PostgreSQL URL the
PostgreSQL store (``kpis.storage.postgres``). Everything above the storage layer
gets its store from :func:`open_store` and speaks SQLAlchemy Core on the connections
it yields, so a new backend is a new module here and one branch in
:func:`open_store`.

Also here, because every backend shares them: the ``meta`` table's helpers, a
backend-neutral ``query_frame``, and the schema-version check (see
``kpis.storage.schema`` for the versions and the upgrade steps).
"""

from __future__ import annotations

import abc
import contextlib
import functools
import os
from collections.abc import Hashable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from kpis.cache import VersionedCache
from kpis.settings import URL_PATTERN
from kpis.storage import schema
from kpis.storage.errors import StoreError
from kpis.storage.keys import (
    ANNOTATION_VERSION_KEY,
    CATALOGUE_DIGEST_KEY,
    DATA_VERSION_KEY,
    SCHEMA_VERSION_KEY,
)
from kpis.storage.schema import UNVERSIONED, VersionedSchema

if TYPE_CHECKING:
    # Imported where a frame is made: the users and audit store needs no pandas (a
    # one-shot command's audit row: kpis.background_audit).
    import pandas as pd

__all__ = [
    "ANNOTATION_VERSION_KEY",
    "CATALOGUE_DIGEST_KEY",
    "DATA_VERSION_KEY",
    "SCHEMA_VERSION_KEY",
    "SchemaTooNew",
    "Store",
    "StoreError",
    "StoreNotSupported",
    "UpgradeError",
    "bulk_insert",
    "bump",
    "check_version",
    "get_meta",
    "has_table",
    "open_store",
    "postgres_url",
    "query_frame",
    "run_upgrade_steps",
    "set_meta",
    "staged",
    "stored_version",
    "versions",
]

class StoreNotSupported(StoreError):
    """The location names a kind of database this version cannot use."""


class SchemaTooNew(StoreError):
    """The database was written by a newer version of the flight deck."""


class UpgradeError(StoreError):
    """An older database could not be upgraded (it is left as it was)."""


class Store(abc.ABC):
    """One database: read it, change it all-or-nothing, notice new versions.

    A store is cheap to create and opens nothing until it is first used, so it may be
    created before a fork; use it only in the process that first uses it. It may be
    shared between threads. As a context manager it closes itself on exit.
    """

    #: The tables the database holds, their version and the steps up to it.
    layout: VersionedSchema

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the database is, for messages and cache keys (never a password)."""

    @property
    @abc.abstractmethod
    def identity(self) -> Hashable:
        """A cheap token that changes whenever a new version is published."""

    @abc.abstractmethod
    def exists(self) -> bool:
        """Whether the database has been created (by a first write)."""

    @abc.abstractmethod
    def connect(self) -> contextlib.AbstractContextManager[sa.Connection]:
        """A read-only connection to the version published now; it keeps seeing that
        version until it is closed, whatever is published meanwhile. The first read of
        an older database upgrades it (through ``write``); a newer one raises
        :class:`SchemaTooNew`."""

    @abc.abstractmethod
    def write(self, area: str | None = None, version: str = DATA_VERSION_KEY
              ) -> contextlib.AbstractContextManager[sa.Connection]:
        """A connection in one transaction: published whole if the block returns,
        not at all if it raises. Writers wait for each other; readers never wait.
        Every write records the schema version and a new ``data_version`` in ``meta``.

        ``area`` (a force's slug): the write touches only that force's rows, so a store
        that can (PostgreSQL) lets writes of different forces proceed at once; a write
        without one excludes every other. ``version``: the ``meta`` key it bumps
        (:data:`ANNOTATION_VERSION_KEY` for annotations only)."""

    @abc.abstractmethod
    def destroy(self) -> None:
        """Remove the database and everything in it (a demonstration being replaced,
        a test's throwaway copy). Waits for writers."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections (the store may be used again afterwards)."""

    @functools.cached_property
    def derived(self) -> VersionedCache[Any]:
        """Results computed from this database (e.g. return coverage), kept per data
        version: the one cache design (kpis.cache)."""
        return VersionedCache(16)

    def frame(self, statement: sa.Executable | str) -> pd.DataFrame:
        """Run a query on the published version and return a DataFrame."""
        with self.connect() as conn:
            return query_frame(conn, statement)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def open_store(location: str | os.PathLike[str], layout: VersionedSchema | None = None
               ) -> Store:
    """The store at ``location``: a DuckDB file path (or ``duckdb:///path``), or a
    PostgreSQL URL (``postgresql+psycopg://user@host/database``).

    ``layout`` is what the database holds (default: the flight deck's tables).
    """
    text = os.fspath(location)
    found = URL_PATTERN.match(text)
    if found:
        backend = found["scheme"].lower().split("+", 1)[0]
        if backend == "duckdb":
            database = sa.engine.make_url(text).database
            if not database:
                raise StoreNotSupported(f"{text}: a DuckDB URL needs a file path "
                                        "(duckdb:///path/to/flightdeck.duckdb)")
            text = database
        elif backend in ("postgresql", "postgres"):
            from kpis.storage.postgres import PostgresStore

            return PostgresStore(postgres_url(text), layout)
        else:
            raise StoreNotSupported(
                f"{_without_password(text)}: {found['scheme']!r} databases are not "
                "supported; give the path of a DuckDB file or a PostgreSQL URL "
                "(postgresql+psycopg://user@host/database).")
    from kpis.storage.duckdb_file import DuckDBStore

    return DuckDBStore(text, layout)


def postgres_url(text: str) -> str:
    """A PostgreSQL URL as SQLAlchemy takes it, with the psycopg 3 driver."""
    scheme, _, rest = text.partition(":")
    if not rest.startswith("//"):
        # pathlib collapsed "//": the host and database can no longer be told apart.
        raise StoreNotSupported(f"{scheme}:/...: a PostgreSQL URL must keep its two "
                                "slashes (postgresql+psycopg://user@host/database)")
    driver = scheme.lower()
    if driver in ("postgresql", "postgres"):
        driver = "postgresql+psycopg"
    return f"{driver}:{rest}"


def _without_password(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url.split("://", 1)[0] + "://..."


# ------------------------------------------------------------------------------ meta


def get_meta(conn: sa.Connection, key: str) -> str | None:
    return conn.execute(
        sa.select(schema.meta.c.value).where(schema.meta.c.key == key)
    ).scalar_one_or_none()


def set_meta(conn: sa.Connection, key: str, value: str) -> None:
    conn.execute(sa.delete(schema.meta).where(schema.meta.c.key == key))
    conn.execute(sa.insert(schema.meta).values(key=key, value=value))


def versions(conn: sa.Connection) -> tuple[str, str]:
    """The data version and the annotation version, in one query."""
    found = dict(conn.execute(sa.select(schema.meta.c.key, schema.meta.c.value).where(
        schema.meta.c.key.in_((DATA_VERSION_KEY, ANNOTATION_VERSION_KEY)))).all())
    return found.get(DATA_VERSION_KEY, "0"), found.get(ANNOTATION_VERSION_KEY, "0")


def bump(conn: sa.Connection, key: str) -> str:
    """Add one to the counter ``key`` in ``meta``; returns the new value."""
    current = get_meta(conn, key)
    value = str(int(current or 0) + 1)
    set_meta(conn, key, value)
    return value


def has_table(conn: sa.Connection, name: str) -> bool:
    """True when the database has table ``name``."""
    return bool(conn.execute(
        sa.text("SELECT count(*) FROM information_schema.tables WHERE table_name = :name "
                "AND table_schema = current_schema()"),
        {"name": name},
    ).scalar())


def create_missing_tables(conn: sa.Connection, metadata: sa.MetaData) -> None:
    """Create the tables of ``metadata`` the database lacks (with their sequences).

    One catalogue query instead of ``create_all``'s check of every table in turn: on
    DuckDB that check is most of the cost of a small write, such as an audit event.
    """
    present = set(conn.execute(sa.text(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = current_schema()")).scalars())
    missing = [t for t in metadata.sorted_tables if t.name not in present]
    if missing:
        metadata.create_all(conn, tables=missing)


@contextlib.contextmanager
def staged(conn: sa.Connection, name: str, frame: pd.DataFrame,
           types: dict[str, sa.types.TypeEngine[Any]]) -> Iterator[None]:
    """``frame`` as a table ``name`` that SQL on ``conn`` reads while the block runs.

    On DuckDB the frame itself is registered (no copy); on PostgreSQL it is copied into
    a temporary table with COPY (the bulk path: one round trip, not a row at a time),
    dropped afterwards and in any case at the end of the transaction. ``types`` gives
    each column's type.
    """
    raw = conn.connection.dbapi_connection
    if conn.dialect.name == "duckdb":
        raw.register(name, frame)
        try:
            yield
        finally:
            raw.unregister(name)
        return
    quote = conn.dialect.identifier_preparer.quote
    columns = list(frame.columns)
    declared = ", ".join(f"{quote(c)} {types[c].compile(dialect=conn.dialect)}"
                         for c in columns)
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {quote(name)} ({declared}) ON COMMIT DROP")
    names = ", ".join(quote(c) for c in columns)
    with raw.cursor() as cursor, cursor.copy(
            f"COPY {quote(name)} ({names}) FROM STDIN") as copy:
        for row in frame.astype(object).itertuples(index=False, name=None):
            copy.write_row(row)
    try:
        yield
    finally:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(name)}")


def bulk_insert(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Insert every row of ``frame`` (columns named as ``table``'s, typed as
    :func:`query_frame` types them) into ``table``: DuckDB reads the frame itself,
    PostgreSQL takes it by COPY."""
    if frame.empty:
        return
    quote = conn.dialect.identifier_preparer.quote
    names = [c.name for c in table.columns if c.name in frame.columns]
    listed = ", ".join(quote(n) for n in names)
    raw = conn.connection.dbapi_connection
    if conn.dialect.name == "duckdb":
        view = f"_bulk_{table.name}"
        raw.register(view, frame[names])
        try:
            conn.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({listed}) "
                                 f"SELECT {listed} FROM {quote(view)}")
        finally:
            raw.unregister(view)
        return
    import pandas as pd

    out = frame[names].copy()
    for column in table.columns:
        if column.name in out.columns and isinstance(column.type, sa.Date) and not (
                isinstance(column.type, sa.DateTime)):
            out[column.name] = pd.to_datetime(out[column.name]).dt.date
    out = out.astype(object).where(out.notna(), None)
    with raw.cursor() as cursor, cursor.copy(
            f"COPY {quote(table.name)} ({listed}) FROM STDIN") as copy:
        for row in out.itertuples(index=False, name=None):
            copy.write_row(row)


def query_frame(conn: sa.Connection, statement: sa.Executable | str) -> pd.DataFrame:
    """Run a query and return a DataFrame, through DuckDB's own result path on DuckDB.

    Going through DuckDB's columnar fetch is some thirty times faster than building a
    frame from SQLAlchemy rows, which matters for the observations table. Statements
    are compiled with literal values; they are built from our own code, never from
    user text. Other databases give the same column types as DuckDB would
    (:func:`_as_duckdb_types`), so everything above reads one kind of frame.
    """
    if conn.dialect.name != "duckdb":
        import pandas as pd

        result = conn.execute(sa.text(statement) if isinstance(statement, str) else statement)
        names = list(result.keys())
        # Column by column: a frame built from SQLAlchemy rows probes every row object
        # (some twenty times slower for the observations).
        columns = list(zip(*result.all(), strict=True)) or [()] * len(names)
        frame = pd.DataFrame({name: pd.Series(list(values), dtype=object)
                              for name, values in zip(names, columns, strict=True)})
        frame = frame.infer_objects()
        types = ([column["type"] for column in statement.column_descriptions]
                 if isinstance(statement, sa.Select) else [])
        return _as_duckdb_types(frame, types)
    if not isinstance(statement, str):
        compiled = statement.compile(
            dialect=conn.dialect, compile_kwargs={"literal_binds": True}
        )
        statement = str(compiled)
    return conn.connection.dbapi_connection.execute(statement).df()


def _as_duckdb_types(frame: pd.DataFrame, types: list[Any]) -> pd.DataFrame:
    """Columns typed as DuckDB's ``df()`` types them: dates and times as datetime64[us],
    32-bit integers as int32 (Int32 with a null), 64-bit as int64 (Int64), doubles as
    float64, text as strings."""
    import pandas as pd

    for position, kind in enumerate(types):
        name = frame.columns[position]
        column = frame[name]
        if isinstance(kind, sa.Date | sa.DateTime):
            frame[name] = pd.to_datetime(column).astype("datetime64[us]")
        elif isinstance(kind, sa.Boolean):
            frame[name] = column.astype(bool) if column.notna().all() else column
        elif isinstance(kind, sa.Integer):
            wide = isinstance(kind, sa.BigInteger)
            if column.notna().all():
                frame[name] = column.astype("int64" if wide else "int32")
            else:
                frame[name] = column.astype("Int64" if wide else "Int32")
        elif isinstance(kind, sa.Float | sa.Numeric):
            frame[name] = column.astype("float64")
        elif isinstance(kind, sa.String) and column.notna().all() and len(column):
            frame[name] = column.astype("str")
    return frame


# --------------------------------------------------------------------- schema versions


def stored_version(conn: sa.Connection) -> int:
    """The schema version the database records (``UNVERSIONED`` if none)."""
    if not has_table(conn, schema.meta.name):
        return UNVERSIONED
    value = get_meta(conn, SCHEMA_VERSION_KEY)
    if value is None:
        return UNVERSIONED
    try:
        return int(value)
    except ValueError:
        raise StoreError(f"the database's schema version {value!r} is not a number"
                         ) from None


def check_version(layout: VersionedSchema, found: int, location: str) -> bool:
    """True if a database at version ``found`` needs upgrading; SchemaTooNew if it is
    newer than this code knows."""
    if found > layout.version:
        raise SchemaTooNew(
            f"{location}: this database was written by a newer flight deck (schema "
            f"{found}); upgrade the software (this version reads {layout.name} schema "
            f"{layout.version} and older)")
    return found < layout.version


def run_upgrade_steps(conn: sa.Connection, layout: VersionedSchema, found: int) -> None:
    """Run the steps from version ``found`` to the current one, in order, on ``conn``."""
    for version in range(found, layout.version):
        step = layout.upgrades.get(version)
        if step is None:  # VersionedSchema checks this: only a hand-made layout gets here
            raise UpgradeError(f"no upgrade step from {layout.name} schema {version}")
        step(conn)
    if has_table(conn, schema.meta.name):
        # A step may change the catalogue's rows: readers must not trust a digest of
        # them taken before (the next catalogue load stores a new one).
        conn.execute(sa.delete(schema.meta).where(schema.meta.c.key == CATALOGUE_DIGEST_KEY))

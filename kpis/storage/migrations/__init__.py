"""Schema migrations for PostgreSQL, with Alembic.

A DuckDB file is upgraded by rebuilding it (``kpis.storage.duckdb_file``); a shared
PostgreSQL database is upgraded in place, once, by ``flightdeck migrate``, and Alembic
keeps the record of where each database is (its ``alembic_version`` table, in the
schema of the kind of database it records). Each kind of database is its own line of
revisions in a folder named after its schema, ``<namespace>/<namespace>_<version>.py``;
a revision runs the same upgrade step the DuckDB rebuild runs
(``VersionedSchema.upgrades``), so each step is written once.

A new database is created at the current version and stamped with its revision
(:func:`stamp_current`). :func:`migrate` runs the revisions it lacks in one transaction
(PostgreSQL's DDL is transactional: a failed migration leaves the database as it was),
then creates the tables and columns the current schema has and the database lacks, as
the rebuild does for a file.
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from kpis.storage.backend import SCHEMA_VERSION_KEY, create_missing_tables, set_meta
from kpis.storage.schema import VersionedSchema

__all__ = ["current_revision", "head_revision", "migrate", "migrate_database",
           "revision_name", "stamp_current"]

FOLDER = Path(__file__).parent
VERSION_TABLE = "alembic_version"


def revision_name(namespace: str, version: int) -> str:
    return f"{namespace}_{version:04d}"


def _namespace(layout: VersionedSchema) -> str:
    from kpis.storage.postgres import namespace_of

    return namespace_of(layout)


def _scripts(namespace: str) -> ScriptDirectory:
    return ScriptDirectory(str(FOLDER), version_locations=[str(FOLDER / namespace)])


def head_revision(layout: VersionedSchema) -> str:
    """The newest revision on file for ``layout`` (it must match its version)."""
    namespace = _namespace(layout)
    heads = _scripts(namespace).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"{namespace}: expected one head revision, found {heads}")
    return heads[0]


def _context(conn: sa.Connection, namespace: str) -> MigrationContext:
    return MigrationContext.configure(conn, opts={
        "version_table": VERSION_TABLE, "version_table_schema": namespace})


def current_revision(conn: sa.Connection, layout: VersionedSchema) -> str | None:
    """The revision the database records for ``layout`` (None if never stamped)."""
    return _context(conn, _namespace(layout)).get_current_revision()


def stamp_current(conn: sa.Connection, layout: VersionedSchema) -> None:
    """Record a database just created at ``layout``'s version as at its revision."""
    namespace = _namespace(layout)
    wanted = revision_name(namespace, layout.version)
    _context(conn, namespace).stamp(_scripts(namespace), wanted)


def migrate(conn: sa.Connection, layout: VersionedSchema) -> list[str]:
    """Bring the database on ``conn`` (inside the caller's transaction, holding the
    write lock) up to ``layout``'s version; returns the revisions run."""
    namespace = _namespace(layout)
    scripts = _scripts(namespace)
    head = head_revision(layout)
    if head != revision_name(namespace, layout.version):
        raise RuntimeError(f"{namespace}: the newest revision is {head}, but the schema "
                           f"is at version {layout.version}: add its revision")
    config = Config()
    config.set_main_option("script_location", str(FOLDER))
    ran: list[str] = []

    def upgrade(revision: object, context: MigrationContext) -> list[object]:
        steps = scripts._upgrade_revs(head, revision)
        ran.extend(step.up_revision_id for step in steps)
        return steps

    with EnvironmentContext(config, scripts, fn=upgrade, destination_rev=head) as env:
        env.configure(connection=conn, target_metadata=layout.metadata,
                      version_table=VERSION_TABLE, version_table_schema=namespace,
                      transactional_ddl=True)
        env.run_migrations()
    create_missing_tables(conn, layout.metadata)
    add_missing_columns(conn, layout)
    set_meta(conn, SCHEMA_VERSION_KEY, str(layout.version))
    return ran


def migrate_database(*locations: str | os.PathLike[str]) -> list[str]:
    """``flightdeck migrate``: bring the flight deck database and then its users and
    audit log (``locations``, in that order) to this version's schemas; one line each
    saying what was done. A DuckDB file is upgraded by its rebuild (the same as its
    first read would do); PostgreSQL by the revisions it lacks."""
    from kpis.storage.backend import open_store
    from kpis.storage.postgres import PostgresStore
    from kpis.storage.schema import FLIGHT_DECK
    from kpis.storage.security import SECURITY_SCHEMA

    lines = []
    for location, layout in zip(locations, (FLIGHT_DECK, SECURITY_SCHEMA), strict=False):
        with open_store(location, layout) as store:
            if isinstance(store, PostgresStore):
                ran = store.migrate()
                done = f"ran {', '.join(ran)}" if ran else "nothing to run"
            else:
                with store.write():
                    pass
                done = "rebuilt if it was older"
            lines.append(f"{layout.name} at {store.location}: schema {layout.version} "
                         f"({done})")
    return lines


def add_missing_columns(conn: sa.Connection, layout: VersionedSchema) -> list[str]:
    """Add the columns the current tables have and the database lacks (with their
    defaults), as the DuckDB rebuild does; returns ``table.column`` for each."""
    present: dict[str, set[str]] = {}
    for table, column in conn.execute(sa.text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema()")):
        present.setdefault(table, set()).add(column)
    added: list[str] = []
    preparer = conn.dialect.identifier_preparer
    for table in layout.metadata.sorted_tables:
        for column in table.columns:
            if table.name not in present or column.name in present[table.name]:
                continue
            kind = column.type.compile(dialect=conn.dialect)
            default = ""
            if column.server_default is not None:
                text = column.server_default.arg  # type: ignore[attr-defined]
                if isinstance(text, sa.sql.ClauseElement):
                    text = text.compile(dialect=conn.dialect)
                default = f" DEFAULT {text}" if not isinstance(text, str) else (
                    f" DEFAULT '{text}'")
            conn.exec_driver_sql(f"ALTER TABLE {preparer.quote(table.name)} ADD COLUMN "
                                 f"{preparer.quote(column.name)} {kind}{default}")
            added.append(f"{table.name}.{column.name}")
    return added

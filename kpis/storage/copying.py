"""Copying a whole database between stores: a laptop's DuckDB file to the national
PostgreSQL server and back (``flightdeck copy --from FILE.duckdb --to URL``).

Every table of the kind of database (its ``layout``) is read from the source's
published version and written in one write of the target, which must be empty: nothing
is merged, so the copy is the source, row for row, with its sequences carrying on after
the highest key it holds. The flight deck database and its users and audit log are two
stores; :func:`copy_databases` copies both.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from kpis.storage import schema
from kpis.storage.backend import (
    SCHEMA_VERSION_KEY,
    Store,
    StoreError,
    bulk_insert,
    open_store,
    query_frame,
)
from kpis.storage.schema import VersionedSchema

__all__ = ["Copied", "CopyRefused", "copy_databases", "copy_store"]

#: Kept by the target's own write, not copied: its version of the data and its schema.
_OWN_META = {"data_version", SCHEMA_VERSION_KEY}


class CopyRefused(StoreError):
    """The copy would overwrite data, or the source cannot be read as it is."""


@dataclass(frozen=True)
class Copied:
    """What a copy wrote: rows per table."""

    source: str
    target: str
    rows: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def copy_databases(source: str | os.PathLike[str], target: str | os.PathLike[str],
                   progress: Callable[[str], None] = lambda _: None) -> list[Copied]:
    """``flightdeck copy``: the flight deck database at ``source`` and its users and
    audit log into empty ones at ``target`` (each a DuckDB file or a PostgreSQL URL).
    The data goes first; the users and audit log only if the source has them."""
    from kpis.storage.security import SECURITY_SCHEMA, security_db_path

    if str(source) == str(target):
        raise CopyRefused("the source and target are the same database")
    copied = []
    with open_store(source) as reading, open_store(target) as writing:
        copied.append(copy_store(reading, writing, progress))
    with open_store(security_db_path(source), SECURITY_SCHEMA) as reading, \
            open_store(security_db_path(target), SECURITY_SCHEMA) as writing:
        if reading.exists():
            copied.append(copy_store(reading, writing, progress))
    return copied


def copy_store(source: Store, target: Store, progress: Callable[[str], None] = lambda _: None
               ) -> Copied:
    """Copy every row of ``source`` into the empty ``target`` (same kind of database)."""
    layout = source.layout
    if target.layout is not layout:
        raise CopyRefused("the source and target hold different kinds of database")
    if not source.exists():
        raise CopyRefused(f"{source.location}: there is no {layout.name} to copy")
    with source.connect() as reading:
        frames = {table.name: query_frame(reading, sa.select(table))
                  for table in layout.metadata.sorted_tables}
    rows: dict[str, int] = {}
    with target.write() as conn:
        held = [table.name for table in layout.metadata.sorted_tables
                if table.name != schema.meta.name and conn.execute(
                    sa.select(sa.func.count()).select_from(table)).scalar_one()]
        if held:
            raise CopyRefused(f"{target.location}: the {layout.name} already holds data "
                              f"({', '.join(held)}); copy into an empty database")
        for table in layout.metadata.sorted_tables:
            frame = frames[table.name]
            if table.name == schema.meta.name:
                frame = frame[~frame["key"].isin(_OWN_META)]
            progress(f"Copying {len(frame):,} rows of {table.name}")
            bulk_insert(conn, table, frame)
            rows[table.name] = len(frame)
        _carry_on_sequences(conn, layout)
    return Copied(source.location, target.location, rows)


def _carry_on_sequences(conn: sa.Connection, layout: VersionedSchema) -> None:
    """Move each sequence past the highest key its column holds."""
    quote = conn.dialect.identifier_preparer.quote
    for table in layout.metadata.sorted_tables:
        for column in table.columns:
            if not isinstance(column.default, sa.Sequence):
                continue
            highest = int(conn.execute(sa.select(
                sa.func.coalesce(sa.func.max(column), 0))).scalar_one())
            if highest == 0:
                continue
            name = column.default.name
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT setval(:name, :value)"),
                             {"name": name, "value": highest})
            else:  # DuckDB has no setval: draw the sequence up to the highest key
                drawn = conn.execute(sa.text(
                    "SELECT last_value FROM duckdb_sequences() "
                    "WHERE sequence_name = :name AND schema_name = current_schema()"),
                    {"name": name}).scalar()
                missing = highest - int(drawn or 0)
                if missing > 0:
                    conn.exec_driver_sql(f"SELECT max(nextval('{quote(name)}')) "
                                         f"FROM range({missing})")

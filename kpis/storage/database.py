"""Creating a database: its forces, peer groups and catalogue, and its bookkeeping in
``meta`` (schema version, catalogue version, demonstration flag)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from kpis.domain.catalogue import Catalogue, read_catalogue
from kpis.settings import CATALOGUE_FILE
from kpis.storage import schema
from kpis.storage.backend import SCHEMA_VERSION_KEY, get_meta, open_store, set_meta
from kpis.storage.catalogue_store import store_catalogue
from kpis.storage.reference import store_reference


def is_initialised(conn: sa.Connection) -> bool:
    return conn.execute(sa.select(sa.func.count()).select_from(schema.forces)).scalar_one() > 0


def initialise(conn: sa.Connection, catalogue: Catalogue | None = None) -> None:
    """Give an empty database its forces, peer groups and catalogue (no observations)."""
    store_reference(conn)
    install_catalogue(conn, catalogue or read_catalogue(CATALOGUE_FILE))
    set_meta(conn, SCHEMA_VERSION_KEY, str(schema.SCHEMA_VERSION))
    if get_meta(conn, "demo") is None:
        set_meta(conn, "demo", "false")


def install_catalogue(conn: sa.Connection, catalogue: Catalogue) -> None:
    store_catalogue(conn, catalogue)
    set_meta(conn, "catalogue_version", catalogue.version)


def write_catalogue(db_path: Path, catalogue: Catalogue) -> None:
    """Replace an initialised database's catalogue with ``catalogue`` (already checked:
    a definition edited in the dashboard), through the one write path."""
    with open_store(db_path) as store, store.write() as conn:
        install_catalogue(conn, catalogue)


def reload_catalogue(db_path: Path, catalogue_path: Path = CATALOGUE_FILE) -> Catalogue:
    """Validate a catalogue file and publish it into the database (creating it if needed)."""
    catalogue = read_catalogue(catalogue_path)  # raises before anything is opened
    with open_store(db_path) as store, store.write() as conn:
        if not is_initialised(conn):
            initialise(conn, catalogue)
        else:
            install_catalogue(conn, catalogue)
    return catalogue

"""Creating a database and reading its bookkeeping (data version, demonstration flag)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from kpis.domain.catalogue import Catalogue, read_catalogue
from kpis.settings import CATALOGUE_FILE
from kpis.storage import schema
from kpis.storage.catalogue_store import store_catalogue
from kpis.storage.duckdb_file import get_meta, set_meta, write_transaction
from kpis.storage.reference import store_reference


def is_initialised(conn: sa.Connection) -> bool:
    return conn.execute(sa.select(sa.func.count()).select_from(schema.forces)).scalar_one() > 0


def initialise(conn: sa.Connection, catalogue: Catalogue | None = None) -> None:
    """Give an empty database its forces, peer groups and catalogue (no observations)."""
    store_reference(conn)
    install_catalogue(conn, catalogue or read_catalogue(CATALOGUE_FILE))
    if get_meta(conn, "demo") is None:
        set_meta(conn, "demo", "false")


def install_catalogue(conn: sa.Connection, catalogue: Catalogue) -> None:
    store_catalogue(conn, catalogue)
    set_meta(conn, "catalogue_version", catalogue.version)


def reload_catalogue(db_path: Path, catalogue_path: Path = CATALOGUE_FILE) -> Catalogue:
    """Validate a catalogue file and publish it into the database (creating it if needed)."""
    catalogue = read_catalogue(catalogue_path)  # raises before anything is opened
    with write_transaction(db_path) as conn:
        if not is_initialised(conn):
            initialise(conn, catalogue)
        else:
            install_catalogue(conn, catalogue)
    return catalogue


def is_demo(conn: sa.Connection) -> bool:
    return get_meta(conn, "demo") == "true"

"""A real PostgreSQL server for the tests: throwaway databases made from templates.

``scripts/test`` starts Debian's cluster (``pg_ctlcluster``) and gives the tests an
administrator's URL in ``FLIGHTDECK_TEST_POSTGRES``; without it the tests use the local
socket as the current user. When no server answers, every test that needs one fails
with the reason: it is never skipped.

Each test that writes gets a database of its own, cloned from a template built once
per test process (``CREATE DATABASE ... TEMPLATE``: a file copy inside the server,
some 0.3 s for the demonstration data), and dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

ENV_VAR = "FLIGHTDECK_TEST_POSTGRES"
DEFAULT_ADMIN_URL = "postgresql+psycopg://@/postgres?host=/var/run/postgresql"
PREFIX = "fdtest_"


def admin_url() -> str:
    return os.environ.get(ENV_VAR) or DEFAULT_ADMIN_URL


def database_url(name: str) -> str:
    """The URL of database ``name`` on the test server (as the administrator)."""
    return admin_url_for(name).render_as_string(hide_password=False)


def admin_url_for(name: str) -> sa.URL:
    return sa.engine.make_url(admin_url()).set(database=name)


@contextlib.contextmanager
def _admin() -> Iterator[sa.Connection]:
    engine = sa.create_engine(admin_url(), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    except sa.exc.OperationalError as error:
        pytest.fail(f"no PostgreSQL server answers at {admin_url()} ({error.orig}); "
                    f"scripts/test starts one (pg_ctlcluster), or set {ENV_VAR}",
                    pytrace=False)
    finally:
        engine.dispose()


def check_server() -> None:
    """Fail (never skip) when the server does not answer."""
    with _admin() as conn:
        conn.execute(sa.text("SELECT 1"))


def new_database(template: str | None = None) -> str:
    """Create an empty database (or a copy of ``template``); returns its name."""
    name = PREFIX + secrets.token_hex(6)
    with _admin() as conn:
        clause = f' TEMPLATE "{template}"' if template else ""
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"{clause}')
    return name


def drop_database(name: str) -> None:
    with _admin() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def row_counts(url: str, namespace: str = "flightdeck") -> dict[str, int]:
    """Rows in every table of ``namespace``: what a test compares before and after."""
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            tables = conn.execute(sa.text(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = :namespace ORDER BY table_name"),
                {"namespace": namespace}).scalars().all()
            return {t: conn.exec_driver_sql(
                f'SELECT count(*) FROM "{namespace}"."{t}"').scalar_one() for t in tables}
    finally:
        engine.dispose()

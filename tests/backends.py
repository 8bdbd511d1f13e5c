"""Fixtures that run a module's tests on both backends (tests/conftest.py: BACKENDS).

A module imports the ones it needs::

    from tests.backends import demo_db_on_both, empty_db_on_both  # noqa: F401 (fixtures)

and its tests that ask for ``empty_db``, ``demo_db`` or ``secured_db`` then run once on
a DuckDB file and once on PostgreSQL (``any_empty_db`` and the rest: a ``Path`` or a
URL string). A test of a DuckDB file as such is marked ``DUCKDB_FILE_ONLY``.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(name="empty_db")
def empty_db_on_both(any_empty_db: Path | str) -> Path | str:
    return any_empty_db


@pytest.fixture(name="demo_db")
def demo_db_on_both(any_demo_db: Path | str) -> Path | str:
    return any_demo_db


@pytest.fixture(name="secured_db")
def secured_db_on_both(any_secured_db: Path | str) -> Path | str:
    return any_secured_db

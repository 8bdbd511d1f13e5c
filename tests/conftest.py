"""Fixtures shared by every test: real DuckDB files built by code, never mocks.

The demonstration database is built once per test session (it takes a few seconds)
and copied for any test that writes to it.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpis.database import initialise
from kpis.dataset import Dataset, load_dataset
from kpis.demo import build_demo
from kpis.store import Reader, write_transaction

DEMO_END = dt.date(2025, 9, 1)
DEMO_SEED = 7


@pytest.fixture(scope="session")
def demo_db_readonly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demonstration database ending September 2025. Do not write to it."""
    path = tmp_path_factory.mktemp("demo") / "flightdeck.duckdb"
    build_demo(path, end=DEMO_END, seed=DEMO_SEED)
    return path


@pytest.fixture
def demo_db(demo_db_readonly: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the demonstration database."""
    path = tmp_path / "flightdeck.duckdb"
    shutil.copyfile(demo_db_readonly, path)
    return path


@pytest.fixture(scope="session")
def demo_dataset(demo_db_readonly: Path) -> Iterator[Dataset]:
    reader = Reader(demo_db_readonly)
    with reader.connect() as conn:
        dataset = load_dataset(conn)
    yield dataset
    reader.close()


@pytest.fixture
def empty_db(tmp_path: Path) -> Path:
    """A database with the forces and the published catalogue but no observations."""
    path = tmp_path / "empty.duckdb"
    with write_transaction(path) as conn:
        initialise(conn)
    return path


def dataset_of(path: Path) -> Dataset:
    """Load the dataset of a database file (a fresh read-only reader each time)."""
    reader = Reader(path)
    try:
        with reader.connect() as conn:
            return load_dataset(conn)
    finally:
        reader.close()

"""Fixtures shared by every test: real DuckDB files built by code, never mocks.

The demonstration database is built once per test session (it takes a few seconds)
and copied for any test that writes to it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kpis.engine.dataset import Dataset
from kpis.ingest.demo import build_demo
from kpis.storage.database import initialise
from kpis.storage.dataset_loader import load_dataset
from kpis.storage.duckdb_file import Reader, write_transaction

if TYPE_CHECKING:
    from playwright.sync_api import Browser

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


# --------------------------------------------------------------------------- live app

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu",
    # The machine has no network: stop Chromium's own background calls.
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-quic",
]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, timeout: float = 60.0) -> None:
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


@dataclass
class LiveServer:
    url: str
    db: Path
    process: subprocess.Popen[bytes]
    log: Path


def start_server(db: Path, log: Path, extra_env: dict[str, str] | None = None) -> LiveServer:
    """Run ``python app.py`` (the README's run path) over ``db`` on a free port."""
    port = free_port()
    env = {**os.environ, "FLIGHTDECK_DB": str(db), "FLIGHTDECK_PORT": str(port),
           **(extra_env or {})}
    handle = open(log, "wb")  # noqa: SIM115 - closed when the process is stopped
    process = subprocess.Popen([sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env,
                               stdout=handle, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/")
    except OSError:
        process.kill()
        raise RuntimeError(f"the app did not start:\n{log.read_text()}") from None
    return LiveServer(url, db, process, log)


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def live_server(demo_db_readonly: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[LiveServer]:
    """The real app, served by ``python app.py`` over a copy of the demo database."""
    folder = tmp_path_factory.mktemp("live")
    db = folder / "flightdeck.duckdb"
    shutil.copyfile(demo_db_readonly, db)
    server = start_server(db, folder / "server.log")
    yield server
    stop_server(server)
    assert "Traceback" not in server.log.read_text(), server.log.read_text()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextlib.contextmanager
def served(db: Path, log: Path) -> Iterator[LiveServer]:
    """The real app over ``db`` while the block runs; its log must hold no traceback."""
    server = start_server(db, log)
    yield server
    stop_server(server)
    assert "Traceback" not in server.log.read_text(), server.log.read_text()


@pytest.fixture
def writable_server(demo_db: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """The real app over a private copy of the demo database, for tests that write."""
    with served(demo_db, tmp_path / "server.log") as server:
        yield server


# --------------------------------------------------------------------------- accounts

#: The accounts of a secured test app: name -> (role, force or None, password).
ACCOUNTS: dict[str, tuple[str, str | None, str]] = {
    "admin": ("admin", None, "admin password 1"),
    "analyst": ("analyst", None, "analyst password 1"),
    "kent-analyst": ("analyst", "kent", "kent analyst password"),
    "viewer": ("viewer", None, "viewer password 1"),
}


@pytest.fixture(scope="session")
def accounts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A users file holding ``ACCOUNTS`` (built once: Argon2 hashing is slow on purpose)."""
    from kpis.storage.security import SecurityStore

    path = tmp_path_factory.mktemp("accounts") / "accounts.duckdb"
    store = SecurityStore(path)
    for name, (role, force, password) in ACCOUNTS.items():
        store.add_user(name, role, password, force, display_name=name.title(), actor="tests")
    store.close()
    return path


@pytest.fixture
def secured_db(demo_db: Path, accounts_file: Path) -> Path:
    """A private demo database with ``ACCOUNTS`` configured beside it (sign-in required)."""
    from kpis.storage.security import security_db_path

    shutil.copyfile(accounts_file, security_db_path(demo_db))
    return demo_db

"""Fixtures shared by every test: real DuckDB files built by code, never mocks.

The demonstration database and an empty one are built once per test session and copied
for any test that writes. Live servers run the real app (``app.create_app``) on a
werkzeug server in a thread of the test process, as dash.testing's ThreadedRunner does;
only the smoke tests of the start commands (``python app.py``, ``flightdeck serve``,
gunicorn) start processes. Nothing here sleeps for a fixed time: waits poll a
condition with a timeout (:func:`wait_until`).
"""

# ruff: noqa: E402 (the imports follow the bytecode setting below, on purpose)
from __future__ import annotations

import sys

# Compiled modules are cached in __pycache__ (git ignores it) even where the
# environment sets PYTHONDONTWRITEBYTECODE, as this machine does: without the cache
# every test process compiles the product and pytest rewrites every test module again,
# some 3 s per process. Set before the product and the test modules are imported.
sys.dont_write_bytecode = False

import contextlib
import datetime as dt
import itertools
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from kpis.engine.dataset import Dataset
from kpis.ingest.demo import build_demo
from kpis.storage.database import initialise
from kpis.storage.dataset_loader import load_dataset
from kpis.storage.duckdb_file import Reader, write_transaction
from tests import postgres

if TYPE_CHECKING:
    import dash
    import pandas as pd
    from playwright.sync_api import Browser
    from werkzeug.serving import BaseWSGIServer

DEMO_END = dt.date(2025, 9, 1)


def pytest_configure(config: pytest.Config) -> None:
    """Keep the tests' temporary files in memory (/dev/shm) unless told otherwise.

    Every write the store publishes is fsynced, and the tests publish thousands of small
    databases: on a disk that was a third of the fast loop's time. ``--basetemp`` or
    ``TMPDIR`` choose another place; pyproject keeps only failed tests' folders.
    """
    import tempfile

    shm = Path("/dev/shm")
    if (config.option.basetemp is None and "TMPDIR" not in os.environ and shm.is_dir()
            and os.access(shm, os.W_OK)):
        tempfile.tempdir = str(shm)
DEMO_SEED = 7


def wait_until(condition: Callable[[], object], what: str, timeout: float = 30.0,
               interval: float = 0.05) -> None:
    """Poll ``condition`` until it is true; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


# Builds the demonstration database in a process of its own and prints the kpis
# modules the build used (so the cache below knows exactly what it depends on).
_BUILD_DEMO = """
import datetime as dt, json, sys
from pathlib import Path
from kpis.ingest.demo import build_demo
build_demo(Path(sys.argv[1]), end=dt.date.fromisoformat(sys.argv[2]), seed=int(sys.argv[3]))
root = Path(sys.argv[4])
used = sorted({Path(m.__file__).resolve().relative_to(root).as_posix()
               for name, m in list(sys.modules.items())
               if (name == "kpis" or name.startswith("kpis.")) and getattr(m, "__file__", None)})
print(json.dumps(used))
"""


def _demo_inputs_digest(modules: list[str]) -> str:
    """A digest of what the demonstration database is built from: the kpis modules the
    build used, the catalogue and reference files, the seed and end month, and the
    versions of Python and of the libraries that store it."""
    import hashlib
    import sys
    from importlib.metadata import version

    digest = hashlib.sha256(f"{DEMO_END}|{DEMO_SEED}|{sys.version}".encode())
    for package in ("duckdb", "duckdb-engine", "sqlalchemy", "pandas", "numpy", "pyyaml",
                    "openpyxl"):
        digest.update(f"|{package}={version(package)}".encode())
    data = PROJECT_ROOT / "data"
    inputs = [*(PROJECT_ROOT / m for m in modules), *sorted(data.glob("*.csv")),
              *sorted(data.glob("*.yaml"))]
    for path in inputs:
        if not path.is_file():
            return "missing:" + str(path)  # a module went: build again
        digest.update(path.relative_to(PROJECT_ROOT).as_posix().encode() + b"\0"
                      + path.read_bytes())
    return digest.hexdigest()


def _cached_demo(folder: Path, path: Path) -> None:
    """Copy the demonstration database to ``path`` from ``folder`` (pytest's cache),
    building it there first if it is missing or anything it was built from changed.
    One process builds while any other (an xdist worker) waits for it."""
    import fcntl
    import json
    import sys

    kept, manifest = folder / "flightdeck.duckdb", folder / "inputs.json"
    with open(folder / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            recorded = json.loads(manifest.read_text()) if manifest.exists() else None
        except ValueError:
            recorded = None
        if (recorded is None or not kept.exists()
                or _demo_inputs_digest(recorded["modules"]) != recorded["digest"]):
            manifest.unlink(missing_ok=True)
            building = folder / "building.duckdb"
            building.unlink(missing_ok=True)
            done = subprocess.run(
                [sys.executable, "-c", _BUILD_DEMO, str(building), DEMO_END.isoformat(),
                 str(DEMO_SEED), str(PROJECT_ROOT)],
                cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"building the demonstration database failed:\n"
                                   f"{done.stderr}")
            modules = json.loads(done.stdout.strip().splitlines()[-1])
            os.replace(building, kept)
            manifest.write_text(json.dumps(
                {"modules": modules, "digest": _demo_inputs_digest(modules)}))
        shutil.copyfile(kept, path)


@pytest.fixture(scope="session")
def demo_db_readonly(request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demonstration database ending September 2025. Do not write to it.

    Building it takes some twenty seconds, so a copy is kept in pytest's cache
    (``.pytest_cache``) with a digest of everything it was built from (the kpis
    modules the build used, the data files, the library versions), and reused while
    none of that changes. ``-p no:cacheprovider`` (as CI runs) or ``--cache-clear``
    builds it afresh.
    """
    path = tmp_path_factory.mktemp("demo") / "flightdeck.duckdb"
    cache = getattr(request.config, "cache", None)
    if cache is None:
        build_demo(path, end=DEMO_END, seed=DEMO_SEED)
    else:
        _cached_demo(cache.mkdir("flightdeck-demo"), path)
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


@pytest.fixture(scope="session")
def empty_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The forces and the published catalogue, no observations (built once; copy it)."""
    path = tmp_path_factory.mktemp("empty") / "empty.duckdb"
    with write_transaction(path) as conn:
        initialise(conn)
    return path


@pytest.fixture
def empty_db(empty_db_template: Path, tmp_path: Path) -> Path:
    """A database with the forces and the published catalogue but no observations."""
    path = tmp_path / "empty.duckdb"
    shutil.copyfile(empty_db_template, path)
    return path


# ---------------------------------------------------------------- both backends
#: The stores every storage, ingest, security, annotation and concurrency test runs on.
BACKENDS = ("duckdb", "postgresql")


@pytest.fixture(scope="session")
def postgres_empty_template() -> Iterator[str]:
    """A PostgreSQL database with the forces and the catalogue (a template: clone it)."""
    from kpis.storage.backend import open_store

    postgres.check_server()
    name = postgres.new_database()
    with open_store(postgres.database_url(name)) as store, store.write() as conn:
        initialise(conn)
    yield name
    postgres.drop_database(name)


@pytest.fixture(scope="session")
def postgres_demo_template(demo_db_readonly: Path) -> Iterator[str]:
    """The demonstration database copied into PostgreSQL (a template: clone it)."""
    from kpis.storage.backend import open_store
    from kpis.storage.copying import copy_store

    postgres.check_server()
    name = postgres.new_database()
    with open_store(demo_db_readonly) as source, \
            open_store(postgres.database_url(name)) as target:
        copy_store(source, target)
    yield name
    postgres.drop_database(name)


def _postgres_clone(request: pytest.FixtureRequest, template: str) -> str:
    name = postgres.new_database(template)
    request.addfinalizer(lambda: postgres.drop_database(name))
    return postgres.database_url(name)


#: For a test of a DuckDB file as such (an older version's file, its bytes) in a module
#: whose other tests run on both backends.
DUCKDB_FILE_ONLY = pytest.mark.parametrize("any_empty_db", ["duckdb"], indirect=True)


def _private_copy(template: Path, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    shutil.copyfile(template, path)
    return path


@pytest.fixture(params=BACKENDS)
def any_empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """``empty_db`` on each backend in turn: a DuckDB file's path or a PostgreSQL URL.

    A module runs its tests on both by importing ``tests.backends``' fixtures."""
    if request.param == "duckdb":
        template = request.getfixturevalue("empty_db_template")
        return _private_copy(template, tmp_path, "empty.duckdb")
    return _postgres_clone(request, request.getfixturevalue("postgres_empty_template"))


@pytest.fixture(params=BACKENDS)
def any_demo_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """``demo_db`` on each backend in turn: a DuckDB file's path or a PostgreSQL URL."""
    if request.param == "duckdb":
        template = request.getfixturevalue("demo_db_readonly")
        return _private_copy(template, tmp_path, "flightdeck.duckdb")
    return _postgres_clone(request, request.getfixturevalue("postgres_demo_template"))


def database_digest(db: Path | str) -> str:
    """What a test compares to show a database unchanged: a DuckDB file's bytes, or
    every row of every table of a PostgreSQL database, in order."""
    import hashlib

    import sqlalchemy as sa

    from kpis.storage.backend import open_store

    if isinstance(db, Path):
        return hashlib.sha256(db.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    with open_store(db) as store, store.connect() as conn:
        for table in store.layout.metadata.sorted_tables:
            rows = conn.execute(sa.select(table).order_by(*table.columns)).all()
            digest.update(f"{table.name}:{rows!r}".encode())
    return digest.hexdigest()


@pytest.fixture
def postgres_empty_db(request: pytest.FixtureRequest, postgres_empty_template: str) -> str:
    """``empty_db`` on PostgreSQL: a database of the test's own."""
    return _postgres_clone(request, postgres_empty_template)


@pytest.fixture
def postgres_demo_db(request: pytest.FixtureRequest, postgres_demo_template: str) -> str:
    """``demo_db`` on PostgreSQL: a database of the test's own."""
    return _postgres_clone(request, postgres_demo_template)


@pytest.fixture
def postgres_db(request: pytest.FixtureRequest) -> str:
    """An empty PostgreSQL database of the test's own (nothing created in it)."""
    postgres.check_server()
    name = postgres.new_database()
    request.addfinalizer(lambda: postgres.drop_database(name))
    return postgres.database_url(name)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """Forces, peer groups and catalogue of an initialised database, with no data: the
    frame for datasets generated in memory (property tests)."""
    path = tmp_path_factory.mktemp("reference") / "reference.duckdb"
    with write_transaction(path) as conn:
        initialise(conn)
    return dataset_of(path)


def generated_dataset(reference: Dataset, frame: pd.DataFrame) -> Dataset:
    """A dataset of generated observations (force_slug, period_start, measure_id,
    value) on ``reference``, built with ``build_cube`` as a load builds it."""
    from kpis.engine.dataset import build_cube

    return Dataset(
        catalogue=reference.catalogue, forces=reference.forces, areas=reference.areas,
        members=reference.members, is_demo=False, data_version="generated",
        loads=reference.loads,
        cube=build_cube(reference.forces, reference.areas, reference.members, frame),
    )


def write_peer_groups(db: Path, groups: dict[str, list[str]]) -> None:
    """Peer groups written straight into the tables, past the checks of
    ``flightdeck peer-groups`` (which refuses groups of fewer than three forces): as a
    database made before those checks may hold them."""
    import sqlalchemy as sa

    from kpis.storage import schema

    with write_transaction(db) as conn:
        for name, members in groups.items():
            group_id = "group-" + name.lower().replace(" ", "-")
            conn.execute(sa.insert(schema.peer_groups).values(group_id=group_id, name=name,
                                                              kind="user"))
            conn.execute(sa.insert(schema.peer_group_members), [
                {"group_id": group_id, "force_slug": slug} for slug in members])


def dataset_of(path: Path | str) -> Dataset:
    """Load the dataset of a database (a fresh read-only reader each time)."""
    from kpis.storage.backend import open_store

    reader = open_store(path)
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


#: The cookie key the tests' app servers over PostgreSQL share (it must be set there).
TEST_SECRET_KEY = "tests-only-secret-key-shared-by-every-server-0123456789"


def app_over(db: Path | str, env: Mapping[str, str] | None = None) -> dash.Dash:
    """The real app over ``db``, with the settings in ``env`` only (not the shell's).
    Over PostgreSQL it gets the tests' cookie key unless ``env`` gives one."""
    from app import create_app
    from kpis.settings import Settings, is_database_url

    env = dict(env or {})
    if is_database_url(db):
        import tempfile

        env.setdefault("FLIGHTDECK_SECRET_KEY", TEST_SECRET_KEY)
        # Never the project's data/ folder: a state folder of the test's own.
        env.setdefault("FLIGHTDECK_STATE_DIR", tempfile.mkdtemp(prefix="flightdeck-state-"))
    return create_app(Settings.from_env(env, db=db))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, timeout: float = 60.0) -> None:
    """Wait until ``url`` answers 200 (a server starting up)."""
    import urllib.request

    def answers() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    wait_until(answers, f"{url} to answer", timeout=timeout, interval=0.1)


@dataclass
class LiveServer:
    """A served app: ``url``, its database, and the log that must hold no traceback.
    ``process`` is set for a server in a process of its own (the start-command smoke
    tests); ``app`` for one in a thread of the test process."""

    url: str
    db: Path
    process: subprocess.Popen[bytes] | None
    log: Path
    app: dash.Dash | None = None


class _ServerLog(logging.Handler):
    """Writes the log records of one threaded server's requests to its log file."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.WARNING)
        self.path = path
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._write_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record) + "\n"
        with self._write_lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(text)


@dataclass
class ThreadedServer:
    """The app on a werkzeug server in a daemon thread of this process.

    Log records (warnings and worse, tracebacks included) emitted while it handles a
    request go to ``log``, as a server process's output would.
    """

    db: Path
    log: Path
    env: Mapping[str, str] = field(default_factory=dict)
    app: Any = None
    _httpd: BaseWSGIServer | None = None
    _thread: threading.Thread | None = None
    _handler: _ServerLog | None = None

    def start(self) -> LiveServer:
        from werkzeug.serving import WSGIRequestHandler, make_server

        class QuietHandler(WSGIRequestHandler):
            def log_request(self, *args: object, **kwargs: object) -> None:
                pass  # no line per request (a real server's access log is off too)

        self.app = app_over(self.db, self.env)
        flask_app = self.app.server
        marker = self

        def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
            # Mark the request's thread, so the log handler keeps its records only.
            threading.current_thread().flightdeck_server = marker  # type: ignore[attr-defined]
            return flask_app(environ, start_response)

        self._handler = _ServerLog(self.log)
        self._handler.addFilter(
            lambda record: getattr(threading.current_thread(), "flightdeck_server", None)
            is marker)
        logging.getLogger().addHandler(self._handler)
        self._httpd = make_server("127.0.0.1", 0, wsgi, threaded=True,
                                  request_handler=QuietHandler)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        name=f"live server {getattr(self.db, 'name', 'pg')}",
                                        daemon=True)
        self._thread.start()
        self.log.touch()
        wait_for_http(self.url + "/")  # (the login page, once accounts exist)
        return self.live()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "the server has not started"
        return f"http://127.0.0.1:{self._httpd.server_port}"

    def live(self) -> LiveServer:
        return LiveServer(self.url, self.db, None, self.log, self.app)

    def use_log(self, path: Path) -> None:
        """Write this server's log to ``path`` from now on."""
        path.touch()
        self.log = path
        if self._handler is not None:
            self._handler.path = path

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
        if self.app is not None:
            from web.context import SERVICE_KEY

            self.app.server.config[SERVICE_KEY].close()


_THREADED: dict[int, ThreadedServer] = {}


def start_server(db: Path, log: Path, extra_env: dict[str, str] | None = None) -> LiveServer:
    """The real app over ``db`` on a free port, in a thread of this process."""
    threaded = ThreadedServer(db, log, dict(extra_env or {}))
    server = threaded.start()
    _THREADED[id(server)] = threaded
    return server


def start_process(command: list[str], db: Path, log: Path, url: str,
                  env: Mapping[str, str] | None = None, timeout: float = 60.0) -> LiveServer:
    """Run a start command (``python app.py``, ``flightdeck serve``, gunicorn) in a
    process of its own, its output in ``log``, and wait until ``url`` answers."""
    import sys

    handle = open(log, "wb")  # noqa: SIM115 - the child holds it; closed on return
    try:
        process = subprocess.Popen(
            [sys.executable if part == "python" else part for part in command],
            cwd=PROJECT_ROOT, env={**os.environ, **(env or {})}, stdout=handle,
            stderr=subprocess.STDOUT)
    finally:
        handle.close()
    try:
        wait_for_http(url + "/", timeout)
    except AssertionError:
        process.kill()
        process.wait(timeout=10)
        raise RuntimeError(f"{' '.join(command)} did not start:\n{log.read_text()}") from None
    return LiveServer(url, db, process, log)


def start_app_process(db: Path, log: Path, timeout: float = 60.0) -> LiveServer:
    """``python app.py`` (the README's run path) over ``db`` on a free port."""
    port = free_port()
    return start_process(["python", "app.py"], db, log, f"http://127.0.0.1:{port}",
                         {"FLIGHTDECK_DB": str(db), "FLIGHTDECK_PORT": str(port)}, timeout)


def stop_server(server: LiveServer) -> None:
    if server.process is not None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
    threaded = _THREADED.pop(id(server), None)
    if threaded is not None:
        threaded.stop()


def assert_clean_log(server: LiveServer) -> None:
    text = server.log.read_text()
    assert "Traceback" not in text, text


@pytest.fixture(scope="session")
def live_server(demo_db_readonly: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[LiveServer]:
    """The real app over a copy of the demo database, for tests that only read."""
    folder = tmp_path_factory.mktemp("live")
    db = folder / "flightdeck.duckdb"
    shutil.copyfile(demo_db_readonly, db)
    server = start_server(db, folder / "server.log")
    yield server
    stop_server(server)
    assert_clean_log(server)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def _close_browser_contexts() -> Iterator[None]:
    """Close every browser context (tab) a test opened with ``tests.pages.open_app``."""
    yield
    import sys

    pages = sys.modules.get("tests.pages")
    if pages is not None:
        pages.close_contexts()


@contextlib.contextmanager
def served(db: Path, log: Path) -> Iterator[LiveServer]:
    """The real app over ``db`` while the block runs; its log must hold no traceback."""
    server = start_server(db, log)
    try:
        yield server
    finally:
        stop_server(server)
    assert_clean_log(server)


_RESETS = itertools.count(1)


def reset_database(db: Path, template: Path) -> None:
    """Put a fresh copy of ``template`` in place of ``db``, published as the store
    publishes (an atomic rename), with the users file and uploads beside it removed.

    The copy gets a data version no earlier state of ``db`` had, so no cache keyed by
    the data version (the app's pages, return coverage) can answer from before.
    """
    from kpis.storage.duckdb_file import set_meta
    from kpis.storage.security import security_db_path

    staging = db.with_name(f".{db.name}.reset")
    shutil.copyfile(template, staging)
    with write_transaction(staging) as conn:  # publishes onto staging itself
        set_meta(conn, "data_version", str(next(_RESETS) * 1_000_000))
    os.replace(staging, db)
    security = security_db_path(db)
    security.unlink(missing_ok=True)
    shutil.rmtree(db.parent / ".uploads", ignore_errors=True)


@pytest.fixture(scope="session")
def _writable_app(demo_db_readonly: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[ThreadedServer]:
    folder = tmp_path_factory.mktemp("writable")
    db = folder / "flightdeck.duckdb"
    shutil.copyfile(demo_db_readonly, db)
    threaded = ThreadedServer(db, folder / "server.log")
    threaded.start()
    yield threaded
    threaded.stop()


@pytest.fixture
def writable_server(_writable_app: ThreadedServer, demo_db_readonly: Path, tmp_path: Path
                    ) -> Iterator[LiveServer]:
    """The real app over its own copy of the demo database, for tests that write: one
    server for the session, whose database is put back to the demo data before each
    test (the app picks the new file up on its next request, as after a load)."""
    reset_database(_writable_app.db, demo_db_readonly)
    _writable_app.use_log(tmp_path / "server.log")
    server = _writable_app.live()
    yield server
    assert_clean_log(server)


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
    """A users file holding ``ACCOUNTS`` (built once).

    Argon2 is slow on purpose (64 MiB, three passes: some 0.3 s a hash or a check), and
    the tests sign in hundreds of times, so these accounts' hashes are made with the
    cheapest Argon2id parameters. A check reads the parameters from the hash itself, so
    signing in works exactly as in production, only faster; the production parameters
    are what ``flightdeck users`` uses, which tests/test_users_cli.py exercises.
    """
    import argon2

    from kpis.storage import security
    from kpis.storage.security import SecurityStore

    path = tmp_path_factory.mktemp("accounts") / "accounts.duckdb"
    store = SecurityStore(path)
    cheap = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(security, "_HASHER", cheap)
        for name, (role, force, password) in ACCOUNTS.items():
            store.add_user(name, role, password, force, display_name=name.title(),
                           actor="tests")
    store.close()
    return path


@pytest.fixture(scope="session")
def postgres_secured_template(postgres_demo_template: str, accounts_file: Path
                              ) -> Iterator[str]:
    """The demonstration data with ``ACCOUNTS`` in PostgreSQL (a template: clone it)."""
    from kpis.storage.backend import open_store
    from kpis.storage.copying import copy_store
    from kpis.storage.security import SECURITY_SCHEMA

    name = postgres.new_database(postgres_demo_template)
    with open_store(accounts_file, SECURITY_SCHEMA) as source, \
            open_store(postgres.database_url(name), SECURITY_SCHEMA) as target:
        copy_store(source, target)
    yield name
    postgres.drop_database(name)


@pytest.fixture
def postgres_secured_db(request: pytest.FixtureRequest, postgres_secured_template: str
                        ) -> str:
    """``secured_db`` on PostgreSQL: the demonstration data and ``ACCOUNTS``."""
    return _postgres_clone(request, postgres_secured_template)


@pytest.fixture(params=BACKENDS)
def any_secured_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """``secured_db`` on each backend in turn (a file with its users file beside it, or a
    PostgreSQL database holding both)."""
    if request.param == "duckdb":
        from kpis.storage.security import security_db_path

        db = _private_copy(request.getfixturevalue("demo_db_readonly"), tmp_path,
                           "flightdeck.duckdb")
        shutil.copyfile(request.getfixturevalue("accounts_file"), security_db_path(db))
        return db
    return _postgres_clone(request, request.getfixturevalue("postgres_secured_template"))


@pytest.fixture
def secured_db(demo_db: Path, accounts_file: Path) -> Path:
    """A private demo database with ``ACCOUNTS`` configured beside it (sign-in required)."""
    from kpis.storage.security import security_db_path

    shutil.copyfile(accounts_file, security_db_path(demo_db))
    return demo_db

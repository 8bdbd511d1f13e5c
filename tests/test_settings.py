"""Settings: every environment variable read in one place, documented, and the app
built from them with nothing written at import and its cookie key beside its database."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kpis.settings import (
    DEFAULT_DB_PATH,
    PROJECT_ROOT,
    SECRET_FILE_NAME,
    SecurityConfig,
    Settings,
)

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
NAME = re.compile(r"\bFLIGHTDECK_[A-Z0-9_]+\b")
#: Where the program's own code lives (tests and benchmarks set variables, not read them).
CODE = [PROJECT_ROOT / "app.py", PROJECT_ROOT / "gunicorn.conf.py",
        *sorted((PROJECT_ROOT / "kpis").rglob("*.py")),
        *sorted((PROJECT_ROOT / "layouts").rglob("*.py")),
        *sorted((PROJECT_ROOT / "web").rglob("*.py")),
        *sorted((PROJECT_ROOT / "bench").rglob("*.py")),
        *sorted((PROJECT_ROOT / "scripts").iterdir()), PROJECT_ROOT / ".ci" / "run"]


def flask_config_keys() -> set[str]:
    """Names of the Flask config (not environment variables) that happen to share the
    prefix."""
    from web import context, security, uploads

    return {security.STORE_KEY, security.CONFIG_KEY, security.DASH_KEY, context.SERVICE_KEY,
            uploads.JOBS_KEY, uploads.MAIL_KEY, security.STARTED_SECURED_KEY,
            security.GATE_KEY, security.TOKEN_GATE_KEY}


def names_in_code() -> set[str]:
    found: set[str] = set()
    for path in CODE:
        if path.is_file():
            found |= set(NAME.findall(path.read_text(encoding="utf-8")))
    # FLIGHTDECK_TEST_*: what scripts/test tells the test suite (where its Redis is), not
    # a setting of the program.
    return {name for name in found - flask_config_keys()
            if not name.startswith("FLIGHTDECK_TEST_")}


class Recording(dict[str, str]):
    """An environment that remembers every name asked of it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


def names_settings_read() -> set[str]:
    environ = Recording()
    Settings.from_env(environ)
    return environ.asked


def documented() -> set[str]:
    start, end = README.index("<!-- settings:"), README.index("<!-- /settings -->")
    return set(re.findall(r"^\| `(FLIGHTDECK_[A-Z0-9_]+)` \|", README[start:end], re.M))


def test_every_variable_in_the_code_is_read_by_settings_and_documented() -> None:
    in_code = names_in_code()
    assert "FLIGHTDECK_DB" in in_code and "FLIGHTDECK_BIND" in in_code
    read = {name for name in names_settings_read() if name.startswith("FLIGHTDECK_")}
    assert in_code - read == set(), "named in the code but not read by Settings"
    assert read - documented() == set(), "read by Settings but not in the README's table"
    assert documented() - read == set(), "in the README's table but not read by Settings"


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = [path.relative_to(PROJECT_ROOT) for path in CODE[:-1]
               if path.suffix == ".py" and "bench" not in path.parts
               and path.name != "settings.py"
               and re.search(r"os\.environ|getenv\(", path.read_text(encoding="utf-8"))]
    assert readers == []


def test_an_explicit_database_beats_the_variable_which_beats_the_default(
        tmp_path: Path) -> None:
    env = {"FLIGHTDECK_DB": str(tmp_path / "env.duckdb")}
    assert Settings.from_env({}).db_path == DEFAULT_DB_PATH
    assert Settings.from_env(env).db_path == tmp_path / "env.duckdb"
    explicit = Settings.from_env(env, db=tmp_path / "other" / "x.duckdb")
    assert explicit.db_path == tmp_path / "other" / "x.duckdb"
    # The users file and the cookie key go with the database.
    assert explicit.security_db_path == tmp_path / "other" / "x-security.duckdb"
    assert explicit.secret_key_path == tmp_path / "other" / SECRET_FILE_NAME
    moved = Settings.from_env({"FLIGHTDECK_SECURITY_DB": str(tmp_path / "users.duckdb")},
                              db=tmp_path / "x.duckdb")
    assert moved.security_db_path == tmp_path / "users.duckdb"


def test_every_setting_is_read_from_the_mapping_given() -> None:
    settings = Settings.from_env({
        "FLIGHTDECK_HOST": "0.0.0.0", "FLIGHTDECK_PORT": "9000",
        "FLIGHTDECK_BIND": "unix:/run/fd.sock", "FLIGHTDECK_WORKERS": "3",
        "FLIGHTDECK_THREADS": "8", "FLIGHTDECK_ACCESS_LOG": "-",
        "FLIGHTDECK_CHROMIUM": "/opt/chromium", "FLIGHTDECK_MAX_UPLOAD_MB": "5",
        "FLIGHTDECK_COOKIE_SECURE": "0",
    })
    assert (settings.host, settings.port, settings.bind) == ("0.0.0.0", 9000,
                                                             "unix:/run/fd.sock")
    assert (settings.workers, settings.threads, settings.access_log) == (3, 8, "-")
    assert settings.chromium == "/opt/chromium"
    assert settings.security == SecurityConfig(max_upload_mb=5, secure_cookies=False)
    assert Settings.from_env({"BROWSER_PATH": "/opt/other"}).chromium == "/opt/other"
    assert Settings.from_env({}).chromium == "/usr/bin/chromium"


@pytest.mark.parametrize(("name", "value", "says"), [
    ("FLIGHTDECK_PORT", "eighty", "FLIGHTDECK_PORT must be a whole number"),
    ("FLIGHTDECK_WORKERS", "0", "FLIGHTDECK_WORKERS must be at least 1"),
    ("FLIGHTDECK_IDLE_MINUTES", "soon", "FLIGHTDECK_IDLE_MINUTES must be a number"),
    ("FLIGHTDECK_AUTH", "kerberos", "FLIGHTDECK_AUTH must be"),
    ("FLIGHTDECK_TRUSTED_PROXIES", "10.0.0.300", "FLIGHTDECK_TRUSTED_PROXIES"),
])
def test_a_value_that_cannot_be_used_is_refused_naming_the_variable(
        name: str, value: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Settings.from_env({name: value})


# --------------------------------------------------------------------------- the app


def tree(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` with its modification time."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns
            for p in folder.rglob("*") if p.is_file()}


def test_importing_app_builds_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "elsewhere"
    script = (
        "import sys; import app; "
        "assert '_server' in vars(app) and app._server is None, 'built at import'; "
        "assert not any(name.startswith('layouts.') for name in sys.modules), 'pages loaded';"
        "print('imported')"
    )
    before = tree(PROJECT_ROOT / "data")
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
        env={"FLIGHTDECK_DB": str(folder / "x.duckdb"), "PATH": "/usr/bin:/bin",
             "PYTHONDONTWRITEBYTECODE": "1"}, timeout=120)
    assert done.returncode == 0 and "imported" in done.stdout, done.stderr
    assert not folder.exists()
    assert tree(PROJECT_ROOT / "data") == before


@pytest.mark.slow  # a process that builds the app (about 3 s)
def test_the_wsgi_server_is_built_once_on_first_use_from_the_environment(
        tmp_path: Path) -> None:
    folder = tmp_path / "served"
    script = (
        "import app; first = app.server; "
        "assert app.server is first and first.name == 'app'; print('built')"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
        env={"FLIGHTDECK_DB": str(folder / "x.duckdb"), "PATH": "/usr/bin:/bin",
             "PYTHONDONTWRITEBYTECODE": "1"}, timeout=120)
    assert done.returncode == 0 and "built" in done.stdout, done.stderr
    # The key that signs cookies is made beside the database, not in data/.
    assert sorted(p.name for p in folder.iterdir()) == [SECRET_FILE_NAME]


@pytest.fixture
def other_folder_app(demo_db_readonly: Path, tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    import shutil

    from app import create_app
    from web.context import SERVICE_KEY

    db = tmp_path / "other" / "x.duckdb"
    db.parent.mkdir()
    shutil.copyfile(demo_db_readonly, db)
    app = create_app(Settings.from_env({}, db=db))
    yield app, db
    app.server.config[SERVICE_KEY].close()


def test_the_cookie_key_and_users_file_are_those_beside_the_database(
        other_folder_app: tuple[Any, Path]) -> None:
    from web.context import SERVICE_KEY
    from web.security import STORE_KEY

    app, db = other_folder_app
    key = db.parent / SECRET_FILE_NAME
    assert key.exists() and oct(key.stat().st_mode & 0o777) == "0o600"
    assert app.server.secret_key == key.read_text(encoding="ascii").strip()
    assert app.server.config[STORE_KEY].path == db.with_name("x-security.duckdb")
    assert app.server.config[SERVICE_KEY].db_path == db


def test_two_apps_in_one_process_each_answer_their_own_page_callbacks(
        other_folder_app: tuple[Any, Path], demo_db: Path) -> None:
    from tests.conftest import app_over

    first, _ = other_folder_app
    second = app_over(demo_db)  # built before the first has served anything
    for app in (first, second):
        client = app.server.test_client()
        assert client.get("/_dash-layout").status_code == 200
        outputs = set(app.callback_map)
        assert any("_pages_content" in output for output in outputs)  # Dash's router
        # Callbacks the pages register process-wide (dash.callback) as they are imported:
        # the pillar pages' data tables and the board pack's job.
        assert '{"key":["MATCH"],"type":"trend-table-body"}.children' in outputs
        assert any(output.startswith("..pack-job.data...pack-poll.disabled...pack-status")
                   for output in outputs)
    assert set(first.callback_map) == set(second.callback_map)


# --------------------------------------------------------------------------- flightdeck serve


def test_flightdeck_serve_finds_the_web_app_through_its_entry_point() -> None:
    from app import serve_command
    from kpis.cli import COMMANDS_GROUP, _plugin_command

    assert COMMANDS_GROUP == "flightdeck.commands"
    assert _plugin_command("serve") is serve_command


def test_flightdeck_serve_without_the_web_app_installed_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.metadata

    from kpis.cli import main

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **_: [])
    assert main(["serve", "--db", str(tmp_path / "x.duckdb")]) == 2
    error = capsys.readouterr().err
    assert "the web app is not installed" in error and "pip install -e ." in error
    assert not (tmp_path / "x.duckdb").exists()


def test_flightdeck_serve_refuses_a_bad_setting_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kpis.cli import main

    monkeypatch.setenv("FLIGHTDECK_AUTH", "kerberos")
    with pytest.raises(SystemExit, match="flightdeck: FLIGHTDECK_AUTH must be"):
        main(["serve", "--db", str(tmp_path / "x.duckdb")])
    assert not (tmp_path / "x.duckdb").exists()

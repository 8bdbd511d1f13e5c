"""The national mode, end to end: two app servers on different ports sharing one
PostgreSQL database, one state folder, one Redis and an export worker.

Nothing here is faked: a real PostgreSQL copy of the demonstration data with the test
accounts (``ACCOUNTS``) in its ``flightdeck_security`` schema, server 1 under gunicorn
(the production start, ``gunicorn.conf.py``) and server 2 under ``flightdeck serve``,
both in processes of their own with the same ``FLIGHTDECK_SECRET_KEY`` and
``FLIGHTDECK_STATE_DIR``, a real Redis and a ``flightdeck worker`` process. The test
talks to them over HTTP as a browser does (``requests`` sessions with their own cookie
jars): the sign-in form, the upload routes, Dash's callback endpoint, the pack download
and the data feed.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from kpis.jobs import JobStatus, read_status
from kpis.pack_jobs import exports_root
from kpis.storage.backend import open_store
from kpis.storage.copying import copy_store
from kpis.storage.security import SECURITY_SCHEMA, SecurityStore
from tests.conftest import (
    ACCOUNTS,
    PROJECT_ROOT,
    LiveServer,
    free_port,
    start_process,
    stop_server,
    wait_until,
)
from tests.test_celery_jobs import redis_url  # noqa: F401 - the Redis fixture
from tests.test_fuzz_callbacks import build_payload
from web.security import SESSION_COOKIE
from web.uploads import UPLOAD_PATH

#: Server start, a job's child process, a pack on a cold worker: generous on a busy
#: 2-core machine.
START_TIMEOUT = 120.0
JOB_TIMEOUT = 180.0
CALLBACKS = "/_dash-update-component"
# Kent's September 2025 referrals to the CPS: 21 in the demonstration data.
FEED = "/feeds/kpis.csv?kpi=cps_referrals&force=kent&start=2025-09&end=2025-09"
RETURN = b"force,month,measure,value\nkent,2025-09,cps_referrals,29\n"


# --------------------------------------------------------------------------- HTTP


class Browser:
    """One person's browser on one server: a cookie jar and the server's address."""

    def __init__(self, server: LiveServer) -> None:
        self.base = server.url
        self.http = requests.Session()

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.base + path, allow_redirects=False, timeout=60, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.post(self.base + path, allow_redirects=False, timeout=60, **kwargs)

    def sign_in(self, username: str, password: str | None = None) -> requests.Response:
        page = self.get("/login")
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found, page.text[:500]
        return self.post("/login", data={
            "username": username, "password": password or ACCOUNTS[username][2],
            "csrf": found.group(1), "next": "/"})

    @property
    def session_cookie(self) -> str:
        value = self.http.cookies.get(SESSION_COOKIE)
        assert value, "no session cookie"
        return value

    def use_cookie(self, value: str) -> None:
        # Where the server's own cookie goes (host-only, for 127.0.0.1), so it replaces it.
        self.http.cookies.set(SESSION_COOKIE, value, domain="127.0.0.1", path="/")

    def signed_in(self) -> bool:
        """Whether this browser's session opens the app (Dash's layout: 401 if not)."""
        answer = self.get("/_dash-layout")
        assert answer.status_code in (200, 401), answer.status_code
        return answer.status_code == 200

    def callback(self, trigger: str, values: dict[str, Any]) -> dict[str, Any]:
        """Fire the server callback ``trigger`` (an ``id.property`` input) with
        ``values`` by ``id.property``, as the renderer does; the updated outputs."""
        dependencies = self.get("/_dash-dependencies")
        assert dependencies.status_code == 200, dependencies.status_code
        component, prop = trigger.split(".")
        dependency = next(d for d in dependencies.json() if any(
            i["id"] == component and i["property"] == prop for i in d["inputs"]))
        payload = build_payload(dependency, lambda c, p: values.get(f"{c}.{p}"))
        payload["changedPropIds"] = [trigger]
        answer = self.post(CALLBACKS, json=payload)
        assert answer.status_code == 200, answer.text[:2000]
        return dict(answer.json()["response"])


def signed_in(server: LiveServer, username: str) -> Browser:
    browser = Browser(server)
    answer = browser.sign_in(username)
    assert answer.status_code == 302, answer.text[:500]
    return browser


def feed_value(server: LiveServer, token: str) -> str:
    """Kent's September referrals as ``server``'s data feed gives them now."""
    answer = requests.get(server.url + FEED, headers={"Authorization": f"Bearer {token}"},
                          timeout=60)
    assert answer.status_code == 200, answer.text[:500]
    header, row = answer.text.splitlines()[:2]
    return dict(zip(header.split(","), row.split(","), strict=True))["value"]


def finished_job(folder: Path, kind: str, what: str, processes: list[LiveServer]
                 ) -> JobStatus:
    """The ``kind`` job in ``folder`` once it has finished (failing early, with the
    logs, if a process died)."""

    def finished() -> bool:
        for process in processes:
            assert process.process is None or process.process.poll() is None, (
                process.log.read_text(errors="replace")[-4000:])
        status = read_status(folder)
        return status is not None and status.kind == kind and status.finished

    try:
        wait_until(finished, what, timeout=JOB_TIMEOUT, interval=0.2)
    except AssertionError as failure:
        logs = "\n".join(p.log.read_text(errors="replace")[-3000:] for p in processes)
        raise AssertionError(f"{failure}\n{logs}") from None
    status = read_status(folder)
    assert status is not None
    return status


# --------------------------------------------------------------------------- the deployment


@dataclass
class Deployment:
    url: str  # the PostgreSQL database
    state: Path  # FLIGHTDECK_STATE_DIR, shared by every process
    one: LiveServer  # gunicorn
    two: LiveServer  # flightdeck serve
    worker: LiveServer  # flightdeck worker (no url: it serves nothing)


def _worker(env: dict[str, str], log: Path) -> LiveServer:
    """``flightdeck worker`` on the queue the web apps send to (the default: a server has
    no setting for another), once it says it is ready. A job it takes from another
    run sharing the Redis would still be built right: a job names its own folder and
    database."""
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "kpis.cli", "worker", "--concurrency", "1"],
            cwd=PROJECT_ROOT, stdout=handle, stderr=subprocess.STDOUT,
            env={**os.environ, **env})
    worker = LiveServer("", Path(env["FLIGHTDECK_STATE_DIR"]), process, log)

    def ready() -> bool:
        assert process.poll() is None, log.read_text(errors="replace")
        return " ready." in log.read_text(errors="replace")

    try:
        wait_until(ready, "the export worker to say it is ready", timeout=START_TIMEOUT)
    except BaseException:
        _stop_worker(worker)
        raise
    return worker


def _stop_worker(worker: LiveServer) -> None:
    assert worker.process is not None
    worker.process.send_signal(signal.SIGTERM)  # warm shutdown, as a service manager stops it
    try:
        worker.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        worker.process.kill()
        worker.process.wait(timeout=10)


@pytest.fixture
def deployment(postgres_demo_db: str, accounts_file: Path, redis_url: str,  # noqa: F811
               tmp_path: Path) -> Iterator[Deployment]:
    """Two app servers, an export worker, one PostgreSQL database, one state folder."""
    with open_store(accounts_file, SECURITY_SCHEMA) as accounts, \
            open_store(postgres_demo_db, SECURITY_SCHEMA) as shared:
        copy_store(accounts, shared)  # ACCOUNTS, in the flightdeck_security schema
    state = tmp_path / "state"
    state.mkdir()
    env = {"FLIGHTDECK_DB": postgres_demo_db, "FLIGHTDECK_STATE_DIR": str(state),
           "FLIGHTDECK_SECRET_KEY": secrets.token_urlsafe(48),
           "FLIGHTDECK_REDIS_URL": redis_url, "FLIGHTDECK_COOKIE_SECURE": "0"}
    started: list[LiveServer] = []
    worker: LiveServer | None = None
    try:
        worker = _worker(env, tmp_path / "worker.log")
        port = free_port()
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        started.append(start_process(
            [gunicorn, "-c", "gunicorn.conf.py", "app:server"], state,
            tmp_path / "server-1.log", f"http://127.0.0.1:{port}",
            {**env, "FLIGHTDECK_BIND": f"127.0.0.1:{port}", "FLIGHTDECK_WORKERS": "2"},
            timeout=START_TIMEOUT))
        port = free_port()
        started.append(start_process(
            [sys.executable, "-m", "kpis.cli", "serve", "--port", str(port)], state,
            tmp_path / "server-2.log", f"http://127.0.0.1:{port}", env,
            timeout=START_TIMEOUT))
        yield Deployment(postgres_demo_db, state, started[0], started[1], worker)
    finally:
        for server in started:
            stop_server(server)
        if worker is not None:
            _stop_worker(worker)
    for process in [*started, worker]:
        assert "Traceback" not in process.log.read_text(errors="replace"), (
            process.log.read_text(errors="replace")[-4000:])


# --------------------------------------------------------------------------- the test


@pytest.mark.slow  # two app servers, a Redis and an export worker in processes of their own
def test_two_app_servers_on_one_postgresql_share_loads_sessions_the_throttle_and_packs(
        deployment: Deployment) -> None:
    one, two = deployment.one, deployment.two
    processes = [one, two, deployment.worker]
    users = SecurityStore(deployment.url)
    _, token = users.create_token("analyst", "national test")
    users.close()

    # 1. A load through server 1 is seen by server 2 without a restart.
    assert feed_value(two, token) == "21.0"  # server 2 has read the data before the load
    analyst = signed_in(one, "analyst")
    opened = analyst.post(UPLOAD_PATH, json={"files": [{"name": "kent.csv",
                                                        "size": len(RETURN)}]})
    assert opened.status_code == 200, opened.text
    batch = opened.json()
    sent = analyst.post(batch["files"][0], data=RETURN,
                        headers={"Content-Type": "application/octet-stream"})
    assert sent.status_code == 204, sent.text
    assert analyst.post(batch["check"]).status_code == 202
    folder = deployment.state / ".uploads" / batch["token"]  # the shared state folder
    checked = finished_job(folder, "check", "the upload's check", processes)
    assert checked.state == "done", checked
    started = analyst.callback("upload-confirm.n_clicks", {
        "upload-confirm.n_clicks": 1, "upload-token.data": batch["token"]})
    assert started["upload-poll"]["disabled"] is False, started  # the load job runs
    loaded = finished_job(folder, "load", "the upload's load", processes)
    assert loaded.state == "done" and loaded.result is not None, loaded
    assert loaded.result["outcome"] == "loaded", loaded.result
    assert feed_value(two, token) == "29.0"
    assert feed_value(one, token) == "29.0"

    # 2. A sign-out on server 1 ends the same session on server 2.
    viewer = signed_in(one, "viewer")
    elsewhere = Browser(two)
    copied = viewer.session_cookie
    elsewhere.use_cookie(copied)  # the same session, at the other server
    assert elsewhere.signed_in() and viewer.signed_in()
    out = viewer.post("/logout")
    assert out.status_code == 302 and out.headers["Location"] == "/login"
    assert not viewer.signed_in()
    assert not elsewhere.signed_in()
    for server in (one, two):  # a copy of the cookie as it was, at either server
        replay = Browser(server)
        replay.use_cookie(copied)
        assert not replay.signed_in()

    # 3. Five failed sign-ins spread over both servers lock the account on both.
    for attempt in range(5):
        server = (one, two)[attempt % 2]
        wrong = Browser(server).sign_in("admin", "not the password at all")
        assert wrong.status_code == 401, (attempt, wrong.status_code)
    for server in (two, one):
        refused = Browser(server).sign_in("admin")  # the right password, too late
        assert refused.status_code == 429, (server.url, refused.status_code)
        assert "Too many failed sign-ins" in refused.text
    assert signed_in(two, "viewer").signed_in()  # another account is not locked out

    # 4. A pack started on server 1 is built on the worker and downloads from server 2.
    shown = analyst.callback("pack-build.n_clicks", {
        "pack-build.n_clicks": 1, "control-force.value": "kent",
        "control-period.value": "2025-09", "pack-pillars.value": [1, 2, 3, 4, 5, 6],
        "pack-format.value": "pptx", "pack-marking.value": "OFFICIAL-SENSITIVE",
        "pack-suppress.value": [], "pack-full.value": []})
    job = shown["pack-job"]["data"]
    assert isinstance(job, str) and job, shown
    pack = exports_root(deployment.state) / job
    built = finished_job(pack, "pack", "the board pack", processes)
    assert built.state == "done" and built.result is not None, built
    name = built.result["file"]
    assert name == "board-pack-kent-2025-09.pptx"
    assert "flightdeck.run_job" in deployment.worker.log.read_text(errors="replace")
    owner = signed_in(two, "analyst")
    download = owner.get(f"/download/pack/{job}")
    assert download.status_code == 200, download.text[:500]
    assert download.content == (pack / name).read_bytes()
    assert download.content[:2] == b"PK"  # a PowerPoint file (a zip)
    assert signed_in(two, "kent-analyst").get(f"/download/pack/{job}").status_code == 404


def test_a_server_over_postgresql_builds_no_demonstration_data(postgres_db: str) -> None:
    """``flightdeck serve`` and gunicorn ensure a DuckDB file exists; a PostgreSQL
    database is the deployment's own, filled by `flightdeck copy`, never built here."""
    from app import ensure_database

    said: list[str] = []
    assert ensure_database(postgres_db, said.append) == postgres_db
    assert said == []
    with open_store(postgres_db) as store:
        assert not store.exists()


def test_the_upload_check_previews_a_load_on_postgresql_and_writes_nothing(
        postgres_demo_db: str, tmp_path: Path) -> None:
    """The check stages the file's rows beside the stored ones in the reader's own
    transaction (a temporary table): PostgreSQL refused that in a READ ONLY one."""
    from kpis.service import FlightDeckService
    from tests.conftest import database_digest

    file = tmp_path / "kent.csv"
    file.write_bytes(RETURN)
    before = database_digest(postgres_demo_db)
    service = FlightDeckService(postgres_demo_db)
    try:
        preview = service.preview_load([file])
    finally:
        service.close()
    assert [(c.force_slug, c.measure_id, c.old, c.new) for c in preview.changes] == [
        ("kent", "cps_referrals", 21.0, 29.0)]
    assert database_digest(postgres_demo_db) == before

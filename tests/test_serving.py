"""Production serving: gunicorn with two workers over one DuckDB file, read-only,
compressed responses, and a load picked up by every worker without a restart; and
``flightdeck serve --db`` serving that database with its users file and cookie key.

These start the real commands in processes of their own: they are the start commands'
smoke tests, and slow.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpis.cli import main
from kpis.settings import SECRET_FILE_NAME
from kpis.storage.security import security_db_path
from tests.conftest import (
    PROJECT_ROOT,
    LiveServer,
    free_port,
    start_process,
    stop_server,
    wait_for_http,
)
from tests.test_app import get, post_json, render_page
from tests.uploading import wait_for_job

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gunicorn_server(demo_db_readonly: Path, tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[LiveServer]:
    """gunicorn, started once for this module (the last test loads into its database)."""
    tmp_path = tmp_path_factory.mktemp("gunicorn")
    db = tmp_path / "flightdeck.duckdb"
    shutil.copyfile(demo_db_readonly, db)
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {**os.environ, "FLIGHTDECK_DB": str(db), "FLIGHTDECK_BIND": f"127.0.0.1:{port}",
           "FLIGHTDECK_WORKERS": "2"}
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with open(log, "wb") as handle:
        process = subprocess.Popen([str(gunicorn), "-c", "gunicorn.conf.py", "app:server"],
                                   cwd=PROJECT_ROOT, env=env, stdout=handle,
                                   stderr=subprocess.STDOUT)
    server = LiveServer(f"http://127.0.0.1:{port}", db, process, log)
    try:
        wait_for_http(server.url + "/")
        yield server
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert "Traceback" not in log.read_text(), log.read_text()


def worker_pids(server: LiveServer) -> set[int]:
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    return {int(pid) for pid in children.read_text().split()}


def accredited_share(server: LiveServer) -> str:
    body = render_page(server, "/", "?force=durham&period=2025-09")
    # The tiles are one block of markup (layouts/flight_deck.py): the tile's value.
    markup = json.dumps(body)
    tile = markup[markup.index('id=\\"kpi-tile-investigators_accredited\\"'):]
    return re.search(r'tile-value\\">([^<]*%)<', tile).group(1)


def test_two_workers_serve_pages_with_compressed_responses(gunicorn_server: LiveServer
                                                           ) -> None:
    assert len(worker_pids(gunicorn_server)) == 2
    request = urllib.request.Request(gunicorn_server.url + "/_dash-layout",
                                     headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        json.loads(gzip.decompress(response.read()))
    for path in ("/", "/kpi/ho_rape_charge_rate", "/compare", "/data"):
        assert "_pages_content" in json.dumps(render_page(gunicorn_server, path, "?force=kent"))


def test_an_upload_is_checked_in_a_job_any_worker_can_follow(
    gunicorn_server: LiveServer
) -> None:
    """Under gunicorn the check runs in a worker's child process, and its status is on
    disk: the page's polls, whichever worker answers them, show the same report."""
    data = b"force,month,measure,value\ndurham,2025-09,rape_reports,7\n"
    _, batch = post_json(gunicorn_server.url + "/upload/batch",
                         {"files": [{"name": "durham.csv", "size": len(data)}]})
    sent = urllib.request.Request(gunicorn_server.url + batch["files"][0], data=data,
                                  headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(sent, timeout=30) as response:
        assert response.status == 204
    status, _ = post_json(gunicorn_server.url + batch["check"], {})
    assert status == 202
    wait_for_job(gunicorn_server.db, batch["token"], "check")
    _, dependencies = get(gunicorn_server.url + "/_dash-dependencies")
    follow = next(d for d in json.loads(dependencies)
                  if d["output"].startswith("..upload-status.children"))
    payload = {
        "output": follow["output"],
        "outputs": [{"id": part.split(".")[0], "property": part.split(".")[1]}
                    for part in follow["output"].strip(".").split("...")],
        "inputs": [{"id": "upload-token", "property": "data", "value": batch["token"]},
                   {"id": "upload-poll", "property": "n_intervals", "value": 1}],
        "changedPropIds": ["upload-poll.n_intervals"], "state": [],
    }
    # Six polls reach both workers (requests are shared between them).
    shown = {json.dumps(post_json(gunicorn_server.url + "/_dash-update-component",
                                  payload)[1]["response"]["upload-report"])
             for _ in range(6)}
    assert len(shown) == 1 and "No errors" in shown.pop()


def test_every_worker_picks_up_a_completed_load_without_a_restart(
    gunicorn_server: LiveServer, tmp_path: Path
) -> None:
    before = {accredited_share(gunicorn_server) for _ in range(6)}
    assert "50.0%" not in before
    correction = tmp_path / "durham.csv"
    correction.write_text("force,month,measure,value\n"
                          "durham,2025-09,rasso_investigators,50\n"
                          "durham,2025-09,investigators_accredited_or_pathway,25\n",
                          encoding="utf-8")
    assert main(["load", "--db", str(gunicorn_server.db), str(correction)]) == 0
    deadline = time.monotonic() + 10
    seen: set[str] = set()
    while time.monotonic() < deadline:
        # Many requests, so both workers answer; each must show the new figure.
        seen = {accredited_share(gunicorn_server) for _ in range(8)}
        if seen == {"50.0%"}:
            break
    assert seen == {"50.0%"}
    assert len(worker_pids(gunicorn_server)) == 2  # no worker was restarted


def test_flightdeck_serve_serves_the_database_given_with_its_users_and_key(
        demo_db_readonly: Path, accounts_file: Path, tmp_path: Path) -> None:
    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface

    db = tmp_path / "other" / "x.duckdb"
    db.parent.mkdir()
    shutil.copyfile(demo_db_readonly, db)
    shutil.copyfile(accounts_file, security_db_path(db))  # x.duckdb's own accounts
    port = free_port()
    flightdeck = Path(sys.executable).parent / "flightdeck"
    env = {"PATH": "/usr/bin:/bin", "FLIGHTDECK_DB": str(tmp_path / "not-this.duckdb")}
    server = start_process([str(flightdeck), "serve", "--db", str(db), "--port", str(port)],
                           db, tmp_path / "serve.log", f"http://127.0.0.1:{port}", env)
    try:
        # Accounts exist beside x.duckdb: the app asks for a sign-in.
        with urllib.request.urlopen(server.url + "/login", timeout=30) as response:
            page = response.read().decode()
            cookies = dict(header.split(";")[0].split("=", 1)
                           for header in response.headers.get_all("Set-Cookie"))
        cookie = cookies["flightdeck_session"]
        assert 'id="sign-in"' in page
        # The session cookie is signed with the key written beside x.duckdb.
        key = db.parent / SECRET_FILE_NAME
        assert key.exists()
        signer = Flask("check")
        signer.secret_key = key.read_text(encoding="ascii").strip()
        session = SecureCookieSessionInterface().get_signing_serializer(signer)
        assert session is not None and "csrf" in session.loads(cookie)
        assert not (tmp_path / "not-this.duckdb").exists()
    finally:
        stop_server(server)
    assert "Traceback" not in server.log.read_text(), server.log.read_text()

"""Board pack jobs on Celery workers through Redis (the national mode): a real Redis and a
real ``flightdeck worker`` process, a real pack built on it, and what a message may name.

Redis is ``$FLIGHTDECK_TEST_REDIS_URL`` (``scripts/test`` starts Debian's redis-server
and sets it), else a ``redis-server`` this module starts on a free port and stops. A
machine without redis-server fails these tests, saying so: they are never skipped.
Each worker takes jobs from a queue of its own, so two test processes (``-n 2``) or a
shared Redis never take each other's jobs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kpis.celery_jobs import (
    DEFAULT_QUEUE,
    TASK_NAME,
    CeleryRunner,
    RefusedTask,
    _job_lost,
    celery_app,
    decode_args,
    encode_args,
    pack_request_from_json,
    pack_request_to_json,
    resolve_task,
    run_task,
    task_name,
)
from kpis.domain.access import Principal, Role
from kpis.domain.periods import long_month
from kpis.exports.packs.plan import PACK_TITLE
from kpis.jobs import FAILED_MESSAGE, JobRunner, cancel, read_status, write_status
from kpis.pack_jobs import PackRequest, exports_root, pack_job
from kpis.settings import Settings, state_dir
from kpis.storage.reference import read_forces
from tests import job_tasks
from tests.conftest import PROJECT_ROOT, app_over, free_port, wait_until
from tests.test_pack_jobs import PERIOD, request_for

#: A pack takes a few seconds on a warm worker; a cold, busy machine may take far longer.
JOB_TIMEOUT = 180.0
WORKER_START_TIMEOUT = 120.0


# --------------------------------------------------------------------------- JSON


def every_field_set() -> PackRequest:
    """A request with no field at its default, so a round trip shows every one."""
    return PackRequest(
        db_path="/srv/flightdeck/flightdeck.duckdb",
        security_path="/srv/flightdeck/flightdeck-security.duckdb",
        principal=Principal("kent-analyst", Role.ANALYST, "kent", "Kent Analyst", demo=True),
        address="10.0.0.7", force="kent", period=dt.date(2025, 9, 1), fmt="pdf",
        name="scrutiny-pack-kent-2025-09", marking="OFFICIAL", suppress=True, full=True,
        pillars=(1, 3), kpis=("cps_referrals", "suspect_contact_30d"),
        groups=(("Investigation", ("suspect_contact_30d",)), ("Charging", ())),
        kind="RASSO scrutiny pack", today=dt.date(2025, 10, 15))


def test_a_pack_request_round_trips_through_json_with_every_field() -> None:
    request = every_field_set()
    assert all(getattr(request, f.name) != f.default for f in dataclasses.fields(PackRequest)
               if f.default is not dataclasses.MISSING)
    text = json.dumps(pack_request_to_json(request))  # plain JSON: no pickle, no objects
    assert pack_request_from_json(json.loads(text)) == request
    # As a job's arguments, beside plain values, through JSON text as Celery sends them.
    sent = json.loads(json.dumps(encode_args((request, "/srv/jobs/abc", 3, None))))
    assert decode_args(sent) == (request, "/srv/jobs/abc", 3, None)
    defaults = request_for(Path("/srv/x.duckdb"))
    assert pack_request_from_json(json.loads(json.dumps(pack_request_to_json(defaults)))
                                  ) == defaults


@pytest.mark.parametrize(("change", "says"), [
    (lambda d: d.pop("marking"), "missing"),
    (lambda d: d.update(command="rm -rf /"), "unexpected"),
    (lambda d: d.update(period=20250901), "period must be text"),
    (lambda d: d.update(period="September"), "Invalid isoformat"),
    (lambda d: d.update(suppress="yes"), "suppress must be true or false"),
    (lambda d: d.update(pillars=["1"]), "not a whole number"),
    (lambda d: d["principal"].update(role="superuser"), "superuser"),
])
def test_a_pack_request_that_is_not_what_was_written_is_refused(change: Any, says: str
                                                                ) -> None:
    data = pack_request_to_json(every_field_set())
    change(data)
    with pytest.raises(ValueError, match=says):
        pack_request_from_json(data)


def test_only_json_values_and_pack_requests_are_sent() -> None:
    with pytest.raises(TypeError, match="JSON values or a PackRequest, not PosixPath"):
        encode_args((Path("/srv"),))
    with pytest.raises(TypeError, match="JSON values or a PackRequest, not date"):
        encode_args(({"when": dt.date(2025, 9, 1)},))


# --------------------------------------------------------------------------- task names


@pytest.mark.parametrize("name", [
    "os:system", "builtins:eval", "subprocess:run",
    "tests.job_tasks:which_process",  # a real task, but not the flight deck's own
    "kpisx.pack_jobs:pack_job", "kpis:pack_jobs", "kpis.pack_jobs", "kpis.pack_jobs:",
    "kpis.jobs:_run",  # private
    "kpis.pack_jobs:Path", "kpis.pack_jobs:PackRequest",  # a class, imported or not
    "kpis.pack_jobs:shutil",  # a module imported into a kpis module
    "kpis.pack_jobs:pack_job.__globals__", "kpis..jobs:cancel", "kpis.nosuch:task",
    "kpis.pack_jobs:pack_job ", "kpis.pack_jobs:pack_job\n", "kpis.jobs:cancel;os:system",
])
def test_a_task_outside_the_flight_decks_own_functions_is_refused(name: str) -> None:
    with pytest.raises(RefusedTask, match="refused task"):
        resolve_task(name)


def test_a_task_is_sent_by_its_module_and_function_name(tmp_path: Path) -> None:
    assert task_name(pack_job) == "kpis.pack_jobs:pack_job"
    assert resolve_task("kpis.pack_jobs:pack_job") is pack_job
    # Refused before anything is written or sent (no Redis answers here: none is asked).
    runner = CeleryRunner(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(RefusedTask):
        runner.submit(tmp_path, "note", job_tasks.which_process, "x")
    with pytest.raises(TypeError):
        runner.submit(tmp_path, "pack", pack_job, object())
    assert read_status(tmp_path) is None
    assert runner._app is None


def test_a_worker_runs_no_task_outside_kpis_and_drops_a_finished_job(tmp_path: Path) -> None:
    refused = tmp_path / "refused"
    refused.mkdir()
    write_status(refused, "note", "queued", "Waiting")
    run_task(str(refused), "note", "tests.job_tasks:which_process", ["x"])
    status = read_status(refused)
    assert status is not None and status.state == "failed" and status.result is None
    # Delivered again after it finished (or its folder went): nothing runs, nothing changes.
    done = tmp_path / "done"
    done.mkdir()
    write_status(done, "pack", "done", "Finished", {"file": "x.pptx"})
    before = (done / "status.json").read_bytes()
    run_task(str(done), "pack", "kpis.pack_jobs:pack_job", [])
    assert (done / "status.json").read_bytes() == before
    run_task(str(tmp_path / "gone"), "pack", "kpis.pack_jobs:pack_job", [])
    assert not (tmp_path / "gone").exists()


def test_a_job_whose_worker_process_died_is_failed_at_once(tmp_path: Path) -> None:
    from billiard.exceptions import WorkerLostError

    app = celery_app("redis://127.0.0.1:1/0")
    write_status(tmp_path, "pack", "running", "Drawing chart 3 of 12")
    _job_lost(sender=app.tasks["celery.chord_unlock"], exception=WorkerLostError(),
              args=[str(tmp_path), "pack"])  # another task's failure: not ours
    assert read_status(tmp_path).state == "running"  # type: ignore[union-attr]
    _job_lost(sender=app.tasks[TASK_NAME], exception=WorkerLostError(),
              args=[str(tmp_path), "pack", "kpis.pack_jobs:pack_job", []])
    status = read_status(tmp_path)
    assert status is not None and status.state == "failed"
    assert status.message == FAILED_MESSAGE


@pytest.mark.slow  # Celery's publish retries against a closed port (about a second)
def test_a_job_that_cannot_reach_redis_fails_in_its_folder(tmp_path: Path) -> None:
    runner = CeleryRunner(f"redis://127.0.0.1:{free_port()}/0")
    try:
        runner.submit(tmp_path, "pack", pack_job, request_for(tmp_path / "x.duckdb"),
                      str(tmp_path))
    finally:
        runner.shutdown()
    status = read_status(tmp_path)
    assert status is not None and status.state == "failed" and status.message == FAILED_MESSAGE


# --------------------------------------------------------------------------- settings, web, CLI


def test_the_redis_url_setting_is_read_checked_and_kept_out_of_repr() -> None:
    assert Settings.from_env({}).redis_url is None
    url = "redis://:s3cret@redis.internal:6379/2"
    settings = Settings.from_env({"FLIGHTDECK_REDIS_URL": f" {url} "})
    assert settings.redis_url == url
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in repr(CeleryRunner(url))
    assert Settings.from_env({"FLIGHTDECK_REDIS_URL": "rediss://r:6380/0"}).redis_url
    with pytest.raises(ValueError, match="FLIGHTDECK_REDIS_URL must be a redis://"):
        Settings.from_env({"FLIGHTDECK_REDIS_URL": "http://redis.internal"})


def test_with_a_redis_url_the_web_app_sends_packs_to_the_workers(demo_db: Path) -> None:
    from web.exports import EXPORTS_KEY

    national = app_over(demo_db, {"FLIGHTDECK_REDIS_URL": f"redis://127.0.0.1:{free_port()}/3"})
    runner = national.server.config[EXPORTS_KEY]
    assert isinstance(runner, CeleryRunner) and runner.queue == DEFAULT_QUEUE
    assert runner._app is None  # built, and connected, at the first pack: not before a fork
    local = app_over(demo_db)
    assert isinstance(local.server.config[EXPORTS_KEY], JobRunner)


def test_flightdeck_worker_needs_the_redis_url(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from kpis.cli import build_parser, main

    monkeypatch.delenv("FLIGHTDECK_REDIS_URL", raising=False)
    assert main(["worker"]) == 2
    assert "set FLIGHTDECK_REDIS_URL" in capsys.readouterr().err
    args = build_parser().parse_args(["worker"])
    assert (args.concurrency, args.pool, args.queue) == (2, "prefork", DEFAULT_QUEUE)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["worker", "--concurrency", "0"])


# --------------------------------------------------------------------------- Redis, a worker


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """$FLIGHTDECK_TEST_REDIS_URL, else a redis-server of our own on a free port."""
    import redis

    given = os.environ.get("FLIGHTDECK_TEST_REDIS_URL")
    if given:
        redis.Redis.from_url(given, socket_connect_timeout=5).ping()
        yield given
        return
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed: the Celery export tests need a real "
                    "Redis (apt-get install redis-server, as scripts/test does, or set "
                    "FLIGHTDECK_TEST_REDIS_URL)")
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    log = open(folder / "redis.log", "wb")  # noqa: SIM115 - the server holds it
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", str(folder)], stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    log.close()
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=1)

    def answers() -> bool:
        assert process.poll() is None, (folder / "redis.log").read_text()
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        wait_until(answers, f"redis-server on port {port}", timeout=30)
        yield url
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    queue: str
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def pool_processes(worker: Worker) -> list[Any]:
    import psutil

    return [child for child in psutil.Process(worker.process.pid).children()
            if "python" in child.name()]


def chromium_under(process: Any) -> list[Any]:
    import psutil

    try:
        return [p for p in process.children(recursive=True) if p.name().startswith("chrom")]
    except psutil.NoSuchProcess:
        return []


def forget_queue(url: str, queue: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        for key in list(client.scan_iter(match=f"*{queue}*")):
            client.delete(key)
    finally:
        client.close()


@pytest.fixture(scope="module")
def worker(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """``flightdeck worker`` (two pool processes) on a queue of its own. At the end it is
    stopped as a service manager stops it (SIGTERM) and must leave no Chromium behind."""
    import psutil

    queue = f"flightdeck-test-{secrets.token_hex(6)}"
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "kpis.cli", "worker", "--concurrency", "2", "--queue",
             queue], cwd=PROJECT_ROOT, stdout=handle, stderr=subprocess.STDOUT,
            env={**os.environ, "FLIGHTDECK_REDIS_URL": redis_url})
    started = Worker(process, queue, log)
    browsers: list[Any] = []
    try:
        wait_until(lambda: process.poll() is not None or " ready." in started.text(),
                   "the worker to say it is ready", timeout=WORKER_START_TIMEOUT)
        assert process.poll() is None, started.text()
        yield started
        browsers = [b for pool in pool_processes(started) for b in chromium_under(pool)]
    finally:
        process.send_signal(signal.SIGTERM)  # warm shutdown: running jobs finish first
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
            process.wait(timeout=10)
            raise AssertionError(f"the worker did not stop on SIGTERM:\n{started.text()}"
                                 ) from None
        finally:
            forget_queue(redis_url, queue)
    assert code == 0, started.text()
    left = [b for b in browsers if b.is_running() and b.status() != psutil.STATUS_ZOMBIE]
    assert left == [], "the worker left its Chromium running"


def new_job(db: Path) -> Path:
    """A job folder where the web app makes one (``exports_root`` of the state folder)."""
    folder = exports_root(state_dir(db, {})) / secrets.token_urlsafe(18)
    folder.mkdir(parents=True)
    return folder


def wait_for_finish(folder: Path, worker: Worker) -> Any:
    def finished() -> bool:
        assert worker.process.poll() is None, worker.text()
        status = read_status(folder)
        return status is not None and status.finished

    try:
        wait_until(finished, f"the job in {folder.name} to finish", timeout=JOB_TIMEOUT,
                   interval=0.1)
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{worker.text()[-4000:]}") from None
    return read_status(folder)


@pytest.mark.slow  # a Redis and a Celery worker process with two Chromiums
def test_each_worker_process_starts_its_renderer_before_any_job(worker: Worker) -> None:
    def every_process_warm() -> bool:
        pools = pool_processes(worker)
        return len(pools) == 2 and all(chromium_under(pool) for pool in pools)

    wait_until(every_process_warm, "both pool processes to start Chromium", timeout=90)


@pytest.mark.slow  # a pack built by a Celery worker process
def test_a_pack_sent_through_redis_is_built_on_a_worker(worker: Worker, redis_url: str,
                                                        demo_db: Path) -> None:
    from pptx import Presentation

    folder = new_job(demo_db)
    runner = CeleryRunner(redis_url, queue=worker.queue)
    try:
        runner.submit(folder, "pack", pack_job, request_for(demo_db), str(folder))
        status = wait_for_finish(folder, worker)
    finally:
        runner.shutdown()
    assert status.state == "done", worker.text()[-4000:]
    assert status.result == {"file": "board-pack-kent-2025-09.pptx",
                             "bytes": (folder / "board-pack-kent-2025-09.pptx").stat().st_size,
                             "cached": False}
    kent = next(f["name"] for f in read_forces() if f["slug"] == "kent")
    title = f"{PACK_TITLE}: {kent}, {long_month(PERIOD)}"
    assert title == "RASSO performance board pack: Kent, September 2025"
    deck = Presentation(str(folder / "board-pack-kent-2025-09.pptx"))
    first = deck.slides[0].shapes.title.text_frame.paragraphs[0]
    assert first.text == title
    assert deck.core_properties.title == title
    # Built on the worker: the message went through Redis and the task ran there.
    assert "flightdeck.run_job" in worker.text() and "succeeded" in worker.text()


@pytest.mark.slow  # a Celery worker process
def test_a_pack_cancelled_while_queued_stops_on_the_worker_with_nothing_left(
        worker: Worker, redis_url: str, demo_db: Path) -> None:
    folder = new_job(demo_db)
    cancel(folder)  # asked before any worker took it: it stops at its first step
    runner = CeleryRunner(redis_url, queue=worker.queue)
    try:
        runner.submit(folder, "pack", pack_job, request_for(demo_db, full=True), str(folder))
        status = wait_for_finish(folder, worker)
    finally:
        runner.shutdown()
    assert status.state == "cancelled", worker.text()[-4000:]
    assert sorted(p.name for p in folder.iterdir()) == ["cancel", "status.json"]


@pytest.mark.slow  # a Celery worker process
def test_a_message_naming_a_task_outside_kpis_is_refused_by_the_worker(
        worker: Worker, redis_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "forged"
    folder.mkdir()
    write_status(folder, "note", "queued", "Waiting")
    app = celery_app(redis_url, worker.queue)
    try:  # sent as a forged message would be, past CeleryRunner's own check
        app.send_task(TASK_NAME, args=[str(folder), "note", "tests.job_tasks:which_process",
                                       ["forged"]], queue=worker.queue)
        status = wait_for_finish(folder, worker)
    finally:
        app.close()
    assert status.state == "failed" and status.result is None
    assert "refused task 'tests.job_tasks:which_process'" in worker.text()


@pytest.mark.slow  # a Redis round trip with no worker on the queue
def test_a_job_waits_queued_in_redis_until_a_worker_takes_it(redis_url: str,
                                                             tmp_path: Path) -> None:
    import redis

    queue = f"flightdeck-test-{secrets.token_hex(6)}"
    runner = CeleryRunner(redis_url, queue=queue)
    try:
        runner.submit(tmp_path, "pack", pack_job, request_for(tmp_path / "x.duckdb"),
                      str(tmp_path))
    finally:
        runner.shutdown()
    status = read_status(tmp_path)
    assert status is not None and status.state == "queued"
    assert status.message == "Waiting for an export worker"
    client = redis.Redis.from_url(redis_url)
    try:
        (message,) = client.lrange(queue, 0, -1)
    finally:
        client.close()
        forget_queue(redis_url, queue)
    sent = json.loads(message)
    assert sent["headers"]["task"] == TASK_NAME and sent["content-type"] == "application/json"
    import base64

    folder, kind, task, args = json.loads(base64.b64decode(sent["body"]))[0]
    assert (folder, kind, task) == (str(tmp_path.resolve()), "pack", "kpis.pack_jobs:pack_job")
    assert decode_args(args) == (request_for(tmp_path / "x.duckdb"), str(tmp_path))


@pytest.mark.slow  # two apps, a pack built by a Celery worker process
def test_a_pack_started_on_one_app_server_is_built_on_a_worker_and_downloads_from_another(
        worker: Worker, redis_url: str, secured_db: Path) -> None:
    import flask

    from tests.test_security import BASE, signed_in
    from web.exports import EXPORTS_KEY, start_pack

    env = {"FLIGHTDECK_REDIS_URL": redis_url, "FLIGHTDECK_SECRET_KEY": "k" * 64}
    starting, serving = app_over(secured_db, env), app_over(secured_db, env)
    runner = starting.server.config[EXPORTS_KEY]
    assert isinstance(runner, CeleryRunner) and runner.url == redis_url
    # The app's own runner, sent to this test's queue (another test process may share Redis).
    runner.queue = worker.queue
    try:
        with starting.server.test_request_context(f"{BASE}/packs"):
            flask.g.principal = Principal("analyst", Role.ANALYST)
            token = start_pack(request_for(secured_db))
    finally:
        runner.shutdown()
    folder = exports_root(state_dir(secured_db, {})) / token
    status = wait_for_finish(folder, worker)
    assert status.state == "done", worker.text()[-4000:]
    answer = signed_in(serving, "analyst").get(f"{BASE}/download/pack/{token}")
    assert answer.status_code == 200
    assert answer.data == (folder / "board-pack-kent-2025-09.pptx").read_bytes()
    assert answer.data[:2] == b"PK"  # a PowerPoint file (a zip)
    assert signed_in(serving, "kent-analyst").get(
        f"{BASE}/download/pack/{token}").status_code == 404

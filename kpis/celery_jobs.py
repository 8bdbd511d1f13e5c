"""Background jobs on Celery workers through Redis: the national mode's export runner.

One web server draws nothing heavy in the national mode: with ``FLIGHTDECK_REDIS_URL``
set, the web app's export runner is a :class:`CeleryRunner`, which writes the job's
"queued" status into its folder and sends the job to Redis; a ``flightdeck worker``
process (:func:`start_worker`) takes it and runs it with :func:`kpis.jobs.run_job`, the
same function a local child runs, so the status file, the cancel file
(:func:`kpis.jobs.cancel`) and the result are the same whoever runs the job, and any
server that can read the folder can follow it and serve the file.

What travels through Redis is JSON only (pickle is never accepted: whoever could write
to the queue could otherwise run any code in a worker): the job's folder, its kind, its
task named ``module:function`` (a function defined in a ``kpis.`` module, nothing else:
:func:`resolve_task`) and its arguments, each a JSON value or a
:class:`kpis.pack_jobs.PackRequest` (:func:`encode_args`, written field by field). Redis
must still be private to the deployment (a password, a private network): a message names
the folder its status is written to.

Celery is imported only when an app is built (:func:`celery_app`), and nothing connects
to Redis until the first job is sent or the worker starts: a web process may make its
runner before gunicorn forks, and ``flightdeck --help`` stays light.

Each worker process keeps one warm chart renderer, started as the process starts
(``worker_process_init``; before the worker starts with ``--pool solo``), so the first
pack does not wait for Chromium. Jobs are acknowledged after they finish
(``task_acks_late``) and a process takes one job at a time (``prefetch 1``): a long
pack never holds another job back on a busy process. A job whose process died is
marked failed in its folder at once; a message delivered again after its job finished
(Redis redelivers unacknowledged messages after ``VISIBILITY_SECONDS``) is dropped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import inspect
import logging
import os
import re
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpis.domain.access import Principal, Role
from kpis.jobs import FAILED_MESSAGE, STALE_SECONDS, Task, read_status, run_job, write_status
from kpis.pack_jobs import PackRequest

if TYPE_CHECKING:
    from celery import Celery

__all__ = ["DEFAULT_QUEUE", "TASK_NAME", "CeleryRunner", "RefusedTask", "celery_app",
           "decode_args", "encode_args", "pack_request_from_json", "pack_request_to_json",
           "resolve_task", "run_task", "start_worker", "task_name"]

LOG = logging.getLogger(__name__)

TASK_NAME = "flightdeck.run_job"
#: The queue the web app sends jobs to and ``flightdeck worker`` takes them from.
DEFAULT_QUEUE = "flightdeck"
QUEUED = "Waiting for an export worker"
POOLS = ("prefork", "solo")
#: Only functions defined in the flight deck's own modules may be named as a job's task.
TASK_MODULE_PREFIX = "kpis."
#: A running job whose process died is failed in its folder: the page reads that as
#: failed after STALE_SECONDS anyway, so a job is never allowed to run longer.
TIME_LIMIT_SECONDS = STALE_SECONDS
#: An unacknowledged message (its worker vanished) is delivered again after this long.
VISIBILITY_SECONDS = 3600
#: How long a worker's pool process may take to start, its renderer warmed.
PROCESS_START_SECONDS = 90.0
#: How long sending a job may take (Redis unreachable: the job fails, the page says so).
CONNECT_SECONDS = 5.0
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")  # whole names: fullmatch
_PACK_REQUEST = "pack_request"  # the tag of an encoded PackRequest argument


class RefusedTask(ValueError):
    """A job named a task that is not a function of a ``kpis.`` module."""


# --------------------------------------------------------------------------- task names


def task_name(task: Task) -> str:
    """``task`` as the ``module:function`` a worker finds it by; refused (RefusedTask)
    unless it is a module-level function of a ``kpis.`` module."""
    name = f"{getattr(task, '__module__', '')}:{getattr(task, '__qualname__', '')}"
    if resolve_task(name) is not task:
        raise RefusedTask(f"{name} is not the module-level function it names")
    return name


def resolve_task(name: str) -> Task:
    """The function ``name`` (``module:function``) names; RefusedTask unless the module
    is one of the flight deck's (``kpis.``) and the function is public, defined there and
    a plain function (not a class, a builtin or something imported into the module)."""
    if not isinstance(name, str):
        raise RefusedTask(f"refused task {name!r}: not a name")
    module_name, colon, function_name = name.partition(":")
    parts = module_name.split(".")
    if (not colon or not module_name.startswith(TASK_MODULE_PREFIX)
            or not all(_NAME.fullmatch(part) for part in parts)
            or not _NAME.fullmatch(function_name)):
        raise RefusedTask(f"refused task {name!r}: only a public function of a "
                          f"{TASK_MODULE_PREFIX}* module, named module:function, may run")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise RefusedTask(f"refused task {name!r}: no module {module_name}") from None
    function = getattr(module, function_name, None)
    if not inspect.isfunction(function) or function.__module__ != module_name:
        raise RefusedTask(f"refused task {name!r}: not a function defined in {module_name}")
    return function  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- arguments


def _principal_to_json(principal: Principal) -> dict[str, Any]:
    return {"username": principal.username, "role": Role(principal.role).value,
            "force": principal.force, "display_name": principal.display_name,
            "demo": principal.demo}


def _principal_from_json(data: dict[str, Any]) -> Principal:
    return Principal(username=_text(data, "username"), role=Role(_text(data, "role")),
                     force=_optional_text(data, "force"),
                     display_name=_text(data, "display_name"),
                     demo=_boolean(data, "demo"))


def pack_request_to_json(request: PackRequest) -> dict[str, Any]:
    """``request`` as JSON values, field by field (dates as ISO text, tuples as lists)."""
    data = {
        "db_path": request.db_path, "security_path": request.security_path,
        "principal": _principal_to_json(request.principal), "address": request.address,
        "force": request.force, "period": request.period.isoformat(), "fmt": request.fmt,
        "name": request.name, "marking": request.marking, "suppress": request.suppress,
        "full": request.full,
        "pillars": None if request.pillars is None else list(request.pillars),
        "kpis": None if request.kpis is None else list(request.kpis),
        "groups": None if request.groups is None else [
            [heading, list(ids)] for heading, ids in request.groups],
        "kind": request.kind,
        "today": None if request.today is None else request.today.isoformat(),
    }
    # A field added to PackRequest must be added here (and below), not silently dropped.
    missing = {f.name for f in dataclasses.fields(PackRequest)} - set(data)
    if missing:
        raise TypeError(f"PackRequest fields not serialised: {', '.join(sorted(missing))}")
    return data


def pack_request_from_json(data: dict[str, Any]) -> PackRequest:
    """The :class:`PackRequest` :func:`pack_request_to_json` wrote; ValueError for
    anything else (an unknown or missing field, a value of the wrong type)."""
    if not isinstance(data, dict):
        raise ValueError("a pack request must be a JSON object")
    known = {f.name for f in dataclasses.fields(PackRequest)}
    if set(data) != known:
        raise ValueError(f"pack request fields {sorted(set(data) ^ known)} unexpected or "
                         "missing")
    principal = data["principal"]
    if not isinstance(principal, dict):
        raise ValueError("principal must be a JSON object")
    pillars, kpis, groups = data["pillars"], data["kpis"], data["groups"]
    return PackRequest(
        db_path=_text(data, "db_path"), security_path=_text(data, "security_path"),
        principal=_principal_from_json(principal), address=_text(data, "address"),
        force=_text(data, "force"), period=dt.date.fromisoformat(_text(data, "period")),
        fmt=_text(data, "fmt"), name=_text(data, "name"), marking=_text(data, "marking"),
        suppress=_boolean(data, "suppress"), full=_boolean(data, "full"),
        pillars=None if pillars is None else tuple(_whole(p) for p in _list(pillars)),
        kpis=None if kpis is None else tuple(_string(k) for k in _list(kpis)),
        groups=None if groups is None else tuple(
            (_string(heading), tuple(_string(i) for i in _list(ids)))
            for heading, ids in (_pair(g) for g in _list(groups))),
        kind=_optional_text(data, "kind"),
        today=None if data["today"] is None
        else dt.date.fromisoformat(_text(data, "today")),
    )


def _text(data: dict[str, Any], key: str) -> str:
    return _string(data.get(key), key)


def _optional_text(data: dict[str, Any], key: str) -> str | None:
    return None if data.get(key) is None else _text(data, key)


def _string(value: object, what: str = "value") -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, not {type(value).__name__}")
    return value


def _boolean(data: dict[str, Any], key: str) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false")
    return value


def _whole(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not a whole number")
    return value


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{value!r} is not a list")
    return value


def _pair(value: object) -> tuple[Any, Any]:
    items = _list(value)
    if len(items) != 2:
        raise ValueError(f"{value!r} is not a pair")
    return items[0], items[1]


def encode_args(args: Sequence[Any]) -> list[Any]:
    """A job's arguments as JSON values: JSON values as they are, a PackRequest as
    ``{"pack_request": {...}}``; TypeError for anything else (never pickled)."""
    return [_encode(arg) for arg in args]


def _encode(value: Any) -> Any:
    if isinstance(value, PackRequest):
        return {_PACK_REQUEST: pack_request_to_json(value)}
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        if set(value) == {_PACK_REQUEST}:
            raise TypeError(f"a dict keyed {_PACK_REQUEST!r} would read back as a request")
        return {key: _encode(item) for key, item in value.items()}
    raise TypeError(f"a job's arguments must be JSON values or a PackRequest, not "
                    f"{type(value).__name__}")


def decode_args(args: Sequence[Any]) -> tuple[Any, ...]:
    """The arguments :func:`encode_args` wrote (lists stay lists)."""
    return tuple(_decode(arg) for arg in args)


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_PACK_REQUEST}:
            return pack_request_from_json(value[_PACK_REQUEST])
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


# --------------------------------------------------------------------------- the task


def run_task(folder: str, kind: str, task: str, args: list[Any]) -> None:
    """On a worker: run the job ``task(progress, *args)`` into ``folder``, as a local
    child would (:func:`kpis.jobs.run_job`). A job that is no longer waiting (its folder
    removed, or finished: a message delivered twice) is dropped; one naming a task
    outside ``kpis.`` or with arguments that do not decode is failed, never run."""
    path = Path(folder)
    status = read_status(path) if path.is_absolute() else None
    if status is None or status.finished:
        LOG.warning("job %s in %s dropped: %s", kind, folder,
                    "no such job" if status is None else f"already {status.state}")
        return
    try:
        function = resolve_task(task)
        decoded = decode_args(args)
    except (ValueError, TypeError) as refused:
        LOG.error("job %s in %s refused: %s", kind, folder, refused)
        write_status(path, kind, "failed", FAILED_MESSAGE)
        return
    run_job(path, kind, function, decoded)


def _job_lost(sender: Any = None, task_id: str | None = None,
              exception: BaseException | None = None, args: Sequence[Any] | None = None,
              **_: Any) -> None:
    """``task_failure``, in the worker's main process: the process running a job died
    (killed, out of memory) or ran past the time limit, so it could not say so itself."""
    if getattr(sender, "name", None) != TASK_NAME or not args:
        return
    folder = Path(str(args[0]))
    status = read_status(folder) if folder.is_absolute() else None
    if status is not None and not status.finished:
        LOG.error("job %s in %s: %r", args[1] if len(args) > 1 else "?", folder, exception)
        write_status(folder, status.kind, "failed", FAILED_MESSAGE)


# --------------------------------------------------------------------------- the app


def celery_app(url: str, queue: str = DEFAULT_QUEUE) -> Celery:
    """A Celery app on the Redis at ``url`` with the job task registered; connects to
    nothing until it is used."""
    from celery import Celery

    app = Celery("flightdeck", broker=url, set_as_current=False)
    app.conf.update(
        # JSON only: a message can name data, never code (no pickle).
        task_serializer="json", accept_content=["json"], result_accept_content=["json"],
        # The status lives in the job's folder: no result backend.
        result_backend=None, task_ignore_result=True,
        # Acknowledged once the job is over, one job at a time per process.
        task_acks_late=True, worker_prefetch_multiplier=1,
        # A job whose process died is failed (_job_lost), not run again.
        task_reject_on_worker_lost=False,
        task_time_limit=TIME_LIMIT_SECONDS,
        task_default_queue=queue,
        broker_connection_timeout=CONNECT_SECONDS,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": VISIBILITY_SECONDS},
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0,
                                   "interval_step": 1, "interval_max": 1},
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # A pool process starts its renderer before it reports for work: give it as long
        # as Chromium's start may take (kpis.exports.render.START_TIMEOUT), not Celery's 4 s.
        worker_proc_alive_timeout=PROCESS_START_SECONDS,
        worker_hijack_root_logger=True,
    )
    app.task(name=TASK_NAME, ignore_result=True)(run_task)
    return app


class CeleryRunner:
    """:class:`kpis.jobs.JobRunner`'s interface over Celery: ``submit`` writes the job's
    "queued" status and sends it to the workers; nothing runs in this process.

    Made anywhere (the Celery app is built and connected at the first ``submit``, so it
    may be made before a fork); ``submit`` from any thread.
    """

    def __init__(self, url: str, queue: str = DEFAULT_QUEUE,
                 queued_message: str = QUEUED) -> None:
        self.url = url
        self.queue = queue
        self.queued_message = queued_message
        self._lock = threading.Lock()
        self._app: Celery | None = None
        self._pid = os.getpid()

    def __repr__(self) -> str:  # the URL may hold Redis's password
        return f"CeleryRunner(queue={self.queue!r})"

    @property
    def app(self) -> Celery:
        with self._lock:
            if self._app is None or self._pid != os.getpid():  # built again after a fork
                self._app, self._pid = celery_app(self.url, self.queue), os.getpid()
            return self._app

    def submit(self, folder: Path, kind: str, task: Task, *args: Any,
               heavy: bool = False) -> None:
        """Queue ``task(progress, *args)`` for a worker; its status is written to
        ``folder``, which the worker must reach at the same path (a shared folder).

        ``task`` must be a module-level function of a ``kpis.`` module and ``args`` JSON
        values or a PackRequest (RefusedTask, TypeError otherwise, before anything is
        queued). ``heavy`` is accepted for :class:`kpis.jobs.JobRunner`'s interface: a
        worker process is long-lived (the pool replaces one that dies). A job that cannot
        be sent (Redis unreachable) is failed in its folder, as a dead child's would be.
        """
        name = task_name(task)
        payload = [str(Path(folder).resolve()), kind, name, encode_args(args)]
        write_status(folder, kind, "queued", self.queued_message)
        try:
            self.app.send_task(TASK_NAME, args=payload, queue=self.queue)
        except Exception as failure:
            LOG.error("job %s in %s not sent to the workers: %r", kind, folder, failure)
            write_status(folder, kind, "failed", FAILED_MESSAGE)

    def shutdown(self) -> None:
        """Close the connections to Redis (the queued jobs stay queued for the workers)."""
        with self._lock:
            app, self._app = self._app, None
        if app is not None:
            app.close()


# --------------------------------------------------------------------------- the worker


def _warm_renderer(**_: Any) -> None:
    """Start this process's chart renderer (``worker_process_init``): the first pack does
    not pay Chromium's start, nor the pack writers' imports. Without Chromium the worker
    still runs; packs say why."""
    import kpis.exports.packs
    import kpis.service  # noqa: F401 - imported now, not in the first pack
    from kpis.exports.render import RendererUnavailable, warm_up

    try:
        warm_up()
    except RendererUnavailable as problem:
        LOG.warning("chart renderer not started: %s", problem)


def _close_renderer(**_: Any) -> None:
    """Close this process's Chromium as the process ends (``worker_process_shutdown``:
    a pool process leaves without running atexit handlers)."""
    from kpis.exports.render import shutdown

    shutdown()


def start_worker(url: str, *, concurrency: int = 2, pool: str = "prefork",
                 queue: str = DEFAULT_QUEUE, loglevel: str = "INFO") -> int:
    """Run a Celery worker on ``url`` taking jobs from ``queue`` until it is stopped
    (SIGTERM: it finishes its jobs first); returns its exit status.

    ``prefork``: ``concurrency`` processes, each with its own warm renderer; ``solo``:
    jobs run one at a time in this process, warmed before the worker starts.
    """
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {', '.join(POOLS)}, not {pool!r}")
    from celery import signals

    app = celery_app(url, queue)
    signals.task_failure.connect(_job_lost, weak=False)
    if pool == "solo":
        _warm_renderer()
    else:
        signals.worker_process_init.connect(_warm_renderer, weak=False)
        signals.worker_process_shutdown.connect(_close_renderer, weak=False)
    worker = app.Worker(
        hostname=f"flightdeck-{os.getpid()}@{socket.gethostname()}", pool_cls=pool,
        concurrency=1 if pool == "solo" else concurrency, queues=[queue],
        loglevel=loglevel)
    worker.start()
    if pool == "solo":
        _close_renderer()
    return int(worker.exitcode or 0)

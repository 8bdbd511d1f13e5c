"""Background jobs: long work (reading a Home Office workbook, loading it) runs in a
child process, one job at a time per server process, and writes how far it has got to
a status file in the job's own folder.

Why a child process and not a thread: a year's outcomes workbook takes about 20 s and
1.2 GB to read. In a thread of a web worker it would hold the interpreter lock against
every other user's page and leave the worker that much larger afterwards. A child
process takes neither; it is started fresh (``spawn``: DuckDB must never be open
across a fork) and kept warm for small jobs, and it is replaced after a ``heavy`` job
so the memory goes back to the system.

Why a status file and not memory: a server runs several worker processes, and the
browser's next poll may reach any of them. Whoever can read the folder can follow the
job; the folder is private to the person who started it (the caller's business).

A task is a module-level function ``task(progress, *args) -> dict`` (it is pickled by
name into the child); ``progress(message)`` updates the status, and the dict it
returns, made of JSON values, becomes the status's ``result``.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

LOG = logging.getLogger(__name__)

STATUS_FILE = "status.json"
CANCEL_FILE = "cancel"
State = Literal["queued", "running", "done", "failed", "cancelled"]
Progress = Callable[[str], None]
Task = Callable[..., dict[str, Any]]
#: A job that has said nothing for this long is taken to have died with its server.
STALE_SECONDS = 15 * 60
QUEUED_MESSAGE = "Waiting for another file check or load on this server to finish"
FAILED_MESSAGE = ("The job stopped unexpectedly. Nothing was changed. Try again, and tell "
                  "your analyst team if it keeps happening.")
CANCELLED_MESSAGE = "Cancelled."


class JobCancelled(Exception):
    """Raised inside a task when the person who started it asked to cancel it."""


def cancel(folder: Path) -> None:
    """Ask the job in ``folder`` to stop: it stops at its next step (a queued job before
    it starts). Any server process may ask; the job's child reads the request."""
    (folder / CANCEL_FILE).touch()


def cancel_requested(folder: Path) -> bool:
    return (folder / CANCEL_FILE).exists()


@dataclass(frozen=True)
class JobStatus:
    kind: str  # what the job does, for the page that follows it ("check", "load")
    state: State
    message: str
    updated: float  # time.time() of the last change
    result: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")


def write_status(folder: Path, kind: str, state: State, message: str,
                 result: dict[str, Any] | None = None) -> None:
    """Replace the folder's status atomically: a reader sees the old one or the new."""
    data = {"kind": kind, "state": state, "message": message, "updated": time.time(),
            "result": result}
    temporary = folder / f".{STATUS_FILE}.{os.getpid()}.{threading.get_ident()}"
    temporary.write_text(json.dumps(data), encoding="utf-8")
    os.replace(temporary, folder / STATUS_FILE)


def read_status(folder: Path, now: float | None = None) -> JobStatus | None:
    """The job's status, or None if no job was started in ``folder``. A job that is
    still queued or running but has not said anything for ``STALE_SECONDS`` died
    with its server: it reads as failed."""
    try:
        data = json.loads((folder / STATUS_FILE).read_text(encoding="utf-8"))
        status = JobStatus(str(data["kind"]), data["state"], str(data["message"]),
                           float(data["updated"]), data.get("result"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        LOG.exception("unreadable job status in %s", folder)
        return JobStatus("unknown", "failed", FAILED_MESSAGE, time.time())
    if not status.finished and (now or time.time()) - status.updated > STALE_SECONDS:
        return JobStatus(status.kind, "failed", FAILED_MESSAGE, status.updated)
    return status


def _run(folder: Path, kind: str, task: Task, args: tuple[Any, ...]) -> None:
    """In the child: run the task, keeping the status file up to date. Each progress
    message is also where a cancellation is noticed (:class:`JobCancelled`)."""
    def progress(message: str) -> None:
        if cancel_requested(folder):
            raise JobCancelled
        write_status(folder, kind, "running", message)

    try:
        progress("Started")
        result = task(progress, *args)
    except JobCancelled:
        write_status(folder, kind, "cancelled", CANCELLED_MESSAGE)
        return
    except Exception:
        LOG.exception("job %s in %s failed", kind, folder)
        write_status(folder, kind, "failed", FAILED_MESSAGE)
        return
    write_status(folder, kind, "done", "Finished", result)


#: The public name of :func:`_run`, for runners that run a job somewhere else (a Celery
#: worker: :mod:`kpis.celery_jobs`) but keep the same status file and cancel file.
run_job = _run


class Runner(Protocol):
    """What a page needs of a job runner: this module's :class:`JobRunner` (children
    of the server process) or, nationally, :class:`kpis.celery_jobs.CeleryRunner`."""

    def submit(self, folder: Path, kind: str, task: Task, *args: Any,
               heavy: bool = False) -> None: ...

    def shutdown(self) -> None: ...


class JobRunner:
    """Runs jobs in one child process, one at a time, in the order they were submitted.

    Create it anywhere (it starts nothing until the first ``submit``, so it may be made
    before a fork) and submit from any thread of one process. A dispatcher thread hands
    the child one job at a time and waits for it: web threads never wait.
    """

    def __init__(self, workers: int = 1, queued_message: str = QUEUED_MESSAGE) -> None:
        """``workers``: child processes running jobs at once (each one job at a time)."""
        self.workers = workers
        self.queued_message = queued_message
        self._slots = threading.Semaphore(workers)
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._dispatcher: threading.Thread | None = None
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None

    def submit(self, folder: Path, kind: str, task: Task, *args: Any,
               heavy: bool = False) -> None:
        """Queue ``task(progress, *args)``; its status is written to ``folder``.

        ``heavy``: the job reads a lot, so the child is replaced after it.
        """
        write_status(folder, kind, "queued", self.queued_message)
        with self._lock:
            if self._dispatcher is None or not self._dispatcher.is_alive():
                self._dispatcher = threading.Thread(target=self._dispatch, daemon=True,
                                                    name="flightdeck-jobs")
                self._dispatcher.start()
        self._jobs.put(_Job(folder, kind, task, args, heavy))

    def _dispatch(self) -> None:
        while (job := self._jobs.get()) is not None:
            if self.workers > 1:
                self._start_pooled(job)
                continue
            if self._executor is None:
                self._executor = self._new_executor()
            try:
                self._executor.submit(_run, job.folder, job.kind, job.task, job.args
                                      ).result()
            except Exception as failure:
                # The child died (killed, out of memory) before it could say so itself.
                LOG.error("job %s in %s: %r", job.kind, job.folder, failure)
                write_status(job.folder, job.kind, "failed", FAILED_MESSAGE)
                self._retire()
                continue
            if job.heavy:
                self._retire()

    def _new_executor(self) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))

    def _start_pooled(self, job: _Job) -> None:
        """A pool of ``workers`` children: up to that many jobs at once, the rest wait."""
        self._slots.acquire()
        if self._executor is None:
            self._executor = self._new_executor()
        try:
            future = self._executor.submit(_run, job.folder, job.kind, job.task, job.args)
        except Exception as failure:  # the pool broke: a child was killed
            LOG.error("job %s in %s: %r", job.kind, job.folder, failure)
            write_status(job.folder, job.kind, "failed", FAILED_MESSAGE)
            self._executor = None
            self._slots.release()
            return

        def finished(done: concurrent.futures.Future[None]) -> None:
            self._slots.release()
            failure = done.exception()
            if failure is not None:
                LOG.error("job %s in %s: %r", job.kind, job.folder, failure)
                write_status(job.folder, job.kind, "failed", FAILED_MESSAGE)
                with self._lock:
                    if isinstance(failure, BrokenProcessPool):
                        self._executor = None

        future.add_done_callback(finished)

    def _retire(self) -> None:
        """End the child: the next job starts a fresh one."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def shutdown(self) -> None:
        """Finish the queued jobs, then end the child and the dispatcher."""
        with self._lock:
            dispatcher = self._dispatcher
        if dispatcher is not None and dispatcher.is_alive():
            self._jobs.put(None)
            dispatcher.join()
        self._retire()


@dataclass(frozen=True)
class _Job:
    folder: Path
    kind: str
    task: Task
    args: tuple[Any, ...]
    heavy: bool

"""Background jobs (kpis.jobs): in a child process, one at a time, status on disk.

Slow: each test starts child processes (some 2 s each)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpis.jobs import FAILED_MESSAGE, STALE_SECONDS, JobRunner, read_status, write_status
from tests import job_tasks
from tests.conftest import wait_until

pytestmark = pytest.mark.slow
TIMEOUT = 60.0


@pytest.fixture
def runner() -> Iterator[JobRunner]:
    jobs = JobRunner()
    yield jobs
    jobs.shutdown()


def folder(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    return path


def finished(path: Path) -> bool:
    status = read_status(path)
    return status is not None and status.finished


def wait_done(path: Path) -> dict[str, object]:
    wait_until(lambda: finished(path), f"the job in {path.name}", timeout=TIMEOUT)
    status = read_status(path)
    assert status is not None and status.state == "done", status
    assert status.result is not None
    return status.result


def test_a_job_runs_in_another_process_and_its_result_is_on_disk(
        runner: JobRunner, tmp_path: Path) -> None:
    job = folder(tmp_path, "a")
    runner.submit(job, "check", job_tasks.which_process, "a")
    result = wait_done(job)
    assert result["pid"] != os.getpid() and result["note"] == "a"
    status = read_status(job)
    assert status is not None and status.kind == "check" and status.message == "Finished"


def test_jobs_run_one_at_a_time_in_the_order_submitted(
        runner: JobRunner, tmp_path: Path) -> None:
    first, second = folder(tmp_path, "first"), folder(tmp_path, "second")
    flag = tmp_path / "go"
    runner.submit(first, "check", job_tasks.wait_for, str(flag))
    runner.submit(second, "check", job_tasks.which_process, "second")
    wait_until(lambda: (s := read_status(first)) is not None and s.state == "running",
               "the first job to start", timeout=TIMEOUT)
    # While the first runs, the second waits, saying why; submitting returned at once.
    queued = read_status(second)
    assert queued is not None and queued.state == "queued"
    assert "Waiting for another" in queued.message
    flag.touch()
    one, two = wait_done(first), wait_done(second)
    assert float(one["ended"]) <= float(two["at"])
    assert one["pid"] == two["pid"]  # a light job keeps the child warm for the next


def test_after_a_heavy_job_the_next_runs_in_a_fresh_process(
        runner: JobRunner, tmp_path: Path) -> None:
    heavy, after = folder(tmp_path, "heavy"), folder(tmp_path, "after")
    runner.submit(heavy, "check", job_tasks.which_process, "heavy", heavy=True)
    first = wait_done(heavy)
    runner.submit(after, "check", job_tasks.which_process, "after")
    assert wait_done(after)["pid"] != first["pid"]


def test_a_job_that_fails_or_dies_reads_as_failed_and_the_next_still_runs(
        runner: JobRunner, tmp_path: Path) -> None:
    faulty, killed, after = (folder(tmp_path, n) for n in ("faulty", "killed", "after"))
    runner.submit(faulty, "load", job_tasks.fail)
    runner.submit(killed, "load", job_tasks.die)
    runner.submit(after, "load", job_tasks.which_process, "after")
    for path in (faulty, killed):
        wait_until(lambda path=path: finished(path), path.name, timeout=TIMEOUT)
        status = read_status(path)
        assert status is not None and status.state == "failed"
        assert status.message == FAILED_MESSAGE and "fault" not in status.message
    assert wait_done(after)["note"] == "after"


def test_a_job_silent_for_too_long_died_with_its_server(tmp_path: Path) -> None:
    job = folder(tmp_path, "silent")
    write_status(job, "load", "running", "Writing 10 values")
    status = read_status(job, now=time.time() + STALE_SECONDS + 1)
    assert status is not None and status.state == "failed"
    fresh = read_status(job)
    assert fresh is not None and fresh.state == "running"
    assert read_status(folder(tmp_path, "none")) is None

"""Tasks for tests/test_jobs.py: module-level, so a job's child process can import them."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from kpis.jobs import Progress
from tests.conftest import wait_until


def which_process(progress: Progress, note: str) -> dict[str, Any]:
    progress(f"working on {note}")
    return {"pid": os.getpid(), "note": note, "at": time.time()}


def wait_for(progress: Progress, flag: str) -> dict[str, Any]:
    """Run until ``flag`` exists: a job whose length the test decides."""
    started = time.time()
    progress("waiting for the flag")
    wait_until(Path(flag).exists, f"the flag {flag}", timeout=60)
    return {"pid": os.getpid(), "started": started, "ended": time.time()}


def fail(progress: Progress) -> dict[str, Any]:
    raise RuntimeError("a fault inside the job")


def die(progress: Progress) -> dict[str, Any]:
    progress("about to die")
    os._exit(3)  # as if killed: no chance to say so

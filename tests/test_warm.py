"""Server processes warmed before they serve (web/warm.py): the data loaded and
precomputed, the opening view drawn, garbage collection settled, and each new data
version warmed as it is published."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpis.ingest.loader import load_files
from tests.conftest import app_over, wait_until
from tests.test_response_cache import KENT_SEPTEMBER, KPI_PAGE, LOCAL, answer
from tests.test_security import client_of, render_page
from web import warm
from web.context import SERVICE_KEY


@pytest.fixture
def gc_restored() -> Iterator[None]:
    """The test process's collector as it was (a warm-up freezes and re-tunes it)."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_a_warmed_server_has_its_data_and_opening_view_ready(demo_db: Path,
                                                              gc_restored: None) -> None:
    app = app_over(demo_db)
    service = app.server.config[SERVICE_KEY]
    timings = warm.warm_up(app.server)
    assert {"dataset", "kpis", "pages", "commentary", "settle"} <= set(timings)
    shared = service._shared
    assert len(shared.commented) == 1  # which views have commentary (none here)
    assert shared.dataset is not None
    assert len(shared.dataset._memo) > 0  # every KPI's arrays and SPC
    assert len(app.server.extensions["flightdeck.page_cache"]) == 1  # the opening view
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == warm.GC_THRESHOLDS
    # The reader was closed after the load and reopens for the first request.
    first = answer(render_page(client_of(app), KPI_PAGE, KENT_SEPTEMBER, base=LOCAL))
    assert b"Kent: Police referrals to CPS was 21 in September 2025" in first


def test_a_failing_warm_up_leaves_the_server_to_compute_on_first_use(
        tmp_path: Path, gc_restored: None) -> None:
    app = app_over(tmp_path / "missing.duckdb")
    timings = warm.warm_up(app.server)  # nothing to load: no error
    assert "dataset" not in timings


def test_a_new_data_version_is_warmed_without_a_request(demo_db: Path, tmp_path: Path,
                                                        gc_restored: None) -> None:
    app = app_over(demo_db)
    warm.warm_up(app.server)
    shared = app.server.config[SERVICE_KEY]._shared
    old = shared.dataset.data_version
    stop = threading.Event()
    thread = warm.start_rewarming(app.server, interval=0.05, stop=stop)
    try:
        file = tmp_path / "kent-return.csv"
        file.write_text("force,month,measure,value\nkent,2025-09,cps_referrals,30\n",
                        encoding="utf-8")
        load_files(demo_db, [file], user="warm-test")
        wait_until(lambda: shared.dataset.data_version != old and len(shared.dataset._memo),
                   "the new version to be loaded and warmed")
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


# A process that frees one big block and then many middling ones: with glibc's own
# settings the big block's free raises the mmap threshold above the middling size, so
# they come from the heap and stay in the process when freed (blocks of 64 KB, below
# either threshold, allocated between them keep the heap from being trimmed at its
# top); with prepare_process's
# fixed thresholds each is mapped on its own and given back. Prints the MB given back.
_FREED_BACK = """
import sys
from web.warm import prepare_process
if sys.argv[1] == "prepared":
    prepare_process()

def rss_mb():
    with open("/proc/self/status") as status:
        line = next(l for l in status if l.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024

big = b"x" * (16 << 20)  # mapped (over 128 KB), under glibc's 32 MB cap for raising
del big
middling, small = [], []
for _ in range(64):
    middling.append(b"x" * (1 << 20))
    small.append(b"y" * (64 << 10))
held = rss_mb()
del middling
print(held - rss_mb())
"""


def _given_back_mb(mode: str) -> float:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _FREED_BACK, mode], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parent.parent,
                          check=True)
    return float(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/status").exists() or warm._c_library() is None,
                    reason="glibc's malloc and /proc are this check's subject")
def test_prepare_process_gives_freed_request_sized_blocks_back_to_the_system() -> None:
    # 64 blocks of 1 MB freed: nearly all of it back with the fixed thresholds...
    assert _given_back_mb("prepared") > 48
    # ...and (the control, so the check can fail) next to none with glibc's own.
    assert _given_back_mb("default") < 16

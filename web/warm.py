"""Each server process made ready before it serves, with garbage collection and memory
kept out of the request path.

:func:`warm_up` runs in each server process before it takes a request (gunicorn's
``post_worker_init``, after the fork: the master never opens DuckDB; ``python app.py``
and ``flightdeck serve`` before they listen). It opens the database read-only, loads
the dataset, computes every published KPI's arrays and whole-series SPC (what every
view shares) and the month pages open on, and renders the flight deck's opening view
(its page tree and its KPI table), so the first person after a start waits for one
page, not for the data; then it closes the reader (DuckDB holds on to what the load
allocated until then; the next read reopens it). Then :func:`settle` makes garbage
collection cheap:

* ``gc.freeze()``: everything alive after the warm-up (modules, the app, the dataset
  and its arrays) moves to the permanent generation, which collections never walk;
* higher thresholds (:data:`GC_THRESHOLDS`): a page allocates tens of thousands of
  short-lived objects, and the default 700 started a collection every few hundred;
* ``malloc_trim``: the heap freed while loading goes back to the system.

:func:`start_rewarming` keeps a server process warm across loads: a daemon thread
looks for a new data version every few seconds and, when one is published, loads and
warms it before the next person asks (and collects the old version's objects: the
only full collection a process makes outside its start).

:func:`prepare_process` runs once, before any thread or worker starts: it caps glibc's
malloc arenas, which otherwise grow one per thread and hold freed memory apart; fixes
glibc's mmap and trim thresholds (:data:`MMAP_THRESHOLD`, :data:`TRIM_THRESHOLD`), so a
request's big temporaries (arrays, tables, JSON and gzip buffers) are mapped and given
back when freed rather than left scattered in the heap (glibc otherwise raises the mmap
threshold to the largest block freed so far, up to 32 MB, and every later temporary
below it stays in the heap: some 10-20 MB more per worker after the load test and the
force tour, bench/bench_load.py); and imports the slow-to-import modules pages load on
first use (:data:`PRELOADED`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import importlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import dash
import flask

from kpis.domain.access import Principal, Role, demo_principal
from kpis.engine.views import default_period
from kpis.settings import NATIONAL_SLUG
from web.context import SERVICE_KEY

__all__ = ["GC_THRESHOLDS", "MMAP_THRESHOLD", "PRELOADED", "TRIM_THRESHOLD",
           "prepare_process", "settle", "start_rewarming", "warm_up"]

LOG = logging.getLogger(__name__)

#: gc.set_threshold after the warm-up: young collections every 20,000 new objects,
#: the middle generation every 20 of those, a full collection after 50 middle ones.
GC_THRESHOLDS = (20_000, 20, 50)
#: Who the warm-up renders the opening view as, with accounts: a viewer of every force.
WARM_UP = Principal(username="warm-up", role=Role.VIEWER, display_name="")
#: The pages rendered by the warm-up (their opening view): the flight deck.
WARM_PATHS = ("/",)
#: Modules a page imports on first use that take long to import: imported by
#: prepare_process (once, in gunicorn's master: shared by the workers), not by the
#: first person to open a KPI page (kpis.engine.funnel: scipy.special, some 0.5-1 s).
PRELOADED = ("scipy.special",)
_M_ARENA_MAX = -8  # glibc mallopt parameters
_M_MMAP_THRESHOLD = -3
_M_TRIM_THRESHOLD = -1
_ARENAS = 2
#: Blocks from this size up are mapped on their own and unmapped when freed (glibc's
#: initial threshold, kept fixed: setting it turns off glibc's raising of it).
MMAP_THRESHOLD = 128 * 1024
#: Free memory at the top of the heap beyond this goes back to the system at once.
TRIM_THRESHOLD = 256 * 1024

_libc: ctypes.CDLL | None = None


def _c_library() -> ctypes.CDLL | None:
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        try:
            _libc = ctypes.CDLL(name or "libc.so.6")
        except OSError:
            return None
    return _libc if hasattr(_libc, "malloc_trim") else None


def prepare_process() -> None:
    """Cap glibc's malloc arenas and fix its thresholds (no effect on another C
    library), and import :data:`PRELOADED`. Call before threads start: every worker
    forked afterwards inherits both."""
    libc = _c_library()
    if libc is not None:
        libc.mallopt(_M_ARENA_MAX, _ARENAS)
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    for name in PRELOADED:
        importlib.import_module(name)


def _trim() -> None:
    libc = _c_library()
    if libc is not None:
        libc.malloc_trim(0)


def settle(collect_first: bool = True) -> None:
    """Freeze what is alive now out of every future collection, raise the thresholds
    and give freed heap back to the system."""
    if collect_first:
        gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    _trim()


def warm_up(server: flask.Flask) -> dict[str, float]:
    """Load and precompute the current data, render the opening views, then
    :func:`settle`. Returns the seconds each step took. A failure is logged, never
    raised: the server then computes on first use, as it would have."""
    timings: dict[str, float] = {}
    try:
        _warm_data(server, timings)
    except Exception:
        LOG.exception("warm-up failed; pages will be computed on first use")
    started = time.perf_counter()
    settle()
    timings["settle"] = time.perf_counter() - started
    return timings


def _timed(timings: dict[str, float], name: str, step: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = step()
    timings[name] = time.perf_counter() - started
    return result


def _warm_data(server: flask.Flask, timings: dict[str, float]) -> str | None:
    """Warm the data version published now; returns it (None with no data)."""
    service = server.config[SERVICE_KEY]
    if not service.reader.exists():
        return None
    ds = _timed(timings, "dataset", service.dataset)
    if ds.as_of is None:
        return ds.data_version
    # Every KPI's arrays over every area, and its SPC: a one-area table computes them.
    _timed(timings, "kpis", lambda: (default_period(ds),
                                     service.table(areas=[NATIONAL_SLUG])))
    _timed(timings, "pages", lambda: _render_opening_views(server))
    # Which views have commentary, while the reader is open: a KPI page's first view
    # then opens no database (reopening it cost that view some 40 ms).
    _timed(timings, "commentary", service.commented)
    # DuckDB keeps what loading the dataset allocated (some 20 MB) until its database is
    # closed: close the reader now; it reopens (read-only) for its next small read.
    service.reader.close()
    return ds.data_version


def _render_opening_views(server: flask.Flask) -> None:
    """Each page of WARM_PATHS at its opening view, as the person the server will
    most likely serve (the demonstration's visitor, or a viewer), through the page's
    own layout: its tree and the numbers behind it are then cached."""
    from web.security import demo_mode

    with server.test_request_context("/"):
        flask.g.principal = demo_principal() if demo_mode() else WARM_UP
        for page in list(dash.page_registry.values()):
            if page.get("path") in WARM_PATHS and callable(page.get("layout")):
                page["layout"]()


def start_rewarming(server: flask.Flask, interval: float = 5.0,
                    stop: threading.Event | None = None) -> threading.Thread:
    """A daemon thread that warms each new data version as soon as it is published
    (until ``stop`` is set)."""
    service = server.config[SERVICE_KEY]
    stop = stop or threading.Event()

    def current() -> str | None:
        return service.dataset().data_version if service.reader.exists() else None

    def watch() -> None:
        warmed: str | None = None
        with contextlib.suppress(Exception):
            warmed = current()
        while not stop.wait(interval):
            try:
                version = current()
            except Exception:  # the database is away: the requests will say so
                continue
            if version == warmed:
                continue
            warmed = version  # once per version, whether or not the warm-up works
            # The old version's objects were frozen: let them be collected now.
            gc.unfreeze()
            try:
                _warm_data(server, {})
            except Exception:
                LOG.exception("warming the new data failed; it is computed on first use")
            settle()

    thread = threading.Thread(target=watch, name="flightdeck-rewarm", daemon=True)
    thread.start()
    return thread

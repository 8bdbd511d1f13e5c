"""Growth: the flight deck at 1x, 4x and 16x the demonstration data (more synthetic
forces and more months), and the first request after a server starts at 16x.

Run from the project root::

    python bench/bench_growth.py [--views 8] [--skip-start]

1. *Callback series* (in-process): the flight deck page callback is called inside a
   Flask request, over datasets scaled like the KPI engine benchmark's
   (``bench_kpis.scaled_dataset``: every force copied into synthetic forces of the same
   region, and the period repeated further back). Each view is a different force, so
   nothing comes from the page or table caches; the first view of a size also computes
   every KPI's arrays (reported as cold). The median per view and its ratio to 1x.
2. *First request after a start*: the same scaling written to a DuckDB file
   (``/tmp/flightdeck-bench/growth-16x.duckdb``, built once from the demonstration
   database by SQL: 4 copies of each force, the 78 months repeated 4 times back), a
   fresh server started over it (``python app.py``, then gunicorn with two workers),
   and, once it answers, the first flight deck view timed: its page HTML and its page
   callback, as a browser asks for them. Also the seconds from start to answering.

Target (from the speed issue): the first flight deck request after a start at 16x
under 400 ms. Writes ``bench/results/growth.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import flask

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_kpis import DEMO_DB, demo_dataset, scaled_dataset  # noqa: E402

from bench.bench_app import server  # noqa: E402
from kpis.engine.dataset import Dataset  # noqa: E402
from kpis.service import FlightDeckService  # noqa: E402
from tests.conftest import free_port, wait_for_http  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "growth.json"
GROWTH = ((1, 1, 1), (4, 2, 2), (16, 4, 4))
GROWTH_DB = Path("/tmp/flightdeck-bench/growth-16x.duckdb")
TARGET_FIRST_MS = 400
ROUTER = ".._pages_content.children..._pages_store.data.."


class FixedService(FlightDeckService):
    """The real service (table cache and all) over a dataset built in memory."""

    def __init__(self, db_path: Path, dataset: Dataset) -> None:
        super().__init__(db_path)
        self._fixed = dataset

    def dataset(self) -> Dataset:
        return self._fixed


def build_growth_db(source: Path, target: Path, copies: int = 4, repeats: int = 4
                    ) -> Path:
    """``source`` with every force copied ``copies`` times (``<slug>--copyN``, in the same
    peer groups) and its months repeated ``repeats`` times further back; a new data
    version. Built once (delete the file to build it again)."""
    import duckdb

    if target.exists():
        return target
    partial = target.with_suffix(".partial")
    shutil.copyfile(source, partial)
    conn = duckdb.connect(str(partial))
    try:
        first, last = conn.execute(
            "SELECT min(period_start), max(period_start) FROM observations").fetchone()
        months = (last.year - first.year) * 12 + last.month - first.month + 1
        span = -(-months // 3) * 3  # whole quarters: quarterly data stay on quarter months
        for copy in range(1, copies):
            suffix = f"--copy{copy}"
            conn.execute("INSERT INTO forces SELECT slug || ?, name || ?, ons_code, region, "
                         "population, kind, nom_adoption FROM forces WHERE kind = 'force' "
                         "AND slug NOT LIKE '%--copy%'", [suffix, f" (copy {copy})"])
            conn.execute("INSERT INTO peer_group_members SELECT group_id, force_slug || ? "
                         "FROM peer_group_members WHERE force_slug NOT LIKE '%--copy%'",
                         [suffix])
            conn.execute("INSERT INTO observations SELECT force_slug || ?, measure_id, "
                         "period_start, value, load_id FROM observations "
                         "WHERE force_slug NOT LIKE '%--copy%'", [suffix])
        for repeat in range(1, repeats):
            conn.execute("INSERT INTO observations SELECT force_slug, measure_id, "
                         "CAST(period_start - to_months(?) AS DATE), value, load_id "
                         "FROM observations WHERE period_start >= ?", [span * repeat, first])
        conn.execute("UPDATE meta SET value = ? WHERE key = 'data_version'",
                     [f"growth-{copies}x{repeats}"])
        conn.execute("CHECKPOINT")
    finally:
        conn.close()
    partial.rename(target)
    return target


def first_request(kind: str, db: Path) -> dict[str, Any]:
    """Start ``kind`` over ``db``; once it answers, time the first flight deck view."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    with server(kind, db, port, workers=2):
        wait_for_http(base + "/_dash-dependencies", timeout=300)
        ready = time.perf_counter() - started
        with urllib.request.urlopen(base + "/_dash-dependencies", timeout=60) as response:
            dependencies = json.loads(response.read())
        router = next(d for d in dependencies if d["output"] == ROUTER)
        payload = json.dumps({
            "output": ROUTER,
            "outputs": [{"id": "_pages_content", "property": "children"},
                        {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": "/"},
                       {"id": "_pages_location", "property": "search", "value": "SEARCH"}],
            "changedPropIds": ["_pages_location.pathname"],
            "state": [{**s, "value": None} for s in router.get("state", [])],
        })
        timings = []
        # The first view (the opening view: the flight deck's defaults), the same view
        # again, then another force's first view.
        for search in ("", "", "?force=kent"):
            began = time.perf_counter()
            with urllib.request.urlopen(base + "/" + search, timeout=120) as response:
                response.read()
            html_done = time.perf_counter()
            request = urllib.request.Request(
                base + "/_dash-update-component",
                data=payload.replace('"SEARCH"', json.dumps(search)).encode(),
                headers={"Content-Type": "application/json", "Accept-Encoding": "gzip"})
            with urllib.request.urlopen(request, timeout=120) as response:
                response.read()
            done = time.perf_counter()
            timings.append({"html_ms": (html_done - began) * 1000,
                            "callback_ms": (done - html_done) * 1000,
                            "total_ms": (done - began) * 1000})
    return {"server": kind, "ready_s": ready, "first": timings[0], "second": timings[1],
            "another_force_first": timings[2]}


def callback_series(views: int) -> list[dict[str, Any]]:
    base, _, _ = demo_dataset(rebuild=False)
    from app import create_app
    from kpis.domain.access import demo_principal
    from kpis.settings import Settings
    from web.context import SERVICE_KEY

    # The app first: it imports the pages (Dash Pages registers them as they load).
    server_app = create_app(Settings.from_env(db=DEMO_DB)).server
    from layouts import flight_deck

    forces = list(base.forces["slug"])[:views]
    period = base.as_of.strftime("%Y-%m") if base.as_of else None
    rows = []
    for factor, copies, repeats in GROWTH:
        dataset = base if factor == 1 else scaled_dataset(base, copies, repeats)
        server_app.config[SERVICE_KEY] = FixedService(DEMO_DB, dataset)
        times = []
        with server_app.test_request_context("/"):
            # As the sign-in gate would leave it for the local demonstration.
            flask.g.principal = demo_principal()
            flask.g.service = server_app.config[SERVICE_KEY]
            for force in forces:
                started = time.perf_counter()
                flight_deck.layout.__wrapped__(force=force, period=period)
                times.append(time.perf_counter() - started)
        rows.append({"factor": factor, "forces": len(dataset.forces),
                     "months": len(dataset.cube.periods), "cold_ms": times[0] * 1000,
                     "warm_median_ms": statistics.median(times[1:]) * 1000})
    base_ms = rows[0]["warm_median_ms"]
    for row in rows:
        row["ratio"] = row["warm_median_ms"] / base_ms
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--skip-start", action="store_true",
                        help="leave out the first request after a start at 16x")
    args = parser.parse_args()
    rows = callback_series(args.views)
    print(f"{'size':>5} {'forces':>7} {'months':>7} {'cold ms':>9} {'view ms':>9} {'ratio':>6}")
    for row in rows:
        print(f"{row['factor']:>4}x {row['forces']:>7} {row['months']:>7} "
              f"{row['cold_ms']:>9.1f} {row['warm_median_ms']:>9.1f} {row['ratio']:>6.2f}")
    starts = []
    if not args.skip_start:
        db = build_growth_db(DEMO_DB, GROWTH_DB)
        for kind in ("app", "gunicorn"):
            result = first_request(kind, db)
            starts.append(result)
            first = result["first"]
            print(f"16x, {kind}: answering {result['ready_s']:.1f} s after the start; first "
                  f"flight deck request {first['total_ms']:.0f} ms (HTML "
                  f"{first['html_ms']:.0f} ms + page callback {first['callback_ms']:.0f} ms; "
                  f"target < {TARGET_FIRST_MS} ms), the same view again "
                  f"{result['second']['total_ms']:.0f} ms, another force's first view "
                  f"{result['another_force_first']['total_ms']:.0f} ms")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"flight_deck_callback": rows,
                                   "first_request_after_start_16x": starts,
                                   "targets": {"first_request_ms": TARGET_FIRST_MS}},
                                  indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

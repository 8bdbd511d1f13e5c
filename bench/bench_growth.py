"""Growth series for the flight deck callback: its server work at 1x, 4x and 16x the
demonstration data (more synthetic forces and more months).

Run from the project root::

    python bench/bench_growth.py [--views 8]

The flight deck page callback is called in-process, inside a Flask request, over
datasets scaled like the KPI engine benchmark's (``bench_kpis.scaled_dataset``: every
force copied into synthetic forces of the same region, and the period repeated further
back). Each view is a different force, so nothing comes from the page or table caches;
the first view of a size also computes every KPI's arrays (reported as cold). Prints
the median per view and its ratio to 1x; writes ``bench/results/growth.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import flask

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_kpis import DEMO_DB, demo_dataset, scaled_dataset  # noqa: E402

from kpis.engine.dataset import Dataset  # noqa: E402
from kpis.service import FlightDeckService  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "growth.json"
GROWTH = ((1, 1, 1), (4, 2, 2), (16, 4, 4))


class FixedService(FlightDeckService):
    """The real service (table cache and all) over a dataset built in memory."""

    def __init__(self, db_path: Path, dataset: Dataset) -> None:
        super().__init__(db_path)
        self._fixed = dataset

    def dataset(self) -> Dataset:
        return self._fixed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--views", type=int, default=8)
    args = parser.parse_args()
    base, _, _ = demo_dataset(rebuild=False)
    from app import create_app
    from kpis.domain.access import demo_principal
    from kpis.settings import Settings
    from web.context import SERVICE_KEY

    # The app first: it imports the pages (Dash Pages registers them as they load).
    server = create_app(Settings.from_env(db=DEMO_DB)).server
    from layouts import flight_deck

    forces = list(base.forces["slug"])[: args.views]
    period = base.as_of.strftime("%Y-%m") if base.as_of else None
    rows = []
    for factor, copies, repeats in GROWTH:
        dataset = base if factor == 1 else scaled_dataset(base, copies, repeats)
        server.config[SERVICE_KEY] = FixedService(DEMO_DB, dataset)
        times = []
        with server.test_request_context("/"):
            # As the sign-in gate would leave it for the local demonstration.
            flask.g.principal = demo_principal()
            flask.g.service = server.config[SERVICE_KEY]
            for force in forces:
                started = time.perf_counter()
                flight_deck.layout.__wrapped__(force=force, period=period)
                times.append(time.perf_counter() - started)
        rows.append({"factor": factor, "forces": len(dataset.forces),
                     "months": len(dataset.cube.periods), "cold_ms": times[0] * 1000,
                     "warm_median_ms": statistics.median(times[1:]) * 1000})
    base_ms = rows[0]["warm_median_ms"]
    print(f"{'size':>5} {'forces':>7} {'months':>7} {'cold ms':>9} {'view ms':>9} {'ratio':>6}")
    for row in rows:
        row["ratio"] = row["warm_median_ms"] / base_ms
        print(f"{row['factor']:>4}x {row['forces']:>7} {row['months']:>7} "
              f"{row['cold_ms']:>9.1f} {row['warm_median_ms']:>9.1f} {row['ratio']:>6.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"flight_deck_callback": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Export benchmark: one chart PNG with a warm renderer, and a 12-chart PowerPoint pack
from a cold start.

Run from the project root (with the demonstration database built by
``flightdeck demo``, or let it build one under /tmp)::

    python bench/bench_export.py [--db PATH] [--repeats 5]

What is timed:

- *Chart PNG, warm*: ``flightdeck chart``'s work in-process (SPC table, figure, render at
  print resolution, 3600 x 2025) once the renderer is running; the median of
  ``--repeats`` charts, each a different force so no table comes from the cache.
- *12-chart PPTX, cold*: ``flightdeck export --format pptx`` with 12 KPIs, run as a new
  process (Python start, imports, dataset load, Chromium start, 12 charts, the deck);
  the wall time of the process, median of 3.

Targets (from the board papers issue): chart PNG under 0.5 s warm; the 12-chart pack
under 10 s from a cold start. Results are printed and written to
``bench/results/export.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kpis.charts.specs import spc_export  # noqa: E402
from kpis.exports import render  # noqa: E402
from kpis.exports.charts import write_chart  # noqa: E402
from kpis.exports.packs import select_kpis  # noqa: E402
from kpis.ingest.demo import build_demo  # noqa: E402
from kpis.service import FlightDeckService  # noqa: E402

PERIOD = dt.date(2025, 9, 1)
FORCES = ["kent", "essex", "durham", "dorset", "gwent", "surrey", "sussex", "suffolk"]
CHART_TARGET = 0.5
PACK_TARGET = 10.0


def database(path: str | None) -> Path:
    if path:
        return Path(path)
    default = ROOT / "data" / "flightdeck.duckdb"
    if default.exists():
        return default
    scratch = Path(tempfile.gettempdir()) / "flightdeck-bench-export.duckdb"
    if not scratch.exists():
        print(f"building demonstration data in {scratch}", file=sys.stderr)
        build_demo(scratch, end=PERIOD)
    return scratch


def chart_warm(db: Path, repeats: int, folder: Path) -> list[float]:
    service = FlightDeckService(db)
    render.render({"data": [], "layout": {}})  # start the renderer: the warm case
    times = []
    for force in (FORCES * ((repeats // len(FORCES)) + 1))[:repeats]:
        start = time.perf_counter()
        chart = spc_export(service, "suspect_contact_30d", force, PERIOD)
        write_chart(chart, "png", folder / f"{force}.png")
        times.append(time.perf_counter() - start)
    render.shutdown()
    return times


def pack_cold(db: Path, folder: Path, runs: int = 3) -> list[float]:
    service = FlightDeckService(db)
    twelve = [k.kpi_id for k in select_kpis(service.dataset())][:12]
    command = [sys.executable, "-m", "kpis.cli", "export", "--db", str(db), "--force",
               "west-midlands", "--period", PERIOD.strftime("%Y-%m"), "--format", "pptx",
               "--out", str(folder / "pack.pptx")]
    for kpi in twelve:
        command += ["--kpi", kpi]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="DuckDB file (default: data/flightdeck.duckdb)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    db = database(args.db)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        charts = chart_warm(db, args.repeats, folder)
        packs = pack_cold(db, folder)
    results = {
        "machine": {"cpus": os.cpu_count(), "load_average": list(os.getloadavg())},
        "chart_png_warm_s": {"median": statistics.median(charts), "max": max(charts),
                             "runs": charts, "target": CHART_TARGET},
        "pack_pptx_12_charts_cold_s": {"median": statistics.median(packs), "max": max(packs),
                                       "runs": packs, "target": PACK_TARGET},
    }
    for name, figures in (("chart PNG (warm)", results["chart_png_warm_s"]),
                          ("12-chart PPTX (cold)", results["pack_pptx_12_charts_cold_s"])):
        verdict = "ok" if figures["median"] < figures["target"] else "OVER TARGET"
        print(f"{name}: median {figures['median']:.2f} s, max {figures['max']:.2f} s "
              f"(target < {figures['target']} s) {verdict}")
    out = ROOT / "bench" / "results" / "export.json"
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

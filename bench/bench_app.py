"""Dashboard benchmark: every callback's server time over HTTP, and the flight deck's
render time in headless Chromium.

Run from the project root (with the demonstration database built by
``flightdeck demo``, or let it build one under /tmp)::

    python bench/bench_app.py [--requests 40]

What is timed:

- *Callbacks*: each Dash callback is posted to ``/_dash-update-component`` as the
  browser posts it, ``--requests`` times, cycling through forces and periods so that
  both first views (cache misses) and repeat views are included; p50 and p95 of the
  wall time per request on loopback. The page callback is timed for every page.
- *Render*: headless Chromium (Debian's) navigates to the flight deck and waits until
  every KPI tile is in the DOM; the time from navigation start, median of 5 loads.

Targets (from the flight deck issue): every callback p95 under 100 ms; the flight
deck fully rendered in under 2 s. Results are printed and written to
``bench/results/app.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, free_port, wait_for_http  # noqa: E402

FORCES = ["kent", "durham", "metropolitan", "gwent", "england-and-wales", "lancashire",
          "west-midlands", "cumbria"]
PERIODS = ["2025-09", "2025-06", "2024-12", "2024-03"]
PAGES = ["/", "/pillar/1", "/pillar/4", "/kpi/ho_rape_charge_rate",
         "/kpi/suspect_contact_30d", "/compare", "/compare?view=funnel", "/definitions",
         "/data"]
RESULTS = ROOT / "bench" / "results" / "app.json"


def post(url: str, payload: dict[str, Any]) -> float:
    body = json.dumps(payload).encode()
    request = urllib.request.Request(url, data=body,
                                     headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
        assert response.status in (200, 204), response.status
    return (time.perf_counter() - started) * 1000


def ensure_demo_db(db: Path) -> Path:
    """The benchmarks' demonstration database (seed 7, to September 2025), built once."""
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "kpis.cli", "demo", "--db", str(db), "--end",
                        "2025-09", "--seed", "7"], cwd=ROOT, check=True)
    return db


def callback_payload(dependency: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    output = dependency["output"]
    parts = output.strip(".").split("...") if output.startswith("..") else [output]
    outputs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]} for p in parts]
    inputs = [{**i, "value": values.get(f"{i['id']}.{i['property']}")}
              for i in dependency["inputs"]]
    state = [{**s, "value": values.get(f"{s['id']}.{s['property']}")}
             for s in dependency.get("state", [])]
    return {"output": output, "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": inputs, "state": state,
            "changedPropIds": [f"{i['id']}.{i['property']}" for i in inputs[:1]]}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def time_callbacks(base: str, requests: int) -> list[dict[str, Any]]:
    with urllib.request.urlopen(base + "/_dash-dependencies") as response:
        dependencies = json.loads(response.read())
    rows = []
    for dependency in dependencies:
        if dependency.get("clientside_function"):
            continue
        if "{" in dependency["output"]:
            # Pattern-matching outputs need the ids a rendered page holds; these are
            # timed by the browser tour below instead.
            continue
        output = dependency["output"]
        pages = PAGES if "_pages_content" in output else [None]
        for page in pages:
            timings = []
            for n in range(requests):
                force, period = FORCES[n % len(FORCES)], PERIODS[(n // 2) % len(PERIODS)]
                path, _, extra = (page or "/").partition("?")
                search = f"?force={force}&period={period}" + (f"&{extra}" if extra else "")
                values = {
                    "_pages_location.pathname": path, "_pages_location.search": search,
                    "url.search": search, "control-force.value": force,
                    "control-period.value": period, "control-comparator.value": "region",
                    "compare-kpi.value": "ho_rape_charge_rate",
                    "compare-group.value": "england-and-wales", "compare-view.value": "bars",
                    "kpi-rebase.value": ["on"] if n % 2 else [],
                }
                # Anything else as the browser first sends it: not set.
                for item in dependency["inputs"] + dependency.get("state", []):
                    values.setdefault(f"{item['id']}.{item['property']}", None)
                try:
                    timings.append(post(base + "/_dash-update-component",
                                        callback_payload(dependency, values)))
                except urllib.error.HTTPError as exc:
                    raise RuntimeError(f"{output} {page} {values}: {exc}") from exc
            name = f"page {page}" if page else output
            rows.append({"callback": name, "requests": requests,
                         "p50_ms": statistics.median(timings),
                         "p95_ms": percentile(timings, 95), "max_ms": max(timings)})
    return rows


def time_render(base: str, loads: int = 5) -> list[float]:
    from playwright.sync_api import sync_playwright

    timings = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for n in range(loads + 1):
            force = FORCES[n % len(FORCES)]
            page.goto(f"{base}/?force={force}&period=2025-09", wait_until="commit")
            page.wait_for_function(
                "() => document.querySelectorAll('.kpi-tile').length >= 30", timeout=30_000)
            elapsed = page.evaluate("() => performance.now()")
            if n:  # the first load warms the browser's cache of the Dash bundles
                timings.append(float(elapsed))
        browser.close()
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--db", default=os.environ.get("FLIGHTDECK_DB",
                                                        "/tmp/flightdeck-bench/app.duckdb"))
    args = parser.parse_args()
    db = ensure_demo_db(Path(args.db))
    port = free_port()
    env = {**os.environ, "FLIGHTDECK_DB": str(db), "FLIGHTDECK_PORT": str(port)}
    log = open(db.with_suffix(".server.log"), "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(base + "/")
        callbacks = time_callbacks(base, args.requests)
        render = time_render(base)
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
    print(f"{'callback':60} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for row in callbacks:
        print(f"{row['callback'][:60]:60} {row['p50_ms']:8.1f} {row['p95_ms']:8.1f} "
              f"{row['max_ms']:8.1f}")
    worst = max(row["p95_ms"] for row in callbacks)
    print(f"\nworst callback p95: {worst:.1f} ms (target < 100 ms)")
    median_render = statistics.median(render)
    print(f"flight deck rendered: median {median_render:.0f} ms over {len(render)} loads "
          f"(target < 2000 ms)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "callbacks": callbacks, "worst_callback_p95_ms": worst,
        "flight_deck_render_ms": render, "flight_deck_render_median_ms": median_render,
        "targets": {"callback_p95_ms": 100, "flight_deck_render_ms": 2000},
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Load test: 50 simulated users browsing for 60 s against ``gunicorn -w 2``.

Run from the project root::

    python bench/bench_load.py [--users 50] [--seconds 60]

Starts gunicorn (the production configuration, two workers) on a free loopback port
over the demonstration database, runs Locust headless (``bench/locustfile.py``) for a
fixed time, samples each worker's resident memory every half second, then stops
everything. Bounded in time; traffic goes to 127.0.0.1 only.

Targets (from the performance issue): 0 errors, p95 under 500 ms, worker memory under
400 MB each. Prints the figures and writes ``bench/results/load.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_app import ensure_demo_db  # noqa: E402
from tests.conftest import free_port, wait_for_http  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "load.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--db", default=os.environ.get("FLIGHTDECK_DB",
                                                        "/tmp/flightdeck-bench/app.duckdb"))
    args = parser.parse_args()
    db = ensure_demo_db(Path(args.db))
    port = free_port()
    env = {**os.environ, "FLIGHTDECK_DB": str(db), "FLIGHTDECK_BIND": f"127.0.0.1:{port}",
           "FLIGHTDECK_WORKERS": "2"}
    bin_dir = Path(sys.executable).parent
    server = subprocess.Popen([str(bin_dir / "gunicorn"), "-c", "gunicorn.conf.py",
                               "app:server"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peaks: dict[int, float] = {}
    stop = threading.Event()

    def sample() -> None:
        master = psutil.Process(server.pid)
        while not stop.is_set():
            for worker in master.children():
                try:
                    rss = worker.memory_info().rss / 2**20
                except psutil.NoSuchProcess:
                    continue
                peaks[worker.pid] = max(peaks.get(worker.pid, 0.0), rss)
            time.sleep(0.5)

    stats_prefix = Path("/tmp/flightdeck-bench/locust")
    stats_prefix.parent.mkdir(parents=True, exist_ok=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/")
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        subprocess.run(
            [str(bin_dir / "locust"), "-f", "bench/locustfile.py", "--headless",
             "-u", str(args.users), "-r", str(max(1, args.users // 5)),
             "--run-time", f"{args.seconds}s", "--host", f"http://127.0.0.1:{port}",
             "--csv", str(stats_prefix), "--only-summary", "--stop-timeout", "10"],
            cwd=ROOT, check=False, timeout=args.seconds + 120,
        )
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=30)
    with open(f"{stats_prefix}_stats.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    total = next(r for r in rows if r["Name"] == "Aggregated")
    requests, failures = int(total["Request Count"]), int(total["Failure Count"])
    p95 = float(total["95%"])
    worst_rss = max(peaks.values()) if peaks else float("nan")
    print(f"{'request':22} {'count':>7} {'fail':>5} {'p50 ms':>7} {'p95 ms':>7}")
    for row in rows:
        print(f"{row['Name'][:22]:22} {row['Request Count']:>7} {row['Failure Count']:>5} "
              f"{row['50%']:>7} {row['95%']:>7}")
    print(f"\n{args.users} users for {args.seconds} s: {requests} requests, {failures} errors "
          f"(target 0), p95 {p95:.0f} ms (target < 500 ms), worker memory peak "
          f"{worst_rss:.0f} MB (target < 400 MB each; {len(peaks)} workers)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "users": args.users, "seconds": args.seconds, "requests": requests,
        "failures": failures, "p95_ms": p95, "worker_peak_rss_mb": peaks,
        "targets": {"failures": 0, "p95_ms": 500, "worker_rss_mb": 400},
        "rows": rows,
    }, indent=2))
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Load test and memory: 50 simulated users browsing for 60 s against ``gunicorn -w 2``,
then every force visited on each worker, its memory sampled as it goes.

Run from the project root::

    python bench/bench_load.py [--users 50] [--seconds 60] [--skip-locust] [--skip-tour]

Starts gunicorn (the production configuration, two workers) on a free loopback port
over the demonstration database, then:

1. *Load test*: Locust headless (``bench/locustfile.py``) for a fixed time, each
   worker's resident memory (RSS) sampled every half second; the RSS after it.
2. *Force tour*: the flight deck, a pillar page and a KPI page for each of the 43
   forces and England and Wales (the page HTML, then the page callback, as the browser
   asks), on each worker in turn (one keep-alive connection per worker, matched to
   its worker by the socket); each worker's RSS after every 5 forces, printed. Flat
   means the last sample is no more than 10% above the one after 10 forces.

Bounded in time; traffic goes to 127.0.0.1 only.

Targets (from the speed issue): 0 errors, p95 under 500 ms; each worker under 250 MB
RSS after the load test and after the tour, flat along the tour (the earlier target:
400 MB). Prints the figures and writes ``bench/results/load.json``.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_app import ensure_demo_db, server  # noqa: E402
from tests.conftest import free_port, wait_for_http  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "load.json"
TOUR_PAGES = ("/", "/pillar/3", "/kpi/ho_rape_charge_rate")
TOUR_PERIOD = "2025-09"
TARGET_RSS_MB = 250
FLAT_RATIO = 1.10
ROUTER = ".._pages_content.children..._pages_store.data.."


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def memory_detail(pid: int) -> dict[str, float]:
    """What a worker's RSS is made of, in MB: ``file`` (pages of shared libraries and
    other mapped files, the same physical pages in every process that maps them) and
    ``anon`` (its heap and stacks; after the fork partly still shared with the master,
    copy-on-write); ``uss`` (the pages only this process holds: what stopping it would
    free) and ``pss`` (its fair share of every page, shared ones divided among the
    processes holding them: the sum over the workers is what they cost the machine)."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    full = psutil.Process(pid).memory_full_info()
    return {"rss": full.rss / 2**20, "file": _kib(fields.get("RssFile")) / 1024,
            "anon": _kib(fields.get("RssAnon")) / 1024, "uss": full.uss / 2**20,
            "pss": getattr(full, "pss", float("nan")) / 2**20}


def _kib(field: str | None) -> int:
    """A /proc status figure ("   1234 kB") in kB; 0 where the kernel gives none."""
    return int(field.split()[0]) if field and field.split() else 0


def describe(detail: dict[str, float]) -> str:
    return (f"RSS {detail['rss']:.0f} MB = {detail['file']:.0f} file-backed (shared "
            f"libraries) + {detail['anon']:.0f} anonymous; USS {detail['uss']:.0f} MB, "
            f"PSS {detail['pss']:.0f} MB")


def workers(master: int) -> list[int]:
    return sorted(child.pid for child in psutil.Process(master).children())


def forces_and_nation() -> list[str]:
    lines = (ROOT / "data" / "forces.csv").read_text(encoding="utf-8").splitlines()[1:]
    return [line.split(",", 1)[0] for line in lines if line] + ["england-and-wales"]


class Page:
    """The page router's request, as the app's own /_dash-dependencies describes it."""

    def __init__(self, base: str) -> None:
        with urllib_open(base + "/_dash-dependencies") as response:
            dependencies = json.loads(response.read())
        self.router = next(d for d in dependencies if d["output"] == ROUTER)

    def payload(self, path: str, search: str) -> bytes:
        state = [{**s, "value": None} for s in self.router.get("state", [])]
        return json.dumps({
            "output": ROUTER,
            "outputs": [{"id": "_pages_content", "property": "children"},
                        {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": path},
                       {"id": "_pages_location", "property": "search", "value": search}],
            "changedPropIds": ["_pages_location.pathname"], "state": state,
        }).encode()


def urllib_open(url: str) -> Any:
    import urllib.request

    return urllib.request.urlopen(url, timeout=60)


def connection_to(port: int, pid: int, tries: int = 64) -> http.client.HTTPConnection:
    """A keep-alive connection that worker ``pid`` holds the other end of (psutil says
    which worker has each socket)."""
    for _ in range(tries):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", "/_dash-dependencies")
        conn.getresponse().read()  # now a worker has accepted it
        local = conn.sock.getsockname()
        if any(c.raddr and (c.raddr.ip, c.raddr.port) == local
               for c in psutil.Process(pid).net_connections("tcp")):
            return conn
        conn.close()
    raise RuntimeError(f"no connection reached worker {pid} in {tries} tries")


def tour(port: int, master: int) -> dict[str, Any]:
    """Every force's three pages on each worker; RSS after every 5 forces."""
    base = f"http://127.0.0.1:{port}"
    page = Page(base)
    areas = forces_and_nation()
    pids = workers(master)
    samples: dict[int, list[tuple[int, float]]] = {pid: [(0, rss_mb(pid))] for pid in pids}
    slowest = 0.0
    headers = {"Content-Type": "application/json", "Accept-Encoding": "gzip"}
    for pid in pids:
        conn = connection_to(port, pid)
        for number, area in enumerate(areas, start=1):
            search = f"?force={area}&period={TOUR_PERIOD}"
            for path in TOUR_PAGES:
                started = time.perf_counter()
                conn.request("GET", path + search, headers={"Accept-Encoding": "gzip"})
                conn.getresponse().read()
                conn.request("POST", "/_dash-update-component",
                             body=page.payload(path, search), headers=headers)
                answer = conn.getresponse()
                answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"{path}{search}: HTTP {answer.status}")
                slowest = max(slowest, time.perf_counter() - started)
            if number % 5 == 0 or number == len(areas):
                samples[pid].append((number, rss_mb(pid)))
        conn.close()
    return {"toured": pids, "samples": samples, "areas": len(areas),
            "memory_after": {pid: memory_detail(pid) for pid in pids},
            "slowest_view_ms": slowest * 1000}


def load_test(port: int, master: int, users: int, seconds: int) -> dict[str, Any]:
    bin_dir = Path(sys.executable).parent
    peaks: dict[int, float] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for pid in workers(master):
                try:
                    peaks[pid] = max(peaks.get(pid, 0.0), rss_mb(pid))
                except psutil.NoSuchProcess:
                    continue
            time.sleep(0.5)

    stats_prefix = Path("/tmp/flightdeck-bench/locust")
    stats_prefix.parent.mkdir(parents=True, exist_ok=True)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        subprocess.run(
            [str(bin_dir / "locust"), "-f", "bench/locustfile.py", "--headless",
             "-u", str(users), "-r", str(max(1, users // 5)),
             "--run-time", f"{seconds}s", "--host", f"http://127.0.0.1:{port}",
             "--csv", str(stats_prefix), "--only-summary", "--stop-timeout", "10"],
            cwd=ROOT, check=False, timeout=seconds + 120,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    finally:
        stop.set()
        sampler.join(5)
    with open(f"{stats_prefix}_stats.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    total = next(r for r in rows if r["Name"] == "Aggregated")
    return {"users": users, "seconds": seconds, "requests": int(total["Request Count"]),
            "failures": int(total["Failure Count"]), "p95_ms": float(total["95%"]),
            "worker_peak_rss_mb": peaks,
            "worker_rss_after_mb": {pid: rss_mb(pid) for pid in workers(master)},
            "worker_memory_after": {pid: memory_detail(pid) for pid in workers(master)},
            "rows": rows}


def report_tour(result: dict[str, Any]) -> dict[str, Any]:
    print(f"\nforce tour: {len(TOUR_PAGES)} pages x {result['areas']} areas on each worker "
          f"(slowest view {result['slowest_view_ms']:.0f} ms)")
    verdicts = {}
    for pid, samples in result["samples"].items():
        line = " ".join(f"{n}:{mb:.0f}" for n, mb in samples)
        print(f"worker {pid} RSS MB after n forces: {line}")
        at = dict(samples)
        after_ten, last = at.get(10), samples[-1][1]
        ratio = last / after_ten if after_ten else float("nan")
        verdicts[pid] = {"last_mb": last, "after_10_mb": after_ten, "ratio": ratio}
        print(f"  last {last:.0f} MB (target < {TARGET_RSS_MB} MB), "
              f"{ratio:.2f}x the RSS after 10 forces (target <= {FLAT_RATIO:.2f}x)")
        detail = result.get("memory_after", {}).get(pid)
        if detail:
            print(f"  {describe(detail)}")
    return verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--skip-locust", action="store_true", help="the tour only")
    parser.add_argument("--skip-tour", action="store_true", help="the load test only")
    parser.add_argument("--db", default=os.environ.get("FLIGHTDECK_DB",
                                                        "/tmp/flightdeck-bench/app.duckdb"))
    args = parser.parse_args()
    db = ensure_demo_db(Path(args.db))
    port = free_port()
    results: dict[str, Any] = {}
    failures = 0
    with server("gunicorn", db, port, workers=2) as master:
        wait_for_http(f"http://127.0.0.1:{port}/", timeout=120)
        results["started_rss_mb"] = {pid: rss_mb(pid) for pid in workers(master.pid)}
        results["started_memory"] = {pid: memory_detail(pid) for pid in workers(master.pid)}
        if not args.skip_locust:
            load = results["load"] = load_test(port, master.pid, args.users, args.seconds)
            failures = load["failures"]
        if not args.skip_tour:
            results["tour"] = tour(port, master.pid)
    print("\nworker RSS after the start (MB): "
          + ", ".join(f"{mb:.0f}" for mb in results["started_rss_mb"].values()))
    for pid, detail in results["started_memory"].items():
        print(f"  worker {pid} after the start: {describe(detail)}")
    if "load" in results:
        load = results["load"]
        print(f"{'request':22} {'count':>7} {'fail':>5} {'p50 ms':>7} {'p95 ms':>7}")
        for row in load["rows"]:
            print(f"{row['Name'][:22]:22} {row['Request Count']:>7} "
                  f"{row['Failure Count']:>5} {row['50%']:>7} {row['95%']:>7}")
        peak = max(load["worker_peak_rss_mb"].values(), default=float("nan"))
        after = max(load["worker_rss_after_mb"].values(), default=float("nan"))
        print(f"\n{args.users} users for {args.seconds} s: {load['requests']} requests, "
              f"{load['failures']} errors (target 0), p95 {load['p95_ms']:.0f} ms (target "
              f"< 500 ms), worker RSS after {after:.0f} MB, peak {peak:.0f} MB (target "
              f"< {TARGET_RSS_MB} MB each; {len(load['worker_peak_rss_mb'])} workers)")
        for pid, detail in load["worker_memory_after"].items():
            print(f"  worker {pid} after the load test: {describe(detail)}")
    if "tour" in results:
        results["tour"]["verdicts"] = report_tour(results["tour"])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    loaded = results.get("load", {})
    RESULTS.write_text(json.dumps({
        **{k: loaded.get(k) for k in ("users", "seconds", "requests", "failures", "p95_ms",
                                      "worker_peak_rss_mb", "worker_rss_after_mb",
                                      "worker_memory_after")},
        "started_memory": results["started_memory"],
        "rows": loaded.get("rows"), "started_rss_mb": results["started_rss_mb"],
        "tour": results.get("tour"),
        "targets": {"failures": 0, "p95_ms": 500, "worker_rss_mb": TARGET_RSS_MB,
                    "tour_flat_ratio": FLAT_RATIO},
    }, indent=2, default=str))
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""The national mode on PostgreSQL: browsing over two app servers, and 43 loads at once.

Run from the project root::

    python bench/bench_national.py [--users 50] [--seconds 45] [--skip-browse] [--skip-loads]

1. **Browsing.** 50 simulated users (``bench/locustfile.py``, Locust headless on
   loopback) for a fixed time against two gunicorn app servers on different ports
   sharing one PostgreSQL copy of the demonstration data (each user keeps to one
   server, as behind a load balancer), then the same run against one gunicorn server
   over the DuckDB file. Both runs have the same number of worker processes in all
   (``--workers`` per PostgreSQL server, twice that on the one DuckDB server), and the
   servers, PostgreSQL and Locust share this machine's two cores, so the ratios
   (PostgreSQL over DuckDB) say what the shared database costs, not what two machines
   would give. Target for each run: the load test's, 0 errors and p95 under 500 ms.
2. **43 loads.** One return per force (one month, every measure its latest return
   held, as October 2025) loaded into a PostgreSQL copy of the demonstration data: all 43
   started together (four loader processes, as app servers' workers, each loading its
   files in a thread apiece), against a fresh copy loaded one file after another by
   one process. Target: together no slower than one after another (each force's
   return takes only its own force's lock, so the loads do not queue for each other).

PostgreSQL is the local cluster the tests use (``$FLIGHTDECK_TEST_POSTGRES``, else the
socket in /var/run/postgresql); each run makes throwaway databases and drops them.
Prints the figures and writes ``bench/results/national.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_app import ensure_demo_db  # noqa: E402
from tests import postgres  # noqa: E402
from tests.conftest import free_port, wait_for_http  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "national.json"
BIN = Path(sys.executable).parent
P95_TARGET_MS = 500
LOADER_PROCESSES = 4  # as the test of 43 loads (tests/test_postgres.py) spreads them
NEW_MONTH = "2025-10"


# --------------------------------------------------------------------------- PostgreSQL


@contextmanager
def demo_template(db: Path) -> Iterator[str]:
    """A PostgreSQL database holding the demonstration data (no accounts): its name."""
    from kpis.storage.backend import open_store
    from kpis.storage.copying import copy_store

    postgres.check_server()
    name = postgres.new_database()
    try:
        with open_store(db) as source, open_store(postgres.database_url(name)) as target:
            copy_store(source, target)
        yield name
    finally:
        postgres.drop_database(name)


@contextmanager
def clone(template: str) -> Iterator[str]:
    """A fresh copy of ``template`` (CREATE DATABASE ... TEMPLATE): its URL."""
    name = postgres.new_database(template)
    try:
        yield postgres.database_url(name)
    finally:
        postgres.drop_database(name)


# --------------------------------------------------------------------------- browsing


@contextmanager
def gunicorn(env: dict[str, str], workers: int) -> Iterator[str]:
    """A gunicorn app server (the production configuration) on a free loopback port."""
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "app:server"], cwd=ROOT,
        env={**os.environ, **env, "FLIGHTDECK_BIND": f"127.0.0.1:{port}",
             "FLIGHTDECK_WORKERS": str(workers)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/", timeout=120)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def browse(hosts: list[str], users: int, seconds: int, label: str) -> dict[str, Any]:
    """Locust's figures for ``users`` browsing for ``seconds``, spread over ``hosts``."""
    prefix = Path(tempfile.gettempdir()) / "flightdeck-bench" / f"national-{label}"
    prefix.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(BIN / "locust"), "-f", "bench/locustfile.py", "--headless", "-u", str(users),
         "-r", str(max(1, users // 5)), "--run-time", f"{seconds}s", "--host", hosts[0],
         "--csv", str(prefix), "--only-summary", "--stop-timeout", "10"],
        cwd=ROOT, check=False, timeout=seconds + 120,
        env={**os.environ, "BENCH_HOSTS": ",".join(hosts)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(f"{prefix}_stats.csv", newline="") as handle:
        total = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    return {"servers": len(hosts), "requests": int(total["Request Count"]),
            "failures": int(total["Failure Count"]), "median_ms": float(total["50%"]),
            "p95_ms": float(total["95%"]), "requests_per_s": float(total["Requests/s"])}


def run_browsing(db: Path, template: str, users: int, seconds: int, workers: int
                 ) -> dict[str, Any]:
    with clone(template) as url:
        state = Path(tempfile.mkdtemp(prefix="flightdeck-bench-state-"))
        env = {"FLIGHTDECK_DB": url, "FLIGHTDECK_STATE_DIR": str(state),
               "FLIGHTDECK_SECRET_KEY": secrets.token_urlsafe(48)}
        with gunicorn(env, workers) as one, gunicorn(env, workers) as two:
            national = browse([one, two], users, seconds, "postgresql")
    with gunicorn({"FLIGHTDECK_DB": str(db)}, 2 * workers) as single:
        laptop = browse([single], users, seconds, "duckdb")
    ratios = {key: national[key] / laptop[key] if laptop[key] else float("nan")
              for key in ("median_ms", "p95_ms", "requests_per_s")}
    return {"users": users, "seconds": seconds, "workers_per_postgresql_server": workers,
            "postgresql": national, "duckdb": laptop, "ratios": ratios}


def print_browsing(result: dict[str, Any]) -> None:
    print(f"{result['users']} users for {result['seconds']} s "
          f"({result['workers_per_postgresql_server']} gunicorn worker(s) per PostgreSQL "
          f"server, {2 * result['workers_per_postgresql_server']} on the DuckDB one):")
    print(f"{'':34} {'requests':>8} {'errors':>6} {'median ms':>9} {'p95 ms':>7} {'req/s':>6}")
    for key, name in (("postgresql", "two servers, PostgreSQL"),
                      ("duckdb", "one server, DuckDB")):
        row = result[key]
        print(f"{name:34} {row['requests']:>8} {row['failures']:>6} {row['median_ms']:>9.0f} "
              f"{row['p95_ms']:>7.0f} {row['requests_per_s']:>6.1f}")
    ratio = result["ratios"]
    print(f"{'PostgreSQL / DuckDB':34} {'':>8} {'':>6} {ratio['median_ms']:>8.2f}x "
          f"{ratio['p95_ms']:>6.2f}x {ratio['requests_per_s']:>5.2f}x")
    for key in ("postgresql", "duckdb"):
        row = result[key]
        print(f"  {key}: {row['failures']} errors (target 0), p95 {row['p95_ms']:.0f} ms "
              f"(target < {P95_TARGET_MS} ms)")


# --------------------------------------------------------------------------- 43 loads

# One loader process: says it is ready, waits for the start file, then loads its files,
# each in a thread of its own ("together") or one after another ("in turn"); prints when
# each began and ended.
_LOADER = """
import json, os, sys, threading, time
from pathlib import Path
from kpis.ingest.loader import load_files
db, start, mode, files = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4:]
times = {}
Path(f"{start}.ready-{os.getpid()}").touch()  # imported: ready for the start
def load(file):
    began = time.time()
    load_files(db, [Path(file)])
    times[Path(file).name] = [began, time.time()]
while not start.exists():
    time.sleep(0.001)
if mode == "together":
    threads = [threading.Thread(target=load, args=(file,)) for file in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
else:
    for file in files:
        load(file)
print(json.dumps(times))
"""


def write_returns(db: Path, folder: Path) -> list[Path]:
    """Each force's latest return figures (September 2025, or the last month it sent)
    as its October return: one file a force."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as conn:
        rows = conn.execute(
            "WITH returns AS (SELECT o.* FROM observations o JOIN measures m "
            "USING (measure_id) WHERE m.source = 'force_return'), latest AS ("
            "SELECT force_slug, max(period_start) AS period_start FROM returns "
            "GROUP BY force_slug) "
            "SELECT r.force_slug, r.measure_id, r.value FROM returns r JOIN latest "
            "USING (force_slug, period_start) JOIN measures m USING (measure_id) "
            "ORDER BY r.force_slug, m.position").fetchall()
    by_force: dict[str, list[str]] = {}
    for force, measure, value in rows:
        by_force.setdefault(force, []).append(f"{force},{NEW_MONTH},{measure},{value:g}")
    files = []
    for force, lines in sorted(by_force.items()):
        file = folder / f"{force}-{NEW_MONTH}.csv"
        file.write_text("force,month,measure,value\n" + "\n".join(lines) + "\n")
        files.append(file)
    return files


def timed_loads(url: str, files: list[Path], mode: str, folder: Path) -> dict[str, Any]:
    """Load ``files`` into ``url``: "together" (spread over the loader processes, a
    thread a file) or "in turn" (one process, one after another). The wall time runs
    from the start signal (every process started and its modules imported) to the
    last load's end."""
    import sqlalchemy as sa

    from kpis.storage import schema
    from kpis.storage.backend import open_store

    start = folder / f"go-{mode.replace(' ', '-')}"
    groups = ([files[n::LOADER_PROCESSES] for n in range(LOADER_PROCESSES)]
              if mode == "together" else [files])
    loaders = [subprocess.Popen(
        [sys.executable, "-c", _LOADER, url, str(start), mode, *map(str, group)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for group in groups]
    deadline = time.monotonic() + 120
    while len(list(folder.glob(f"{start.name}.ready-*"))) < len(loaders):
        if time.monotonic() > deadline or any(p.poll() is not None for p in loaders):
            raise RuntimeError("a loader did not start: " + "".join(
                p.communicate()[1][-2000:] for p in loaders if p.poll() is not None))
        time.sleep(0.05)
    began = time.time()
    start.touch()
    outcomes = [loader.communicate(timeout=900) for loader in loaders]
    failed = [err[-2000:] for loader, (_, err) in zip(loaders, outcomes, strict=True)
              if loader.returncode != 0]
    if failed:
        raise RuntimeError("a loader failed:\n" + "\n".join(failed))
    times: dict[str, list[float]] = {}
    for out, _ in outcomes:
        times.update(json.loads(out.strip().splitlines()[-1]))
    if sorted(times) != sorted(f.name for f in files):
        raise RuntimeError(f"{len(times)} of {len(files)} loads finished")
    with open_store(url) as store, store.connect() as conn:
        loads = conn.execute(sa.select(sa.func.count()).select_from(schema.loads).where(
            schema.loads.c.file_name.like(f"%-{NEW_MONTH}.csv"))).scalar_one()
    if loads != len(files):
        raise RuntimeError(f"{loads} loads recorded, not {len(files)}")
    each = sorted(end - start_ for start_, end in times.values())
    return {"wall_s": max(end for _, end in times.values()) - began,
            "median_load_s": each[len(each) // 2], "slowest_load_s": each[-1],
            "processes": len(groups)}


def run_loads(db: Path, template: str) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="flightdeck-bench-loads-"))
    files = write_returns(db, folder)
    with clone(template) as url:
        together = timed_loads(url, files, "together", folder)
    with clone(template) as url:
        in_turn = timed_loads(url, files, "in turn", folder)
    return {"files": len(files),
            "values": sum(len(f.read_text().splitlines()) - 1 for f in files),
            "together": together, "in_turn": in_turn,
            "ratio": together["wall_s"] / in_turn["wall_s"]}


def print_loads(result: dict[str, Any]) -> None:
    together, in_turn = result["together"], result["in_turn"]
    print(f"{result['files']} returns, one a force ({result['values']:,} values in all), "
          "into PostgreSQL holding the demonstration data:")
    print(f"  started together ({together['processes']} processes, a thread a file): "
          f"{together['wall_s']:.1f} s wall (each load: median {together['median_load_s']:.1f}"
          f" s, slowest {together['slowest_load_s']:.1f} s)")
    print(f"  one after another (one process): {in_turn['wall_s']:.1f} s wall (each load: "
          f"median {in_turn['median_load_s']:.2f} s)")
    print(f"  together / one after another: {result['ratio']:.2f}x (target: no more than "
          "1x)")


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=45)
    parser.add_argument("--workers", type=int, default=1,
                        help="gunicorn workers per PostgreSQL server (DuckDB: twice this)")
    parser.add_argument("--db", default=os.environ.get("FLIGHTDECK_DB",
                                                        "/tmp/flightdeck-bench/app.duckdb"))
    parser.add_argument("--skip-browse", action="store_true")
    parser.add_argument("--skip-loads", action="store_true")
    args = parser.parse_args()
    db = ensure_demo_db(Path(args.db))
    result: dict[str, Any] = {}
    with demo_template(db) as template:
        if not args.skip_browse:
            result["browsing"] = run_browsing(db, template, args.users, args.seconds,
                                              args.workers)
            print_browsing(result["browsing"])
        if not args.skip_loads:
            result["loads"] = run_loads(db, template)
            print_loads(result["loads"])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    browsing = result.get("browsing")
    ok = browsing is None or all(
        browsing[k]["failures"] == 0 for k in ("postgresql", "duckdb"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""The whole benchmark suite: ``python -m bench [--skip-load]`` from the project root
(``--skip-load`` also leaves out the national benchmark's browsing runs).

Runs each benchmark script in its own process (so one's warm caches never flatter
another's), lets each print its own table and write its JSON under bench/results/,
then prints one summary against the targets and writes bench/results/summary.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SCRIPTS = ("bench_kpis", "bench_cli", "bench_ingest", "bench_home_office", "bench_app",
           "bench_switch", "bench_peer",
           "bench_export", "bench_growth", "bench_load", "bench_national")


def load(name: str) -> dict[str, Any]:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def summary() -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    kpis = load("kpis").get("sizes", [])
    if kpis:
        rows.append(("KPI engine, full catalogue, warm", "< 300 ms",
                     f"{kpis[0]['warm_seconds'] * 1000:.0f} ms"))
        for size in kpis[1:]:
            rows.append((f"KPI engine at {size['factor']}x", "see README",
                         f"{size['warm_ratio']:.1f}x slower"))
    cli = load("cli")
    if cli:
        rows.append(("flightdeck kpis, whole catalogue", "<= 1.5x one DuckDB COPY",
                     f"{cli['kpis']['median_s']:.2f} s, {cli['ratio']:.2f}x the "
                     f"{cli['floor']['median_s']:.2f} s COPY"))
        helps = [v["median_s"] for k, v in cli["help"].items() if k != "python -c pass"]
        rows.append(("flightdeck --help", "< 0.15 s", f"{max(helps):.3f} s"))
    ingest = load("ingest")
    if ingest:
        rows.append(("20,000-row return load", "< 2 s",
                     f"{ingest['long_return']['seconds']:.2f} s"))
        rows.append(("1,000,000-row HO outcomes load", "< 30 s, < 1.5 GB",
                     f"{ingest['ho_outcomes']['seconds']:.1f} s, "
                     f"{ingest['ho_outcomes']['peak_mb']:.0f} MB"))
    for item in load("home_office").get("loads", []):
        rows.append((f"{item['file']}, {item['rows']:,} rows, as published",
                     "< 30 s, < 2 GB", f"{item['seconds']:.1f} s, {item['peak_mb']:,} MB"))
    app = load("app")
    for kind, worst in app.get("summary", {}).items():
        rows.append((f"Worst callback p95 / p50 over HTTP, {kind}", "< 50 ms / < 25 ms",
                     f"{worst['worst_p95_ms']:.0f} ms / {worst['worst_p50_ms']:.0f} ms"))
    if app.get("flight_deck_render_median_ms"):
        rows.append(("Flight deck rendered in Chromium", "< 2 s",
                     f"{app['flight_deck_render_median_ms']:.0f} ms"))
    export = load("export")
    if export:
        rows.append(("One chart PNG, warm", "< 0.5 s",
                     f"{export['chart_png_warm_s']['median']:.2f} s"))
        for fmt in ("pptx", "pdf", "docx"):
            pack = export["default_pack"][fmt]
            rows.append((f"Default pack {fmt.upper()}: cold / warm / size",
                         "< 15 s / < 8 s / < 3 MB",
                         f"{pack['cold_s']['median']:.1f} s / {pack['warm_s']['median']:.1f} s"
                         f" / {pack['mb']:.2f} MB"))
        job = export["chart_download_during_pack_job"]
        rows.append(("Chart download during a pack job", "< 1 s, <= 2x without",
                     f"{job['with_job_s']['median']:.2f} s, {job['ratio']:.1f}x"))
    growth = load("growth")
    for row in growth.get("flight_deck_callback", [])[1:]:
        rows.append((f"Flight deck callback at {row['factor']}x", "grows slowly",
                     f"{row['ratio']:.1f}x the 1x time"))
    for start in growth.get("first_request_after_start_16x", []):
        rows.append((f"First flight deck request at 16x, {start['server']}", "< 400 ms",
                     f"{start['first']['total_ms']:.0f} ms"))
    loadtest = load("load")
    if loadtest.get("worker_peak_rss_mb"):
        worst = max(loadtest["worker_peak_rss_mb"].values())
        rows.append(("Load test: 50 users, 60 s", "0 errors, p95 < 500 ms, < 250 MB",
                     f"{loadtest['failures']} errors, p95 {loadtest['p95_ms']:.0f} ms, "
                     f"{worst:.0f} MB"))
    verdicts = (loadtest.get("tour") or {}).get("verdicts", {})
    if verdicts:
        last = max(v["last_mb"] for v in verdicts.values())
        ratio = max(v["ratio"] for v in verdicts.values())
        rows.append(("Worker RSS after every force's pages", "< 250 MB, <= 1.1x at 10",
                     f"{last:.0f} MB, {ratio:.2f}x"))
    national = load("national")
    browsing = national.get("browsing")
    if browsing:
        pg, duck, ratio = browsing["postgresql"], browsing["duckdb"], browsing["ratios"]
        rows.append((f"{browsing['users']} users, two servers on PostgreSQL",
                     "0 errors, p95 < 500 ms",
                     f"{pg['failures']} errors, p95 {pg['p95_ms']:.0f} ms "
                     f"({ratio['p95_ms']:.2f}x DuckDB's {duck['p95_ms']:.0f} ms), "
                     f"{ratio['requests_per_s']:.2f}x its requests/s"))
    loads = national.get("loads")
    if loads:
        rows.append((f"{loads['files']} loads together on PostgreSQL", "<= 1x one by one",
                     f"{loads['together']['wall_s']:.1f} s against "
                     f"{loads['in_turn']['wall_s']:.1f} s, {loads['ratio']:.2f}x"))
    switch = load("switch").get("pages", {})
    for page, row in switch.items():
        rows.append((f"Switch in Chromium, {page}: force / period (median)", "< 150 ms",
                     f"{row['force_median_ms']:.0f} / {row['period_median_ms']:.0f} ms"))
    peer = load("peer")
    if peer.get("ours"):
        ours, other = peer["ours"], peer.get("peer")
        rows.append(("First visit in Chromium, done drawing", "ahead of the peer",
                     f"{ours['load_median_ms']:.0f} ms, {ours['bytes_median'] / 1024:.0f} KB"
                     + (f"; the peer {other['load_median_ms']:.0f} ms "
                        f"({peer['load_median_ms_ratio']:.2f}x), "
                        f"{other['bytes_median'] / 1024:.0f} KB "
                        f"({peer['bytes_median_ratio']:.2f}x)" if other else
                        "; no peer present")))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-load", action="store_true",
                        help="skip the 60 s load test and the national browsing runs")
    args = parser.parse_args()
    failed = []
    for script in SCRIPTS:
        if args.skip_load and script == "bench_load":
            continue
        extra = ["--skip-browse"] if args.skip_load and script == "bench_national" else []
        print(f"\n=== {script} ===", flush=True)
        if subprocess.run([sys.executable, f"bench/{script}.py", *extra],
                          cwd=ROOT).returncode:
            failed.append(script)
    rows = summary()
    print(f"\n{'benchmark':42} {'target':34} latest")
    for name, target, measured in rows:
        print(f"{name:42} {target:34} {measured}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "summary.json").write_text(json.dumps(
        [{"benchmark": n, "target": t, "measured": m} for n, t, m in rows], indent=2))
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Home Office files as published: a full-size outcomes year workbook and the PFA ODS.

Run from the project root::

    python bench/bench_home_office.py

The outcomes workbook is a year in the published layout (cover, notes and pivot
sheets, then ``Outcomes open data 2024_25`` with the 13-column header): 676,000 rows,
43 forces and British Transport Police, four quarters, rape, other sexual offences and
150 other offence codes, outcome types 0 to 22, ``N/A`` on the closed basis for outcome
0 and some negative corrections. The ODS has a cover and 13 year sheets of 25,000
rows. Both are written by ``tests.published`` and loaded by ``flightdeck load`` in a
child process, into a fresh database, timed from the command's start to its end; the
peak memory is the child's ``ru_maxrss``. Results go to ``bench/results/home_office.json``.

Targets (the Home Office issue): the year workbook in under 30 s and under 2 GB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import numpy as np  # noqa: E402

from kpis.domain.periods import add_months, financial_quarter  # noqa: E402
from kpis.ingest.home_office import OTHER_SEXUAL_OFFENCE_CODES, RAPE_CODES  # noqa: E402
from kpis.storage.reference import read_forces  # noqa: E402
from tests.published import outcomes_workbook, pfa_workbook  # noqa: E402

RESULTS = PROJECT_ROOT / "bench" / "results" / "home_office.json"
YEAR_ROWS = 676_000
ODS_YEARS, ODS_ROWS_PER_YEAR = 13, 25_000
TARGET_S, TARGET_MB = 30.0, 2048.0
OTHER_CODES = tuple(f"{n}X" for n in range(150))


def _bodies() -> list[str]:
    return [str(f["name"]) for f in read_forces()] + ["British Transport Police"]


def outcome_rows(total: int, year: int = 2024, seed: int = 1) -> Iterator[list[object]]:
    """``total`` rows of one financial year: quarter, body, offence code, outcome."""
    rng = np.random.default_rng(seed)
    codes = RAPE_CODES + OTHER_SEXUAL_OFFENCE_CODES + OTHER_CODES
    label = f"{year}/{(year + 1) % 100:02d}"
    written = 0
    for quarter in range(4):
        month = add_months(dt.date(year, 4, 1), 3 * quarter)
        counts = rng.poisson(4.0, (len(_bodies()) * len(codes) * 23, 2))
        i = 0
        for body in _bodies():
            for code in codes:
                group = "Sexual offences" if code[0].isdigit() and not code.endswith(
                    "X") else "Other crime"
                for kind in range(23):
                    if written == total:
                        return
                    recorded, closed = int(counts[i, 0]), int(counts[i, 1])
                    if i % 997 == 0:
                        recorded = -1  # a published correction
                    yield [label, f"Q{financial_quarter(month)}", body, code,
                           f"Offence {code}", group, group, None, kind, f"Outcome {kind}",
                           "Outcome group", recorded, "N/A" if kind == 0 else closed]
                    i += 1
                    written += 1


def pfa_rows(year: int, total: int, seed: int) -> Iterator[list[object]]:
    rng = np.random.default_rng(seed)
    codes = RAPE_CODES + OTHER_SEXUAL_OFFENCE_CODES + OTHER_CODES
    bodies = [*_bodies(), "Action Fraud", "CIFAS", "UK Finance"]
    label = f"{year}/{(year + 1) % 100:02d}"
    counts = rng.poisson(30.0, total)
    written = 0
    for quarter in range(1, 5):
        for body in bodies:
            for code in codes:
                if written == total:
                    return
                yield [label, f"Q{quarter}", body, f"Offence {code}", "Group", "Subgroup",
                       code, int(counts[written])]
                written += 1


_CHILD = """
import json, resource, sys, time
started = time.perf_counter()
from kpis.cli import main
code = main(["load", "--db", sys.argv[1], sys.argv[2]])
seconds = time.perf_counter() - started
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"code": code, "seconds": seconds, "peak_mb": peak_kb / 1024}))
"""


def run_load(db: Path, file: Path) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    done = subprocess.run([sys.executable, "-c", _CHILD, str(db), str(file)], check=False,
                          capture_output=True, text=True, env=env, cwd=PROJECT_ROOT)
    if done.returncode != 0:
        raise SystemExit(f"the load failed:\n{done.stderr[-4000:]}")
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    result["summary"] = next((line for line in lines if line.startswith(file.name)), "")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=YEAR_ROWS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="flightdeck-bench-") as folder:
        work = Path(folder)
        started = time.perf_counter()
        year_file = outcomes_workbook(
            work / "prc-outcomes-open-data-mar2025-tables-240725.xlsx",
            outcome_rows(args.rows), data_sheet="Outcomes open data 2024_25")
        ods_file = pfa_workbook(work / "prc-pfa-mar2013-onwards-tables-240725.ods", {
            f"{y}_{(y + 1) % 100:02d}": pfa_rows(y, ODS_ROWS_PER_YEAR, y)
            for y in range(2024 - ODS_YEARS + 1, 2025)})
        print(f"generated the files in {time.perf_counter() - started:.0f} s: year "
              f"workbook {year_file.stat().st_size / 1e6:.0f} MB, ODS "
              f"{ods_file.stat().st_size / 1e6:.0f} MB")
        year = run_load(work / "year.duckdb", year_file)
        ods = run_load(work / "ods.duckdb", ods_file)
        sizes = (year_file.stat().st_size / 1e6, ods_file.stat().st_size / 1e6)
    rows = [("outcomes year (XLSX)", args.rows, sizes[0], year),
            ("PFA table (ODS)", ODS_YEARS * ODS_ROWS_PER_YEAR, sizes[1], ods)]
    results = {
        "measured_at": dt.datetime.now().replace(microsecond=0).isoformat(),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU(s)",
        "method": "flightdeck load in a child process; peak memory is its ru_maxrss",
        "loads": [{"file": name, "rows": n, "file_mb": round(mb, 1),
                   "seconds": round(r["seconds"], 2), "peak_mb": round(r["peak_mb"]),
                   "target_seconds": TARGET_S, "target_peak_mb": TARGET_MB,
                   "met": r["seconds"] < TARGET_S and r["peak_mb"] < TARGET_MB,
                   "summary": r["summary"]} for name, n, mb, r in rows],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"{'load':<22}{'rows':>9}{'MB':>6}{'time':>9}{'target':>9}{'peak MB':>9}"
          f"{'target':>9}  met")
    for item in results["loads"]:
        print(f"{item['file']:<22}{item['rows']:>9,}{item['file_mb']:>6.0f}"
              f"{item['seconds']:>8.1f}s{'< 30 s':>9}{item['peak_mb']:>9,}{'< 2048':>9}  "
              f"{'yes' if item['met'] else 'NO'}")
    print(f"written to {RESULTS.relative_to(PROJECT_ROOT)}")
    return 0 if all(item["met"] for item in results["loads"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())

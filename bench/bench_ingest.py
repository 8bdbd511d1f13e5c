"""Ingest benchmark: a 20,000-row long monthly return and a 1,000,000-row HO outcomes CSV.

Run from the project root::

    python bench/bench_ingest.py

Each load runs in a fresh child process (``python -c``) against a freshly initialised
database, so the figures include opening the database, validating, writing the
private copy and publishing it by atomic rename. The child reports its own wall time
for ``load_files`` and its own peak resident memory, ``resource.getrusage
(RUSAGE_SELF).ru_maxrss`` (the whole process: interpreter, imports, the file in
memory and DuckDB). Results are printed as a table and written to
``bench/results/ingest.json``.

Targets (from the ingest issue): the return in under 2 s; the HO outcomes file in
under 30 s with peak memory under 1.5 GB.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import numpy as np  # noqa: E402

from kpis.domain.periods import add_months, financial_quarter, financial_year_label  # noqa: E402
from kpis.ingest.demo import OUTCOMES_HEADER, RETURN_MEASURES, force_months  # noqa: E402
from kpis.settings import FORCES_CSV  # noqa: E402
from kpis.storage.database import initialise  # noqa: E402
from kpis.storage.duckdb_file import write_transaction  # noqa: E402
from kpis.storage.reference import read_forces  # noqa: E402

RESULTS = PROJECT_ROOT / "bench" / "results" / "ingest.json"
RETURN_ROWS = 20_000
OUTCOME_ROWS = 1_000_000
RETURN_TARGET_S = 2.0
OUTCOMES_TARGET_S = 30.0
OUTCOMES_MEMORY_TARGET_MB = 1536.0
# Validation treats months after this date's month as the future; fixed so the
# benchmark data are valid whatever the date it runs.
TODAY = dt.date(2025, 10, 15)

RAPE_CODES = ("19C", "19D", "19E", "19F", "19G", "19H")
OSO_CODES = (
    "17A", "17B", "20A", "20B", "21", "22A", "22B", "23", "70", "71", "72", "73",
    "88A", "88C", "88D", "88E",
)
# Offence codes of other crimes: a real outcomes table covers every offence; the
# importer reads and ignores these rows.
OTHER_CODES = (
    "1", "4.1", "5A", "8N", "8P", "28E", "30C", "34B", "45", "46", "49", "53H", "58A",
    "66", "81", "92A", "99", "105A",
)
HO_NAME_VARIANTS = {
    "metropolitan": "Metropolitan Police Service", "devon-and-cornwall": "Devon & Cornwall",
    "avon-and-somerset": "Avon & Somerset", "city-of-london": "London, City of",
    "dyfed-powys": "Dyfed Powys", "hampshire": "Hampshire and Isle of Wight",
}


def make_database(path: Path) -> None:
    with write_transaction(path) as conn:
        initialise(conn)


def write_long_return(path: Path, rows: int = RETURN_ROWS) -> int:
    """``rows`` rows of a valid long return: 43 forces x months x measures, demo values."""
    forces = read_forces(FORCES_CSV)
    per_month = len(forces) * len(RETURN_MEASURES)
    n_months = -(-rows // per_month)
    end = add_months(dt.date(TODAY.year, TODAY.month, 1), -1)
    months = [add_months(end, -i) for i in reversed(range(n_months))]
    data = {
        str(f["slug"]): force_months(str(f["slug"]), i, int(str(f["population"])), months, 1)
        for i, f in enumerate(forces)
    }
    written = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["force", "month", "measure", "value"])
        for m, month in enumerate(months):
            for slug, values in data.items():
                for measure in RETURN_MEASURES:
                    if written == rows:
                        return written
                    out.writerow([slug, f"{month:%Y-%m}", measure, int(values[measure][m])])
                    written += 1
    return written


def write_ho_outcomes(path: Path, rows: int = OUTCOME_ROWS, seed: int = 1) -> int:
    """``rows`` valid rows in the published outcomes layout (``kpis.ingest.demo.OUTCOMES_HEADER``).

    One row per force, financial quarter, offence code and outcome type (0-22), most
    recent quarters last; a few rows for non-territorial bodies are mixed in. Counts
    are random but valid whole numbers.
    """
    forces = read_forces(FORCES_CSV)
    names = [HO_NAME_VARIANTS.get(str(f["slug"]), str(f["name"])) for f in forces]
    names += ["British Transport Police", "Action Fraud"]
    codes = RAPE_CODES + OSO_CODES + OTHER_CODES
    outcomes = [str(n) for n in range(23)]
    per_quarter = len(names) * len(codes) * len(outcomes)
    n_quarters = -(-rows // per_quarter)
    last = dt.date(2025, 4, 1)  # 2025/26 Q1, complete before TODAY
    quarters = [add_months(last, -3 * i) for i in reversed(range(n_quarters))]
    rng = np.random.default_rng(seed)
    written = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(OUTCOMES_HEADER)
        for quarter in quarters:
            year = financial_year_label(quarter)
            fq = financial_quarter(quarter)
            block = len(names) * len(codes) * len(outcomes)
            recorded = rng.poisson(4.0, block)
            closed = rng.poisson(4.0, block)
            i = 0
            batch: list[list[object]] = []
            for name in names:
                for code in codes:
                    group = "Sexual offences" if code in RAPE_CODES + OSO_CODES else "Other"
                    for outcome in outcomes:
                        if written == rows:
                            out.writerows(batch)
                            return written
                        batch.append([
                            year, fq, name, f"Offence {code}", group, group, code,
                            f"Outcome {outcome}", "", outcome, recorded[i], closed[i],
                        ])
                        i += 1
                        written += 1
            out.writerows(batch)
    return written


_CHILD = """
import datetime as dt, json, resource, sys, time
from pathlib import Path
from kpis.ingest.loader import load_files
db, file, kind, today = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
started = time.perf_counter()
result = load_files(Path(db), [Path(file)], kind=kind, today=dt.date.fromisoformat(today))
seconds = time.perf_counter() - started
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024,
                  "observations": result.observations, "ignored": result.report.ignored,
                  "errors": len(result.report.errors), "warnings": len(result.report.warnings)}))
"""


def run_load(db: Path, file: Path, kind: str) -> dict[str, Any]:
    """Load ``file`` in a child process; return its timing and peak memory."""
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(db), str(file), kind, TODAY.isoformat()],
        check=True, capture_output=True, text=True, env=env, cwd=PROJECT_ROOT,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outcome-rows", type=int, default=OUTCOME_ROWS)
    parser.add_argument("--return-rows", type=int, default=RETURN_ROWS)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="flightdeck-bench-") as folder:
        work = Path(folder)
        started = time.perf_counter()
        return_file = work / "long_return.csv"
        return_rows = write_long_return(return_file, args.return_rows)
        outcomes_file = work / "ho_outcomes.csv"
        outcome_rows = write_ho_outcomes(outcomes_file, args.outcome_rows)
        print(f"generated test files in {time.perf_counter() - started:.1f} s "
              f"(outcomes CSV {outcomes_file.stat().st_size / 1e6:.0f} MB)")

        make_database(work / "return.duckdb")
        ret = run_load(work / "return.duckdb", return_file, "return")
        make_database(work / "outcomes.duckdb")
        ho = run_load(work / "outcomes.duckdb", outcomes_file, "ho-outcomes")
        outcomes_mb = outcomes_file.stat().st_size / 1e6

    ret_s, ret_mb = float(ret["seconds"]), float(ret["peak_mb"])
    ho_s, ho_mb = float(ho["seconds"]), float(ho["peak_mb"])
    results: dict[str, object] = {
        "measured_at": dt.datetime.now().replace(microsecond=0).isoformat(),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU(s)",
        "memory_method": "ru_maxrss (RUSAGE_SELF) of a child process that runs only the load",
        "long_return": {
            "rows": return_rows, "seconds": round(ret_s, 3), "target_seconds": RETURN_TARGET_S,
            "peak_mb": round(ret_mb, 1), "observations_written": ret["observations"],
            "met": ret_s < RETURN_TARGET_S,
        },
        "ho_outcomes": {
            "rows": outcome_rows, "file_mb": round(outcomes_mb, 1), "seconds": round(ho_s, 3),
            "target_seconds": OUTCOMES_TARGET_S, "peak_mb": round(ho_mb, 1),
            "target_peak_mb": OUTCOMES_MEMORY_TARGET_MB,
            "observations_written": ho["observations"], "ignored": ho["ignored"],
            "met": ho_s < OUTCOMES_TARGET_S and ho_mb < OUTCOMES_MEMORY_TARGET_MB,
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")

    return_met = ret_s < RETURN_TARGET_S
    outcomes_met = ho_s < OUTCOMES_TARGET_S and ho_mb < OUTCOMES_MEMORY_TARGET_MB
    lines = [
        f"{'load':<22}{'rows':>11}{'time':>9}{'target':>9}{'peak MB':>9}{'target':>9}  met",
        f"{'long return (CSV)':<22}{return_rows:>11,}{ret_s:>8.2f}s{'< 2 s':>9}"
        f"{ret_mb:>9.0f}{'-':>9}  {'yes' if return_met else 'NO'}",
        f"{'HO outcomes (CSV)':<22}{outcome_rows:>11,}{ho_s:>8.2f}s{'< 30 s':>9}"
        f"{ho_mb:>9.0f}{'< 1536':>9}  {'yes' if outcomes_met else 'NO'}",
    ]
    print("\n".join(lines))
    print(f"peak memory: {results['memory_method']}")
    print(f"written to {RESULTS.relative_to(PROJECT_ROOT)}")
    return 0 if return_met and outcomes_met else 1


if __name__ == "__main__":
    raise SystemExit(main())

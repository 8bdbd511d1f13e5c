"""Command line benchmark: ``flightdeck kpis`` for the whole catalogue against one DuckDB
query writing the same CSV, and ``flightdeck --help``.

Run from the project root::

    python bench/bench_cli.py [--db PATH] [--runs 7] [--help-runs 20] [--json FILE]

Every figure is the wall time of a NEW process (``subprocess.run``, timed from the
parent), the median of ``--runs`` runs after one untimed warm run (the page cache and
the interpreter's bytecode are then warm, as for an analyst running it twice):

- *CLI*: ``python -m kpis.cli kpis --db DB --out FILE.csv``: every published KPI, every
  area, the whole period, no filters (the default marking; no disclosure control),
  audited as every run is (the audit row in the users file beside the scratch copy of
  the database: kpis.background_audit).
- *Floor*: ``python -c`` that imports duckdb, opens the same database read-only and
  writes exactly the same CSV with ONE ``COPY (SELECT * FROM t) TO 'file' (HEADER)`` from
  a DuckDB table holding that CSV's content. The table is built once beforehand, in a
  scratch DuckDB file, from the CLI's own output read as all-VARCHAR (so the text is
  the CLI's, byte for byte); the floor's file is compared with the CLI's and the result
  recorded (``floor.identical``). This is "a single DuckDB query that writes the same
  CSV": the least a new process can take to write that file. DuckDB runs with its
  default settings (as many threads as cores); the same query with one thread is timed
  too, for information.
- *Ratio*: CLI / floor, medians.
- *Computed*, for information: the same command on a copy of the database without the
  whole catalogue's CSV that the last write kept in it (kpis.exports.stored_kpi_csv),
  so the engine computes the table in the process, as for a filtered table or a
  database on PostgreSQL. The benchmark's database is built by ``flightdeck demo``,
  which keeps it, as every load does; the timed CLI runs use it.
- *Help*: ``python -m kpis.cli --help``, the ``flightdeck`` console script beside the
  interpreter (if installed) and ``python -m kpis.cli kpis --help``: median of
  ``--help-runs`` runs; ``python -c pass`` is timed as the interpreter's own start.

The project's modules are compiled to bytecode before anything is timed (``compileall``,
as ``scripts/setup`` does and as pip does for an installed package): where
PYTHONDONTWRITEBYTECODE is set, as on this project's machines, the warm run cannot leave
bytecode behind and every timed process would compile some 130 modules again, which no
analyst's installed copy does. Whether any were stale is recorded (``bytecode``).

The CLI and floor runs alternate, so load from other work on a shared machine falls on
both alike. The database (default: the benchmarks' demonstration database,
``/tmp/flightdeck-bench/app.duckdb``, built by ``flightdeck demo --end 2025-09 --seed 7``
if missing) is copied to a scratch folder first, so a concurrent rebuild cannot change
it between runs. The processes import the ``kpis`` of this script's project (its root
first on ``PYTHONPATH``, the working directory): the module file is printed and
recorded, so a run from another checkout can be checked. The SHA-256 of the CLI's CSV is
recorded too: two checkouts' runs on the same database can be compared by it.

Targets (from the command line speed issue): ``flightdeck kpis`` for the whole
catalogue within 1.5 times the floor; ``flightdeck --help`` under 0.15 s. Results are
printed as a table and written to ``bench/results/cli.json`` (``--json``: elsewhere).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "cli.json"
DEMO_DB = Path("/tmp/flightdeck-bench/app.duckdb")
RATIO_TARGET = 1.5
HELP_TARGET_S = 0.15

# The floor: one COPY of the CSV's content, from a scratch file attached read-only to
# the database (opened read-only, as the CLI opens it). argv: database, scratch, out,
# threads (0: DuckDB's default).
FLOOR = """
import sys, duckdb
db, scratch, out, threads = sys.argv[1:5]
con = duckdb.connect(db, read_only=True)
if int(threads):
    con.execute(f"SET threads = {int(threads)}")
con.execute("ATTACH '" + scratch.replace("'", "''") + "' AS floor (READ_ONLY)")
con.execute("COPY (SELECT * FROM floor.kpis) TO '" + out.replace("'", "''") + "' (HEADER)")
"""
# The scratch table: the CLI's CSV read back as text, every cell as written.
SCRATCH = """
import sys, duckdb
csv, scratch = sys.argv[1:3]
con = duckdb.connect(scratch)
con.execute("CREATE OR REPLACE TABLE kpis AS SELECT * FROM read_csv(?, header = true, "
            "all_varchar = true, delim = ',', quote = '\\"', escape = '\\"', "
            "auto_detect = false, columns = ?)",
            [csv, {name: 'VARCHAR' for name in open(csv, encoding='utf-8').readline()
                   .rstrip('\\n').split(',')}])
con.close()
"""
# A copy of the database without the table the last write kept (the engine computes).
DROP_KEPT = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("DROP TABLE IF EXISTS derived_kpi_csv")
con.execute("DROP TABLE IF EXISTS derived_kpi_csv_meta")
con.close()
"""
WHICH_KPIS = "import kpis, sys; print(kpis.__file__)"


def environment() -> dict[str, str]:
    """This project first on the path, whatever the interpreter's site-packages hold."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    return env


def run(command: Sequence[str]) -> float:
    """Seconds of wall time the process took; fails loudly if it failed."""
    started = time.perf_counter()
    done = subprocess.run(list(command), cwd=ROOT, env=environment(), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return seconds


def figures(runs: list[float]) -> dict[str, Any]:
    return {"median_s": round(statistics.median(runs), 4), "min_s": round(min(runs), 4),
            "runs_s": [round(r, 4) for r in runs]}


def timed(commands: dict[str, list[str]], runs: int) -> dict[str, dict[str, Any]]:
    """Each command ``runs`` times after one untimed warm run, the commands in turn."""
    for command in commands.values():
        run(command)
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            seconds[name].append(run(command))
    return {name: figures(each) for name, each in seconds.items()}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def first_difference(a: Path, b: Path) -> str:
    """Where two files first differ (line number and both lines), for the report."""
    with open(a, encoding="utf-8") as one, open(b, encoding="utf-8") as other:
        for number, (x, y) in enumerate(zip(one, other, strict=False), start=1):
            if x != y:
                return f"line {number}: {x[:120]!r} against {y[:120]!r}"
    return f"sizes differ: {a.stat().st_size} against {b.stat().st_size} bytes"


def compile_project(python: str) -> str:
    """Compile the project's modules to bytecode (see the module's docstring); says
    whether any had to be."""
    sources = [str(ROOT / name) for name in ("kpis", "layouts", "web", "app.py")]
    listed = subprocess.run([python, "-m", "compileall", *sources], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    compiled = sum(line.startswith("Compiling ") for line in listed.splitlines())
    return f"{compiled} module(s) compiled by the bench" if compiled else "up to date"


def ensure_db(db: Path) -> None:
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "kpis.cli", "demo", "--db", str(db), "--end",
                        "2025-09", "--seed", "7"], cwd=ROOT, env=environment(), check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=DEMO_DB,
                        help=f"the database (default: {DEMO_DB}; copied to a scratch folder)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs of kpis and the floor")
    parser.add_argument("--help-runs", type=int, default=20, help="timed runs of each --help")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"default: {RESULTS}")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="work in DIR and keep its files (the CLI's CSV: kpis.csv)")
    args = parser.parse_args(argv)

    python = sys.executable
    kpis_file = subprocess.run([python, "-c", WHICH_KPIS], cwd=ROOT, env=environment(),
                               capture_output=True, text=True, check=True).stdout.strip()
    print(f"kpis imported from {kpis_file}")
    if not Path(kpis_file).resolve().is_relative_to(ROOT):
        raise SystemExit(f"the processes import kpis from {kpis_file}, not from {ROOT}")
    ensure_db(args.db)
    bytecode = compile_project(python)

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-cli-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        db = work / "app.duckdb"
        shutil.copyfile(args.db, db)
        cli_csv, floor_csv, scratch = work / "kpis.csv", work / "floor.csv", work / "floor.duckdb"
        cli = [python, "-m", "kpis.cli", "kpis", "--db", str(db), "--out", str(cli_csv)]
        run(cli)  # the CLI's output, from which the floor's table is built
        scratch.unlink(missing_ok=True)
        subprocess.run([python, "-c", SCRATCH, str(cli_csv), str(scratch)], check=True)
        floor = [python, "-c", FLOOR, str(db), str(scratch), str(floor_csv), "0"]
        floor_one_thread = [python, "-c", FLOOR, str(db), str(scratch), str(floor_csv), "1"]
        plain = work / "computed.duckdb"
        shutil.copyfile(db, plain)
        subprocess.run([python, "-c", DROP_KEPT, str(plain)], check=True)
        computed_csv = work / "computed.csv"
        computed = [python, "-m", "kpis.cli", "kpis", "--db", str(plain), "--out",
                    str(computed_csv)]
        writes = timed({"cli": cli, "floor": floor, "floor_one_thread": floor_one_thread,
                        "computed": computed}, args.runs)
        writes["computed"]["identical"] = computed_csv.read_bytes() == cli_csv.read_bytes()
        identical = floor_csv.read_bytes() == cli_csv.read_bytes()
        with open(cli_csv, encoding="utf-8") as handle:
            rows = sum(1 for _ in handle) - 1
        writes["cli"].update(rows=rows, bytes=cli_csv.stat().st_size, sha256=sha256(cli_csv))
        writes["floor"]["identical"] = identical
        if not identical:
            writes["floor"]["difference"] = first_difference(cli_csv, floor_csv)

        script = Path(python).with_name("flightdeck")
        helps = {"python -m kpis.cli --help": [python, "-m", "kpis.cli", "--help"]}
        if script.exists():
            helps["flightdeck --help"] = [str(script), "--help"]
        helps["python -m kpis.cli kpis --help"] = [python, "-m", "kpis.cli", "kpis", "--help"]
        helps["python -c pass"] = [python, "-c", "pass"]
        help_times = timed(helps, args.help_runs)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    ratio = writes["cli"]["median_s"] / writes["floor"]["median_s"]
    help_worst = max(v["median_s"] for k, v in help_times.items() if k != "python -c pass")
    result = {
        "measured_at": dt.datetime.now().replace(microsecond=0).isoformat(),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU(s)",
        "project": str(ROOT),
        "kpis_module": kpis_file,
        "database": str(args.db),
        "bytecode": bytecode,
        "runs": args.runs,
        "help_runs": args.help_runs,
        "kpis": writes["cli"],
        "floor": writes["floor"],
        "floor_one_thread": writes["floor_one_thread"],
        "computed": writes["computed"],
        "ratio": round(ratio, 3),
        "ratio_target": RATIO_TARGET,
        "help": help_times,
        "help_target_s": HELP_TARGET_S,
        "met": {"kpis": ratio <= RATIO_TARGET, "help": help_worst < HELP_TARGET_S},
    }

    rows_out = [
        ("flightdeck kpis, whole catalogue", f"<= {RATIO_TARGET}x floor",
         f"{writes['cli']['median_s']:.3f} s (min {writes['cli']['min_s']:.3f})"),
        ("floor: one DuckDB COPY of the same CSV", "-",
         f"{writes['floor']['median_s']:.3f} s (min {writes['floor']['min_s']:.3f}), "
         f"{'byte-identical' if identical else 'DIFFERENT: ' + writes['floor']['difference']}"),
        ("floor, DuckDB on one thread", "-",
         f"{writes['floor_one_thread']['median_s']:.3f} s"),
        ("computed (no table kept), for information", "-",
         f"{writes['computed']['median_s']:.3f} s, "
         f"{writes['computed']['median_s'] / writes['floor']['median_s']:.2f}x the floor, "
         f"{'the same bytes' if writes['computed']['identical'] else 'DIFFERENT BYTES'}"),
        ("ratio CLI / floor", f"<= {RATIO_TARGET}",
         f"{ratio:.2f}x {'yes' if result['met']['kpis'] else 'NO'}"),
    ]
    for name, each in help_times.items():
        target = "-" if name == "python -c pass" else f"< {HELP_TARGET_S} s"
        met = "" if name == "python -c pass" else (
            " yes" if each["median_s"] < HELP_TARGET_S else " NO")
        rows_out.append((name, target, f"{each['median_s']:.3f} s{met}"))
    print(f"{writes['cli']['rows']:,} rows, {writes['cli']['bytes'] / 1e6:.1f} MB, "
          f"sha256 {writes['cli']['sha256'][:16]}...; median of {args.runs} "
          f"(--help: {args.help_runs}) new processes")
    print(f"{'figure':42} {'target':18} measured")
    print("-" * 90)
    for name, target, measured in rows_out:
        print(f"{name:42} {target:18} {measured}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written {args.json}")
    return 0 if all(result["met"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""``flightdeck --help`` answers from the standard library alone: the heavy layers
(pandas, SQLAlchemy, DuckDB, plotly, Dash) are imported by the commands that use them,
so the command line starts at once (the speed issue's 0.15 s; timed in bench/). And
``flightdeck kpis`` imports what the KPI table needs, not the layers it does not use
(timed against one DuckDB query writing the same CSV: bench/bench_cli.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

HEAVY = ("pandas", "sqlalchemy", "duckdb", "plotly", "dash", "numpy", "flask", "celery",
         "kombu", "redis")
PROBE = """
import contextlib, io, sys
from kpis.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        main({args!r})
    except SystemExit:
        pass
assert out.getvalue().startswith("usage: flightdeck"), out.getvalue()[:200]
print(" ".join(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


@pytest.mark.slow  # a fresh interpreter per case
@pytest.mark.parametrize("args", [["--help"], ["export", "--help"], ["subscriptions", "--help"],
                                  ["worker", "--help"], ["kpis", "--help"]])
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"{args} imported {result.stdout.strip()}"


# Not needed to write the KPI table as CSV: the solver's matrices (disclosure control
# only), the service's users and audit store and loaders, workbooks, charts; nor, for
# a DuckDB file, the store (SQLAlchemy, duckdb_engine: kpis.storage.duckdb_reader
# reads it with duckdb alone).
NOT_FOR_KPIS = ("scipy", "highspy", "kpis.service", "kpis.storage.security", "kpis.ingest",
                "openpyxl", "plotly", "kaleido", "dash", "flask", "sqlalchemy",
                "duckdb_engine", "kpis.storage.backend", "kpis.storage.schema",
                # the chart renderer (asyncio) and the catalogue file's parser: the table
                # needs neither (its cells' rule is kpis.exports.cells)
                "kpis.exports.render", "asyncio", "yaml")
KPIS_PROBE = """
import sys
from kpis.cli import main
assert main({args!r}) == 0
print(" ".join(sorted(m for m in {avoided!r} if m in sys.modules)))
"""


@pytest.mark.slow  # a fresh interpreter computing every KPI
def test_kpis_as_csv_imports_only_what_the_table_needs(demo_db_readonly: Path,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "kpis.csv"
    args = ["kpis", "--db", str(demo_db_readonly), "--kpi", "suspect_contact_30d",
            "--out", str(out)]
    result = subprocess.run(
        [sys.executable, "-c", KPIS_PROBE.format(args=args, avoided=NOT_FOR_KPIS)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"kpis imported {result.stdout.strip()}"
    assert out.read_text(encoding="utf-8").startswith("kpi,force,period_start,")


# The command's handler, in place of cmd_kpis: what its arguments' parsing imported.
PARSED_PROBE = """
import sys
import kpis.cli as cli
summary, _, options = cli.COMMANDS["kpis"]
def handler(args):
    print(" ".join(sorted(m for m in {heavy!r} if m in sys.modules)))
    return 0
cli.COMMANDS["kpis"] = (summary, handler, options)
assert cli.main({args!r}) == 0
"""


@pytest.mark.slow  # a fresh interpreter
def test_kpis_arguments_are_parsed_before_anything_heavy_is_imported(tmp_path: Path) -> None:
    # cmd_kpis forks its audit child first (kpis.background_audit), and the child only
    # runs beside the engine's imports if parsing (the --baseline, --from and --to
    # converters) has not made this process import them already.
    args = ["kpis", "--db", str(tmp_path / "x.duckdb"), "--baseline", "first:20",
            "--from", "2024-04", "--to", "2025-03", "--kpi", "a", "--force", "kent",
            "--out", str(tmp_path / "x.csv")]
    result = subprocess.run(
        [sys.executable, "-c", PARSED_PROBE.format(args=args, heavy=HEAVY)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"parsing imported {result.stdout.strip()}"


# Whether the cyclic garbage collector is still on once a command has run: as a process
# of its own (argv None: the console script) or called in a process (argv given).
GC_PROBE = """
import gc, sys
import kpis.cli as cli
summary, _, options = cli.COMMANDS[{command!r}]
def handler(args):
    print(gc.isenabled())
    return 0
cli.COMMANDS[{command!r}] = (summary, handler, options)
sys.argv = ["flightdeck", *{args!r}]
assert cli.main({argv}) == 0
"""


@pytest.mark.slow  # a fresh interpreter per case
@pytest.mark.parametrize(("command", "own_process", "collecting"), [
    ("kpis", True, "False"),  # a short process of its own: no collections (kpis.cli)
    ("kpis", False, "True"),  # called in a process (a test, a caller): left as it was
    ("serve", True, "True"),  # long-running: always collected
])
def test_only_the_one_shot_kpis_process_runs_without_garbage_collection(
        tmp_path: Path, command: str, own_process: bool, collecting: str) -> None:
    args = [command, "--db", str(tmp_path / "x.duckdb")]
    probe = GC_PROBE.format(command=command, args=args,
                            argv="None" if own_process else repr(args))
    result = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == collecting

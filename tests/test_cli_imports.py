"""``flightdeck --help`` answers from the standard library alone: the heavy layers
(pandas, SQLAlchemy, DuckDB, plotly, Dash) are imported by the commands that use them,
so the command line starts at once (the speed issue's 0.15 s; timed in bench/)."""

from __future__ import annotations

import subprocess
import sys

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
                                  ["worker", "--help"]])
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"{args} imported {result.stdout.strip()}"

"""The import contract holds, and breaks on an upward import (so it cannot pass vacuously)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def run_contracts(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / ".importlinter"),
                           "--no-cache"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    for name in ("kpis", "layouts", "web"):
        shutil.copytree(PROJECT_ROOT / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT_ROOT / "app.py", tmp_path)
    shutil.copy(PROJECT_ROOT / ".importlinter", tmp_path)
    return tmp_path


def test_the_project_keeps_its_contracts(tree_copy: Path) -> None:
    result = run_contracts(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


@pytest.mark.parametrize(("module", "line", "contract"), [
    # The engine reaching up into storage (the layering inside kpis).
    ("kpis/engine/spc.py", "import kpis.storage.schema", "kpis is layered"),
    # The domain importing Dash.
    ("kpis/domain/periods.py", "import dash", "kpis never imports Dash or Flask"),
    # A web helper importing a page.
    ("web/ids.py", "import layouts.kpi", "Pages use the web helpers"),
])
def test_an_upward_import_breaks_the_build(tree_copy: Path, module: str, line: str,
                                           contract: str) -> None:
    target = tree_copy / module
    target.write_text(target.read_text() + f"\n{line}  # an upward import\n")
    result = run_contracts(tree_copy)
    assert result.returncode != 0
    assert f"{contract}" in result.stdout and "BROKEN" in result.stdout, result.stdout

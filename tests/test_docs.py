"""The README documents every published KPI and every CLI command and option."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from kpis.cli import build_parser
from kpis.domain.catalogue import read_catalogue
from kpis.settings import CATALOGUE_FILE, PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def cli_commands() -> list[tuple[str, argparse.ArgumentParser]]:
    parser = build_parser()
    found = []
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        for name, sub in action.choices.items():
            found.append((name, sub))
            nested = sub._subparsers._group_actions if sub._subparsers else []
            for group in nested:
                for child, subsub in group.choices.items():
                    found.append((f"{name} {child}", subsub))
    return found


@pytest.mark.parametrize("kpi", read_catalogue(CATALOGUE_FILE).published(),
                         ids=lambda k: k.kpi_id)
def test_every_published_kpi_is_documented_in_the_readme(kpi) -> None:
    assert f"`{kpi.kpi_id}`" in README
    assert kpi.title in README


@pytest.mark.parametrize(("command", "parser"), cli_commands(), ids=lambda x: str(x)[:30])
def test_every_cli_command_and_option_is_documented_in_the_readme(
    command: str, parser: argparse.ArgumentParser
) -> None:
    assert f"flightdeck {command}" in README
    for action in parser._actions:
        for option in action.option_strings:
            if option in ("-h", "--help"):
                continue
            assert option in README, f"{command}: {option}"


def test_readme_gives_the_run_and_test_commands_that_ci_uses() -> None:
    assert "scripts/run" in README
    assert "scripts/test" in README
    ci = (PROJECT_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "scripts/test" in ci


def test_readme_images_exist() -> None:
    for line in README.splitlines():
        if "](docs/" in line:
            target = line.split("](", 1)[1].split(")", 1)[0]
            assert (PROJECT_ROOT / target).exists(), target


def test_catalogue_path_in_readme_is_the_real_one() -> None:
    assert str(CATALOGUE_FILE.relative_to(PROJECT_ROOT)) in README
    assert Path(PROJECT_ROOT / "data" / "forces.csv").exists()

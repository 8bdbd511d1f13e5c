"""What the reference-data loaders share: the forces a file may name, the file checks
made before a byte is parsed, and the one write path they publish through.

Two kinds of reference data are loaded by an administrator, each from one file:
NOM adoption months (``kpis.ingest.adoption``) and ONS mid-year population estimates
(``kpis.ingest.populations``). Both are validated inside the store's write, on its
private copy of the database, so a refused file publishes nothing: the database is
byte for byte what it was, and an accepted one publishes a new data version (every
cache keyed by it is dropped).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import sqlalchemy as sa

from kpis.ingest.problems import LoadRefused, Report
from kpis.storage import schema
from kpis.storage.backend import open_store
from kpis.storage.database import initialise, is_initialised
from kpis.storage.reference import normalise_name

# Beyond this many cells breaking one rule in one column, the rest are counted, not listed.
MAX_FINDINGS_PER_RULE = 100
# An ONS area code: a letter and eight digits (E23000032 is Kent's police force area).
ONS_CODE = re.compile(r"^[EWKSN]\d{8}$")
# Police force areas: E23 in England, W15 in Wales.
PFA_CODE = re.compile(r"^(E23|W15)\d{6}$")

Result = TypeVar("Result")


@dataclass(frozen=True)
class ForceRegister:
    """The territorial forces as the database holds them, and how a file may name them."""

    names: dict[str, str]  # slug -> name, in name order
    aliases: dict[str, str]  # normalised name or slug -> slug
    codes: dict[str, str]  # ONS police force area code -> slug
    populations: dict[str, int]  # slug -> the shipped approximate population

    @classmethod
    def read(cls, conn: sa.Connection) -> ForceRegister:
        forces = schema.forces.c
        rows = conn.execute(
            sa.select(forces.slug, forces.name, forces.ons_code, forces.population)
            .where(forces.kind == "force").order_by(forces.name)
        ).all()
        slugs = {str(r.slug) for r in rows}
        aliases = {
            str(alias): str(slug) for alias, slug in conn.execute(
                sa.select(schema.force_aliases.c.alias, schema.force_aliases.c.slug))
            if slug in slugs
        }
        return cls(
            names={str(r.slug): str(r.name) for r in rows},
            aliases=aliases,
            codes={str(r.ons_code).upper(): str(r.slug) for r in rows if r.ons_code},
            populations={str(r.slug): int(r.population) for r in rows},
        )

    def by_name(self, text: str) -> str | None:
        """The force a slug or name (any known spelling) stands for, or None."""
        return self.aliases.get(normalise_name(text))

    def by_code(self, text: str) -> str | None:
        return self.codes.get(text.strip().upper())

    def by_slug_name_or_code(self, text: str) -> str | None:
        """A cell that may hold a slug, a name or an ONS code."""
        stripped = text.strip()
        if ONS_CODE.match(stripped.upper()):
            return self.by_code(stripped)
        return self.by_name(stripped)


def check_file(path: Path, report: Report, max_bytes: int, suffixes: tuple[str, ...],
               kind: str) -> bool:
    """Before reading: the file exists, has a known type and is not too large."""
    name = path.name
    if not path.is_file():
        report.error(name, None, None, str(path), "file not found")
        return False
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        report.error(name, None, None, suffix or "(none)",
                     f"unsupported file type for {kind}: use {' or '.join(suffixes)}")
        return False
    size = path.stat().st_size
    if size > max_bytes:
        report.error(name, None, None, f"{size:,} bytes",
                     f"too large: a file of {kind} may be at most {max_bytes:,} bytes")
        return False
    return True


def errors_for(report: Report, file: str, rows: np.ndarray, column: str,
               values: np.ndarray, rule: str) -> None:
    """One error per listed cell; past a limit, a count of the rest."""
    for row, value in zip(rows[:MAX_FINDINGS_PER_RULE], values[:MAX_FINDINGS_PER_RULE],
                          strict=True):
        report.error(file, int(row), column, value, rule)
    if len(rows) > MAX_FINDINGS_PER_RULE:
        report.error(file, None, column, None,
                     f"{len(rows) - MAX_FINDINGS_PER_RULE} more row(s) from row "
                     f"{int(rows[MAX_FINDINGS_PER_RULE])} on: {rule}")


def write_if_valid(
    db_path: Path, validate: Callable[[sa.Connection, ForceRegister], tuple[Report, Result]],
    write: Callable[[sa.Connection, Result], None],
) -> tuple[Report, Result]:
    """Validate against the database and write, in one write of the store: all or nothing.

    Raises LoadRefused (nothing published) when ``validate`` reports an error.
    """
    with open_store(db_path) as store, store.write() as conn:
        if not is_initialised(conn):
            initialise(conn)
        report, parsed = validate(conn, ForceRegister.read(conn))
        if report.errors:
            raise LoadRefused(report)
        write(conn, parsed)
    return report, parsed

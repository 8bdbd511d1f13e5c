"""Where things live: the project's data folder and the DuckDB file.

The database path is, in order of precedence: an explicit path (the CLI's ``--db``),
the ``FLIGHTDECK_DB`` environment variable, then ``data/flightdeck.duckdb``.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_DB_PATH = DATA_DIR / "flightdeck.duckdb"
FORCES_CSV = DATA_DIR / "forces.csv"
CATALOGUE_FILE = DATA_DIR / "catalogue.yaml"
DB_ENV_VAR = "FLIGHTDECK_DB"

NATIONAL_SLUG = "england-and-wales"
NATIONAL_NAME = "England and Wales"


def resolve_db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The DuckDB file to use: ``explicit`` if given, else $FLIGHTDECK_DB, else the default."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    from_env = os.environ.get(DB_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser().resolve()
    return DEFAULT_DB_PATH

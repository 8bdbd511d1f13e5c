"""The whole catalogue's KPI CSV kept in the DuckDB file, for ``flightdeck kpis``.

An analyst's usual export is every published KPI for every area and month. Computed
in a new process, that file costs the imports of numpy and pandas, the read of the
dataset and the engine before DuckDB writes a byte: some 1.7 times one DuckDB COPY of
the same text (bench/bench_cli.py). So each operation that changes what the table
holds (a load or rollback, the catalogue, a definition, reference data, the
demonstration build) also keeps the table's text in the file it publishes, and the
command, asked for that table, copies it out with one COPY and no pandas.

What is kept, in two tables the store's schema does not declare (``derived_`` tables
are rebuildable: an upgrade drops them, a copy to another store leaves them behind):

- ``derived_kpi_csv``: every column VARCHAR, each cell the very text of the CSV. It is
  made by writing the CSV with the engine's own writer (``kpis.exports.kpi_csv.
  prepare_csv``, as the command writes it) and reading that file back as text, so a
  COPY of it is byte for byte the file the command would compute
  (tests/test_stored_kpi_csv.py).
- ``derived_kpi_csv_meta``: one row: the key, the default protective marking and the
  disclosure decision that table was written with, the SPC baseline, the rows.

The key is the file's ``data_version`` (every write of data, definitions or reference
data bumps it; commentary does not, and the table holds none) with a fingerprint of
the code and libraries that computed it (:func:`code_fingerprint`). Anything that does
not match (a write since that kept no table, another release of the code, numpy or
pandas, a table from before this module) and the command computes the table as it
always has: the stored table can be missing or stale, never wrong. It is kept for
DuckDB files only; on PostgreSQL the command computes.

A refresh is a write of its own through the one write path (the lock, a private copy,
the atomic rename): it reads the dataset from that copy, so the table and the
``data_version`` it is keyed by come from the same version of the data. It bumps no
data version. A refresh that cannot be made (a file at another schema, a process
whose code is older than the files on disk) is skipped and logged; it never fails the
write it follows, which is already published.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import logging
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import kpis
from kpis.domain.baseline import Baseline
from kpis.exports.csv_files import PartFiles, append_part, copy_options, open_in_place, sql_literal
from kpis.settings import Location, is_database_url
from kpis.storage.keys import DATA_VERSION_KEY, DERIVED_PREFIX
from kpis.storage.publication import private_copy

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "TABLE",
    "StoredCsv",
    "code_fingerprint",
    "open_stored_csv",
    "refresh_stored_csv",
]

log = logging.getLogger(__name__)

TABLE = f"{DERIVED_PREFIX}kpi_csv"
META_TABLE = f"{DERIVED_PREFIX}kpi_csv_meta"
#: The libraries whose release changes the figures or their text.
LIBRARIES = ("numpy", "pandas", "scipy", "duckdb")
_PACKAGE = Path(kpis.__file__).resolve().parent
_fingerprint: str | None = None


def _sources() -> list[Path]:
    return sorted(_PACKAGE.rglob("*.py"))


def code_fingerprint() -> str:
    """A digest of the code that computes the table: each of the package's source files
    (path, size, modification time), Python's version and each library's package file
    (:data:`LIBRARIES`). Stat calls, no reading: a new process asks for it (some 1 ms).
    A changed file, a new clone or a reinstalled library gives another fingerprint."""
    global _fingerprint
    if _fingerprint is None:
        digest = hashlib.blake2b(digest_size=16)
        digest.update(sys.version.encode())
        for path in _sources():
            stat = path.stat()
            digest.update(f"\n{path.relative_to(_PACKAGE).as_posix()}\0{stat.st_size}\0"
                          f"{stat.st_mtime_ns}".encode())
        for name in LIBRARIES:
            spec = importlib.util.find_spec(name)
            origin = spec.origin if spec is not None else None
            if origin is None or not os.path.exists(origin):
                digest.update(f"\n{name}: missing".encode())
                continue
            stat = os.stat(origin)
            digest.update(f"\n{name}\0{origin}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
        _fingerprint = digest.hexdigest()
    return _fingerprint


def _key(data_version: str) -> str:
    return f"{data_version}|{code_fingerprint()}"


def _code_changed_since_loaded() -> Path | None:
    """A source file of the package modified after this process imported it (the
    process then runs older code than the fingerprint would describe), or None."""
    return next((path for path in _sources() if path.stat().st_mtime > kpis.LOADED_AT), None)


# ------------------------------------------------------------------------- refresh


def refresh_stored_csv(db: Location) -> bool:
    """Keep the whole catalogue's CSV in the DuckDB file at ``db`` for its current data
    (see the module's docstring). Returns whether it was kept; a failure is logged,
    never raised: the write it follows is published already."""
    if is_database_url(db):
        return False  # PostgreSQL: the command computes
    path = Path(db)
    if not path.exists():
        return False
    changed = _code_changed_since_loaded()
    if changed is not None:
        log.warning("the KPI CSV was not kept in %s: %s changed after this process "
                    "started (restart it)", path, changed)
        return False
    try:
        return _refresh(path)
    except Exception:
        log.exception("the KPI CSV could not be kept in %s; flightdeck kpis will compute "
                      "it", path)
        return False


class _NotKept(Exception):
    """Nothing to keep: the private copy is thrown away."""


def _refresh(path: Path) -> bool:
    import duckdb

    from kpis.engine.disclosure import default_marking, open_data_only, suppression_required
    from kpis.engine.kpi_spc import DEFAULT_BASELINE
    from kpis.exports.kpi_csv import prepare_csv
    from kpis.storage.duckdb_reader import read_dataset_from

    try:
        with private_copy(path) as staging, PartFiles() as parts:
            con = duckdb.connect(os.fspath(staging.path))
            try:
                dataset = read_dataset_from(con)
                if dataset is None or not dataset.kpis:
                    raise _NotKept  # another schema version, or no KPI yet
                # As flightdeck kpis decides them with no --kpi, --marking or --suppress.
                chosen = list(dataset.kpis.values())
                marking = default_marking(dataset.catalogue, chosen)
                suppress = suppression_required(
                    marking, False, open_data=open_data_only(dataset.catalogue, chosen))
                part = parts.new(0)
                prepare_csv(dataset, None, None, None, None, suppress,
                            baseline=DEFAULT_BASELINE, marking=marking).write(part.path)
                header = os.pread(part.fd, 1 << 16, 0).split(b"\n", 1)[0].decode("utf-8")
                columns = {name: "VARCHAR" for name in header.split(",")}
                con.execute(f"CREATE OR REPLACE TABLE {TABLE} AS SELECT * FROM read_csv(?, "
                            "header = true, all_varchar = true, delim = ',', quote = '\"', "
                            "escape = '\"', auto_detect = false, columns = ?)",
                            [part.path, columns])
                rows = con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
                con.execute(f"CREATE OR REPLACE TABLE {META_TABLE} (key VARCHAR, "
                            "marking VARCHAR, suppress BOOLEAN, baseline VARCHAR, "
                            "rows BIGINT, made_at TIMESTAMP)")
                con.execute(f"INSERT INTO {META_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
                            [_key(dataset.data_version), marking, suppress,
                             str(DEFAULT_BASELINE), rows,
                             dt.datetime.now().replace(microsecond=0)])
            finally:
                con.close()  # before the copy is published: a clean close checkpoints
    except _NotKept:
        return False
    return True


# --------------------------------------------------------------------------- read


class StoredCsv:
    """The kept table of a DuckDB file, current for its data and this code: what it was
    written with (``marking``, ``suppress``) and :meth:`write`. Holds a read-only
    connection, so the table is that of the version the key was checked against."""

    def __init__(self, con: Any, marking: str, suppress: bool, rows: int) -> None:
        self._con = con
        self.marking, self.suppress, self.rows = marking, suppress, rows

    def write(self, out: str | os.PathLike[str],
              before_writing: Callable[[], None] | None = None) -> None:
        """Write the CSV to ``out`` as ``kpis.exports.kpi_csv.write_csv`` writes it (the
        same bytes; the file created, or truncated in place). DuckDB writes it to a
        private file first; ``before_writing`` is called then, before ``out`` is
        opened (an exception from it leaves ``out`` as it was): ``flightdeck kpis``
        waits there for its audit row."""
        with PartFiles() as parts:
            part = parts.new(0)
            self._con.execute(f"COPY {TABLE} TO {sql_literal(part.path)} "
                              f"{copy_options(header=True)}")
            if before_writing is not None:
                before_writing()
            target = open_in_place(os.path.abspath(os.fspath(out)))
            try:
                append_part(target, part)
            finally:
                os.close(target)

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> StoredCsv:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def open_stored_csv(db: Location, baseline: Baseline) -> StoredCsv | None:
    """The kept table of the DuckDB file at ``db`` if it is current (its key matches
    the file's data version and this code) and was computed with ``baseline``; else
    None, and the caller computes the table. Imports DuckDB only."""
    if is_database_url(db):
        return None
    import duckdb

    try:
        con = duckdb.connect(os.fspath(db), read_only=True)
    except duckdb.Error:
        return None
    try:
        kept = con.execute(f"SELECT key, marking, suppress, baseline, rows FROM {META_TABLE}"
                           ).fetchone()
        version = con.execute("SELECT value FROM meta WHERE key = ?",
                              [DATA_VERSION_KEY]).fetchone()
    except duckdb.Error:  # no kept table (or no meta): compute
        con.close()
        return None
    if (kept is None or version is None or kept[0] != _key(version[0])
            or kept[3] != str(baseline)):
        con.close()
        return None
    return StoredCsv(con, marking=kept[1], suppress=bool(kept[2]), rows=int(kept[4]))

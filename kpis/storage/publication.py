"""How a write to a DuckDB file is published: the one write path's protocol, on files.

A writer takes the advisory lock beside the file (one writer at a time, across
processes), clears any staging copy a killed writer left, and works on a private copy
of the file (:func:`private_copy`). Only once it has committed and closed every
connection to that copy is the copy synced and swapped in by an atomic rename; if
anything fails the copy is removed and the published file is exactly as it was.

It is a module of its own, with no SQLAlchemy, because two writers share it: the
store's write path (``kpis.storage.duckdb_file.write_transaction``: any change, in
SQLAlchemy Core) and the audit row a one-shot command appends with DuckDB alone
(``kpis.storage.audit_append``: SQLAlchemy's import is some 0.4 s of CPU a command
such as ``flightdeck kpis`` would otherwise spend on one row, bench/bench_cli.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kpis.storage.errors import StoreError

__all__ = ["Staging", "WriteError", "exclusive_lock", "file_lock", "private_copy",
           "remove_database_files"]


class WriteError(StoreError):
    """A write could not be published."""


@dataclass
class Staging:
    """The private copy a writer works on. ``path`` may be replaced by another private
    file the writer made from it (an upgrade's rebuilt file), which is then what gets
    published; ``existed``: whether there was a published file to copy."""

    path: Path
    existed: bool


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def file_lock(lock_path: Path) -> Iterator[None]:
    """Hold an advisory lock on the file at ``lock_path`` (created if missing): one
    holder at a time across processes; the others wait."""
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def exclusive_lock(path: Path) -> contextlib.AbstractContextManager[None]:
    """Serialise writers across processes with an advisory lock beside the database."""
    return file_lock(path.with_name(path.name + ".lock"))


def remove_database_files(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + ".wal")):
        candidate.unlink(missing_ok=True)


@contextlib.contextmanager
def private_copy(path: Path) -> Iterator[Staging]:
    """Yield the private copy of the file at ``path`` (none yet if there is no file:
    the writer creates it), holding the writers' lock; publish it when the block ends
    without an exception, every connection to it closed. An exception (the block's, or
    a failure to publish) removes the copy and leaves the published file as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(path):
        # Holding the lock, any staging copy left behind is a killed writer's: remove it.
        for stale in path.parent.glob(f".{path.name}.staging-*"):
            stale.unlink(missing_ok=True)
        staging = Staging(path.with_name(f".{path.name}.staging-{os.getpid()}"),
                          path.exists())
        try:
            if staging.existed:
                shutil.copyfile(path, staging.path)
            yield staging
            # A clean close checkpoints the write-ahead log into the file itself.
            if staging.path.with_name(staging.path.name + ".wal").exists():
                raise WriteError(f"DuckDB left a write-ahead log beside {staging.path}")
            fsync_path(staging.path)
            os.replace(staging.path, path)
            fsync_path(path.parent)
        except BaseException:
            remove_database_files(staging.path)
            raise

"""What the CSV writers that go through DuckDB share, with no pandas: COPY's options,
SQL quoting, private part files appended to the target by the kernel.

Two writers use them: the engine's pipelined writer (``kpis.exports.kpi_csv``: chunks
of the KPI table written by DuckDB on threads, appended in order) and the copy of the
whole catalogue's table kept in the database (``kpis.exports.stored_kpi_csv``), which
``flightdeck kpis`` writes without importing pandas at all (bench/bench_cli.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile

__all__ = ["Part", "PartFiles", "append_part", "copy_options", "open_in_place",
           "sql_identifier", "sql_literal"]


def copy_options(header: bool) -> str:
    """DuckDB COPY's options for the flight deck's CSV (kpis.exports.kpi_csv.write_csv
    says what the file looks like)."""
    return (f"(FORMAT csv, HEADER {'true' if header else 'false'}, DELIMITER ',', "
            "QUOTE '\"', ESCAPE '\"', NULLSTR '', NEW_LINE '\\n', COMPRESSION 'none', "
            "USE_TMP_FILE false)")


def sql_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def open_in_place(path: str | os.PathLike[str]) -> int:
    """The file at ``path`` opened for writing as ``open(path, "w")`` opens it: created,
    or truncated in place (through a symbolic link, an existing file's permissions
    kept)."""
    return os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)


class Part:
    """One private file: ``path`` for DuckDB to write, ``fd`` open on it."""

    def __init__(self, path: str, fd: int, on_disk: bool) -> None:
        self.path, self.fd, self._on_disk = path, fd, on_disk

    def remove(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            if self._on_disk:
                os.unlink(self.path)


def memory_files() -> bool:
    """Whether this system has files in memory that DuckDB can open by a path."""
    return hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd")


class PartFiles:
    """Private files, removed at the end whatever happened: in memory where the system
    has them (``memfd_create``, DuckDB writing through ``/proc/self/fd``), else in a
    private temporary folder. In memory, because removing the folder cost ``flightdeck
    kpis`` some 0.02 s (its ``rmdir``, after the chunks' ``unlink``: bench/bench_cli.py),
    all of it after the last chunk was written."""

    def __init__(self) -> None:
        self._in_memory = memory_files()
        self._folder: str | None = None
        self._parts: list[Part] = []

    def __enter__(self) -> PartFiles:
        return self

    def new(self, index: int) -> Part:
        if self._in_memory:
            fd = os.memfd_create(f"flightdeck-csv-{index}")  # close-on-exec
            part = Part(f"/proc/self/fd/{fd}", fd, on_disk=False)
        else:
            if self._folder is None:
                self._folder = tempfile.mkdtemp(prefix="flightdeck-csv-")
            path = os.path.join(self._folder, f"{index}.csv")
            part = Part(path, os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600),
                        on_disk=True)
        self._parts.append(part)
        return part

    def __exit__(self, *_: object) -> None:
        for part in self._parts:
            part.remove()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)


def append_part(out: int, part: Part) -> None:
    """Append the private file ``part`` (as DuckDB wrote it) to the open file ``out`` in
    the kernel (no copy through Python, the GIL released), then remove it."""
    size = os.fstat(part.fd).st_size
    sent = 0
    while sent < size:
        step = os.sendfile(out, part.fd, sent, size - sent)
        if not step:
            raise OSError(f"could not append {part.path} to the CSV file")
        sent += step
    part.remove()

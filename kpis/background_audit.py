"""An audit row written by a child process while a one-shot command works.

``flightdeck kpis`` sends data out, so it is audited as the other exports are. But
the row costs more than the command's own work around it: SQLAlchemy's import and,
on a DuckDB users file, the publication of a new copy of that file (some 0.4 s,
against the 0.87 s the whole catalogue took without it: bench/bench_cli.py). Written
by a child forked at the command's start, it costs the command the other core's time
instead, while the command itself is importing and reading on one: some 0.14 s.

The child prepares at once (imports, the store), then waits: it writes the row only
when the command confirms that the export is going ahead (:meth:`confirm`, once the
question has been checked), and nothing if the command ends first (an unknown KPI:
nothing was sent). :meth:`finish` waits for it; a row that could not be written is a
failure of the command, and the command sends nothing. Where ``os.fork`` is missing,
the row is written in the command's own process at :meth:`finish`.

Fork first, then open anything: the child is forked before this process imports
DuckDB or starts a thread (DuckDB must not be open across a fork); in a process that
already has (a test calling the command in its own process), the row is written in
that process, at :meth:`finish`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import traceback

from kpis.settings import Location, resolve_security_db_path

__all__ = ["BackgroundAudit"]

# The confirmed detail's most bytes (the log keeps 1,000 characters of it).
_MOST = 8192


def _record(db: Location, event: str, username: str, detail: str) -> None:
    from kpis.storage.audit_append import record_when_told

    record_when_told(resolve_security_db_path(db), event, username, lambda: detail)


class BackgroundAudit:
    """One audit event for a command, written by a child process (see the module)."""

    def __init__(self, db: Location, event: str, username: str) -> None:
        self._db, self._event, self._username = db, event, username
        self._detail: str | None = None
        self._pid: int | None = None
        self._pipe: int | None = None
        self._result: bool | None = None
        # A fork copies one thread: with others running (a test's servers, DuckDB's own
        # workers once a database is open), one of them may hold a lock the child would
        # then wait on for ever. Then: no child.
        if hasattr(os, "fork") and threading.active_count() == 1 and (
                "duckdb" not in sys.modules):
            read, write = os.pipe()
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:  # the child: never returns
                os.close(write)
                self._child(read)
            os.close(read)
            self._pid, self._pipe = pid, write

    def _child(self, pipe: int) -> None:
        code = 1
        try:
            # DuckDB alone where it can (kpis.storage.audit_append: why), else the store.
            from kpis.storage.audit_append import record_when_told

            def detail() -> str | None:  # the command's confirmation; EOF first: none
                chunks = []
                while chunk := os.read(pipe, _MOST):
                    chunks.append(chunk)
                return b"".join(chunks).decode("utf-8", errors="replace") or None

            record_when_told(resolve_security_db_path(self._db), self._event,
                             self._username, detail)
            code = 0
        except BaseException:  # reported, and the exit status says so
            print("error: the audit row for this export could not be written:",
                  file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
        finally:
            os._exit(code)

    def confirm(self, detail: str) -> None:
        """The export is going ahead: the row, with ``detail``, is to be written."""
        self._detail = detail or "(no detail)"
        if self._pipe is not None:
            # A broken pipe: the child has failed already, and finish() says so.
            with contextlib.suppress(BrokenPipeError):
                os.write(self._pipe, self._detail.encode("utf-8")[:_MOST])
            os.close(self._pipe)
            self._pipe = None

    def finish(self) -> bool:
        """Wait for the row (if confirmed): whether it was written, or not wanted. The
        first call waits; later ones give the same answer."""
        if self._result is None:
            self._result = self._wait()
        return self._result

    def _wait(self) -> bool:
        if self._pid is None:
            if self._detail is None:
                return True
            try:
                _record(self._db, self._event, self._username, self._detail)
            except Exception:  # reported, and the result says so
                traceback.print_exc(file=sys.stderr)
                return False
            return True
        if self._pipe is not None:  # never confirmed: the child writes nothing
            os.close(self._pipe)
            self._pipe = None
        _, status = os.waitpid(self._pid, 0)
        return os.waitstatus_to_exitcode(status) == 0

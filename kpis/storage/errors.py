"""The storage layer's base error, in a module of its own so that the command line can
catch it without importing the store (SQLAlchemy and pandas: some 0.2 s of a command
such as ``flightdeck kpis`` that may never open a store, bench/bench_cli.py).
``kpis.storage.backend`` re-exports it, and its subclasses live there."""

from __future__ import annotations

__all__ = ["StoreError"]


class StoreError(RuntimeError):
    """The database could not be opened, read or written as asked (the message says why)."""

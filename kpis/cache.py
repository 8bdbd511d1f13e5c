"""The one cache design: a thread-safe LRU keyed by data version, scope and a key.

Every cache in the project (KPI tables, scoped datasets, rankings and funnels, page
responses, return coverage) is a :class:`VersionedCache`. An entry is found only under
the data version and the scope it was computed for, so a new load or another person's
scope can never be served a stale or wider answer, and entries of superseded versions
are dropped as soon as a newer version is asked for.

A cache holds at most ``maxsize`` entries and, given ``maxbytes``, at most that many
bytes as ``sizeof`` weighs them (:func:`approximate_size`: exact for bytes and NumPy
arrays, close for pandas frames): the least recently used go first, and an entry
larger than the whole budget is computed but not kept (unless ``keep`` says to keep
the most recent few whatever their size). Bound a cache of big values
(tables, serialised responses) by bytes, so its memory is flat however many forces,
periods or people are served.

Values are computed outside the lock: two threads missing at once both compute (the
results are equal), and no thread waits on another's computation.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")

#: The scope of a person who may see every force.
ALL_FORCES = "*"

_MISSING: Any = object()


def approximate_size(value: object) -> int:
    """The bytes ``value`` holds, roughly and quickly: exact for bytes, strings and NumPy
    arrays; pandas' own figure for its objects, text columns counted as references (the
    engine's text columns share a few label strings; counting each would take longer
    than building the table); the items' sizes for tuples and lists of these;
    ``sys.getsizeof`` for anything else."""
    if isinstance(value, bytes | bytearray | memoryview):
        return len(value)
    if isinstance(value, str):
        return sys.getsizeof(value)
    arrays = _column_arrays(value)
    if arrays is not None:  # a pandas DataFrame or Series: what memory_usage() adds up
        return int(value.index.nbytes) + sum(int(array.nbytes) for array in arrays)
    usage = getattr(value, "memory_usage", None)
    if callable(usage):  # pandas Index (or a frame whose columns are not at hand)
        total = usage()
        return int(total.sum() if hasattr(total, "sum") else total)
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):  # NumPy arrays
        return nbytes
    if isinstance(value, tuple | list):
        return sys.getsizeof(value) + sum(approximate_size(item) for item in value)
    return sys.getsizeof(value)


def _column_arrays(value: object) -> list[Any] | None:
    """A pandas DataFrame's or Series' column arrays, from its block manager, else None.

    ``DataFrame.memory_usage()`` makes a Series of every column to ask each its size:
    some 1.5 ms for a 44-column KPI table, against 0.02 ms to add up the arrays' own
    ``nbytes``, the same figure (tests/test_cache.py checks the two agree). The first
    view of a pillar page keeps nine such tables (bench/bench_app.py). The manager is
    not public API: anything else than a list of arrays there, and memory_usage() it is.
    """
    manager = getattr(value, "_mgr", None)
    arrays = getattr(manager, "arrays", None)
    if not isinstance(arrays, list) or not hasattr(value, "index"):
        return None
    if not all(isinstance(getattr(array, "nbytes", None), int) for array in arrays):
        return None
    return arrays


class VersionedCache(Generic[V]):
    """``get(version, scope, key, compute)``: the cached value, or ``compute()``'s.

    ``peek`` and ``put`` are the two halves of ``get``, for a caller that decides only
    after computing whether the value may be kept (a response that set a cookie)."""

    def __init__(self, maxsize: int, maxbytes: int | None = None,
                 sizeof: Callable[[Any], int] = approximate_size, keep: int = 0) -> None:
        """``keep``: the most recent entries kept whatever the byte budget says (for a
        cache whose misses cost far more than its memory: scoped datasets)."""
        if maxsize < 1:
            raise ValueError("a cache holds at least one entry")
        if maxbytes is not None and maxbytes < 1:
            raise ValueError("a cache's byte budget must be positive")
        self.maxsize = maxsize
        self.maxbytes = maxbytes
        self.keep = keep
        self._sizeof = sizeof
        self._entries: OrderedDict[tuple[Hashable, Hashable, Hashable], tuple[V, int]] = (
            OrderedDict())
        self._bytes = 0
        self._version: Hashable = None
        self._lock = threading.Lock()

    def get(self, version: Hashable, scope: Hashable, key: Hashable,
            compute: Callable[[], V]) -> V:
        found = self.peek(version, scope, key, _MISSING)
        if found is not _MISSING:
            return found
        value = compute()
        self.put(version, scope, key, value)
        return value

    def peek(self, version: Hashable, scope: Hashable, key: Hashable,
             default: Any = None) -> Any:
        """The value kept under (version, scope, key), or ``default``. Asking for a
        newer version drops every entry of older ones."""
        full = (version, scope, key)
        with self._lock:
            self._advance(version)
            entry = self._entries.get(full)
            if entry is None:
                return default
            self._entries.move_to_end(full)
            return entry[0]

    def put(self, version: Hashable, scope: Hashable, key: Hashable, value: V) -> bool:
        """Keep ``value`` (True), unless a newer version has been asked for meanwhile or
        it is larger than the whole byte budget (False)."""
        size = self._sizeof(value) if self.maxbytes is not None else 0
        if self.maxbytes is not None and size > self.maxbytes and not self.keep:
            return False
        full = (version, scope, key)
        with self._lock:
            if version != self._version:
                if self._version is not None or self._entries:
                    return False  # computed for a version already superseded
                self._version = version
            old = self._entries.pop(full, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[full] = (value, size)
            self._bytes += size
            while len(self._entries) > self.maxsize or (
                    self.maxbytes is not None and self._bytes > self.maxbytes
                    and len(self._entries) > self.keep):
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped
        return True

    def _advance(self, version: Hashable) -> None:
        if version != self._version:
            # A newer version is asked for: nothing older will be wanted again.
            self._entries.clear()
            self._bytes = 0
            self._version = version

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        """The bytes held, as ``sizeof`` weighed them (0 for a cache with no budget)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

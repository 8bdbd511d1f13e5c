"""The one cache design: a thread-safe LRU keyed by data version, scope and a key.

Every cache in the project (KPI tables, scoped datasets, rankings and funnels, page
responses, return coverage) is a :class:`VersionedCache`. An entry is found only under
the data version and the scope it was computed for, so a new load or another person's
scope can never be served a stale or wider answer, and entries of superseded versions
are dropped as soon as a newer version is asked for.

Values are computed outside the lock: two threads missing at once both compute (the
results are equal), and no thread waits on another's computation.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")

#: The scope of a person who may see every force.
ALL_FORCES = "*"


class VersionedCache(Generic[V]):
    """``get(version, scope, key, compute)``: the cached value, or ``compute()``'s."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("a cache holds at least one entry")
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[Hashable, Hashable, Hashable], V] = OrderedDict()
        self._version: Hashable = None
        self._lock = threading.Lock()

    def get(self, version: Hashable, scope: Hashable, key: Hashable,
            compute: Callable[[], V]) -> V:
        full = (version, scope, key)
        with self._lock:
            if version != self._version:
                # A newer version is asked for: nothing older will be wanted again.
                self._entries.clear()
                self._version = version
            if full in self._entries:
                self._entries.move_to_end(full)
                return self._entries[full]
        value = compute()
        with self._lock:
            if version == self._version:
                self._entries[full] = value
                self._entries.move_to_end(full)
                while len(self._entries) > self.maxsize:
                    self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

"""The one cache design: entries live under their data version and scope."""

from __future__ import annotations

import threading

import pytest

from kpis.cache import VersionedCache


def test_an_entry_is_found_only_under_its_version_and_scope() -> None:
    cache: VersionedCache[int] = VersionedCache(8)
    calls: list[str] = []

    def compute(tag: str, value: int):
        return lambda: (calls.append(tag), value)[1]

    assert cache.get("v1", "kent", "k", compute("a", 1)) == 1
    assert cache.get("v1", "kent", "k", compute("b", 2)) == 1  # cached
    assert cache.get("v1", "*", "k", compute("c", 3)) == 3  # another scope
    assert calls == ["a", "c"]
    # A newer version drops everything older: no stale answer survives a load.
    assert cache.get("v2", "kent", "k", compute("d", 4)) == 4
    assert len(cache) == 1
    assert cache.get("v2", "kent", "k", compute("e", 5)) == 4


def test_least_recently_used_entries_go_first() -> None:
    cache: VersionedCache[int] = VersionedCache(2)
    cache.get(1, None, "a", lambda: 1)
    cache.get(1, None, "b", lambda: 2)
    cache.get(1, None, "a", lambda: 0)  # a is now the most recent
    cache.get(1, None, "c", lambda: 3)  # evicts b
    assert cache.get(1, None, "a", lambda: -1) == 1
    assert cache.get(1, None, "b", lambda: -2) == -2


def test_a_result_for_a_superseded_version_is_not_stored() -> None:
    cache: VersionedCache[int] = VersionedCache(4)
    started, release = threading.Event(), threading.Event()

    def slow() -> int:
        started.set()
        release.wait(5)
        return 1

    worker = threading.Thread(target=lambda: cache.get("old", None, "k", slow))
    worker.start()
    started.wait(5)
    cache.get("new", None, "k", lambda: 2)  # a load landed meanwhile
    release.set()
    worker.join(5)
    assert cache.get("new", None, "k", lambda: 3) == 2
    assert len(cache) == 1


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        VersionedCache(0)

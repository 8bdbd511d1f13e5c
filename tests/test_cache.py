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


def test_a_byte_budget_evicts_the_least_recently_used_and_keeps_no_giant() -> None:
    cache: VersionedCache[bytes] = VersionedCache(100, maxbytes=10)
    for key in "abc":
        cache.get(1, None, key, lambda: b"xxxx")  # 4 bytes each: c evicts a
    assert cache.nbytes == 8
    assert cache.peek(1, None, "a") is None
    assert cache.peek(1, None, "b") == b"xxxx"
    assert not cache.put(1, None, "big", b"x" * 11)  # larger than the whole budget
    assert cache.peek(1, None, "big") is None
    assert cache.nbytes == 8
    cache.put(1, None, "b", b"yy")  # replacing an entry counts its new size
    assert cache.nbytes == 6


def test_keep_holds_the_most_recent_entries_whatever_their_size() -> None:
    cache: VersionedCache[bytes] = VersionedCache(100, maxbytes=10, keep=2)
    for key in "abc":
        cache.put(1, None, key, b"x" * 20)
    assert len(cache) == 2
    assert cache.peek(1, None, "a") is None
    assert cache.peek(1, None, "c") is not None


def test_peek_and_put_keep_the_version_rule() -> None:
    cache: VersionedCache[int] = VersionedCache(8)
    assert cache.peek("v1", "*", "k") is None
    assert cache.put("v1", "*", "k", 1)
    assert cache.peek("v2", "*", "k") is None  # a newer version: everything older goes
    assert not cache.put("v1", "*", "k", 1)  # computed for a superseded version
    assert len(cache) == 0


def test_sizes_are_weighed_quickly_and_roughly() -> None:
    import numpy as np
    import pandas as pd

    from kpis.cache import approximate_size

    assert approximate_size(b"abc") == 3
    assert approximate_size(np.zeros(100)) == 800
    frame = pd.DataFrame({"x": np.zeros(100), "label": ["a"] * 100})
    assert 1600 <= approximate_size(frame) < 4000


def test_a_frame_weighs_what_pandas_says_it_holds_of_every_kind_of_column() -> None:
    import numpy as np
    import pandas as pd

    from kpis.cache import approximate_size

    rows = 50
    frame = pd.DataFrame({
        "value": np.linspace(0, 1, rows),  # float64: 8 bytes a row
        "count": pd.array(range(rows), dtype="Int64"),  # 8 bytes and a 1-byte mask
        "flag": np.arange(rows) % 2 == 0,  # 1 byte
        "when": pd.date_range("2024-01-01", periods=rows, freq="D"),  # 8 bytes
        "area": pd.Categorical(["kent", "durham"] * (rows // 2)),  # int8 codes
        "label": pd.array(["a"] * rows, dtype="string"),
        "other": ["b"] * rows,  # references, as memory_usage() counts them
    }, index=pd.RangeIndex(rows))
    expected = int(frame.memory_usage().sum())
    assert approximate_size(frame) == expected
    # Worked out by hand for the fixed-width columns: 50 rows of 8 + 9 + 1 + 8 + 1 bytes,
    # the two area categories' own storage and the range index's few bytes besides.
    fixed = frame[["value", "count", "flag", "when"]]
    assert approximate_size(fixed) == 50 * (8 + 9 + 1 + 8) + frame.index.nbytes
    column = frame["value"]
    assert approximate_size(column) == int(column.memory_usage()) == 400 + frame.index.nbytes
    assert approximate_size(frame.index) == frame.index.nbytes
    # On the pandas this project pins, from the column arrays (not memory_usage(), which
    # makes a Series a column: bench/bench_app.py's first views of a pillar page).
    from kpis.cache import _column_arrays

    assert _column_arrays(frame) is not None and _column_arrays(frame.index) is None

"""Rendered pages cached per data version, so a repeated view costs no recomputation.

The key is the page, its URL query, the data version (a new load, rollback or
catalogue reload changes it, which invalidates everything), who is asking (their
force scope and role), the theme and the day
(the data page's late/missing states depend on today's date). Each worker process
keeps its own small LRU; components are immutable once built, so sharing is safe.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from web.context import dataset, is_dark, principal

PAGE_CACHE_SIZE = 128
_cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_lock = threading.Lock()


def render_cached(build: Callable[..., Any], query: dict[str, str]) -> Any:
    ds = dataset()
    # id(ds) differs per force scope; the role and the principal's kind change what a
    # page offers (edit forms, download links), so they are part of the key too.
    who = principal()
    key = (build.__module__, tuple(sorted(query.items())), ds.data_version, id(ds),
           who and who.role, who and who.demo, is_dark(), dt.date.today())
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    page = build(**query)
    with _lock:
        _cache[key] = page
        while len(_cache) > PAGE_CACHE_SIZE:
            _cache.popitem(last=False)
    return page

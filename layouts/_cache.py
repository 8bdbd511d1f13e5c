"""Rendered pages cached per data version and scope, so a repeated view costs nothing.

One :class:`kpis.cache.VersionedCache` per app (a process may hold several apps, each
over its own database: tests do): the version is the dataset's data version (a new
load, rollback or catalogue reload changes it, which drops every older page), the
scope is the person's force scope, and the key is the page, its URL query, the role
and kind of principal (they change what a page offers: edit forms, download links),
the theme and the day (the data page's late/missing states depend on today's date).
Components are immutable once built, so sharing them is safe.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import flask

from kpis.cache import ALL_FORCES, VersionedCache
from web.context import dataset, is_dark, principal, service

PAGE_CACHE_SIZE = 128
_EXTENSION = "flightdeck.page_cache"


def _pages() -> VersionedCache[Any]:
    extensions = flask.current_app.extensions
    cache = extensions.get(_EXTENSION)
    if cache is None:
        cache = extensions.setdefault(_EXTENSION, VersionedCache(PAGE_CACHE_SIZE))
    return cache


def render_cached(build: Callable[..., Any], query: dict[str, str]) -> Any:
    ds = dataset()
    who = principal()
    key = (build.__module__, tuple(sorted(query.items())), who and who.role,
           who and who.demo, is_dark(), dt.date.today())
    # Pages show commentary and recommendation progress too: cached under both versions.
    version = f"{ds.data_version}/{service().annotation_version}"
    return _pages().get(version, ds.scope or ALL_FORCES, key, lambda: build(**query))

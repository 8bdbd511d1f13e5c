"""Rendered pages: the last few kept as component trees, every one as bytes.

A repeated view is answered by ``web.response_cache`` from the serialised response
(compressed bytes, bounded by bytes): :func:`render_cached` tells it, with
``mark_cacheable``, that this request's page was built by a pure function of its key.
Component trees are kept only for the last :data:`PAGE_TREE_CACHE_SIZE` views, for the
callbacks that compare a new view with the one on screen (``layouts._live``): trees are
hundreds of Python objects per chart and table, which the garbage collector walks on
every full collection, so a larger tree cache costs every request.

The tree cache is one :class:`kpis.cache.VersionedCache` per app (a process may hold
several apps, each over its own database: tests do), keyed by what
``web.response_cache.view_context`` says a view depends on: the data and annotation
versions (a new load, rollback, catalogue reload or commentary drops every older
page), the person's force scope, role and kind of principal (they change what a page
offers: edit forms, download links), the theme and the day (the data page's
late/missing states depend on today's date); then the page and the part of its URL
query it reads: a page's keyword arguments, by the project's convention that a builder
takes the query keys it does not read as ``**_`` (the data page reads none, so every
address of it is one page). Components are immutable once built, so sharing them is
safe.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import flask

from kpis.cache import VersionedCache
from web.response_cache import mark_cacheable, view_context

PAGE_TREE_CACHE_SIZE = 8
_EXTENSION = "flightdeck.page_cache"


def _pages() -> VersionedCache[Any]:
    extensions = flask.current_app.extensions
    cache = extensions.get(_EXTENSION)
    if cache is None:
        cache = extensions.setdefault(_EXTENSION, VersionedCache(PAGE_TREE_CACHE_SIZE))
    return cache


@functools.cache
def _read_keys(build: Callable[..., Any]) -> frozenset[str] | None:
    """The query keys ``build`` reads: its named parameters, when the rest go to ``**_``
    (keys it ignores); None (every key counts) when its ``**`` has another name."""
    parameters = inspect.signature(build).parameters.values()
    if any(p.kind is p.VAR_KEYWORD and p.name != "_" for p in parameters):
        return None
    return frozenset(p.name for p in parameters
                     if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def render_cached(build: Callable[..., Any], query: dict[str, str]) -> Any:
    context = view_context()
    read = _read_keys(build)
    asked = query if read is None else {k: v for k, v in query.items() if k in read}
    key = (build.__module__, tuple(sorted(asked.items())), context.extra)
    page = _pages().get(context.version, context.scope, key, lambda: build(**query))
    mark_cacheable()  # built without a fault: the router's answer may be kept as bytes
    return page

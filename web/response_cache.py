"""Callback responses cached as the bytes sent, so a repeated view costs a lookup.

A Dash callback's answer is a component tree or figure serialised to JSON; building and
serialising it is the whole cost of a page. Kept as trees, cached pages were hundreds
of thousands of Python objects that every full garbage collection walked (70-200 ms
pauses); kept as gzip-compressed bytes they are a few kilobytes each, invisible to the
garbage collector, and the cache is bounded by bytes, not entries.

What is cached
--------------

Only answers that are a pure function of the request and the key below:

* the Dash Pages router's answer (``_pages_content``) for a page whose layout went
  through ``layouts._cache.render_cached`` (every ``safe_layout`` page) and built
  without a fault: ``render_cached`` calls :func:`mark_cacheable`. Other pages (the
  accounts, audit, feeds and subscriptions pages, the 404) are never stored;
* any callback declared with :func:`cacheable`.

Never cached: an answer that is not 200 (``PreventUpdate``'s 204, a refusal), that sets
a cookie or any other header but the content type, that changed the session, that was
built while a load landed (its data version differs before and after), or after the
callback called :func:`no_store`.

The key
-------

Exactly what an answer may depend on besides the request body (:func:`view_context`):
the data version and the annotation version (commentary, recommendation progress), the
principal's force scope (``*`` for every force), role and kind (the unsecured
demonstration or an account), the colour theme and the day; then the callback's output
id and a SHA-256 of its outputs, inputs and state as sent (and, for declared callbacks,
the properties that triggered it). A load, a rollback or a commentary changes a version
and every older answer is dropped (:class:`kpis.cache.VersionedCache`); a person with
another scope, role or theme never shares an entry.

Declaring a callback cacheable
------------------------------

Put :func:`cacheable` under (or over) ``dash.callback``::

    from web.response_cache import cacheable

    @dash.callback(Output(ids.KPI_CHART, "figure"), Input(ids.URL, "search"))
    @cacheable
    def redraw(search: str | None) -> dict:
        ...

Only for a callback whose outputs are a pure function of its inputs and state as the
browser sends them, plus the key above: it reads numbers only through
``web.context.dataset()`` / ``service()``, and never the user name, the time of day,
the session, a job's progress, a file's state, or anything it writes. A callback that
writes (commentary, uploads, packs), polls, or shows one person's own things (tokens,
subscriptions, accounts) must not be declared. Within a cacheable callback, call
:func:`no_store` for an answer that must not be kept (a transient fault's message).

Settings: ``server.config["flightdeck.response_cache_bytes"]`` (default
:data:`DEFAULT_BYTES` per server process), set before :func:`install`.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import hashlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

import dash
import flask
import orjson

from kpis.cache import ALL_FORCES, VersionedCache
from web.context import is_dark, principal, service

__all__ = ["DEFAULT_BYTES", "ENDPOINT", "cacheable", "install", "mark_cacheable",
           "no_store", "response_cache", "view_context"]

#: The byte budget of each server process's cache: some 2,000 pages at ~12 KB each.
DEFAULT_BYTES = 24 * 2**20
BYTES_KEY = "flightdeck.response_cache_bytes"
ENDPOINT = "_dash-update-component"
#: Dash Pages' router callback (its outputs).
ROUTER_OUTPUT = ".._pages_content.children..._pages_store.data.."
_EXTENSION = "flightdeck.response_cache"
_MARK = "_flightdeck_response_cacheable"  # flask.g: render_cached built this request's page
_REFUSED = "_flightdeck_response_no_store"  # flask.g: no_store() was called
_DECLARED = "__flightdeck_cacheable__"  # on a function: declared with cacheable()
_LEVEL = 5  # gzip level for stored answers (compressed once, sent many times)
_OVERHEAD = 256  # bytes an entry costs beyond its body (key, tuple, headers)
_KEPT_HEADERS = frozenset({"content-type"})

F = TypeVar("F", bound=Callable[..., Any])


def cacheable(func: F) -> F:
    """Declare a callback's answers cacheable (see the module's docstring for when a
    callback may be). Works above or below ``dash.callback``."""
    setattr(func, _DECLARED, True)
    return func


def mark_cacheable() -> None:
    """Say that this request's page was built by a pure function of its key
    (``layouts._cache.render_cached`` calls it; nothing else needs to)."""
    if flask.has_request_context():
        setattr(flask.g, _MARK, True)


def no_store() -> None:
    """Keep this request's answer out of the cache (it is still sent)."""
    if flask.has_request_context():
        setattr(flask.g, _REFUSED, True)


@dataclass(frozen=True)
class ViewContext:
    """What a cached view may depend on besides its request (see the docstring)."""

    version: tuple[str, str]  # data version, annotation version
    scope: str  # the principal's force, or ALL_FORCES
    extra: tuple[Hashable, ...]  # role, kind of principal, dark theme, the day


def view_context() -> ViewContext:
    """The signed-in principal's view context in this request (raises PermissionError
    with no principal, as ``web.context.service`` does)."""
    scoped = service()
    ds = scoped.dataset()
    who = principal()
    # annotation_version is what dataset() read along with the data version.
    return ViewContext(
        version=(ds.data_version, scoped.annotation_version),
        scope=ds.scope or ALL_FORCES,
        extra=(who and who.role, who and who.demo, is_dark(), dt.date.today()),
    )


@dataclass(frozen=True)
class _Answer:
    body: bytes  # gzip-compressed
    headers: tuple[tuple[str, str], ...]


def _weigh(answer: _Answer) -> int:
    return len(answer.body) + _OVERHEAD


def response_cache(server: flask.Flask) -> VersionedCache[_Answer]:
    """The server's cache of answers (made by :func:`install`)."""
    return server.extensions[_EXTENSION]


def install(app: dash.Dash) -> None:
    """Serve cacheable callback answers from the cache, and keep new ones.

    Wraps the callback route's view, so the sign-in gate and the request checks
    (``before_request``) have run first and the response's own hooks (compression,
    security headers, the session cookie) run after, on a cached answer as on a new one.
    """
    server = app.server
    budget = int(server.config.get(BYTES_KEY, DEFAULT_BYTES))
    server.extensions[_EXTENSION] = VersionedCache(1_000_000, maxbytes=budget,
                                                   sizeof=_weigh)
    endpoint = app.config.routes_pathname_prefix + ENDPOINT
    dispatch = server.view_functions[endpoint]

    @functools.wraps(dispatch)  # keeps Dash's name for it (integrations key on it)
    def _cached_dispatch(*args: Any, **kwargs: Any) -> Any:
        body = flask.request.get_json(silent=True)  # parsed and checked already
        kind = _kind(app, body)
        if kind is None:
            return dispatch(*args, **kwargs)
        try:
            context = view_context()
        except Exception:  # no principal, no data: the callback answers as it would
            return dispatch(*args, **kwargs)
        key = (body["output"], _digest(body, triggered=kind == "declared"), context.extra)
        cache = response_cache(server)
        answer = cache.peek(context.version, context.scope, key)
        if answer is not None:
            return _send(answer)
        response = flask.make_response(dispatch(*args, **kwargs))
        if _storable(response, kind) and view_context() == context:
            answer = _answer(response)
            cache.put(context.version, context.scope, key, answer)
            if _accepts_gzip():
                response.set_data(answer.body)
                response.headers["Content-Encoding"] = "gzip"
        return response

    server.view_functions[endpoint] = _cached_dispatch


def _kind(app: dash.Dash, body: object) -> str | None:
    """"router" or "declared" for a callback whose answers may be cached, else None."""
    if not isinstance(body, dict) or not isinstance(body.get("output"), str):
        return None
    output = body["output"]
    if output == ROUTER_OUTPUT:
        return "router"
    definition = app.callback_map.get(output)
    func = definition.get("callback") if isinstance(definition, dict) else None
    while func is not None:
        if getattr(func, _DECLARED, False):
            return "declared"
        func = getattr(func, "__wrapped__", None)
    return None


def _digest(body: dict[str, Any], triggered: bool) -> bytes:
    """The request as the answer depends on it: outputs (pattern-matched outputs list
    the components on the page), inputs and state; for a declared callback, what
    triggered it too (the router reads no trigger)."""
    parts = [body.get("outputs"), body.get("inputs"), body.get("state", [])]
    if triggered:
        parts.append(body.get("changedPropIds", []))
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).digest()


def _storable(response: flask.Response, kind: str) -> bool:
    if response.status_code != 200 or response.is_streamed:
        return False
    if "Content-Encoding" in response.headers:
        return False
    if any(name.lower() not in _KEPT_HEADERS for name, _ in response.headers.items()
           if name.lower() != "content-length"):
        return False  # a cookie, or any header a callback set for this person
    if flask.g.get(_REFUSED) or getattr(flask.session, "modified", False):
        return False
    return kind == "declared" or bool(flask.g.get(_MARK))


def _answer(response: flask.Response) -> _Answer:
    headers = tuple((name, value) for name, value in response.headers.items()
                    if name.lower() in _KEPT_HEADERS)
    return _Answer(gzip.compress(response.get_data(), compresslevel=_LEVEL, mtime=0),
                   headers)


def _accepts_gzip() -> bool:
    return flask.request.accept_encodings.quality("gzip") > 0


def _send(answer: _Answer) -> flask.Response:
    if _accepts_gzip():
        response = flask.Response(answer.body, status=200)
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = flask.Response(gzip.decompress(answer.body), status=200)
    for name, value in answer.headers:
        response.headers[name] = value
    response.headers["Vary"] = "Accept-Encoding"
    return response

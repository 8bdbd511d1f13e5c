"""Callback inputs checked before use: a request no page could send is refused clearly.

A browser sends what the page's components hold: a text box sends text, a dropdown
one of its options, a button its click count. Anyone can post to
``/_dash-update-component`` though, and a value of another shape (a list where text
belongs, a dictionary for a click count) must not reach the code that works with it
and crash there. Such a request is answered 400 Bad Request with one short sentence
naming the input (``BadInput`` is a werkzeug ``BadRequest``, which Flask answers
itself), never a 500 and never a stack trace.

Three layers, all answering 400 with one sentence:

* the request itself (:func:`callback_request_problem`, before Dash reads it): a JSON
  object naming a server-side callback of this app, with its outputs, inputs and state
  the entries of that callback's definition, in order, nested no deeper than a page
  nests; anything else is a request no renderer sends, which Dash would fail on;
* the values, in the callbacks (:func:`text`, :func:`clicks` and the rest below);
* a callback that fails anyway (TypeError, ValueError, KeyError, ...) on a value of a
  kind no component holds in that property (:func:`wrong_kind`: a dict for a dropdown's
  value): the request's fault. The same failure on a value a page does send is a bug
  and stays a 500.

Values of the right shape but the wrong content (an unknown force, a month that
does not exist) are the callbacks' own business: they answer those in the page.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import dash
import flask
from werkzeug.exceptions import BadRequest, MethodNotAllowed

from web import ids

__all__ = ["BadInput", "callback_request_problem", "clicks", "id_keys", "int_list",
           "register_request_checks", "text", "text_list", "wrong_kind"]

LOG = logging.getLogger(__name__)

# The dcc.Location components (the Dash Pages router's and the shell's): they send the
# browser's own address, whose path always starts with "/"; Dash's router and the
# callbacks that read the query fail on anything else.
LOCATIONS = ("_pages_location", ids.URL)


class BadInput(BadRequest):
    """A callback input of a shape no page sends."""

    def __init__(self, what: str, expected: str) -> None:
        super().__init__(f"Refused: {what} must be {expected}.")


def text(value: object, what: str) -> str | None:
    """Text (or None, before anything was typed or chosen)."""
    if value is None or isinstance(value, str):
        return value
    raise BadInput(what, "text")


def clicks(value: object, what: str = "the click count") -> int:
    """A button's click count: a whole number, 0 before the first click."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInput(what, "a whole number")
    return value


def _list_of(value: object, kind: type, what: str, expected: str) -> list[Any]:
    """A list whose items are all ``kind`` (never bool for int); None: nothing chosen."""
    if value is None:
        return []
    if isinstance(value, list) and all(
        isinstance(v, kind) and not isinstance(v, bool) for v in value
    ):
        return value
    raise BadInput(what, expected)


def text_list(value: object, what: str) -> list[str]:
    """A checklist's or an upload's values: a list of text (None: nothing chosen)."""
    return _list_of(value, str, what, "a list of text")


def int_list(value: object, what: str) -> list[int]:
    """A checklist of numbers: a list of whole numbers (None: nothing chosen)."""
    return _list_of(value, int, what, "a list of whole numbers")


def id_keys(value: object, key: str, what: str) -> list[str | int | None]:
    """From the ids of pattern-matched components (a list of dicts), each one's ``key``
    (None where it is not text or a number, so it matches nothing)."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise BadInput(what, "a list of component ids")
    return [v.get(key) if isinstance(v.get(key), str | int) else None for v in value]


# ------------------------------------------------------------------ the request's shape
# The renderer sends {"output": "<the callback's output string>", "outputs": <its
# outputs>, "inputs": [...], "state": [...], "changedPropIds": [...]}, every item
# {"id": ..., "property": ..., "value": ...} naming the component and property of the
# callback's definition, in its order. Dash takes all of that on trust and fails with a
# 500 on anything else, so the request is compared with the callback's definition
# (``app.callback_map``) before Dash reads it.

ENDPOINT = "_dash-update-component"
NOT_A_CALLBACK = "not a request for a callback of this app"
# Deeper than any value a page sends back (a component tree is some 20 levels), far
# short of where Python's JSON parser and orjson give up (about 1000 and 255 levels).
MAX_DEPTH = 100
# Pattern-matching ids: ALL and ALLSMALLER stand for a list of components, MATCH (or a
# dict id without wildcards) for one.
MANY = ("ALL", "ALLSMALLER")
# A refusal names at most this many of the entries expected, and at most this much of
# a name the request gave: one short sentence.
NAMES_SHOWN = 4
NAME_SHOWN = 80
# What a callback raises when handed a value of a kind it never expected.
WRONG_KIND_FAULTS = (TypeError, ValueError, LookupError, AttributeError)

ComponentId = str | dict[str, Any]
Dependency = tuple[ComponentId, str]  # (component id or id pattern, property)


def _is_key(value: object) -> bool:
    """What a pattern-matching id holds: text, a number or a boolean (an int)."""
    return isinstance(value, str | int | float)


def _is_scalar(value: object) -> bool:
    return value is None or _is_key(value)


def _is_count(value: object) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def _is_text(value: object) -> bool:
    return value is None or isinstance(value, str)


# The values components hold, by property: a crash on a value not of its property's
# kind is the request's fault (400), a crash on one that is, the server's (500).
# Properties not listed (a Store's data, children) may hold anything.
PROPERTY_KINDS: dict[str, tuple[Callable[[object], bool], str]] = {
    "n_clicks": (_is_count, "a whole number"),
    "n_intervals": (_is_count, "a whole number"),
    "pathname": (_is_text, "text"),
    "search": (_is_text, "text"),
    "value": (lambda v: _is_scalar(v) or (isinstance(v, list) and all(map(_is_scalar, v))),
              "text, a number or a list of them"),
    "id": (lambda v: isinstance(v, str) or (
        isinstance(v, dict) and all(map(_is_key, v.values()))), "a component id"),
}


def _clean(prop: str) -> str:
    """A property without the ``@hash`` Dash appends to allow_duplicate outputs."""
    return prop.split("@", 1)[0]


def _parse_id(component_id: str) -> ComponentId:
    """A dependency's id as Dash writes it: a pattern-matching id as JSON, with its
    wildcards as lists (["MATCH"])."""
    return json.loads(component_id) if component_id.startswith("{") else component_id


def _name(component: ComponentId, prop: str) -> str:
    """``id.property`` as Dash writes it (a pattern-matching id as compact JSON)."""
    text = component if isinstance(component, str) else json.dumps(
        component, sort_keys=True, separators=(",", ":"))
    return f"{text}.{_clean(prop)}"


def _many(component: ComponentId) -> bool:
    return isinstance(component, dict) and any(
        isinstance(v, list) and bool(v) and v[0] in MANY for v in component.values())


def _id_matches(given: object, pattern: ComponentId) -> bool:
    if isinstance(pattern, str):
        return isinstance(given, str) and given == pattern
    return isinstance(given, dict) and given.keys() == pattern.keys() and all(
        _is_key(given[k]) if isinstance(v, list) else given[k] == v
        for k, v in pattern.items())


def _is_entry(item: object, component: ComponentId, prop: str) -> bool:
    """Is ``item`` one component's {"id", "property"} for ``component.prop``?"""
    return (isinstance(item, dict) and isinstance(item.get("property"), str)
            and _clean(item["property"]) == _clean(prop)
            and _id_matches(item.get("id"), component))


def _matches(item: object, dependency: Dependency) -> bool:
    """Is ``item`` the renderer's entry for ``dependency``: one component's, or for
    ALL/ALLSMALLER a list of the components matched (possibly none)?"""
    component, prop = dependency
    if _many(component):
        return isinstance(item, list) and all(_is_entry(i, component, prop) for i in item)
    return _is_entry(item, component, prop)


def _list_problem(items: object, dependencies: list[Dependency], what: str) -> str | None:
    """Why ``items`` are not the entries for ``dependencies``, in order (None if they are)."""
    names = ", ".join(_name(*d) for d in dependencies[:NAMES_SHOWN]) or "none"
    if len(dependencies) > NAMES_SHOWN:
        names += f" and {len(dependencies) - NAMES_SHOWN} more, in order"
    if not isinstance(items, list) or len(items) != len(dependencies) or not all(
            map(_matches, items, dependencies)):
        return f"the callback's {what} must be {names}"
    return None


def _too_deep(value: object) -> bool:
    """Is ``value`` nested more than MAX_DEPTH lists and dicts deep? (No recursion:
    the value is exactly what might exhaust it.)"""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def callback_request_problem(body: object, callback_map: dict[str, Any]) -> str | None:
    """Why ``body`` is not a request the renderer could send for a server-side
    callback of ``callback_map`` (a phrase for the refusal), or None if it is one."""
    if not isinstance(body, dict):
        return "a callback request must be a JSON object"
    output = body.get("output")
    definition = callback_map.get(output) if isinstance(output, str) else None
    # Clientside callbacks are in the map too, with no function: the browser runs them.
    if definition is None or "callback" not in definition:
        return NOT_A_CALLBACK
    if _too_deep(body):
        return "the request is nested too deeply"
    outputs = definition["output"]  # one Output, or a list of them
    wanted = [(_parse_id(o.component_id_str()), o.component_property)
              for o in (outputs if isinstance(outputs, list) else [outputs])]
    if definition.get("no_output"):
        pass  # Dash ignores the outputs of a callback that has none
    elif isinstance(outputs, list):
        if problem := _list_problem(body.get("outputs"), wanted, "outputs"):
            return problem
    elif not _matches(body.get("outputs"), wanted[0]):
        return f"the callback's output must be {_name(*wanted[0])}"
    for part, what in (("inputs", "inputs"), ("state", "state")):
        dependencies = [(_parse_id(d["id"]), d["property"]) for d in definition[part]]
        # The renderer may leave out a state that is empty, never the inputs.
        items = body.get(part, [] if part == "state" else None)
        if problem := _list_problem(items, dependencies, what):
            return problem
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return "the changed properties must be a list of text"
    return None


def _entries(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every input and state entry of a well-formed request (ALL lists opened)."""
    for item in [*body["inputs"], *body.get("state", [])]:
        yield from item if isinstance(item, list) else [item]


def wrong_kind(body: dict[str, Any]) -> tuple[str, str] | None:
    """The first input or state of a well-formed request whose value is of a kind no
    component holds in that property: (its ``id.property``, the kind expected)."""
    for entry in _entries(body):
        prop = _clean(entry["property"])
        check, expected = PROPERTY_KINDS.get(prop, (lambda _: True, ""))
        if not check(entry.get("value")):
            return _name(entry["id"], prop)[:NAME_SHOWN], expected
    return None


def register_request_checks(app: dash.Dash) -> None:
    """Refuse callback requests Dash itself would fail on, before Dash reads them, and
    answer a callback's failure on a value no page sends as the request's fault.

    Dash answers a request of another shape than the renderer's (an unknown callback,
    an entry missing, a list for an object), or a page address that is not a path, with
    an exception (a 500); these are requests no browser makes, so they get a 400.
    """
    endpoint = app.config.routes_pathname_prefix + ENDPOINT
    server = app.server

    @server.before_request
    def _check_callback_request() -> None:
        request = flask.request
        if request.path != endpoint:
            return
        if request.method != "POST":
            # Dash's page route would otherwise answer a GET with the app's page.
            raise MethodNotAllowed(valid_methods=["POST"])
        try:
            body = request.get_json(silent=True)  # None: not JSON, or not sent as JSON
        except RecursionError:  # nested deeper than the parser goes
            raise BadRequest("Refused: the request is nested too deeply.") from None
        problem = callback_request_problem(body, app.callback_map)
        if problem:
            raise BadRequest(f"Refused: {problem}.")
        _check_locations(body)

    # The route's own view (Dash's dispatch; the endpoint is named after the path).
    dispatch = server.view_functions[endpoint]

    @functools.wraps(dispatch)  # keeps Dash's name for it (integrations key on it)
    def _dispatch_refusing_wrong_kinds(*args: Any, **kwargs: Any) -> Any:
        try:
            return dispatch(*args, **kwargs)
        except WRONG_KIND_FAULTS as fault:
            # The request is well formed (checked above); a value of a kind no page
            # sends made the callback fail: the request's fault. A value a page does
            # send: a bug, left to be a 500.
            body = flask.request.get_json()  # parsed and checked before dispatch
            culprit = wrong_kind(body)
            if culprit is None:
                raise
            LOG.info("callback %s refused a value of the wrong kind for %s: %r",
                     body["output"], culprit[0], fault)
            raise BadInput(*culprit) from fault

    server.view_functions[endpoint] = _dispatch_refusing_wrong_kinds


def _check_locations(body: dict[str, Any]) -> None:
    """The page's address: a path starting with "/" (Dash's router fails on anything
    else), its query text."""
    for item in _entries(body):
        if item.get("id") not in LOCATIONS:
            continue
        value = item.get("value")
        if item.get("property") == "pathname" and not (
            isinstance(value, str) and value.startswith("/")
        ):
            raise BadInput("the page address", "a path starting with '/'")
        if item.get("property") == "search" and not (value is None or isinstance(value, str)):
            raise BadInput("the page's query", "text")

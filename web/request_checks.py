"""Callback inputs checked before use: a request no page could send is refused clearly.

A browser sends what the page's components hold: a text box sends text, a dropdown
one of its options, a button its click count. Anyone can post to
``/_dash-update-component`` though, and a value of another shape (a list where text
belongs, a dictionary for a click count) must not reach the code that works with it
and crash there. Such a request is answered 400 Bad Request with one short sentence
naming the input (``BadInput`` is a werkzeug ``BadRequest``, which Flask answers
itself), never a 500 and never a stack trace.

Values of the right shape but the wrong content (an unknown force, a month that
does not exist) are the callbacks' own business: they answer those in the page.
"""

from __future__ import annotations

from typing import Any

import dash
import flask
from werkzeug.exceptions import BadRequest

from web import ids

__all__ = ["BadInput", "clicks", "id_keys", "int_list", "register_request_checks", "text",
           "text_list"]

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


def register_request_checks(app: dash.Dash) -> None:
    """Refuse callback requests Dash itself would fail on, before Dash reads them.

    Dash answers an unknown callback, or a page address that is not a path, with an
    exception (a 500); these are requests no browser makes, so they get a 400.
    """
    endpoint = app.config.routes_pathname_prefix + "_dash-update-component"

    @app.server.before_request
    def _check_callback_request() -> None:
        if flask.request.method != "POST" or flask.request.path != endpoint:
            return
        body = flask.request.get_json(silent=True)
        output = body.get("output") if isinstance(body, dict) else None
        if not isinstance(output, str) or output not in app.callback_map:
            raise BadRequest("Refused: not a request for a callback of this app.")
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            raise BadRequest("Refused: the callback's inputs are missing.")
        state = body.get("state", [])
        for item in [*inputs, *(state if isinstance(state, list) else [])]:
            if not isinstance(item, dict) or item.get("id") not in LOCATIONS:
                continue
            value = item.get("value")
            if item.get("property") == "pathname" and not (
                isinstance(value, str) and value.startswith("/")
            ):
                raise BadInput("the page address", "a path starting with '/'")
            if item.get("property") == "search" and not (value is None or isinstance(value, str)):
                raise BadInput("the page's query", "text")

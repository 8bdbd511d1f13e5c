"""Views that change in place: a switch of force, period or comparator updates only the
parts of the page that differ, instead of Dash Pages replacing the whole page.

Why: replacing a page makes Dash's renderer walk and mount every component again and
Plotly draw every chart anew (the speed issue measured 0.6-1.2 s a switch here). A page
that registers itself with :func:`register_live_page` marks what depends on the view:

* :func:`live_html`: a block of escaped markup (:class:`layouts._html_block.HtmlBlock`),
  morphed in place in the browser; a switch sends every block's new markup in ONE
  prop (:class:`layouts._html_block.LiveMarkup`, ``ids.LIVE_MARKUP``), not one output
  a block: Dash's renderer answers each output with dispatches that every component on
  the page re-evaluates;
* :func:`live_graph`: a chart, whose new figure Plotly redraws in place;
* :func:`live_children`: a small component subtree (a form, a heading), replaced.

Everything else on such a page must be the same for every view (the invariant). On a
switch, :func:`switch_view` builds the new page (through the page cache, exactly what a
fresh load of the new URL shows), and compares its *skeleton* (the tree with the live
parts' contents and the controls' values blanked) with the one on screen: if they
match, only the live parts are sent; if not (a view with no data, an error), nothing
is, and the router draws the whole new page from its address, as before. So a switch
can never show anything a reload of its URL would not. For a switch drawn in place the
router is told to stand aside (:func:`standing_aside`): the URL still changes, just
after the new view is painted (reload, share and the Back button work; Back draws the
page afresh).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import dash
from dash import dcc
from dash.development.base_component import Component

from layouts._cache import render_cached
from layouts._html_block import HtmlBlock
from layouts._state import read_query
from web import ids

LIVE_HTML = "live-html"
LIVE_GRAPH = "live-graph"
LIVE_CHILDREN = "live-children"
#: The prop of each kind of live part that a switch sends.
LIVE_PROPS = {LIVE_HTML: "html", LIVE_GRAPH: "figure", LIVE_CHILDREN: "children"}
#: Controls whose value the browser already shows when a switch reaches the server.
CONTROLS = (ids.FORCE, ids.PERIOD, ids.COMPARATOR)
BLANK = "\x00live"  # what a live part's content reads as in a skeleton
#: The router's extra argument to a page's layout: ids.LIVE_VIEW's data (app.py).
LIVE_VIEW_ARGUMENT = "live_view"

Build = Callable[..., Component]


@dataclass(frozen=True)
class LivePage:
    module: str
    pattern: re.Pattern[str]
    build: Build


_PAGES: dict[str, LivePage] = {}


def register_live_page(module: str, path_template: str, build: Build) -> None:
    """Make the page at ``path_template`` (as given to dash.register_page) switch in
    place; ``build`` is its undecorated layout builder (what safe_layout wraps)."""
    pattern = "^" + re.sub(r"<(\w+)>", r"(?P<\1>[^/]+)", path_template.rstrip("/")) + "/?$"
    _PAGES[module] = LivePage(module, re.compile(pattern), build)


def live_page_for(pathname: str | None) -> tuple[LivePage, dict[str, str]] | None:
    for page in _PAGES.values():
        found = page.pattern.match(pathname or "/")
        if found:
            return page, found.groupdict()
    return None


def _part(kind: str, part: str) -> dict[str, str]:
    return {"type": kind, "part": part}


def live_html(part: str, markup: str, className: str | None = None) -> HtmlBlock:
    return HtmlBlock(markup, id=_part(LIVE_HTML, part), className=className)


def live_graph(part: str, figure: object, config: Mapping[str, Any]) -> dcc.Graph:
    return dcc.Graph(id=_part(LIVE_GRAPH, part), figure=figure, config=dict(config))


def live_children(component: Component, part: str) -> Component:
    """``component`` (a heading, a Div) whose children change with the view."""
    component.id = _part(LIVE_CHILDREN, part)  # type: ignore[attr-defined]
    return component


def _kind_of(component: Component) -> tuple[str, str] | None:
    ident = getattr(component, "id", None)
    if isinstance(ident, dict) and ident.get("type") in LIVE_PROPS:
        return str(ident["type"]), str(ident["part"])
    return None


def _walk(value: Any, parts: dict[tuple[str, str], Any] | None) -> Hashable:
    """The skeleton of a tree (collecting the live parts' contents into ``parts``)."""
    if isinstance(value, Component):
        live = _kind_of(value)
        props = value.to_plotly_json()["props"]
        shape = []
        for name in sorted(props):
            content = props[name]
            if live is not None and name == LIVE_PROPS[live[0]]:
                if parts is not None:
                    parts[live] = content
                content = BLANK
            elif name == "value" and getattr(value, "id", None) in CONTROLS:
                content = BLANK
            shape.append((name, _walk(content, parts)))
        return (value._namespace, value._type, tuple(shape))
    if isinstance(value, list | tuple):
        return tuple(_walk(item, parts) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _walk(v, parts)) for k, v in value.items()))
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)  # anything else (a figure outside a live part): by its repr


def skeleton(tree: Component) -> Hashable:
    """What must be equal for two views to differ only in their live parts."""
    return _walk(tree, None)


def live_parts(tree: Component) -> tuple[Hashable, dict[tuple[str, str], Any]]:
    """The tree's skeleton and its live parts' contents, by (kind, part)."""
    parts: dict[tuple[str, str], Any] = {}
    return _walk(tree, parts), parts


def view_key(page: LivePage, query: Mapping[str, str]) -> dict[str, Any]:
    """What ids.LIVE_VIEW holds while a switched view is on screen."""
    return {"page": page.module, "query": dict(sorted(query.items()))}


def standing_aside(module: str, query: Mapping[str, str], live_view: Any) -> bool:
    """Whether the router's call for this page and query is a switch already drawn in
    place (so it must leave the page as it is)."""
    return (isinstance(live_view, dict) and live_view.get("page") == module
            and live_view.get("query") == dict(sorted(query.items())))


@dataclass(frozen=True)
class Switch:
    """What a switch sends: the live view's key (None: the router is to draw the new
    page), and the live parts' new contents in the order the page's outputs list them
    (no_update where the router draws)."""

    live_view: Any
    parts: list[list[Any]]

    @property
    def in_place(self) -> bool:
        return self.live_view is not None


def switch_view(pathname: str | None, shown_search: str | None, new_search: str,
                shown_parts: list[list[dict[str, Any]]]) -> Switch:
    """The switch from the view on screen (``shown_search``) to ``new_search``.

    ``shown_parts`` is dash.ctx.outputs_list for the live outputs, one list per kind
    in :data:`LIVE_PROPS` order: the live parts the browser holds. When the new view
    cannot be drawn in place (not a live page, a page shaped differently, a fault), the
    router draws it from the new address, as for any other page.
    """
    by_router = Switch(None, [[dash.no_update] * len(group) for group in shown_parts])
    found = live_page_for(pathname)
    if found is None:
        return by_router
    page, path_variables = found
    new_query = {**path_variables, **read_query(new_search)}
    shown_query = {**path_variables, **read_query(shown_search)}
    try:
        new_shape, new_parts = live_parts(render_cached(page.build, new_query))
        old_shape = skeleton(render_cached(page.build, shown_query))
    except Exception:  # the page's own wrapper shows the fault, drawn by the router
        return by_router
    wanted = [[(str(o["id"]["type"]), str(o["id"]["part"])) for o in group]
              for group in shown_parts]
    on_screen = {item for group in wanted for item in group}
    if new_shape != old_shape or on_screen != set(new_parts):
        return by_router
    return Switch(view_key(page, new_query),
                  [[new_parts[item] for item in group] for group in wanted])

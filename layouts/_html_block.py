"""HtmlBlock: a block of server-built markup (:mod:`layouts._markup`) as ONE component;
LiveMarkup: new markup for many blocks at once.

The component is drawn by assets/05-html-block.js: the first value is set as the
block's content and every later value is morphed in (Idiomorph), so a switch of force
or period changes only the text, images and attributes that differ. ``html`` must be
built with :func:`layouts._markup.tag` (escaped); never pass text from anyone's input
as markup. A string ``id`` is the element's id; a dict id (a live part, see
:mod:`layouts._live`) is for callbacks only.

:class:`LiveMarkup` draws nothing: its ``parts`` (a live part's name -> markup) are
morphed into the live HtmlBlocks of those names, all in one update. Why: Dash's renderer
applies each callback output with dispatches that every component on the page answers,
so a pillar page's 28 markup blocks as one prop took some 10 ms off its switch.
"""

from __future__ import annotations

import sys
import types
from typing import Any, ClassVar

from dash.development.base_component import Component

NAMESPACE = "flightdeck_components"  # window.flightdeck_components in the asset

# Dash's Component.__init__ imports a component's namespace for each keyword argument
# (to name its version in error messages); a namespace that is not a module means a
# failed search of sys.path per argument (about 30 us each), on every tile and table of every
# page. An empty module under that name makes each import a dictionary lookup.
_MODULE = types.ModuleType(NAMESPACE, "HtmlBlock's namespace (layouts._html_block).")
_MODULE.__version__ = "1"  # type: ignore[attr-defined]
sys.modules.setdefault(NAMESPACE, _MODULE)


class HtmlBlock(Component):
    """``HtmlBlock(html, id=None, className=None)``."""

    _children_props: ClassVar[list[str]] = []
    _base_nodes: ClassVar[list[str]] = []
    _namespace = NAMESPACE
    _type = "HtmlBlock"

    def __init__(self, html: str = "", id: str | dict[str, str] | None = None,
                 className: str | None = None, **kwargs: Any) -> None:
        self._prop_names = ["id", "html", "className"]
        self._valid_wildcard_attributes: list[str] = []
        self.available_properties = ["id", "html", "className"]
        self.available_wildcard_properties: list[str] = []
        props = {"html": str(html), "id": id, "className": className, **kwargs}
        super().__init__(**{k: v for k, v in props.items() if v is not None})


class LiveMarkup(Component):
    """``LiveMarkup(id, parts={})``: ``parts`` maps a live part's name (the ``part`` of
    a ``{"type": "live-html", "part": ...}`` HtmlBlock id) to its new markup."""

    _children_props: ClassVar[list[str]] = []
    _base_nodes: ClassVar[list[str]] = []
    _namespace = NAMESPACE
    _type = "LiveMarkup"

    def __init__(self, id: str, parts: dict[str, str] | None = None, **kwargs: Any) -> None:
        self._prop_names = ["id", "parts"]
        self._valid_wildcard_attributes: list[str] = []
        self.available_properties = ["id", "parts"]
        self.available_wildcard_properties: list[str] = []
        super().__init__(id=id, parts=dict(parts or {}), **kwargs)

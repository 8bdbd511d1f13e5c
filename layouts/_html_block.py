"""HtmlBlock: a block of server-built markup (:mod:`layouts._markup`) as ONE component.

The component is drawn by assets/05-html-block.js: the first value is set as the
block's content and every later value is morphed in (Idiomorph), so a switch of force
or period changes only the text, images and attributes that differ. ``html`` must be
built with :func:`layouts._markup.tag` (escaped); never pass text from anyone's input
as markup. A string ``id`` is the element's id; a dict id (a live part, see
:mod:`layouts._live`) is for callbacks only.
"""

from __future__ import annotations

from typing import Any, ClassVar

from dash.development.base_component import Component

NAMESPACE = "flightdeck_components"  # window.flightdeck_components in the asset


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

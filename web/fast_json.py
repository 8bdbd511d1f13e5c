"""Dash's JSON encoding, with the tree walk done by orjson in C.

Dash encodes every callback answer and layout with ``plotly.io.json.to_json_plotly``.
With the orjson engine that first tries ``orjson.dumps`` on the whole answer, which
fails at the first component, then rebuilds the whole tree in Python
(``clean_to_json_compatible``: a call per dict, list and value) and encodes the copy:
half of a page's server time went there. :func:`to_json_plotly` hands orjson a
``default`` hook instead: orjson walks the tree and calls back only for what it cannot
encode itself (a component: its ``to_plotly_json()``; anything else: plotly's own
cleaning of that one value). The text is the same, character for character (the tests
compare every page); options other than the orjson engine's defaults go to plotly's.
"""

from __future__ import annotations

from typing import Any

import orjson
import plotly.io.json
from dash.development.base_component import Component
from plotly.io import _json as plotly_json

__all__ = ["install", "to_json_plotly"]

_ORIGINAL = plotly_json.to_json_plotly
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _modules() -> dict[str, Any]:
    get = plotly_json.get_module
    return {"sage_all": get("sage.all", should_load=False),
            "np": get("numpy", should_load=False),
            "pd": get("pandas", should_load=False),
            "image": get("PIL.Image", should_load=False)}


def _default(value: Any) -> Any:
    if isinstance(value, Component):
        return value.to_plotly_json()
    cleaned = plotly_json.clean_to_json_compatible(
        value, numpy_allowed=True, datetime_allowed=True, modules=_modules())
    if cleaned is value:
        raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")
    return cleaned


def to_json_plotly(plotly_object: Any, pretty: bool = False, engine: str | None = None
                   ) -> str:
    """``plotly.io.json.to_json_plotly``, faster for the orjson engine."""
    chosen = engine or plotly_json.config.default_engine
    if pretty or chosen != "orjson":
        return _ORIGINAL(plotly_object, pretty=pretty, engine=engine)
    try:
        encoded = orjson.dumps(plotly_object, default=_default, option=_OPTIONS)
    except TypeError:  # what plotly cannot encode either: its own error
        return _ORIGINAL(plotly_object, engine=engine)
    return plotly_json._safe(encoded.decode("utf8"), plotly_json._swap_orjson)


def install() -> None:
    """Encode Dash's answers with :func:`to_json_plotly` (Dash looks the function up
    on ``plotly.io.json`` at each call; plotly's own figure export is unchanged)."""
    plotly.io.json.to_json_plotly = to_json_plotly  # type: ignore[attr-defined]

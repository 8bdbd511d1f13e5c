"""Access to the flight deck service from inside a request (page layout or callback)."""

from __future__ import annotations

import flask

from kpis.dataset import Dataset
from kpis.service import FlightDeckService

SERVICE_KEY = "FLIGHTDECK_SERVICE"


def service() -> FlightDeckService:
    return flask.current_app.config[SERVICE_KEY]


def dataset() -> Dataset:
    return service().dataset()


# The colour theme the navbar switch chose, sent by the browser as a cookie so page
# layouts (run inside the request) can draw figures to match.
THEME_COOKIE = "flightdeck_theme"
DARK = "dark"
LIGHT = "light"


def is_dark() -> bool:
    """True when the request asks for the dark theme (False outside a request)."""
    if not flask.has_request_context():
        return False
    return flask.request.cookies.get(THEME_COOKIE) == DARK

"""Access to the flight deck service from inside a request (page layout or callback).

``service()`` is the service as the signed-in principal may use it: force scoping and
roles are enforced by the service itself, so a page or callback cannot see more than
its user may, whatever it asks for.
"""

from __future__ import annotations

import flask

from kpis.domain.access import Principal
from kpis.engine.dataset import Dataset
from kpis.service import FlightDeckService

SERVICE_KEY = "FLIGHTDECK_SERVICE"


def service() -> FlightDeckService:
    """The service for this request's principal (set by ``web.security``)."""
    scoped = flask.g.get("service")
    if scoped is None:
        principal = flask.g.get("principal")
        if principal is None:
            # Fail closed: a request that skipped authentication sees nothing.
            raise PermissionError("no signed-in principal for this request")
        base: FlightDeckService = flask.current_app.config[SERVICE_KEY]
        scoped = flask.g.service = base.for_principal(principal,
                                                      flask.request.remote_addr or "")
    return scoped


def principal() -> Principal | None:
    """Who this request acts for; None before sign-in (the login page, Dash's first
    look at the layout)."""
    return flask.g.get("principal") if flask.has_request_context() else None


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

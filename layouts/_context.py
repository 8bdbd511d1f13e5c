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

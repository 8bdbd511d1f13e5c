"""Dash's answers encoded by web/fast_json.py: the same text as plotly's encoder, for
every page the app draws and for the values plotly cleans itself."""

from __future__ import annotations

import datetime as dt
import decimal

import dash
import flask
import numpy as np
import pandas as pd
import pytest
from dash import dcc, html
from plotly.io import _json as plotly_json

from kpis.domain.access import demo_principal
from tests.conftest import app_over
from web import fast_json

PAGES = ["/", "/pillar/1", "/kpi/ho_rape_charge_rate", "/kpi/suspect_contact_30d",
         "/compare", "/definitions", "/data", "/scrutiny", "/recommendations",
         "/board-pack", "/upload"]


@pytest.mark.slow  # every page built twice: about two seconds
def test_every_page_encodes_to_plotlys_text(demo_db_readonly) -> None:
    app = app_over(demo_db_readonly)
    from dash._pages import _path_to_page

    with app.server.test_request_context("/"):
        flask.g.principal = demo_principal()
        for path in PAGES:
            page, variables = _path_to_page(app.strip_relative_path(path))
            for query in ({}, {"force": "durham", "period": "2024-12"}):
                tree = page["layout"](**(variables or {}), **query)
                assert fast_json.to_json_plotly(tree) == plotly_json.to_json_plotly(tree), path


@pytest.mark.parametrize("value", [
    {"a": np.arange(6).reshape(2, 3)[:, 1]},  # not contiguous
    {"when": pd.Timestamp("2025-09-01"), "day": dt.date(2025, 9, 1)},
    {"dates": pd.date_range("2025-01-01", periods=3, freq="MS")},
    {"series": pd.Series([1.5, np.nan]), "nan": float("nan"), 1: "int key"},
    {"money": decimal.Decimal("1.25"), "text": "</script> \u2028"},
    [html.Div([dcc.Graph(figure={"data": [{"y": np.array([1.0, 2.0])}]})], id="x")],
    (np.float64(1.5), np.int64(3), np.bool_(True), None),
])
def test_values_plotly_cleans_encode_alike(value: object) -> None:
    assert fast_json.to_json_plotly(value) == plotly_json.to_json_plotly(value)


def test_what_plotly_cannot_encode_fails_as_it_does() -> None:
    with pytest.raises(TypeError):
        plotly_json.to_json_plotly({"a": {1, 2}})
    with pytest.raises(TypeError):
        fast_json.to_json_plotly({"a": {1, 2}})


def test_dash_uses_it_once_installed() -> None:
    import plotly.io.json

    fast_json.install()
    assert plotly.io.json.to_json_plotly is fast_json.to_json_plotly
    assert dash._utils.to_json(html.P("x")) == plotly_json.to_json_plotly(html.P("x"))

"""Callback answers cached as bytes (web/response_cache.py): the same answer as built
afresh, never another person's scope or role, never a stale version, never a response
that is not a pure function of its key.

Through the real app (Flask's test client) over real DuckDB files: a secured copy of the
demonstration database with ``ACCOUNTS``, and a writable copy loaded between requests.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import dash
import pytest
from dash import Input, Output
from flask.testing import FlaskClient

from kpis.ingest.loader import load_files
from kpis.service import FlightDeckService
from tests.conftest import app_over
from tests.test_security import BASE, client_of, render_page, signed_in
from web.context import DARK, THEME_COOKIE
from web.response_cache import cacheable, no_store, response_cache

KPI_PAGE = "/kpi/cps_referrals"
KENT_SEPTEMBER = "?force=kent&period=2025-09"
DURHAM_SEPTEMBER = "?force=durham&period=2025-09"
LOCAL = "http://localhost"  # the unsecured demonstration answers this machine only


def answer(response: Any) -> bytes:
    assert response.status_code == 200, response.data[:300]
    data = response.data
    if response.headers.get("Content-Encoding") == "gzip":
        data = gzip.decompress(data)
    return data


def fresh_answer(app: dash.Dash, client: FlaskClient, path: str, search: str,
                 base: str = BASE) -> bytes:
    """The answer built afresh: both caches emptied first."""
    response_cache(app.server).clear()
    app.server.extensions["flightdeck.page_cache"].clear()
    return answer(render_page(client, path, search, base=base))


@pytest.fixture
def secured_app(secured_db: Path) -> dash.Dash:
    return app_over(secured_db)


@pytest.fixture
def demo_app(demo_db: Path) -> dash.Dash:
    return app_over(demo_db)


def test_a_repeated_view_is_the_cached_answer_byte_for_byte(demo_app: dash.Dash) -> None:
    client = client_of(demo_app)
    cache = response_cache(demo_app.server)
    first = answer(render_page(client, KPI_PAGE, KENT_SEPTEMBER, base=LOCAL))
    assert len(cache) == 1
    again = render_page(client, KPI_PAGE, KENT_SEPTEMBER, base=LOCAL)
    assert answer(again) == first
    assert len(cache) == 1
    assert b"Kent: Police referrals to CPS was 21 in September 2025" in first
    # A browser takes it compressed: the same JSON.
    zipped = render_page(client, KPI_PAGE, KENT_SEPTEMBER, base=LOCAL,
                         headers={"Accept-Encoding": "gzip, deflate, br"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert answer(zipped) == first
    assert json.loads(first)["response"]["_pages_content"]["children"]
    assert fresh_answer(demo_app, client, KPI_PAGE, KENT_SEPTEMBER, base=LOCAL) == first


def test_two_scopes_never_share_an_answer_whoever_asks_first(secured_app: dash.Dash) -> None:
    national = signed_in(secured_app, "analyst")  # every force
    kent = signed_in(secured_app, "kent-analyst")  # the same role, Kent only
    for first, second in ((national, kent), (kent, national)):
        response_cache(secured_app.server).clear()
        shown = {who: answer(render_page(who, KPI_PAGE, DURHAM_SEPTEMBER))
                 for who in (first, second)}
        assert shown[national] != shown[kent]
        assert b"Durham: Police referrals to CPS was" in shown[national]
        assert b"Durham: Police referrals to CPS was" not in shown[kent]
        # Each is what that person gets built afresh.
        for who, seen in shown.items():
            assert fresh_answer(secured_app, who, KPI_PAGE, DURHAM_SEPTEMBER) == seen


def test_another_role_or_theme_never_shares_an_answer(secured_app: dash.Dash) -> None:
    analyst = signed_in(secured_app, "analyst")
    viewer = signed_in(secured_app, "viewer")  # every force too, no downloads
    by_role = {who: answer(render_page(who, KPI_PAGE, KENT_SEPTEMBER))
               for who in (analyst, viewer)}
    assert by_role[analyst] != by_role[viewer]
    viewer.set_cookie(THEME_COOKIE, DARK, domain="flightdeck.test")
    dark = answer(render_page(viewer, KPI_PAGE, KENT_SEPTEMBER))
    assert dark != by_role[viewer]
    assert dark == fresh_answer(secured_app, viewer, KPI_PAGE, KENT_SEPTEMBER)
    viewer.delete_cookie(THEME_COOKIE, domain="flightdeck.test")
    for who, seen in by_role.items():
        assert fresh_answer(secured_app, who, KPI_PAGE, KENT_SEPTEMBER) == seen


def test_a_load_between_two_requests_is_served_at_once(demo_app: dash.Dash, demo_db: Path,
                                                       tmp_path: Path) -> None:
    client = client_of(demo_app)
    before = answer(render_page(client, KPI_PAGE, KENT_SEPTEMBER, base=LOCAL))
    assert b"was 21 in September 2025" in before
    file = tmp_path / "kent-return.csv"
    file.write_text("force,month,measure,value\nkent,2025-09,cps_referrals,4321\n",
                    encoding="utf-8")
    load_files(demo_db, [file], user="response-cache-test")
    after = answer(render_page(client, KPI_PAGE, KENT_SEPTEMBER, base=LOCAL))
    assert b"was 4,321 in September 2025" in after
    assert after == fresh_answer(demo_app, client, KPI_PAGE, KENT_SEPTEMBER, base=LOCAL)


def test_new_commentary_is_served_at_once(demo_app: dash.Dash, demo_db: Path) -> None:
    client = client_of(demo_app)
    before = answer(render_page(client, KPI_PAGE, KENT_SEPTEMBER, base=LOCAL))
    FlightDeckService(demo_db).write_commentary(
        "cps_referrals", "kent", "2025-09-01", "Referrals rose after the new triage desk.")
    after = answer(render_page(client, KPI_PAGE, KENT_SEPTEMBER, base=LOCAL))
    assert after != before
    assert b"Referrals rose after the new triage desk." in after


def test_pages_outside_the_page_cache_are_never_kept(secured_app: dash.Dash) -> None:
    admin = signed_in(secured_app, "admin")
    cache = response_cache(secured_app.server)
    for path in ("/accounts", "/audit", "/data-feeds", "/no-such-page"):
        answer(render_page(admin, path))
    assert len(cache) == 0
    answer(render_page(admin, "/", KENT_SEPTEMBER))
    assert len(cache) == 1


def probe_app(demo_db: Path) -> tuple[dash.Dash, list[str]]:
    """The app with four probe callbacks: declared cacheable or not, one that sets a
    cookie, one that refuses to be stored."""
    app = app_over(demo_db)
    calls: list[str] = []

    @app.callback(Output("probe-kept", "children"), Input("probe-in", "value"))
    @cacheable
    def kept(value: str | None) -> str:
        calls.append("kept")
        return f"kept {value}"

    @cacheable  # above dash.callback works too
    @app.callback(Output("probe-above", "children"), Input("probe-in-2", "value"))
    def above(value: str | None) -> str:
        calls.append("above")
        return f"above {value}"

    @app.callback(Output("probe-plain", "children"), Input("probe-in-3", "value"))
    def plain(value: str | None) -> str:
        calls.append("plain")
        return f"plain {value}"

    @app.callback(Output("probe-cookie", "children"), Input("probe-in-4", "value"))
    @cacheable
    def cookie(value: str | None) -> str:
        calls.append("cookie")
        dash.callback_context.response.set_cookie("probe", "1")
        return f"cookie {value}"

    @app.callback(Output("probe-refused", "children"), Input("probe-in-5", "value"))
    @cacheable
    def refused(value: str | None) -> str:
        calls.append("refused")
        no_store()
        return f"refused {value}"

    return app, calls


def post_probe(client: FlaskClient, output: str, source: str, value: str) -> Any:
    return client.post(f"{LOCAL}/_dash-update-component", json={
        "output": f"{output}.children",
        "outputs": {"id": output, "property": "children"},
        "inputs": [{"id": source, "property": "value", "value": value}],
        "changedPropIds": [f"{source}.value"], "state": []})


def test_only_declared_callbacks_that_set_nothing_are_kept(demo_db: Path) -> None:
    app, calls = probe_app(demo_db)
    client = client_of(app)
    probes = {"kept": ("probe-kept", "probe-in"), "above": ("probe-above", "probe-in-2"),
              "plain": ("probe-plain", "probe-in-3"), "cookie": ("probe-cookie", "probe-in-4"),
              "refused": ("probe-refused", "probe-in-5")}
    for name, (output, source) in probes.items():
        for value in ("a", "a", "b"):
            response = post_probe(client, output, source, value)
            assert f"{name} {value}".encode() in answer(response)
            if name == "cookie":
                assert "probe=1" in response.headers.get("Set-Cookie", "")
    assert calls.count("kept") == 2  # "a" once, "b" once
    assert calls.count("above") == 2
    assert calls.count("plain") == 3
    assert calls.count("cookie") == 3
    assert calls.count("refused") == 3
    assert len(response_cache(app.server)) == 4


def test_the_cache_is_bounded_by_bytes(demo_app: dash.Dash) -> None:
    cache = response_cache(demo_app.server)
    assert cache.maxbytes is not None
    client = client_of(demo_app)
    for force in ("kent", "durham", "essex"):
        answer(render_page(client, "/", f"?force={force}&period=2025-09", base=LOCAL))
    assert len(cache) == 3
    assert 0 < cache.nbytes <= cache.maxbytes
    # Entries are kept compressed: a flight deck is far smaller than its JSON.
    raw = answer(render_page(client, "/", "?force=kent&period=2025-09", base=LOCAL))
    assert cache.nbytes < 3 * len(raw)

"""The app over HTTP: served (in a thread, and once by ``python app.py``), offline, every
page renders."""

from __future__ import annotations

import html
import json
import os
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kpis.domain.catalogue import read_catalogue
from kpis.settings import CATALOGUE_FILE, PROJECT_ROOT
from layouts._shell import CLIENTSIDE_NAMESPACE, THEME_TOGGLE
from tests.conftest import LiveServer, start_app_process, start_server, stop_server
from web.context import DARK, LIGHT, THEME_COOKIE

PAGES = ["/", "/pillar/1", "/pillar/6", "/kpi/ho_rape_charge_rate", "/compare", "/definitions",
         "/data", "/upload", "/scrutiny", "/board-pack", "/subscriptions", "/data-feeds",
         "/definitions/edit?kpi=cps_referrals", "/accounts"]


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read().decode("utf-8")


def post_json(url: str, payload: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read().decode("utf-8"))


def render_page(server: LiveServer, path: str, search: str = "") -> Any:
    """Ask the Dash Pages callback for a page's content, as the browser does."""
    _, dependencies = get(server.url + "/_dash-dependencies")
    pages_callback = next(d for d in json.loads(dependencies) if "_pages_store" in d["output"])
    inputs = []
    for item in pages_callback["inputs"]:
        value = {"pathname": path, "search": search}.get(item["property"])
        inputs.append({**item, "value": value})
    payload = {
        "output": pages_callback["output"],
        "outputs": [
            {"id": part.split(".")[0], "property": part.split(".")[1]}
            for part in pages_callback["output"].strip(".").split("...")
        ],
        "inputs": inputs,
        "changedPropIds": [f"{i['id']}.{i['property']}" for i in inputs],
        "state": [{**s, "value": None} for s in pages_callback.get("state", [])],
    }
    status, body = post_json(server.url + "/_dash-update-component", payload)
    assert status == 200
    return body


def texts(tree: Any) -> list[str]:
    """Every string in a rendered component tree (a block of markup read as its text)."""
    found: list[str] = []
    if isinstance(tree, dict) and tree.get("type") == "HtmlBlock":
        markup = tree["props"].get("html", "")
        found += [html.unescape(t) for t in re.split(r"<[^>]*>", markup) if t.strip()]
    elif isinstance(tree, str):
        found.append(tree)
    elif isinstance(tree, list):
        for item in tree:
            found += texts(item)
    elif isinstance(tree, dict):
        for value in tree.values():
            found += texts(value)
    return found


def test_home_page_html_names_every_pillar_and_has_a_language(live_server: LiveServer) -> None:
    status, html = get(live_server.url + "/")
    assert status == 200
    assert '<html lang="en-GB">' in html
    for pillar in read_catalogue(CATALOGUE_FILE).pillars:
        assert pillar.name in html


def test_no_stylesheet_or_script_comes_from_another_host(live_server: LiveServer) -> None:
    _, html = get(live_server.url + "/")
    for url in re.findall(r'(?:href|src)="([^"]+)"', html):
        assert not url.startswith(("http://", "https://", "//")), url
    assert "00-bootstrap.min.css" in html


FLIGHTDECK_JS = PROJECT_ROOT / "assets" / "flightdeck.js"


def test_clientside_callbacks_are_asset_functions_not_inline_scripts(
        live_server: LiveServer) -> None:
    _, html = get(live_server.url + "/")
    served = re.search(r'<script src="(/assets/flightdeck\.js\?m=[^"]+)"', html)
    assert served, "assets/flightdeck.js is not served with the page"
    _, script = get(live_server.url + served.group(1))
    # The only inline script left (besides Dash's JSON config and renderer start) is
    # Dash's own page-title callback: the CSP allows it by hash.
    for inline in re.findall(r"<script>(.*?)</script>", html, re.S):
        assert "document.title = data.title" in inline, inline[:200]
    _, dependencies = get(live_server.url + "/_dash-dependencies")
    functions = [d["clientside_function"] for d in json.loads(dependencies)
                 if d.get("clientside_function")]
    ours = {f["function_name"] for f in functions if f["namespace"] == CLIENTSIDE_NAMESPACE}
    assert ours == {"theme", "a11y", "searchToUrl", "jumpToAnchor", "rememberForce",
                    "searchAfterPaint", "tablesToRefill"}
    assert f"window.dash_clientside.{CLIENTSIDE_NAMESPACE} = {{" in script
    for name in ours:
        assert f"    {name}: function (" in script, name


def test_the_theme_script_uses_the_names_the_server_reads() -> None:
    script = FLIGHTDECK_JS.read_text(encoding="utf-8")
    for expected in (f'const name = "{THEME_COOKIE}";', f'on ? "{DARK}" : "{LIGHT}"',
                     f't.prop_id === "{THEME_TOGGLE}.value"',
                     f'getElementById("{THEME_TOGGLE}")'):
        assert expected in script, expected


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_without_a_server_error(live_server: LiveServer, path: str) -> None:
    status, _ = get(live_server.url + path)
    assert status == 200
    body = render_page(live_server, path)
    assert "_pages_content" in json.dumps(body)


def test_flight_deck_lists_every_pillar_and_every_published_kpi(live_server: LiveServer) -> None:
    body = render_page(live_server, "/", "?force=kent&period=2025-09")
    words = " ".join(texts(body))
    catalogue = read_catalogue(CATALOGUE_FILE)
    assert "Flight deck: Kent" in words
    for pillar in catalogue.pillars:
        assert f"{pillar.number}. {pillar.name}" in words
    for kpi in catalogue.published():
        assert kpi.title in words


def test_a_provisional_home_office_quarter_says_so_on_its_tile(live_server: LiveServer
                                                                 ) -> None:
    # The demonstration's latest Home Office quarter (2025/26 Q2) is the latest
    # published: provisional on the recorded basis, never on the closed basis.
    body = render_page(live_server, "/", "?force=kent&period=2025-09")
    quarterly = [k for k in read_catalogue(CATALOGUE_FILE).published()
                 if k.periodicity == "quarterly"]
    recorded = sum(1 for k in quarterly if k.provisional is not None)
    # The summary matrix marks the same rows: a 'p' whose title says why.
    assert json.dumps(body).count(
        'title=\\"provisional: outcomes still being assigned\\"') == recorded
    periods = [t for t in texts(body) if t.startswith("2025/26 Q")]
    assert sorted(periods) == (["2025/26 Q2"] * (len(quarterly) - recorded)
                               + ["2025/26 Q2 (provisional)"] * recorded)
    assert recorded == 4


def test_an_unknown_force_in_the_url_falls_back_to_england_and_wales(
    live_server: LiveServer,
) -> None:
    body = render_page(live_server, "/", "?force=atlantis")
    words = " ".join(texts(body))
    assert "Flight deck: England and Wales" in words
    # ... and says so, rather than silently showing another force.
    assert "There is no force “atlantis” you can see, so England and Wales is shown." in words


# The demonstration opens on August 2025: September's national figure is incomplete.
@pytest.mark.parametrize(("search", "notice"), [
    ("?force=kent&period=2031-01",
     "There is no data for January 2031, so August 2025 is shown."),
    ("?force=kent&period=Sept", "“Sept” is not a month written YYYY-MM, so August 2025 "
                                "is shown."),
    ("?force=kent&period=2010-01", "There is no data for January 2010, so August 2025 "
                                   "is shown."),
    ("?force=kent&comparator=mars", "There is no comparator “mars”, so England and Wales "
                                    "is used."),
])
def test_a_period_or_comparator_that_cannot_be_shown_is_named(
        live_server: LiveServer, search: str, notice: str) -> None:
    words = " ".join(texts(render_page(live_server, "/pillar/1", search)))
    assert notice in words


def test_a_view_the_url_can_show_has_no_notice(live_server: LiveServer) -> None:
    body = render_page(live_server, "/", "?force=kent&period=2025-06&comparator=region")
    assert "view-notices" not in str(body)


@pytest.mark.slow  # a server whose database is replaced by garbage (fault test)
def test_a_database_fault_shows_a_message_in_the_page_not_a_stack_trace(
    demo_db: Path, tmp_path: Path
) -> None:
    server = start_server(demo_db, tmp_path / "server.log")
    try:
        assert "Flight deck: Kent" in " ".join(texts(render_page(server, "/", "?force=kent")))
        # Replace the published file with something that is not a database.
        broken = demo_db.with_name("broken")
        broken.write_bytes(b"not a duckdb file" * 100)
        os.replace(broken, demo_db)
        body = render_page(server, "/", "?force=kent")
        words = " ".join(texts(body))
        assert "Something went wrong" in words
        assert "Traceback" not in json.dumps(body)
    finally:
        stop_server(server)


@pytest.mark.slow  # the smoke test of `python app.py`, in a process of its own
def test_the_app_builds_demonstration_data_when_the_database_is_missing(tmp_path: Path) -> None:
    db = tmp_path / "fresh" / "flightdeck.duckdb"
    db.parent.mkdir()
    # Building the demonstration database takes 20 to 50 s on two busy cores.
    server = start_app_process(db, tmp_path / "server.log", timeout=150)
    try:
        assert db.exists()
        _, html = get(server.url + "/")
        assert "Suspect-focused investigations" in html
        words = " ".join(texts(render_page(server, "/")))
        assert "Flight deck: England and Wales" in words
        assert "building demonstration data" in (tmp_path / "server.log").read_text()
    finally:
        stop_server(server)


def test_tiles_say_whether_a_change_is_better_or_worse_and_what_a_rate_is_per(
        live_server: LiveServer) -> None:
    words = texts(render_page(live_server, "/", "?force=kent&period=2025-09"))
    changes = [w for w in words if w.startswith("Change on a year earlier: ")
               and w.endswith((", better", ", worse"))]
    assert changes, "some of Kent's KPIs moved on a year earlier"
    assert any(w == "per 100,000 people, in the month" or
               w == "per 100,000 people, in the quarter" for w in words)

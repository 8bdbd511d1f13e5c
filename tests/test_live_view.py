"""Views switched in place (layouts/_live.py), over HTTP as the browser asks for them.

A switch of force, period or comparator on the flight deck, a pillar page or a KPI page
sends only the parts that change, and those parts are exactly what a fresh load of the
new address shows; a switch whose page is shaped differently sends the whole page; the
router then leaves the switched address alone (and draws any other). Markup is escaped.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from layouts._html_block import HtmlBlock
from layouts._live import LIVE_HTML, LIVE_PROPS, live_html, skeleton
from layouts._markup import link, tag
from tests.conftest import app_over
from web import ids

ENDPOINT = "/_dash-update-component"
LIVE_PAGES = ["/", "/pillar/2", "/kpi/suspect_contact_30d"]


@pytest.fixture(scope="module")
def client(demo_db_readonly: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[FlaskClient]:
    from web.context import SERVICE_KEY

    db = tmp_path_factory.mktemp("live") / "flightdeck.duckdb"
    shutil.copyfile(demo_db_readonly, db)
    dash_app = app_over(db)
    yield dash_app.server.test_client()
    dash_app.server.config[SERVICE_KEY].close()


def dependencies(client: FlaskClient) -> list[dict[str, Any]]:
    return json.loads(client.get("/_dash-dependencies").data)


def router(client: FlaskClient, path: str, search: str, live_view: Any = None) -> Any:
    """Dash Pages' router, as the browser calls it after the address changes."""
    dependency = next(d for d in dependencies(client) if "_pages_store" in d["output"])
    response = client.post(ENDPOINT, json={
        "output": dependency["output"],
        "outputs": [{"id": "_pages_content", "property": "children"},
                    {"id": "_pages_store", "property": "data"}],
        "inputs": [{"id": "_pages_location", "property": "pathname", "value": path},
                   {"id": "_pages_location", "property": "search", "value": search}],
        "changedPropIds": ["_pages_location.search"],
        "state": [{"id": ids.LIVE_VIEW, "property": "data", "value": live_view}],
    })
    return response


def page_tree(client: FlaskClient, path: str, search: str) -> Any:
    response = router(client, path, search)
    assert response.status_code == 200, response.data[:300]
    return response.get_json()["response"]["_pages_content"]["children"]


def live_parts_of(tree: Any) -> dict[tuple[str, str], Any]:
    """The live parts in a rendered page (JSON), by (kind, part), in page order."""
    found: dict[tuple[str, str], Any] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            props = value.get("props")
            if isinstance(props, dict):
                ident = props.get("id")
                if isinstance(ident, dict) and ident.get("type") in LIVE_PROPS:
                    found[(ident["type"], ident["part"])] = props.get(
                        LIVE_PROPS[ident["type"]])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(tree)
    return found


def control_value(tree: Any, control: str) -> Any:
    found: list[Any] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            props = value.get("props")
            if isinstance(props, dict) and props.get("id") == control:
                found.append(props.get("value"))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(tree)
    return found[0]


def switch(client: FlaskClient, path: str, shown: str, force: str, period: str,
           comparator: str, parts: list[tuple[str, str]]) -> dict[str, Any]:
    """The view controls' callback, as the browser sends it when a menu changes: the
    markup blocks on the page as state, the charts and subtrees as outputs."""
    dependency = next(d for d in dependencies(client)
                      if d["output"].startswith("..view-search.data...live-view.data"))
    outputs: list[Any] = [{"id": ids.VIEW_SEARCH, "property": "data"},
                          {"id": ids.LIVE_VIEW, "property": "data"},
                          {"id": ids.LIVE_MARKUP, "property": "parts"}]
    for kind, prop in LIVE_PROPS.items():
        if kind != LIVE_HTML:
            outputs.append([{"id": {"type": kind, "part": part}, "property": prop}
                            for k, part in parts if k == kind])
    blocks = [{"id": {"type": LIVE_HTML, "part": part}, "property": "id",
               "value": {"type": LIVE_HTML, "part": part}}
              for kind, part in parts if kind == LIVE_HTML]
    response = client.post(ENDPOINT, json={
        "output": dependency["output"], "outputs": outputs,
        "inputs": [{"id": ids.FORCE, "property": "value", "value": force},
                   {"id": ids.PERIOD, "property": "value", "value": period},
                   {"id": ids.COMPARATOR, "property": "value", "value": comparator}],
        "state": [{"id": ids.URL, "property": "search", "value": shown},
                  {"id": ids.URL, "property": "pathname", "value": path}, blocks],
        "changedPropIds": [f"{ids.FORCE}.value"],
    })
    assert response.status_code == 200, response.data[:500]
    return response.get_json()["response"]


def by_part(response: dict[str, Any]) -> dict[tuple[str, str], Any]:
    """The switch's live parts, by (kind, part): the markup blocks from ids.LIVE_MARKUP,
    the others as Dash answers ALL outputs (by id)."""
    found: dict[tuple[str, str], Any] = {}
    for part, markup in response.get(ids.LIVE_MARKUP, {}).get("parts", {}).items():
        found[(LIVE_HTML, part)] = markup
    for key, value in response.items():
        if key.startswith("{"):
            ident = json.loads(key)
            for prop, content in value.items():
                assert ident["type"] != LIVE_HTML
                assert prop == LIVE_PROPS[ident["type"]]
                found[(ident["type"], ident["part"])] = content
    return found


@pytest.mark.parametrize("path", LIVE_PAGES)
def test_a_force_switch_sends_only_the_changed_parts_and_they_are_the_new_view(
        client: FlaskClient, path: str) -> None:
    shown = "?force=kent&period=2025-09&comparator=national"
    kent = page_tree(client, path, shown)
    durham = page_tree(client, path, "?force=durham&period=2025-09&comparator=national")
    parts = list(live_parts_of(kent))
    assert parts, "the page has no live parts"
    response = switch(client, path, shown, "durham", "2025-09", "national", parts)
    # The address moves on, the router is told which view is drawn, no whole page.
    assert response[ids.VIEW_SEARCH]["data"] == {
        "search": "?force=durham&period=2025-09&comparator=national", "in_place": True}
    assert response[ids.LIVE_VIEW]["data"]["query"]["force"] == "durham"
    sent = by_part(response)
    assert set(sent) == set(parts)
    # Each part is exactly what a fresh load of Durham's address shows.
    expected = live_parts_of(durham)
    for part in parts:
        assert json.dumps(sent[part], sort_keys=True) == json.dumps(expected[part],
                                                                    sort_keys=True), part
    # And the switch changed something that depends on the force.
    assert sent != live_parts_of(kent)
    # The rest of the page is the same in both views but the menus' values.
    assert control_value(durham, ids.FORCE) == "durham"


def test_a_period_switch_on_the_flight_deck_changes_the_tiles(client: FlaskClient) -> None:
    shown = "?force=kent&period=2025-09&comparator=national"
    before = page_tree(client, "/", shown)
    parts = list(live_parts_of(before))
    response = switch(client, "/", shown, "kent", "2024-09", "national", parts)
    deck = by_part(response)[("live-html", "flight-deck")]
    assert "September 2024" in deck and deck != live_parts_of(before)[("live-html",
                                                                       "flight-deck")]


def test_the_router_stands_aside_for_the_switched_view_only(client: FlaskClient) -> None:
    search = "?force=durham&period=2025-09&comparator=national"
    shown = "?force=kent&period=2025-09&comparator=national"
    parts = list(live_parts_of(page_tree(client, "/", shown)))
    live_view = switch(client, "/", shown, "durham", "2025-09", "national",
                       parts)[ids.LIVE_VIEW]["data"]
    # The address the switch wrote: already drawn, nothing to send (204, no content).
    assert router(client, "/", search, live_view).status_code == 204
    # Any other address (Back to Kent, another page) is drawn in full.
    assert router(client, "/", shown, live_view).status_code == 200
    assert router(client, "/pillar/2", search, live_view).status_code == 200
    assert router(client, "/", search, None).status_code == 200


def test_a_switch_to_a_differently_shaped_page_is_left_to_the_router(
        client: FlaskClient) -> None:
    shown = "?force=kent&period=2025-09&comparator=national"
    path = "/kpi/suspect_contact_30d"
    parts = list(live_parts_of(page_tree(client, path, shown)))
    # The browser holds parts this page does not have (it is shaped differently):
    # the switch cannot be drawn in place, so nothing is sent but the new address, at
    # once, and the router (told nothing is drawn) draws the whole new page from it.
    response = switch(client, path, shown, "durham", "2025-09", "national",
                      [*parts, ("live-html", "not-on-this-page")])
    assert response[ids.VIEW_SEARCH]["data"] == {
        "search": "?force=durham&period=2025-09&comparator=national", "in_place": False}
    assert response[ids.LIVE_VIEW]["data"] is None
    assert by_part(response) == {}
    drawn = router(client, path, response[ids.VIEW_SEARCH]["data"]["search"], None)
    assert drawn.status_code == 200 and b"Durham" in drawn.data


def test_pages_that_do_not_switch_in_place_are_drawn_by_the_router(
        client: FlaskClient) -> None:
    response = switch(client, "/compare", "?force=kent&period=2025-09", "durham", "2025-09",
                      "national", [("live-html", "view-notes")])
    assert response[ids.VIEW_SEARCH]["data"]["search"].startswith("?force=durham")
    assert response[ids.VIEW_SEARCH]["data"]["in_place"] is False
    assert response[ids.LIVE_VIEW]["data"] is None
    assert by_part(response) == {}


def test_the_skeleton_ignores_live_contents_and_sees_everything_else() -> None:
    def page(text: str, title: str = "Flight deck") -> Any:
        from dash import html

        return html.Div([html.H1(title), live_html("tiles", tag("p", text))])

    assert skeleton(page("Kent")) == skeleton(page("Durham"))
    assert skeleton(page("Kent")) != skeleton(page("Kent", title="Pillar 1"))


def test_markup_escapes_text_and_attributes() -> None:
    block = HtmlBlock(tag("p", '<script>alert("x")</script> & more',
                          title='"quoted" <b>', class_="tile-value"))
    assert block.html == ('<p title="&#34;quoted&#34; &lt;b&gt;" class="tile-value">'
                          "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; more</p>")
    assert link("Kent & Essex", "/kpi/x?force=kent&period=2025-09") == (
        '<a href="/kpi/x?force=kent&amp;period=2025-09" data-link>Kent &amp; Essex</a>')
    assert tag("img", src="data:x", alt="", hidden=True, title=None) == (
        '<img src="data:x" alt="" hidden>')


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("ab &<>\"'=;#x\u00e9\n"), max_size=12)
       | st.text(max_size=12))
def test_markup_escapes_as_markupsafe_does(text: str) -> None:
    """Text and attribute values escaped exactly as MarkupSafe's own escape() does; only
    a tag's own markup passes through; other objects are escaped as their text."""
    from markupsafe import Markup, escape

    assert tag("p", text, title=text) == f'<p title="{escape(text)}">{escape(text)}</p>'
    inner = tag("b", text)
    assert tag("p", inner, [text, (7,)], None, False, class_=Markup("<&>"), width=240) == (
        f'<p class="<&>" width="240">{inner}{escape(text)}7</p>')
    assert isinstance(tag("p", text), Markup) and isinstance(tag("br"), Markup)


def test_a_tiles_sparkline_is_inline_svg_named_for_screen_readers(client: FlaskClient
                                                                  ) -> None:
    # ``client``: a page module registers itself with an app, so one is built first
    # (alone, this test would otherwise fail on dash.register_page).
    from kpis.charts.figures import sparkline
    from layouts.flight_deck import sparkline_markup

    # 4, 5, 6 on a 100 x 40 box with the mean 5 (the middle, y = 20) and limits 0 and 10
    # (the bottom and the top): the line from y = 38 - 4/10 * 36 = 23.6 to 16.4.
    spark = sparkline([4.0, 5.0, 6.0], width=100, height=40, colour="#0b0c0c", mean=5.0,
                      lower=0.0, upper=10.0)
    assert spark is not None
    guide = '<path d="{}" stroke="#6c757d" stroke-width="1" stroke-dasharray="{}" fill="none">'
    assert sparkline_markup(spark, "Trend <3 periods>") == (
        "<svg "
        + guide.format("M2,20.0H98", "4 3") + "</path>"
        + guide.format("M2,38.0H98", "1 3") + "</path>"
        + guide.format("M2,2.0H98", "1 3") + "</path>"
        + '<path d="M2.0,23.6 L50.0,20.0 L98.0,16.4" fill="none" stroke="#0b0c0c" '
          'stroke-width="2"></path></svg>'
    ).replace("<svg ", '<svg role="img" aria-label="Trend &lt;3 periods&gt;" width="100" '
                       'height="40" viewBox="0 0 100 40" class="tile-spark">', 1)


@pytest.mark.parametrize("blocks", [["flight-deck"], [{"type": "live-graph", "part": "x"}],
                                    [{"type": "live-html", "part": 7}], [None]])
def test_a_switch_whose_block_ids_are_not_live_html_ids_is_left_to_the_router(
        client: FlaskClient, blocks: list[object]) -> None:
    # The blocks' ids are state as the browser sends it (one value a block): a crafted
    # request may send anything. It is answered (no fault), and nothing but the address.
    dependency = next(d for d in dependencies(client)
                      if d["output"].startswith("..view-search.data...live-view.data"))
    response = client.post(ENDPOINT, json={
        "output": dependency["output"],
        "outputs": [{"id": ids.VIEW_SEARCH, "property": "data"},
                    {"id": ids.LIVE_VIEW, "property": "data"},
                    {"id": ids.LIVE_MARKUP, "property": "parts"}, [], []],
        "inputs": [{"id": ids.FORCE, "property": "value", "value": "durham"},
                   {"id": ids.PERIOD, "property": "value", "value": "2025-09"},
                   {"id": ids.COMPARATOR, "property": "value", "value": "national"}],
        "state": [{"id": ids.URL, "property": "search", "value": "?force=kent"},
                  {"id": ids.URL, "property": "pathname", "value": "/"},
                  [{"id": {"type": LIVE_HTML, "part": str(i)}, "property": "id",
                    "value": block} for i, block in enumerate(blocks)]],
        "changedPropIds": [f"{ids.FORCE}.value"],
    })
    assert response.status_code == 200, response.data[:300]
    answer = response.get_json()["response"]
    assert answer[ids.VIEW_SEARCH]["data"]["in_place"] is False
    assert ids.LIVE_MARKUP not in answer

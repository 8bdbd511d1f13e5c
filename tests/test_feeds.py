"""The data feeds for Power BI and Excel, and the API tokens that authorise them.

Requests go through the real app (Flask's test client) over a demo database with real
accounts (``ACCOUNTS`` in conftest). A feed request brings an account's API token, never
a session; it sees exactly what the account sees (force scope, withheld aggregates,
disclosure control), and every token made, revoked or used is in the audit log.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import dash
import pandas as pd
import pytest
from flask.testing import FlaskClient

from kpis.cli import main
from kpis.engine.disclosure import DEFAULT_MARKING
from kpis.engine.measures import flight_deck_table
from kpis.storage import security
from kpis.storage.security import SecurityStore, security_db_path
from tests.conftest import app_over, dataset_of
from tests.test_downloads import raw_sums
from tests.test_plain_csv import check_plain
from tests.test_security import BASE, client_of, render_page, signed_in

RETURN = "suspect_contact_30d"  # force returns: numerator and denominator
RETURN_MEASURES = (["suspect_arrested_interviewed_30d"], ["reports_named_suspect"])
OPEN = "ho_rape_charge_rate"  # Home Office open data
SMALL = "s63g_applications"  # a force-return count with many counts of 1 to 4
FEED = f"{BASE}/feeds/kpis"


@pytest.fixture(scope="module")
def world(demo_db_readonly: Path, accounts_file: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo database with ``ACCOUNTS`` beside it, shared by the tests that only read
    (each makes its own tokens)."""
    db = tmp_path_factory.mktemp("feeds") / "flightdeck.duckdb"
    shutil.copyfile(demo_db_readonly, db)
    shutil.copyfile(accounts_file, security_db_path(db))
    return db


@pytest.fixture(scope="module")
def app(world: Path) -> Iterator[dash.Dash]:
    from web.context import SERVICE_KEY

    dash_app = app_over(world)
    yield dash_app
    dash_app.server.config[SERVICE_KEY].close()


def make_token(db: Path, username: str, name: str = "Power BI") -> tuple[str, str]:
    """(token id, secret) of a new token for ``username``'s account."""
    store = SecurityStore(security_db_path(db))
    try:
        token, secret = store.create_token(username, name, actor="tests")
    finally:
        store.close()
    return token.token_id, secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def events(db: Path, event: str) -> list[security.AuditEvent]:
    store = SecurityStore(security_db_path(db))
    try:
        return store.events(event=event)
    finally:
        store.close()


def feed_json(client: FlaskClient, secret: str, query: str) -> list[dict[str, object]]:
    response = client.get(f"{FEED}.json?{query}", headers=bearer(secret))
    assert response.status_code == 200, response.data[:300]
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    return json.loads(response.data)


# --- refusals ----------------------------------------------------------------------------


def test_an_unsigned_request_is_refused_with_a_short_401(app: dash.Dash) -> None:
    client = client_of(app)
    response = client.get(f"{FEED}.json?kpi={RETURN}")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = response.get_data(as_text=True)
    assert "API token" in body and len(body) < 200 and "[" not in body
    # A signed-in browser session is not a token: the feeds take tokens only.
    session = signed_in(app, "analyst")
    assert session.get(f"{FEED}.json?kpi={RETURN}").status_code == 401
    # Nor are other schemes, or a token that was never made.
    assert client.get(f"{FEED}.json?kpi={RETURN}",
                      headers={"Authorization": "Basic YTpi"}).status_code == 401
    assert client.get(f"{FEED}.json?kpi={RETURN}",
                      headers=bearer("fdk_" + "x" * 43)).status_code == 401


def test_a_revoked_token_stops_working_at_once(app: dash.Dash, world: Path) -> None:
    client = client_of(app)
    token_id, secret = make_token(world, "analyst", "to revoke")
    query = f"kpi={OPEN}&force=kent&start=2025-04"
    assert client.get(f"{FEED}.csv?{query}", headers=bearer(secret)).status_code == 200
    store = SecurityStore(security_db_path(world))
    store.revoke_token(token_id, actor="analyst")
    store.close()
    response = client.get(f"{FEED}.csv?{query}", headers=bearer(secret))
    assert response.status_code == 401
    assert "revoked" in response.get_data(as_text=True)
    refused = events(world, security.FEED_REFUSED)
    assert refused and "unknown, revoked or malformed" in refused[0].detail


def test_a_bad_feed_request_gets_a_plain_answer(app: dash.Dash, world: Path) -> None:
    client = client_of(app)
    _, secret = make_token(world, "analyst", "bad requests")
    for url, status, says in [
        (f"{FEED}.json", 400, "at least one KPI"),
        (f"{FEED}.json?kpi=no_such", 400, "no published KPI"),
        (f"{FEED}.json?kpi={RETURN}&force=atlantis", 400, "no force or area"),
        (f"{FEED}.json?kpi={RETURN}&start=April", 400, "YYYY-MM"),
        (f"{FEED}.json?kpi={RETURN}&start=2025-06&end=2025-01", 400, "before start"),
        (f"{FEED}.json?kpi={RETURN}&colour=red", 400, "Unknown parameter"),
        (f"{FEED}.json?kpi={RETURN}&suppress=yes", 400, "suppress must be 1"),
        (f"{FEED}.json?kpi={RETURN}&marking=%3Cb%3E", 400, "marking"),
        (f"{BASE}/feeds/everything.json?kpi={RETURN}", 404, "/feeds/kpis.csv"),
        (f"{FEED}.xml?kpi={RETURN}", 404, "/feeds/kpis.json"),
    ]:
        response = client.get(url, headers=bearer(secret))
        assert response.status_code == status, (url, response.data)
        body = response.get_data(as_text=True)
        assert says in body and "Traceback" not in body and len(body) < 300, url


# --- scoping and disclosure --------------------------------------------------------------


@pytest.mark.slow  # a scoped dataset and two tables (over a second)
def test_a_kent_token_gets_kents_figures_and_no_other_forces(app: dash.Dash,
                                                             world: Path) -> None:
    client = client_of(app)
    _, secret = make_token(world, "kent-analyst")
    rows = feed_json(client, secret, f"kpi={RETURN}&start=2025-04&end=2025-09")
    forces = set(dataset_of(world).forces["slug"])
    assert {r["force"] for r in rows} & forces == {"kent"}
    # The numbers are the flight-deck table's for a Kent-scoped account, worked here ...
    scoped = dataset_of(world).scoped("kent")
    expected = flight_deck_table(scoped, [RETURN], None, dt.date(2025, 4, 1),
                                 dt.date(2025, 9, 1))
    assert len(rows) == len(expected)
    assert set(expected["area"]) == {r["force"] for r in rows}
    kent = {r["period_start"]: r for r in rows if r["force"] == "kent"}
    mine = expected[expected["area"] == "kent"]
    assert len(kent) == len(mine) == 6
    for _, row in mine.iterrows():
        got = kent[row["period_start"].date().isoformat()]
        assert got["numerator"] == row["numerator"] and got["value"] == pytest.approx(
            row["value"])
        # ... and the sums of Kent's raw returns.
        month = row["period_start"].date()
        assert got["numerator"] == raw_sums(world, RETURN_MEASURES[0], month, "kent")
        assert got["denominator"] == raw_sums(world, RETURN_MEASURES[1], month, "kent")
    # Home Office open data is public: the account sees it for every force, as on its
    # pages.
    public = feed_json(client, secret, f"kpi={OPEN}&start=2025-01")
    assert {r["force"] for r in public} >= {"kent", "essex", "durham"}
    assert {r["marking"] for r in public} == {"OFFICIAL"}


def test_a_kent_token_asking_for_another_force_is_refused_and_audited(
        app: dash.Dash, world: Path) -> None:
    client = client_of(app)
    _, secret = make_token(world, "kent-analyst", "Excel")
    response = client.get(f"{FEED}.csv?kpi={RETURN}&force=essex", headers=bearer(secret))
    assert response.status_code == 403
    assert "limited to Kent" in response.get_data(as_text=True)
    assert b"essex," not in response.data
    denied = events(world, security.ACCESS_DENIED)
    assert denied[0].username == "kent-analyst" and "Essex" in denied[0].detail


@pytest.mark.slow  # disclosure control over every force (over a second)
def test_a_feed_marked_official_is_suppressed_and_open_data_is_not(app: dash.Dash,
                                                                   world: Path) -> None:
    client = client_of(app)
    _, secret = make_token(world, "analyst", "disclosure")

    def small(rows: list[dict[str, object]]) -> int:
        return sum(1 for r in rows if isinstance(r["numerator"], int | float)
                   and 0 < r["numerator"] < 5)

    whole = feed_json(client, secret, f"kpi={SMALL}&start=2025-01")
    assert {r["marking"] for r in whole} == {DEFAULT_MARKING} and small(whole)
    official = feed_json(client, secret, f"kpi={SMALL}&start=2025-01&marking=OFFICIAL")
    assert {r["marking"] for r in official} == {"OFFICIAL"}
    assert not small(official) and any(r["suppressed"] for r in official)
    asked = feed_json(client, secret, f"kpi={SMALL}&start=2025-01&suppress=1")
    assert not small(asked) and {r["marking"] for r in asked} == {DEFAULT_MARKING}
    # Open data only: OFFICIAL by default, published small counts and all.
    public = feed_json(client, secret, f"kpi={OPEN}")
    assert {r["marking"] for r in public} == {"OFFICIAL"}
    assert small(public) and not any(r["suppressed"] for r in public)


def test_the_csv_feed_is_plain_with_the_marking_and_label_on_every_row(
        app: dash.Dash, world: Path) -> None:
    client = client_of(app)
    _, secret = make_token(world, "analyst", "csv")
    response = client.get(f"{FEED}.csv?kpi={OPEN}&force=kent&force=essex&start=2024-04",
                          headers=bearer(secret))
    assert response.status_code == 200, response.data[:300]
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="kpis-OFFICIAL-demo.csv"')
    frame = check_plain(response.get_data(as_text=True))
    assert set(frame["force"]) == {"kent", "essex"}
    assert set(frame["marking"]) == {"OFFICIAL"}
    assert set(frame["data_label"]) == {"DEMONSTRATION DATA"}
    assert pd.read_csv(io.StringIO(response.get_data(as_text=True))).shape[0] == len(frame)


# --- the account behind the token --------------------------------------------------------


@pytest.mark.slow  # accounts changed and the app asked again (over a second)
def test_a_token_follows_its_account_and_dies_with_it(secured_db: Path) -> None:
    app = app_over(secured_db)
    client = client_of(app)
    _, secret = make_token(secured_db, "kent-analyst")
    query = f"kpi={RETURN}&start=2025-09"
    assert {r["force"] for r in feed_json(client, secret, query)} & {"kent", "surrey"} == {
        "kent"}
    store = SecurityStore(security_db_path(secured_db))
    store.set_role("kent-analyst", "analyst", "surrey", actor="tests")  # a new scope
    assert {r["force"] for r in feed_json(client, secret, query)} & {"kent", "surrey"} == {
        "surrey"}
    store.set_role("kent-analyst", "viewer", "surrey", actor="tests")  # no export right
    response = client.get(f"{FEED}.json?{query}", headers=bearer(secret))
    assert response.status_code == 403 and "viewer" in response.get_data(as_text=True)
    store.remove_user("kent-analyst", actor="tests")
    assert store.tokens("kent-analyst", include_revoked=True) == []
    store.close()
    assert client.get(f"{FEED}.json?{query}", headers=bearer(secret)).status_code == 401


def test_a_viewer_cannot_have_a_token(world: Path) -> None:
    store = SecurityStore(security_db_path(world))
    try:
        with pytest.raises(security.UserError, match="viewer: data feeds are exports"):
            store.create_token("viewer", "Power BI")
    finally:
        store.close()


def test_tokens_are_stored_as_hashes_and_every_use_is_audited(app: dash.Dash,
                                                              world: Path) -> None:
    token_id, secret = make_token(world, "kent-analyst", "audited")
    store = SecurityStore(security_db_path(world))
    try:
        (token,) = [t for t in store.tokens("kent-analyst") if t.token_id == token_id]
        assert token.last_used_at is None
    finally:
        store.close()
    assert secret.encode() not in security_db_path(world).read_bytes()
    assert security.hash_token(secret).encode() in security_db_path(world).read_bytes()
    client = client_of(app, "10.1.2.3")  # a secured app answers other addresses
    feed_json(client, secret, f"kpi={OPEN}&force=kent&start=2025-01")
    (made,) = [e for e in events(world, security.TOKEN_CREATED) if token_id in e.detail]
    assert "kent-analyst" in made.detail and "analyst, kent" in made.detail
    used = [e for e in events(world, security.FEED) if token_id in e.detail]
    assert len(used) == 1
    assert (used[0].username, used[0].address) == ("kent-analyst", "10.1.2.3")
    assert f"JSON feed of {OPEN} for kent" in used[0].detail
    assert "marked OFFICIAL" in used[0].detail and "(account: analyst, kent)" in used[0].detail
    store = SecurityStore(security_db_path(world))
    try:
        (token,) = [t for t in store.tokens("kent-analyst") if t.token_id == token_id]
        assert token.last_used_at is not None
    finally:
        store.close()


# --- where the token may be, and the demonstration ---------------------------------------


@pytest.mark.slow  # a second app with another setting (over a second)
def test_a_token_in_the_address_only_where_the_setting_allows(world: Path) -> None:
    _, secret = make_token(world, "analyst", "query")
    off = client_of(app_over(world))
    response = off.get(f"{FEED}.csv?kpi={OPEN}&start=2025-04&token={secret}")
    assert response.status_code == 401
    assert "Authorization header" in response.get_data(as_text=True)
    on = client_of(app_over(world, {"FLIGHTDECK_FEED_QUERY_TOKENS": "1"}))
    assert on.get(f"{FEED}.csv?kpi={OPEN}&start=2025-04&token={secret}").status_code == 200


def test_wrong_tokens_from_one_address_are_throttled(secured_db: Path) -> None:
    app = app_over(secured_db)
    client = client_of(app, "10.9.9.9")
    wrong = bearer("fdk_" + "y" * 43)
    statuses = [client.get(f"{FEED}.json?kpi={OPEN}", headers=wrong).status_code
                for _ in range(security.MAX_FAILURES_PER_ADDRESS + 2)]
    assert statuses[:security.MAX_FAILURES_PER_ADDRESS] == [401] * 20
    assert statuses[-2:] == [429, 429]
    # One audit line for the burst, not one a request.
    refused = events(secured_db, security.FEED_REFUSED)
    assert len(refused) == 1 and "1 request(s)" in refused[0].detail
    # Another address is not held up.
    other = client_of(app, "10.9.9.8")
    assert other.get(f"{FEED}.json?kpi={OPEN}", headers=wrong).status_code == 401


def test_the_demonstration_feeds_answer_this_computer_without_a_token(
        demo_db: Path) -> None:
    app = app_over(demo_db)
    local = client_of(app)
    response = local.get(f"http://localhost/feeds/kpis.csv?kpi={OPEN}&force=kent"
                         "&start=2025-01")
    assert response.status_code == 200, response.data[:300]
    assert set(check_plain(response.get_data(as_text=True))["force"]) == {"kent"}
    remote = client_of(app, "192.0.2.7")
    assert remote.get(f"http://localhost/feeds/kpis.csv?kpi={OPEN}").status_code == 403


# --- making and revoking tokens ----------------------------------------------------------


def token_request(app: dash.Dash, button: str, name: object, choice: object
                  ) -> dict[str, object]:
    """The page's make or revoke callback, as the browser sends it."""
    from web import ids

    output = next(key for key in app.callback_map if f"{ids.TOKENS}.children" in key)
    return {
        "output": output,
        "outputs": [{"id": ids.TOKENS, "property": "children"},
                    {"id": ids.TOKEN_REVOKE_CHOICE, "property": "options"},
                    {"id": ids.TOKEN_MESSAGE, "property": "children"},
                    {"id": ids.TOKEN_NAME, "property": "value"}],
        "inputs": [{"id": key, "property": "n_clicks", "value": 1 if key == button else None}
                   for key in (ids.TOKEN_CREATE, ids.TOKEN_REVOKE)],
        "state": [{"id": ids.TOKEN_NAME, "property": "value", "value": name},
                  {"id": ids.TOKEN_REVOKE_CHOICE, "property": "value", "value": choice}],
        "changedPropIds": [f"{button}.n_clicks"],
    }


@pytest.mark.slow  # signed in, several callbacks and a feed (over a second)
def test_the_page_makes_a_token_shown_once_and_revokes_it(secured_db: Path) -> None:
    from web import ids

    app = app_over(secured_db)
    browser = signed_in(app, "kent-analyst")
    page = json.dumps(render_page(browser, "/data-feeds").get_json())
    assert "You have no API tokens" in page and ids.TOKEN_CREATE in page
    assert "/feeds/kpis.csv?kpi=ho_rape_charge_rate" in page and "force=kent" in page

    def press(button: str, name: object = "Power BI", choice: object = None) -> str:
        response = browser.post(f"{BASE}/_dash-update-component",
                                json=token_request(app, button, name, choice))
        assert response.status_code == 200, response.data[:300]
        return response.get_data(as_text=True)

    made = json.loads(press(ids.TOKEN_CREATE))["response"]
    message = json.dumps(made[ids.TOKEN_MESSAGE])
    secret = "fdk_" + message.split('"children": "fdk_', 1)[1].split('"', 1)[0]
    assert "not shown again" in message
    store = SecurityStore(security_db_path(secured_db))
    (token,) = store.tokens("kent-analyst")
    assert token.name == "Power BI"
    # The token works on the feed, as the account.
    feed = client_of(app, "10.0.0.5")
    assert feed.get(f"{FEED}.json?kpi={RETURN}&force=kent&start=2025-09",
                    headers=bearer(secret)).status_code == 200
    # The page shows it once: the list has its name and id, never the secret.
    again = json.dumps(render_page(browser, "/data-feeds").get_json())
    assert token.token_id in again and secret not in again
    assert "Not changed: Name the token" in press(ids.TOKEN_CREATE, name="   ")
    assert "Not changed" in press(ids.TOKEN_REVOKE, choice="nonsense")
    assert "Revoked Power BI" in press(ids.TOKEN_REVOKE, choice=token.token_id)
    assert store.tokens("kent-analyst") == []
    (revoked,) = store.events(event=security.TOKEN_REVOKED)
    assert (revoked.username, revoked.address) == ("kent-analyst", "127.0.0.1")
    assert f"token {token.token_id} (Power BI) (account: analyst, kent)" in revoked.detail
    store.close()
    assert feed.get(f"{FEED}.json?kpi={RETURN}", headers=bearer(secret)).status_code == 401
    # A viewer is told feeds are exports; no form.
    viewer = render_page(signed_in(app, "viewer"), "/data-feeds").get_data(as_text=True)
    assert ids.FEEDS_NOT_ALLOWED in viewer and ids.TOKEN_CREATE not in viewer


def test_an_administrator_makes_lists_and_revokes_tokens_from_the_command_line(
        secured_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", str(secured_db)]
    assert main(["tokens", "create", "analyst", "--label", "nightly script", *db]) == 0
    captured = capsys.readouterr()
    secret = captured.out.strip()
    assert secret.startswith("fdk_") and "shown this once" in captured.err
    assert main(["tokens", "list", *db]) == 0
    listed = capsys.readouterr().out
    token_id = listed.split("\t", 1)[0]
    assert "analyst\tnightly script" in listed and secret not in listed
    assert main(["tokens", "revoke", token_id, *db]) == 0
    assert f"revoked token {token_id}" in capsys.readouterr().out
    assert main(["tokens", "list", *db]) == 0
    assert capsys.readouterr().out.strip() == "no API tokens"
    assert main(["tokens", "list", "analyst", "--all", *db]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["tokens", "create", "viewer", *db]) == 2
    assert "data feeds are exports" in capsys.readouterr().err
    actors = {e.username for e in events(secured_db, security.TOKEN_CREATED)}
    assert any(actor.endswith("(command line)") for actor in actors)

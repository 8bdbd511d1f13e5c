"""Sign-in, roles, force scoping and HTTP hardening, through the real Flask app.

Requests go through the app's own WSGI stack (Flask's test client) over a real demo
database with real accounts (``ACCOUNTS`` in conftest). Dash callbacks are called the
way the browser calls them: a JSON POST to ``/_dash-update-component``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dash
import pytest
from flask.testing import FlaskClient

from kpis.storage.security import SecurityStore, security_db_path
from tests.backends import secured_db_on_both  # noqa: F401 (fixtures: both backends)
from tests.conftest import ACCOUNTS, PROJECT_ROOT, app_over, database_digest
from web import ids
from web.context import SERVICE_KEY

BASE = "https://flightdeck.test"  # cookies are Secure: the test client must speak https
PAGES_OUTPUT = ".._pages_content.children..._pages_store.data.."


@pytest.fixture
def secured_app(secured_db: Path) -> Iterator[dash.Dash]:
    yield app_over(secured_db)


def client_of(app: dash.Dash, address: str = "127.0.0.1") -> FlaskClient:
    client = app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def csrf_token(client: FlaskClient) -> str:
    page = client.get(f"{BASE}/login")
    found = re.search(rb'name="csrf" value="([^"]+)"', page.data)
    assert found, page.data[:500]
    return found.group(1).decode()


def sign_in(client: FlaskClient, username: str, password: str | None = None,
            next_path: str = "/") -> Any:
    password = ACCOUNTS[username][2] if password is None else password
    return client.post(f"{BASE}/login", data={
        "username": username, "password": password, "csrf": csrf_token(client),
        "next": next_path})


def signed_in(app: dash.Dash, username: str) -> FlaskClient:
    client = client_of(app)
    response = sign_in(client, username)
    assert response.status_code == 302, response.data
    return client


def render_page(client: FlaskClient, path: str, search: str = "",
                headers: dict[str, str] | None = None, base: str = BASE) -> Any:
    """Ask for a page the way the browser's page router does (a crafted request can
    name any path and query)."""
    return client.post(f"{base}/_dash-update-component", headers=headers, json={
        "output": PAGES_OUTPUT,
        "outputs": [{"id": "_pages_content", "property": "children"},
                    {"id": "_pages_store", "property": "data"}],
        "inputs": [{"id": "_pages_location", "property": "pathname", "value": path},
                   {"id": "_pages_location", "property": "search", "value": search}],
        "changedPropIds": ["_pages_location.pathname"],
        "state": [{"id": "live-view", "property": "data", "value": None}],
    })


def audit_events(db: Path, event: str) -> list[str]:
    store = SecurityStore(security_db_path(db))
    try:
        return [e.username for e in store.events(event=event)]
    finally:
        store.close()


digest = database_digest  # a file's bytes; a server database's rows


# --------------------------------------------------------------------------- the gate


def concrete_urls(app: dash.Dash) -> list[str]:
    """Every route of the app, with sample values for its variable parts."""
    urls = []
    for rule in app.server.url_map.iter_rules():
        url = re.sub(r"<(?:[^:>]+:)?path>", "dash/dash-renderer/build/dash_renderer.min.js",
                     rule.rule)
        url = re.sub(r"<[^>]+>", "ho_rape_charge_rate", url)
        urls.append(url)
    return sorted(set(urls))


@pytest.mark.slow  # about a second
def test_every_route_is_refused_without_a_session(secured_app: dash.Dash) -> None:
    client = client_of(secured_app)
    urls = [
        *concrete_urls(secured_app),
        "/", "/kpi/ho_rape_charge_rate", "/compare?force=kent", "/upload", "/audit",
        "/board-pack", "/scrutiny", "/_dash-layout", "/_dash-dependencies",
        "/download/chart/spc/ho_rape_charge_rate.png?force=kent",
        "/download/chart/spc/ho_rape_charge_rate.csv?force=kent",
    ]
    public = ("/login", "/assets/", "/_favicon.ico", "/favicon.ico")
    checked = 0
    for url in urls:
        if url.startswith(public):
            continue
        for method in (client.get, client.post):
            response = method(f"{BASE}{url}")
            checked += 1
            if response.status_code == 302:
                assert response.headers["Location"].startswith("/login"), url
            else:
                assert response.status_code in (401, 403, 405), (url, response.status_code)
            # Nothing of the app: no force names, KPI titles or Dash components.
            for leak in (b"Kent", b"Rape charge", b'"props"', b"function("):
                assert leak not in response.data, (url, leak)
    callback = render_page(client, "/kpi/ho_rape_charge_rate", "?force=kent")
    assert callback.status_code == 401
    assert "/_dash-update-component" in urls and checked > 30


def test_sign_in_sets_a_secure_httponly_samesite_cookie_that_expires(
        secured_app: dash.Dash) -> None:
    client = client_of(secured_app)
    response = sign_in(client, "viewer", next_path="/compare?force=kent")
    assert response.status_code == 302
    assert response.headers["Location"] == "/compare?force=kent"
    cookie = next(c for c in response.headers.getlist("Set-Cookie")
                  if c.startswith("flightdeck_session="))
    for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Expires="):
        assert flag in cookie, cookie
    assert client.get(f"{BASE}/_dash-layout").status_code == 200


def test_a_wrong_password_is_refused_and_written_to_the_audit_log(
        secured_app: dash.Dash, secured_db: Path) -> None:
    client = client_of(secured_app)
    response = sign_in(client, "viewer", "not the password")
    assert response.status_code == 401
    assert b"not right" in response.data
    assert client.get(f"{BASE}/_dash-layout").status_code == 401
    assert audit_events(secured_db, "sign-in failed") == ["viewer"]


@pytest.mark.slow  # two dozen sign-ins (about 2 s)
def test_repeated_failed_sign_ins_are_throttled_even_with_the_right_password(
        secured_app: dash.Dash, secured_db: Path) -> None:
    client = client_of(secured_app)
    for _ in range(5):
        assert sign_in(client, "analyst", "guessing wrongly").status_code == 401
    throttled = sign_in(client, "analyst")  # the right password, too late
    assert throttled.status_code == 429
    assert b"Too many failed sign-ins" in throttled.data
    assert client.get(f"{BASE}/_dash-layout").status_code == 401
    assert audit_events(secured_db, "sign-in throttled") == ["analyst"]
    # Another account is not locked out by someone guessing this one's password.
    assert sign_in(client_of(secured_app), "viewer").status_code == 302


def test_signing_out_ends_the_session_and_copies_of_its_cookie(
        secured_app: dash.Dash, secured_db: Path) -> None:
    client = signed_in(secured_app, "viewer")
    copied = client.get_cookie("flightdeck_session", domain="flightdeck.test").value
    response = client.post(f"{BASE}/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get(f"{BASE}/_dash-layout").status_code == 401
    replay = client_of(secured_app)
    replay.set_cookie("flightdeck_session", copied, domain="flightdeck.test")
    assert replay.get(f"{BASE}/_dash-layout").status_code == 401
    assert audit_events(secured_db, "sign-out") == ["viewer"]


def test_changing_a_password_ends_the_users_sessions(secured_app: dash.Dash,
                                                    secured_db: Path) -> None:
    client = signed_in(secured_app, "viewer")
    SecurityStore(security_db_path(secured_db)).set_password("viewer", "a new password 2")
    assert client.get(f"{BASE}/_dash-layout").status_code == 401


def test_login_never_redirects_to_another_site(secured_app: dash.Dash) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        response = sign_in(client_of(secured_app), "viewer", next_path=target)
        assert response.status_code == 302
        assert response.headers["Location"] == "/", target


def test_a_cross_site_post_is_refused(secured_app: dash.Dash) -> None:
    client = signed_in(secured_app, "analyst")
    response = client.post(f"{BASE}/_dash-update-component", json={},
                           headers={"Origin": "https://evil.example"})
    assert response.status_code == 403


# --------------------------------------------------------------------------- scoping


OTHER_FORCES = (b"Essex", b"Surrey", b"Greater Manchester", b"Metropolitan Police")


@pytest.mark.slow  # about a second a page, six pages
@pytest.mark.parametrize("path", ["/", "/compare", "/kpi/suspect_contact_30d", "/pillar/1",
                                  "/scrutiny", "/data"])
def test_a_scoped_user_crafting_a_request_for_another_force_gets_nothing_of_it(
        secured_app: dash.Dash, path: str) -> None:
    # A force-return KPI (Home Office open data is public: the next test).
    search = "?force=essex&group=region-east-of-england&kpi=suspect_contact_30d"
    scoped = render_page(signed_in(secured_app, "kent-analyst"), path, search)
    everyone = render_page(signed_in(secured_app, "analyst"), path, search)
    assert scoped.status_code == everyone.status_code == 200
    # The same request by an analyst who covers every force does show other forces:
    # the scoped response lacks them because of the scope, not by accident.
    assert any(name in everyone.data for name in OTHER_FORCES), path
    assert not any(name in scoped.data for name in OTHER_FORCES), path


def test_a_scoped_account_opens_on_its_own_force(secured_app: dash.Dash) -> None:
    client = signed_in(secured_app, "kent-analyst")
    assert b"Flight deck: Kent" in render_page(client, "/").data
    # Asked for a force it may not see, it is told, and shown its own.
    page = render_page(client, "/", "?force=essex").data.decode()
    assert "Flight deck: Kent" in page
    assert "There is no force “essex” you can see, so Kent is shown." in page
    assert b"Flight deck: England and Wales" in render_page(
        signed_in(secured_app, "analyst"), "/").data


def test_a_scoped_user_sees_every_forces_home_office_figures_and_is_told_why(
        secured_app: dash.Dash) -> None:
    from kpis.domain.vocabulary import OPEN_DATA_SCOPE_NOTE

    page = render_page(signed_in(secured_app, "kent-analyst"), "/compare",
                       "?kpi=ho_rape_charge_rate")
    assert page.status_code == 200
    assert all(name in page.data for name in OTHER_FORCES)
    assert OPEN_DATA_SCOPE_NOTE.encode() in page.data
    # The same page for a force-return KPI shows no other force, and says nothing of it.
    own = render_page(signed_in(secured_app, "kent-analyst"), "/compare",
                      "?kpi=suspect_contact_30d")
    assert not any(name in own.data for name in OTHER_FORCES)
    assert OPEN_DATA_SCOPE_NOTE.encode() not in own.data


@pytest.mark.slow  # about a second
def test_a_scoped_user_cannot_export_or_download_another_forces_figures(
        secured_app: dash.Dash) -> None:
    client = signed_in(secured_app, "kent-analyst")
    own = client.get(f"{BASE}/download/chart/spc/ho_rape_charge_rate.csv?force=kent")
    assert own.status_code == 200 and b",kent," in own.data
    other = client.get(f"{BASE}/download/chart/spc/ho_rape_charge_rate.csv?force=essex")
    assert other.status_code in (403, 404)
    assert b"Essex" not in other.data or b"limited to Kent" in other.data


@pytest.mark.slow  # over a second
def test_a_viewer_cannot_download_exports(secured_app: dash.Dash) -> None:
    page = "/kpi/ho_rape_charge_rate"
    assert b"chart-download-png" in render_page(signed_in(secured_app, "analyst"), page).data
    client = signed_in(secured_app, "viewer")
    assert b"chart-download-png" not in render_page(client, page).data
    response = client.get(f"{BASE}/download/chart/spc/ho_rape_charge_rate.csv?force=kent")
    assert response.status_code == 403
    assert b"analyst" in response.data


# --------------------------------------------------------------------------- roles


def commentary_request(kpi: str, area: str, month: str, text: str) -> dict[str, Any]:
    key = f"{kpi}|{area}|{month}"
    return {
        "output": json.dumps({"type": "commentary-current", "key": "MATCH"}),
        "outputs": [{"id": {"type": "commentary-current", "key": key}, "property": "children"},
                    {"id": {"type": "commentary-message", "key": key}, "property": "children"}],
        "inputs": [{"id": {"type": "commentary-save", "key": key}, "property": "n_clicks",
                    "value": 1}],
        "state": [{"id": {"type": "commentary-text", "key": key}, "property": "value",
                   "value": text},
                  {"id": {"type": "commentary-author", "key": key}, "property": "value",
                   "value": "Someone Else"}],
        "changedPropIds": [json.dumps({"key": key, "type": "commentary-save"},
                                      separators=(",", ":")) + ".n_clicks"],
    }


def callback_output(app: dash.Dash, output_id: str) -> str:
    """The ``output`` string Dash uses for the callback writing to ``output_id``."""
    for name in app.callback_map:
        if output_id in name:
            return name
    raise AssertionError(f"no callback writes {output_id}")


def test_a_viewer_cannot_write_commentary_and_the_database_is_untouched(
        secured_app: dash.Dash, secured_db: Path) -> None:
    before = digest(secured_db)
    request = commentary_request("ho_rape_charge_rate", "kent", "2025-09", "Viewer's note")
    request["output"] = callback_output(secured_app, '"type":"commentary-current"')
    response = signed_in(secured_app, "viewer").post(f"{BASE}/_dash-update-component",
                                                     json=request)
    assert response.status_code == 200
    assert b"Not saved" in response.data and b"analyst role" in response.data
    assert digest(secured_db) == before


@pytest.mark.slow  # over a second
def test_a_scoped_analyst_writes_commentary_for_their_force_only_signed_with_their_name(
        secured_app: dash.Dash, secured_db: Path) -> None:
    client = signed_in(secured_app, "kent-analyst")
    output = callback_output(secured_app, '"type":"commentary-current"')
    other = commentary_request("ho_rape_charge_rate", "essex", "2025-09", "About Essex")
    other["output"] = output
    refused = client.post(f"{BASE}/_dash-update-component", json=other)
    assert b"Not saved" in refused.data
    own = commentary_request("ho_rape_charge_rate", "kent", "2025-09", "About Kent")
    own["output"] = output
    saved = client.post(f"{BASE}/_dash-update-component", json=own)
    assert b"Commentary saved" in saved.data
    # Signed by the account, not by whatever name the request carried.
    assert b"Kent-Analyst" in saved.data and b"Someone Else" not in saved.data


@pytest.mark.slow  # about a second
def test_a_viewer_cannot_load_roll_back_or_record_progress(secured_db: Path) -> None:
    from kpis.domain.access import AccessDenied
    from kpis.service import FlightDeckService
    from kpis.storage.security import SecurityStore

    viewer = SecurityStore(security_db_path(secured_db)).user("viewer")
    assert viewer is not None
    service = FlightDeckService(secured_db).for_principal(viewer.principal(), "10.0.0.9")
    before = digest(secured_db)
    load_id = int(service.dataset().loads["load_id"].max())
    with pytest.raises(AccessDenied, match="analyst role"):
        service.rollback(load_id)
    with pytest.raises(AccessDenied, match="analyst role"):
        service.load([PROJECT_ROOT / "README.md"])
    with pytest.raises(AccessDenied, match="analyst role"):
        service.record_progress("R1", "complete", "Done", "Viewer")
    with pytest.raises(AccessDenied, match="analyst role"):
        service.write_commentary("ho_rape_charge_rate", "kent", "2025-09", "Note")
    assert digest(secured_db) == before
    assert audit_events(secured_db, "access denied").count("viewer") == 4


@pytest.mark.slow  # over a second
def test_the_upload_page_tells_a_viewer_it_needs_the_analyst_role(
        secured_app: dash.Dash) -> None:
    response = render_page(signed_in(secured_app, "viewer"), "/upload")
    assert b"upload-not-allowed" in response.data
    assert b"upload-files" not in response.data


def test_the_audit_log_is_for_admins_only(secured_app: dash.Dash) -> None:
    admin = render_page(signed_in(secured_app, "admin"), "/audit")
    assert b"audit-table" in admin.data and b"sign-in" in admin.data
    analyst = render_page(signed_in(secured_app, "analyst"), "/audit")
    assert b"audit-not-allowed" in analyst.data and b"audit-table" not in analyst.data


# --------------------------------------------------------------------------- hardening


def test_security_headers_are_on_every_response(secured_app: dash.Dash) -> None:
    client = signed_in(secured_app, "viewer")
    for url in ("/login", "/", "/_dash-layout", "/assets/10-flightdeck.css"):
        headers = client.get(f"{BASE}{url}").headers
        policy = headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-eval" not in policy and "script-src 'self' 'sha256-" in policy
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"
    assert client.get(f"{BASE}/_dash-layout").headers["Cache-Control"] == "no-store"


def test_a_fault_shows_a_short_message_and_no_stack_trace(
        secured_app: dash.Dash, monkeypatch: pytest.MonkeyPatch) -> None:
    # A well-formed request that meets a fault of the server's (a malformed one is a
    # 400: tests/test_fuzz_callbacks.py).
    client = signed_in(secured_app, "viewer")
    page = next(p for p in dash.page_registry.values() if p["path"] == "/")

    def broken(**_: object) -> None:
        raise IndexError("a fault in the page")

    monkeypatch.setitem(page, "layout", broken)
    response = render_page(client, "/")
    assert response.status_code == 500
    assert b"Something went wrong" in response.data
    for leak in (b"Traceback", b"File \"", b".py", b"IndexError"):
        assert leak not in response.data


def test_an_upload_over_the_size_limit_is_refused_before_it_is_read(
        secured_db: Path) -> None:
    app = app_over(secured_db, {"FLIGHTDECK_MAX_UPLOAD_MB": "1"})
    client = signed_in(app, "analyst")
    declared = client.post(f"{BASE}/upload/batch", json={
        "files": [{"name": "big.xlsx", "size": 1024 * 1024 + 1}]})
    assert declared.status_code == 413
    assert b"larger than 1 MB" in declared.data
    staging = app.server.config[SERVICE_KEY].state_dir / ".uploads"
    assert not staging.exists() or not any(staging.iterdir())


def test_a_request_that_is_not_an_upload_may_send_little(secured_db: Path) -> None:
    """Callbacks carry no files any more: 4 MB is refused before it is read."""
    from web.security import REQUEST_LIMIT

    client = signed_in(app_over(secured_db), "analyst")
    response = client.post(f"{BASE}/_dash-update-component", data=b"x" * (REQUEST_LIMIT + 1),
                           content_type="application/json")
    assert response.status_code == 413
    assert b"up to 60 MB" in response.data


# --------------------------------------------------------------------------- demo mode


LOCAL = "http://localhost:8050"  # the unsecured demonstration answers to this machine's names


def test_the_unsecured_demonstration_answers_only_this_computer(demo_db: Path) -> None:
    app = app_over(demo_db)
    local = render_page(client_of(app), "/", base=LOCAL)
    assert local.status_code == 200 and b"UNSECURED DEMONSTRATION" not in local.data
    layout = client_of(app).get(f"{LOCAL}/_dash-layout")
    assert b"UNSECURED DEMONSTRATION" in layout.data
    remote = client_of(app, "192.0.2.7").get(f"{LOCAL}/_dash-layout")
    assert remote.status_code == 403
    assert b"unsecured demonstration" in remote.data


@pytest.mark.slow  # a start command's smoke test, in a process
def test_the_app_refuses_to_start_unsecured_on_a_network_address(demo_db: Path) -> None:
    env = {"FLIGHTDECK_DB": str(demo_db), "FLIGHTDECK_HOST": "0.0.0.0",
           "FLIGHTDECK_PORT": "0", "PATH": "/usr/bin:/bin"}
    started = subprocess.run([sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert started.returncode != 0
    assert "refusing to serve on 0.0.0.0" in started.stderr
    cli = subprocess.run([sys.executable, "-m", "kpis.cli", "serve", "--db", str(demo_db),
                          "--host", "10.1.2.3"], cwd=PROJECT_ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode != 0 and "no user accounts are set up" in cli.stderr


@pytest.mark.slow  # a start command's smoke test, in a process
def test_gunicorn_refuses_an_unsecured_network_bind(demo_db: Path) -> None:
    script = (
        "import runpy; conf = runpy.run_path('gunicorn.conf.py'); conf['on_starting'](None)"
    )
    env = {"FLIGHTDECK_DB": str(demo_db), "FLIGHTDECK_BIND": "0.0.0.0:8050",
           "PATH": "/usr/bin:/bin"}
    refused = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "refusing to serve on 0.0.0.0" in refused.stderr
    env["FLIGHTDECK_BIND"] = "127.0.0.1:8050"
    local = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert local.returncode == 0, local.stderr
    # gunicorn's own -b wins over FLIGHTDECK_BIND: the check is on the real address.
    gunicorn = Path(sys.executable).parent / "gunicorn"
    overridden = subprocess.run([str(gunicorn), "-c", "gunicorn.conf.py", "-b",
                                 "0.0.0.0:0", "app:server"], cwd=PROJECT_ROOT, env=env,
                                capture_output=True, text=True, timeout=120)
    assert overridden.returncode != 0
    assert "refusing to serve on 0.0.0.0" in overridden.stderr + overridden.stdout


def test_starting_on_a_network_address_is_allowed_once_accounts_exist(
        secured_db: Path, tmp_path: Path) -> None:
    from kpis.settings import SecurityConfig
    from kpis.storage.security import UnsecuredStart, check_start

    store = SecurityStore(security_db_path(secured_db))
    check_start("0.0.0.0", SecurityConfig(), store)  # accounts exist: no refusal
    empty = SecurityStore(tmp_path / "nobody.duckdb")
    with pytest.raises(UnsecuredStart):
        check_start("0.0.0.0", SecurityConfig(), empty)
    check_start("127.0.0.1", SecurityConfig(), empty)


# --------------------------------------------------------------------------- single sign-on


@pytest.mark.slow  # about a second
def test_the_proxy_user_header_is_honoured_only_from_the_configured_proxy(
        secured_db: Path) -> None:
    app = app_over(secured_db, {"FLIGHTDECK_AUTH": "header",
                                "FLIGHTDECK_TRUSTED_PROXIES": "10.20.0.0/24"})
    header = {"X-Remote-User": "kent-analyst"}
    from_proxy = client_of(app, "10.20.0.5")
    assert from_proxy.get(f"{BASE}/_dash-layout", headers=header).status_code == 200
    page = render_page(from_proxy, "/compare", "?force=essex&kpi=suspect_contact_30d",
                       headers=header)
    assert page.status_code == 200 and b"Kent" in page.data and b"Essex" not in page.data
    forged = client_of(app, "192.0.2.50")
    assert forged.get(f"{BASE}/_dash-layout", headers=header).status_code == 401
    unknown = client_of(app, "10.20.0.5")
    assert unknown.get(f"{BASE}/_dash-layout",
                       headers={"X-Remote-User": "nobody"}).status_code == 401
    assert audit_events(secured_db, "sign-in") == ["kent-analyst"]


@pytest.mark.slow  # about a second
def test_a_scoped_user_crafting_a_trend_table_for_another_force_gets_their_own(
        secured_app: dash.Dash) -> None:
    key = "cps_referrals"  # the table's KPI; the view is the page's address
    analyst = signed_in(secured_app, "analyst")  # (page callbacks join on a first request)
    request = {
        "output": callback_output(secured_app, '{"key":["MATCH"],"type":"trend-table-body"}'),
        "outputs": {"id": {"type": "trend-table-body", "key": key}, "property": "children"},
        "inputs": [{"id": {"type": "trend-table-summary", "key": key},
                    "property": "n_clicks", "value": 1}],
        "state": [{"id": {"type": "trend-table-body", "key": key}, "property": "children",
                   "value": None},
                  {"id": "url", "property": "search",
                   "value": "?force=essex&period=2025-09&comparator=national"}],
        "changedPropIds": [json.dumps({"key": key, "type": "trend-table-summary"},
                                      separators=(",", ":")) + ".n_clicks"],
    }
    everyone = analyst.post(f"{BASE}/_dash-update-component", json=request)
    assert everyone.status_code == 200 and b"Essex" in everyone.data
    scoped = signed_in(secured_app, "kent-analyst").post(f"{BASE}/_dash-update-component",
                                                         json=request)
    assert scoped.status_code == 200 and b"Essex" not in scoped.data
    # The view falls back, as the page does: to the account's own force.
    assert b"Kent" in scoped.data


@pytest.mark.slow  # about a second
def test_tables_refilled_after_a_switch_keep_to_the_account_scope(
        secured_app: dash.Dash) -> None:
    """The open tables rebuilt after a switch drawn in place (layouts/pillar.py:
    tables_follow_the_view) are built for the asked view within the person's scope."""
    keys = ["cps_referrals", "cps_charge_decision_share"]
    search = "?force=essex&period=2025-09&comparator=national"
    request = {
        "output": callback_output(secured_app, '{"key":["ALL"],"type":"trend-table-body"}'),
        "outputs": [{"id": {"type": "trend-table-body", "key": k}, "property": "children"}
                    for k in keys],
        "inputs": [{"id": ids.TABLES_TO_REFILL, "property": "data",
                    "value": {"search": search, "in_place": True}}],
        # The first table was built before the switch, the second never opened.
        "state": [[{"id": {"type": "trend-table-body", "key": keys[0]},
                    "property": "children", "value": {"props": {}, "type": "Div"}},
                   {"id": {"type": "trend-table-body", "key": keys[1]},
                    "property": "children", "value": None}]],
        "changedPropIds": [f"{ids.TABLES_TO_REFILL}.data"],
    }
    analyst = signed_in(secured_app, "analyst")
    everyone = analyst.post(f"{BASE}/_dash-update-component", json=request)
    assert everyone.status_code == 200, everyone.data[:300]
    sent = everyone.get_json()["response"]
    # Only the table already built is rebuilt, for Essex.
    assert list(sent) == [json.dumps({"key": keys[0], "type": "trend-table-body"},
                                     separators=(",", ":"))]
    assert b"Essex" in everyone.data
    scoped = signed_in(secured_app, "kent-analyst").post(f"{BASE}/_dash-update-component",
                                                         json=request)
    assert scoped.status_code == 200 and b"Essex" not in scoped.data
    assert b"Kent" in scoped.data


def test_a_deep_link_survives_the_sign_in_intact(secured_app: dash.Dash) -> None:
    client = client_of(secured_app)
    deep = "/pillar/2?force=kent&period=2025-06&comparator=region"
    asked = client.get(f"{BASE}{deep}")
    assert asked.status_code == 302
    location = asked.headers["Location"]
    # One parameter, the whole address encoded: nothing spills into the login's own.
    assert location.endswith("/login?next=%2Fpillar%2F2%3Fforce%3Dkent%26period%3D2025-06"
                             "%26comparator%3Dregion")
    from urllib.parse import parse_qs, urlsplit

    next_path = parse_qs(urlsplit(location).query)["next"]
    assert next_path == [deep]
    login_page = client.get(location)
    assert f'value="{deep}"'.replace("&", "&amp;").encode() in login_page.data
    signed = sign_in(client, "kent-analyst", next_path=deep)
    assert signed.status_code == 302 and signed.headers["Location"].endswith(deep)

"""Signing in and out in a real browser, under the app's Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.conftest import ACCOUNTS, LiveServer, served
from tests.pages import DEFAULT_TIMEOUT_MS, AppPage, open_app
from tests.test_accessibility import describe, run_axe
from web import ids

pytestmark = pytest.mark.browser


@pytest.fixture
def secured_server(secured_db: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """``python app.py`` with accounts: every page needs sign-in."""
    with served(secured_db, tmp_path / "server.log") as server:
        yield server


def sign_in(app: AppPage, username: str, password: str | None = None) -> None:
    app.page.fill("#username", username)
    app.page.fill("#password", ACCOUNTS[username][2] if password is None else password)
    app.page.click("#sign-in")


def test_a_visitor_signs_in_reaches_the_page_they_asked_for_and_signs_out(
        chromium: Browser, secured_server: LiveServer) -> None:
    app = open_app(chromium, secured_server.url)
    # A deep link: force, period, comparator and the page's own choices.
    deep = "/compare?force=kent&period=2025-06&comparator=region&kpi=suspect_contact_30d"
    app.page.goto(f"{secured_server.url}{deep}")
    app.page.wait_for_selector("#sign-in", timeout=DEFAULT_TIMEOUT_MS)
    assert app.page.evaluate("document.documentElement.lang") == "en-GB"
    login_violations = run_axe(app)
    assert login_violations == [], describe(login_violations)
    sign_in(app, "kent-analyst")
    app.wait_for_page()
    # Intact, every parameter (the compare page then adds its defaults after them).
    assert app.page.url.startswith(f"{secured_server.url}{deep}")
    assert app.heading() == "Compare forces: Suspect arrested or interviewed within 30 days"
    assert app.page.locator(f"#{ids.PERIOD}").inner_text().strip().startswith("Jun 2025")
    assert app.page.locator(f"#{ids.UNSECURED_BANNER}").count() == 0
    # Scoped to Kent: the force menu offers Kent and England and Wales only.
    app.page.click(f"#{ids.FORCE}")
    options = app.page.locator(".dash-dropdown-content [role=option]").all_inner_texts()
    assert sorted(options) == ["England and Wales", "Kent"]
    app.page.keyboard.press("Escape")
    violations = run_axe(app)  # the account menu too
    assert violations == [], describe(violations)
    app.page.click(f"#{ids.ACCOUNT_MENU} .dropdown-toggle, #{ids.ACCOUNT_MENU}")
    app.page.click(f"#{ids.SIGN_OUT}")
    app.page.wait_for_selector("#sign-in", timeout=DEFAULT_TIMEOUT_MS)
    app.page.goto(f"{secured_server.url}/")
    app.page.wait_for_selector("#sign-in", timeout=DEFAULT_TIMEOUT_MS)
    # Dash's scripts ran under the Content-Security-Policy: no violation, no error.
    assert app.console_errors() == []


def test_a_wrong_password_shows_a_message_and_stays_on_the_login_page(
        chromium: Browser, secured_server: LiveServer) -> None:
    app = open_app(chromium, secured_server.url)
    app.page.goto(f"{secured_server.url}/login")
    sign_in(app, "viewer", "not my password")
    app.page.wait_for_selector("#login-error", timeout=DEFAULT_TIMEOUT_MS)
    assert "not right" in app.page.inner_text("#login-error")
    # The failed POST answers 401, which the browser logs; nothing else may be there.
    assert all("401" in error for error in app.console_errors())


def test_the_unsecured_demonstration_says_so_on_every_page(
        chromium: Browser, live_server: LiveServer) -> None:
    app = open_app(chromium, live_server.url)
    for path in ("/", "/kpi/ho_rape_charge_rate", "/upload"):
        app.goto(path)
        banner = app.page.locator(f"#{ids.UNSECURED_BANNER}")
        assert banner.is_visible() and "UNSECURED DEMONSTRATION" in banner.inner_text()
    assert app.console_errors() == []

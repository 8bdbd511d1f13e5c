"""An administrator manages accounts in a real browser: adds one (its temporary password
shown once), finds it, disables it, and reads both changes on the audit page. The new
account, signed in with the temporary password, is asked to choose its own; once it is
disabled, neither that nor a sign-in is taken. axe checks the page and the form, in the
light and dark themes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import argon2
import pytest
from playwright.sync_api import Browser

from kpis.storage import security
from layouts._shell import THEME_COOKIE
from tests.conftest import LiveServer, served
from tests.pages import DEFAULT_TIMEOUT_MS, AppPage, open_app
from tests.test_accessibility import describe, run_axe
from tests.test_browser_sign_in import sign_in
from web import ids

pytestmark = pytest.mark.browser

NEW = "jo.bloggs"
TEMPORARY = re.compile(r"^[A-Za-z2-9]{5}(-[A-Za-z2-9]{5}){3}$")


@pytest.fixture
def secured_server(secured_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                   ) -> Iterator[LiveServer]:
    """The app with conftest's ``ACCOUNTS``, in a thread of this process: the accounts it
    adds are hashed with the cheapest Argon2id parameters, as those accounts were."""
    monkeypatch.setattr(security, "_HASHER",
                        argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    with served(secured_db, tmp_path / "server.log") as server:
        yield server


def wait_for_value(app: AppPage, selector: str, value: str) -> None:
    app.page.wait_for_function(
        "([selector, value]) => document.querySelector(selector)?.value === value",
        arg=[selector, value], timeout=DEFAULT_TIMEOUT_MS)


@pytest.mark.parametrize("theme", ["light", "dark"])  # axe checks the forms in each
def test_an_admin_adds_an_account_disables_it_and_reads_it_in_the_audit_log(
        chromium: Browser, secured_server: LiveServer, theme: str) -> None:
    app = open_app(chromium, secured_server.url)
    app.page.context.add_cookies([{"name": THEME_COOKIE, "value": theme,
                                   "url": secured_server.url}])
    app.page.goto(f"{secured_server.url}/login")
    sign_in(app, "admin")
    app.wait_for_page()
    # The Account menu offers the page to an administrator.
    app.page.click(f"#{ids.ACCOUNT_MENU} .dropdown-toggle, #{ids.ACCOUNT_MENU}")
    app.page.click(f"#{ids.ACCOUNTS_LINK}")
    app.wait_for_heading("Accounts")
    app.page.wait_for_load_state("networkidle")
    assert app.page.inner_text(f"#{ids.ACCOUNTS_COUNT}") == "Showing 1-4 of 4"

    app.page.fill(f"#{ids.ACCOUNT_NEW_USERNAME}", NEW)
    app.page.fill(f"#{ids.ACCOUNT_NEW_DISPLAY_NAME}", "Jo Bloggs")
    app.page.select_option(f"#{ids.ACCOUNT_NEW_ROLE}", "analyst")
    app.page.select_option(f"#{ids.ACCOUNT_NEW_FORCE}", "kent")
    app.page.click(f"#{ids.ACCOUNT_ADD}")
    app.wait_for_text(f"#{ids.ACCOUNT_ADD_MESSAGE}", f"Added {NEW} (Analyst, Kent).")
    secret = app.page.inner_text(f"#{ids.ACCOUNT_TEMPORARY_PASSWORD}")
    assert TEMPORARY.match(secret), secret
    assert "will not be shown again" in app.page.inner_text(f"#{ids.ACCOUNT_ADD_MESSAGE}")
    app.wait_for_text(f"#{ids.ACCOUNTS_COUNT}", "Showing 1-5 of 5")
    app.page.wait_for_load_state("networkidle")
    violations = run_axe(app)  # the filters, the table, both forms and the message
    assert violations == [], describe(violations)

    # Jo signs in with it, and is asked to choose a password of their own first.
    jo = open_app(chromium, secured_server.url)
    jo.page.context.add_cookies([{"name": THEME_COOKIE, "value": theme,
                                  "url": secured_server.url}])
    jo.page.goto(f"{secured_server.url}/login")
    jo.page.fill("#username", NEW)
    jo.page.fill("#password", secret)
    jo.page.click("#sign-in")
    jo.page.wait_for_selector("#choose-password", timeout=DEFAULT_TIMEOUT_MS)
    violations = run_axe(jo)
    assert violations == [], describe(violations)

    # Found by a search, chosen in the list, disabled.
    app.page.fill(f"#{ids.ACCOUNTS_SEARCH}", "bloggs")
    app.wait_for_text(f"#{ids.ACCOUNTS_COUNT}", "Showing 1-1 of 1")
    app.page.get_by_role("button", name=f"{NEW}: choose to change").click()
    wait_for_value(app, f"#{ids.ACCOUNT_TARGET}", NEW)
    wait_for_value(app, f"#{ids.ACCOUNT_ROLE}", "analyst")
    wait_for_value(app, f"#{ids.ACCOUNT_FORCE}", "kent")
    app.page.click(f"#{ids.ACCOUNT_DISABLE}")
    app.wait_for_text(f"#{ids.ACCOUNT_MESSAGE}", f"Disabled {NEW}")
    app.wait_for_text(f"#{ids.ACCOUNTS_TABLE} tbody", "Disabled")
    # Refused with a reason from the service: nobody disables their own account.
    app.page.fill(f"#{ids.ACCOUNT_TARGET}", "admin")
    app.page.click(f"#{ids.ACCOUNT_DISABLE}")
    app.wait_for_text(f"#{ids.ACCOUNT_MESSAGE}", "You cannot disable your own account")

    app.goto("/audit")
    audit = app.page.inner_text("#audit-table")
    rows = [line for line in audit.splitlines() if NEW in line]
    assert len(rows) == 2, audit
    disabled, added = rows  # newest first
    assert "user disabled" in disabled and "\tadmin\t" in disabled
    assert f"{NEW} (analyst, kent): sessions ended" in disabled
    assert "user added" in added and "\tadmin\t" in added and f"{NEW}: analyst, kent" in added
    assert app.console_errors() == []

    # Disabled meanwhile: Jo's new password is not taken, and the right temporary
    # password is refused, saying why.
    jo.page.fill("#new-password", "jo's own new password 42")
    jo.page.fill("#new-password-again", "jo's own new password 42")
    jo.page.click("#choose-password")
    jo.page.wait_for_selector("#login-error", timeout=DEFAULT_TIMEOUT_MS)
    assert "Sign in again" in jo.page.inner_text("#login-error")
    jo.page.fill("#username", NEW)
    jo.page.fill("#password", secret)
    jo.page.click("#sign-in")
    jo.page.wait_for_function(
        "() => document.querySelector('#login-error')?.innerText.includes('disabled')",
        timeout=DEFAULT_TIMEOUT_MS)
    # The refused POSTs answer 400 and 403, which the browser logs; nothing else.
    errors = jo.console_errors()
    assert len(errors) == 2 and "400" in errors[0] and "403" in errors[1], errors

"""Account management by administrators: the store (``SecurityStore``), the service's
account API (``FlightDeckService.accounts`` and the changes) and the accounts page.

Real users files and databases, never mocks. Passwords are hashed with the cheapest
Argon2id parameters (as conftest's ``accounts_file`` does): a check reads the
parameters from the hash, so signing in works exactly as in production, only faster.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import argon2
import duckdb
import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from kpis.domain.access import ROLES, AccessDenied, Principal, Role, demo_principal
from kpis.service import SYSTEM, FlightDeckService
from kpis.storage import security
from kpis.storage.backend import open_store
from kpis.storage.security import (
    ALL_FORCES,
    DISABLED_REFUSAL,
    SECURITY_SCHEMA,
    SecurityStore,
    UserError,
    check_password,
    security_db_path,
    temporary_password,
    token_refusal,
)
from tests.conftest import ACCOUNTS, app_over
from tests.test_security import BASE, client_of, csrf_token, render_page, sign_in, signed_in

ADDRESS = "10.1.2.3"
TEMPORARY = re.compile(r"^[A-HJ-NP-Za-km-z2-9]{5}(-[A-HJ-NP-Za-km-z2-9]{5}){3}$")
KENT_ADMIN = "kent-admin"


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security, "_HASHER",
                        argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def accounts_db(empty_db: Path, accounts_file: Path) -> Path:
    """The forces and catalogue (no observations), with ``ACCOUNTS`` and a Kent
    administrator beside them."""
    shutil.copyfile(accounts_file, security_db_path(empty_db))
    store = SecurityStore(security_db_path(empty_db))
    store.add_user(KENT_ADMIN, "admin", "kent admin password 1", "kent",
                   display_name="Kent Admin", actor="tests")
    store.close()
    return empty_db


@pytest.fixture
def base(accounts_db: Path) -> Iterator[FlightDeckService]:
    svc = FlightDeckService(accounts_db)
    yield svc
    svc.close()


def as_user(base: FlightDeckService, username: str) -> FlightDeckService:
    user = base.security.user(username)
    assert user is not None, username
    return base.for_principal(user.principal(), ADDRESS)


def events(svc: FlightDeckService, event: str) -> list[security.AuditEvent]:
    return svc.security.events(event=event)


# --------------------------------------------------------------------------- who may


@pytest.mark.parametrize("username", ["viewer", "analyst", "kent-analyst"])
def test_only_administrators_may_list_or_change_accounts(base: FlightDeckService,
                                                         username: str) -> None:
    svc = as_user(base, username)
    before = base.security.users()
    attempts = [
        lambda: svc.accounts(),
        lambda: svc.account("viewer"),
        lambda: svc.add_account("newcomer", "viewer"),
        lambda: svc.set_account_role("viewer", "admin"),
        lambda: svc.disable_account("viewer"),
        lambda: svc.enable_account("viewer"),
        lambda: svc.reset_password("viewer"),
    ]
    for attempt in attempts:
        with pytest.raises(AccessDenied, match="You need the admin role to manage users"):
            attempt()
    assert base.security.users() == before  # nothing changed, not even a session
    refused = [e for e in events(base, security.ACCESS_DENIED) if e.username == username]
    assert len(refused) == len(attempts)
    assert all(e.address == ADDRESS and "manage users" in e.detail for e in refused)


def test_the_unsecured_demonstration_has_no_accounts_to_manage(base: FlightDeckService
                                                               ) -> None:
    demo = base.for_principal(demo_principal())
    with pytest.raises(AccessDenied, match="no accounts"):
        demo.accounts()
    with pytest.raises(AccessDenied, match="no accounts"):
        demo.add_account("newcomer", "admin")
    assert base.security.user("newcomer") is None
    # Nothing refused to anyone: no audit row (each one rewrites a DuckDB users file).
    assert [e for e in events(base, security.ACCESS_DENIED)
            if e.username == demo.principal.username] == []


# --------------------------------------------------------------------------- adding


def test_an_admin_adds_accounts_with_a_temporary_a_typed_or_no_password(
        base: FlightDeckService) -> None:
    admin = as_user(base, "admin")
    jo, secret = admin.add_account("jo", "analyst", "kent", "Jo Bloggs")
    assert secret is not None and TEMPORARY.match(secret)
    assert (jo.role, jo.force_slug, jo.display_name) == (Role.ANALYST, "kent", "Jo Bloggs")
    assert jo.has_password and jo.must_change_password and not jo.disabled
    assert base.security.check_sign_in("jo", secret) == (jo, "")

    sam, typed = admin.add_account("sam", "viewer", None, password="a typed password 77")
    assert typed is None and sam.must_change_password and sam.force_slug is None
    assert base.security.authenticate("sam", "a typed password 77") == sam

    sso, none = admin.add_account("sso-user", "viewer", "surrey", sso_only=True)
    assert none is None and not sso.has_password and not sso.must_change_password

    added = {e.detail: e for e in events(base, security.USER_ADDED)}
    for detail in ("jo: analyst, kent", "sam: viewer, all forces",
                   "sso-user: viewer, surrey, single sign-on only"):
        assert added[detail].username == "admin" and added[detail].address == ADDRESS
    # The secret is in no audit line.
    assert not any(secret in e.detail for e in base.security.events())


@pytest.mark.parametrize(("call", "message"), [
    (lambda a: a.add_account("analyst", "viewer"), "already a user called 'analyst'"),
    (lambda a: a.add_account("bad name", "viewer"), "is not valid"),
    (lambda a: a.add_account("newcomer", "superuser"), "not one of viewer, analyst, admin"),
    (lambda a: a.add_account("newcomer", "viewer", "atlantis"), "no force 'atlantis'"),
    (lambda a: a.add_account("newcomer", "viewer", password="short"), "at least 12"),
    (lambda a: a.add_account("newcomer", "viewer", password="password1234"),
     "too easy to guess"),
    (lambda a: a.add_account("newcomer", "viewer", password="a typed password 77",
                             sso_only=True), "single sign-on only has no password"),
])
def test_bad_new_accounts_are_refused_with_a_reason(base: FlightDeckService, call: object,
                                                    message: str) -> None:
    before = base.security.users()
    with pytest.raises(UserError, match=message):
        call(as_user(base, "admin"))  # type: ignore[operator]
    assert base.security.users() == before


def test_temporary_passwords_are_random_and_pass_the_password_rules() -> None:
    made = [temporary_password() for _ in range(20)]
    assert len(set(made)) == 20
    for password in made[:3]:  # zxcvbn takes a moment each
        assert TEMPORARY.match(password) and check_password(password) == password


# --------------------------------------------------------------------------- disabling


def test_a_disabled_account_cannot_sign_in_and_its_sessions_and_tokens_stop(
        base: FlightDeckService) -> None:
    store = base.security
    token, secret = store.create_token("analyst", "Power BI", actor="tests")
    session = store.user("analyst").session_token  # type: ignore[union-attr]
    as_user(base, "admin").disable_account("analyst")

    analyst = store.user("analyst")
    assert analyst is not None and analyst.disabled
    assert analyst.session_token != session  # every open session ends
    assert store.check_sign_in("analyst", ACCOUNTS["analyst"][2]) == (None, DISABLED_REFUSAL)
    assert store.check_sign_in("analyst", "not the password") == (None, "")
    assert store.authenticate("analyst", ACCOUNTS["analyst"][2]) is None
    found = store.token_for(secret)
    assert found is not None and found[0] == token
    assert token_refusal(found[1]) == "analyst's account is disabled"
    assert security.subscription_refusal(found[1], "kent") == "analyst's account is disabled"
    with pytest.raises(UserError, match="No token for analyst: analyst's account is disabled"):
        store.create_token("analyst", "Another")
    (disabled,) = events(base, security.USER_DISABLED)
    assert (disabled.username, disabled.address) == ("admin", ADDRESS)
    assert disabled.detail == ("analyst (analyst, all forces): sessions ended, 1 API "
                               "token(s) refused while disabled")
    with pytest.raises(UserError, match="disabled already"):
        as_user(base, "admin").disable_account("analyst")

    as_user(base, "admin").enable_account("analyst")
    analyst = store.user("analyst")
    assert analyst is not None and not analyst.disabled
    assert store.check_sign_in("analyst", ACCOUNTS["analyst"][2]) == (analyst, "")
    assert token_refusal(analyst) is None and store.token_for(secret) == (token, analyst)
    (enabled,) = events(base, security.USER_ENABLED)
    assert (enabled.username, enabled.detail) == ("admin", "analyst (analyst, all forces)")
    with pytest.raises(UserError, match="is not disabled"):
        as_user(base, "admin").enable_account("analyst")


def test_an_admin_cannot_disable_their_own_account(base: FlightDeckService) -> None:
    with pytest.raises(UserError, match="your own account"):
        as_user(base, "admin").disable_account("admin")
    assert not base.security.user("admin").disabled  # type: ignore[union-attr]


@pytest.mark.slow  # the real app, signed in and refused several times (about a second)
def test_a_disabled_account_is_refused_by_the_app_sign_in_sessions_and_feeds(
        secured_db: Path) -> None:
    app = app_over(secured_db)
    store = SecurityStore(security_db_path(secured_db))
    _, secret = store.create_token("analyst", "Power BI", actor="tests")
    feed = f"{BASE}/feeds/kpis.json?kpi=ho_rape_charge_rate&force=kent&start=2025-09"
    bearer = {"Authorization": f"Bearer {secret}"}
    client = signed_in(app, "analyst")
    assert client.get(f"{BASE}/_dash-layout").status_code == 200
    assert client_of(app).get(feed, headers=bearer).status_code == 200

    admin = FlightDeckService(secured_db).for_principal(
        store.user("admin").principal(), ADDRESS)  # type: ignore[union-attr]
    admin.disable_account("analyst")
    assert client.get(f"{BASE}/_dash-layout").status_code == 401  # the session ended
    refused = sign_in(client_of(app), "analyst")
    assert refused.status_code == 403 and b"has been disabled" in refused.data
    wrong = sign_in(client_of(app), "analyst", "not the password at all")
    assert wrong.status_code == 401 and b"disabled" not in wrong.data  # tells nothing
    answer = client_of(app).get(feed, headers=bearer)
    assert answer.status_code == 403 and b"analyst's account is disabled" in answer.data
    failed = [e for e in store.events(event=security.SIGN_IN_FAILED) if e.username == "analyst"]
    assert [e.detail for e in failed] == ["", DISABLED_REFUSAL]  # newest first
    assert [e.detail for e in store.events(event=security.FEED_REFUSED)] == [
        f"token {store.tokens('analyst')[0].token_id}: analyst's account is disabled"]

    admin.enable_account("analyst")
    assert sign_in(client_of(app), "analyst").status_code == 302
    admin.close()
    store.close()


# --------------------------------------------------------------------------- the last admin


@pytest.mark.slow  # some ten writes to the users file (over a second)
def test_the_last_active_national_admin_cannot_be_demoted_narrowed_or_disabled(
        base: FlightDeckService) -> None:
    admin = as_user(base, "admin")
    session = base.security.user("admin").session_token  # type: ignore[union-attr]
    for role, force in (("analyst", None), ("admin", "kent"), ("viewer", "surrey")):
        with pytest.raises(UserError, match="admin is the last active administrator who "
                                            "covers every force"):
            admin.set_account_role("admin", role, force)
    system = base.for_principal(SYSTEM)
    with pytest.raises(UserError, match="last active administrator"):
        system.disable_account("admin")
    unchanged = base.security.user("admin")
    assert unchanged is not None and unchanged.session_token == session
    assert (unchanged.role, unchanged.force_slug, unchanged.disabled) == (Role.ADMIN, None,
                                                                          False)
    # A Kent administrator is no national one; a second national one, once disabled, is
    # not active: neither lets the last one go.
    admin.add_account("deputy", "admin", None, password="the deputy's password 9")
    admin.disable_account("deputy")
    with pytest.raises(UserError, match="last active administrator"):
        admin.set_account_role("admin", "analyst", None)
    admin.enable_account("deputy")
    admin.set_account_role("admin", "analyst", None)  # now another one remains
    demoted = base.security.user("admin")
    assert demoted is not None and demoted.role == Role.ANALYST
    assert demoted.session_token != session
    changed = events(base, security.ROLE_SET)[0]
    assert (changed.username, changed.address, changed.detail) == (
        "admin", ADDRESS, "admin: analyst, all forces (was admin, all forces)")
    with pytest.raises(UserError, match="deputy is the last active administrator"):
        system.disable_account("deputy")


def test_a_change_that_changes_nothing_is_refused_and_ends_no_session(
        base: FlightDeckService) -> None:
    session = base.security.user("viewer").session_token  # type: ignore[union-attr]
    with pytest.raises(UserError, match="viewer is viewer for every force already"):
        as_user(base, "admin").set_account_role("viewer", "viewer", None)
    assert base.security.user("viewer").session_token == session  # type: ignore[union-attr]


# --------------------------------------------------------------------------- force scope


@pytest.mark.slow  # a dozen writes to the users file, each a copy fsynced (about 2 s)
def test_a_force_scoped_admin_manages_its_own_forces_accounts_only(
        base: FlightDeckService) -> None:
    kent = as_user(base, KENT_ADMIN)
    listed = kent.accounts()
    assert [u.username for u in listed.accounts] == [KENT_ADMIN, "kent-analyst"]
    assert listed.total == 2
    assert kent.accounts(force="kent").total == 2
    assert kent.account("kent-analyst").force_slug == "kent"

    refusals = {
        "list another force": lambda: kent.accounts(force="surrey"),
        "list national accounts": lambda: kent.accounts(force=ALL_FORCES),
        "see a national account": lambda: kent.account("analyst"),
        "add a national account": lambda: kent.add_account("newcomer", "viewer", None),
        "add another force's": lambda: kent.add_account("newcomer", "viewer", "surrey"),
        "widen an account": lambda: kent.set_account_role("kent-analyst", "admin", None),
        "move an account": lambda: kent.set_account_role("kent-analyst", "analyst", "surrey"),
        "change a national account": lambda: kent.set_account_role("viewer", "viewer",
                                                                   "kent"),
        "disable a national account": lambda: kent.disable_account("analyst"),
        "reset a national password": lambda: kent.reset_password("admin"),
        "disable an unknown account": lambda: kent.disable_account("nobody"),
    }
    before = base.security.users()
    for what, attempt in refusals.items():
        with pytest.raises(AccessDenied, match="Your account is limited to Kent") as caught:
            attempt()
        # Whether or not the account exists, the answer is the same: no names leak.
        assert "nobody" not in str(caught.value) and "analyst" not in str(caught.value), what
    assert base.security.users() == before
    denied = [e for e in events(base, security.ACCESS_DENIED) if e.username == KENT_ADMIN]
    assert len(denied) == len(refusals)

    # Within Kent: any role, administrator included, and every change.
    newcomer, secret = kent.add_account("kent-newcomer", "admin", "kent")
    assert newcomer.force_slug == "kent" and secret is not None
    kent.set_account_role("kent-analyst", "viewer", "kent")
    kent.disable_account("kent-newcomer")
    assert kent.reset_password("kent-analyst") is not None
    assert kent.accounts().total == 3
    assert kent.accounts(status="disabled").total == 1
    actors = {e.event: e.username for e in base.security.events(limit=4)}
    assert actors == {security.USER_ADDED: KENT_ADMIN, security.ROLE_SET: KENT_ADMIN,
                      security.USER_DISABLED: KENT_ADMIN, security.PASSWORD_SET: KENT_ADMIN}


# --------------------------------------------------------------------------- resets


def test_a_reset_sets_a_temporary_password_to_change_and_ends_the_sessions(
        base: FlightDeckService) -> None:
    store = base.security
    session = store.user("viewer").session_token  # type: ignore[union-attr]
    secret = as_user(base, "admin").reset_password("viewer")
    assert secret is not None and TEMPORARY.match(secret)
    viewer = store.user("viewer")
    assert viewer is not None and viewer.must_change_password
    assert viewer.session_token != session
    assert store.authenticate("viewer", ACCOUNTS["viewer"][2]) is None
    assert store.authenticate("viewer", secret) == viewer
    (reset,) = events(base, security.PASSWORD_SET)
    assert (reset.username, reset.address) == ("admin", ADDRESS)
    assert reset.detail.startswith("viewer: reset by admin (a temporary password")
    assert secret not in reset.detail

    assert as_user(base, "admin").reset_password("viewer", "an admin's typed one 4") is None
    assert store.authenticate("viewer", "an admin's typed one 4") is not None
    assert "a password they typed" in events(base, security.PASSWORD_SET)[0].detail
    # Their own password clears the flag.
    store.set_password("viewer", "the viewer's own choice 5", actor="viewer")
    assert not store.user("viewer").must_change_password  # type: ignore[union-attr]
    with pytest.raises(UserError, match="no user called 'nobody'"):
        as_user(base, "admin").reset_password("nobody")


def test_a_reset_account_chooses_its_own_password_before_it_is_signed_in(
        accounts_db: Path) -> None:
    app = app_over(accounts_db)
    store = SecurityStore(security_db_path(accounts_db))
    secret = store.reset_password("viewer", actor="admin")
    client = client_of(app)
    form = sign_in(client, "viewer", secret, next_path="/compare?force=kent")
    assert form.status_code == 200 and b"Choose a password" in form.data
    assert client.get(f"{BASE}/_dash-layout").status_code == 401  # not signed in yet

    def choose(new: str, again: str | None = None) -> Any:
        return client.post(f"{BASE}/login/password", data={
            "new_password": new, "new_password_again": new if again is None else again,
            "csrf": csrf_token(client), "next": "/compare?force=kent"})

    differ = choose("a brand new password 6", "something else")
    assert differ.status_code == 400 and b"The two passwords differ" in differ.data
    same = choose(secret)
    assert same.status_code == 400 and b"not the one your administrator gave" in same.data
    weak = choose("password1234")
    assert weak.status_code == 400 and b"too easy to guess" in weak.data
    done = choose("a brand new password 6")
    assert done.status_code == 302 and done.headers["Location"] == "/compare?force=kent"
    assert client.get(f"{BASE}/_dash-layout").status_code == 200
    viewer = store.user("viewer")
    assert viewer is not None and not viewer.must_change_password
    assert store.authenticate("viewer", secret) is None
    assert store.authenticate("viewer", "a brand new password 6") == viewer
    chosen = store.events(event=security.PASSWORD_SET)[0]
    assert (chosen.username, chosen.detail) == (
        "viewer", "viewer: chosen at sign-in, replacing an administrator's password")
    signed = store.events(event=security.SIGN_IN)[0]
    assert (signed.username, signed.detail) == ("viewer", "after choosing a new password")
    # The form cannot be used again, nor without a right sign-in first.
    again = choose("yet another new password 7")
    assert again.status_code == 400 and b"Sign in again" in again.data
    fresh = client_of(app)
    stranger = fresh.post(f"{BASE}/login/password", data={
        "new_password": "a stranger's password 8", "new_password_again":
        "a stranger's password 8", "csrf": csrf_token(fresh), "next": "/"})
    assert stranger.status_code == 400
    assert store.authenticate("viewer", "a brand new password 6") is not None
    store.close()


# --------------------------------------------------------------------------- the list


NAMES = 312  # generated accounts: user000 ... user311


def generated_accounts(path: Path) -> None:
    """``NAMES`` accounts written in one transaction (one write per account would
    copy the file 312 times): account i has role ROLES[i % 3]; scope kent when i % 4 is
    0, surrey when 1, every force otherwise; is disabled when i % 10 is 0; and is called
    "Smith i" when i % 5 is 0, else "Jones i"."""
    now = dt.datetime(2026, 1, 5, 9, 0)
    rows = [{
        "username": f"user{i:03d}", "role": ROLES[i % 3],
        "force_slug": {0: "kent", 1: "surrey"}.get(i % 4),
        "display_name": f"Smith {i}" if i % 5 == 0 else f"Jones {i}",
        "password_hash": None, "session_token": f"token-{i}", "created_at": now,
        "updated_at": now, "disabled": i % 10 == 0, "must_change_password": False,
    } for i in range(NAMES)]
    with open_store(path, SECURITY_SCHEMA) as store, store.write() as conn:
        conn.execute(sa.insert(security.users), rows)


@pytest.fixture
def crowd(empty_db: Path, tmp_path: Path) -> Iterator[FlightDeckService]:
    """The service as a national administrator over a users file of ``NAMES``."""
    path = tmp_path / "crowd.duckdb"
    generated_accounts(path)
    svc = FlightDeckService(empty_db, Principal("boss", Role.ADMIN), ADDRESS,
                            security_path=path)
    yield svc
    svc.close()


def test_the_list_is_searched_filtered_and_paged_with_its_counts(
        crowd: FlightDeckService) -> None:
    pages = math.ceil(NAMES / 25)
    assert pages == 13
    first = crowd.accounts()
    assert (first.total, first.page, first.pages) == (312, 1, 13)
    assert first.showing() == "Showing 1-25 of 312"
    assert [u.username for u in first.accounts] == [f"user{i:03d}" for i in range(25)]
    second = crowd.accounts(page=2)
    assert second.showing() == "Showing 26-50 of 312"
    assert second.accounts[0].username == "user025"
    last = crowd.accounts(page=13)
    assert last.showing() == "Showing 301-312 of 312" and len(last.accounts) == 12
    assert crowd.accounts(page=99).page == 13 and crowd.accounts(page=-4).page == 1

    # role admin: i % 3 == 2, i < 312: 2, 5, ..., 311: 104 accounts
    assert crowd.accounts(role="admin").total == 104
    # Kent: i % 4 == 0: 78; Kent admins: i % 12 == 8: 8, 20, ..., 308: 26
    assert crowd.accounts(force="kent").total == 78
    assert crowd.accounts(role="admin", force="kent").total == 26
    # every force: i % 4 in (2, 3): 156
    assert crowd.accounts(force=ALL_FORCES).total == 156
    # disabled: i % 10 == 0: 0, 10, ..., 310: 32; active: 280
    assert crowd.accounts(status="disabled").total == 32
    assert crowd.accounts(status="active").total == 280
    # "Smith": i % 5 == 0: 0, 5, ..., 310: 63, in any case, the page of 25 first
    smiths = crowd.accounts(" SMITH ")
    assert (smiths.total, smiths.pages, len(smiths.accounts)) == (63, 3, 25)
    assert smiths.accounts[1].username == "user005"
    # every disabled account (i % 10 == 0) is a Smith
    assert crowd.accounts("smith", status="disabled").total == 32
    assert crowd.accounts("user00").total == 10  # user000 ... user009
    # "jones 31": "Jones 31" and "Jones 311"; 310 is "Smith 310", 312 on are not made
    assert [u.username for u in crowd.accounts("jones 31").accounts] == [
        "user031", "user311"]
    # LIKE's wildcards are searched for as themselves, not as wildcards.
    assert crowd.accounts("%").total == 0 and crowd.accounts("_").total == 0
    nothing = crowd.accounts("no such person")
    assert (nothing.total, nothing.pages, nothing.showing()) == (0, 1, "No accounts match.")
    with pytest.raises(UserError, match="not one of viewer"):
        crowd.accounts(role="chief")
    with pytest.raises(UserError, match="not one of active, disabled"):
        crowd.accounts(status="asleep")


def test_a_kent_admin_lists_kents_accounts_only_whatever_it_asks(
        crowd: FlightDeckService) -> None:
    kent = crowd.for_principal(Principal("kent-boss", Role.ADMIN, force="kent"))
    assert kent.accounts().total == 78  # i % 4 == 0
    assert kent.accounts(role="admin").total == 26
    assert all(u.force_slug == "kent" for u in kent.accounts(page=4).accounts)
    assert kent.accounts(page=4).showing() == "Showing 76-78 of 78"


def test_the_list_gives_each_accounts_latest_sign_in(crowd: FlightDeckService) -> None:
    store = crowd.security
    early, late = dt.datetime(2026, 2, 1, 8, 30), dt.datetime(2026, 3, 2, 17, 45)
    store.record(security.SIGN_IN, "user001", at=late)
    store.record(security.SIGN_IN, "user001", at=early)
    store.record(security.SIGN_IN_FAILED, "user002", at=late)  # not a sign-in
    store.record(security.SIGN_IN, "user030", at=early)  # on another page
    found = crowd.accounts()
    assert dict(found.last_sign_in) == {"user001": late}


# --------------------------------------------------------------------------- schema


def test_a_users_file_of_version_3_gets_account_status_with_its_rows_intact(
        tmp_path: Path) -> None:
    path = tmp_path / "security.duckdb"
    users = SecurityStore(path)
    users.add_user("ana", "analyst", None, "kent", actor="tests")
    users.close()
    conn = duckdb.connect(str(path))  # as version 3 wrote it
    conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    conn.execute("ALTER TABLE users DROP COLUMN disabled")
    conn.execute("ALTER TABLE users DROP COLUMN must_change_password")
    conn.execute("CHECKPOINT")
    conn.close()
    users = SecurityStore(path)
    ana = users.user("ana")
    assert ana is not None and (ana.force_slug, ana.disabled, ana.must_change_password) == (
        "kent", False, False)
    users.disable_user("ana", actor="tests")
    assert users.user("ana").disabled  # type: ignore[union-attr]
    users.close()
    conn = duckdb.connect(str(path), read_only=True)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() \
        == (str(SECURITY_SCHEMA.version),)
    conn.close()
    assert SECURITY_SCHEMA.version == 4


def test_the_version_4_step_adds_the_columns_itself_with_plain_sql(tmp_path: Path) -> None:
    """The step, not the rebuild after it, adds the columns (on PostgreSQL there is no
    rebuild): with ALTER TABLE ... ADD COLUMN and a default, rows already there active."""
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'plain.duckdb'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE users (username VARCHAR PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO users VALUES ('ana')")
        SECURITY_SCHEMA.upgrades[3](conn)
        SECURITY_SCHEMA.upgrades[3](conn)  # again: nothing to add
        rows = conn.exec_driver_sql(
            "SELECT username, disabled, must_change_password FROM users").fetchall()
        conn.exec_driver_sql("INSERT INTO users (username) VALUES ('bo')")
        later = conn.exec_driver_sql("SELECT disabled FROM users WHERE username = 'bo'"
                                     ).fetchone()
    engine.dispose()
    assert rows == [("ana", False, False)] and later == (False,)


# --------------------------------------------------------------------------- the page


@pytest.mark.slow  # the real app, four accounts signed in (about 2 s)
def test_the_accounts_page_and_its_link_are_for_administrators_only(accounts_db: Path
                                                                    ) -> None:
    app = app_over(accounts_db)
    admin = signed_in(app, "admin")
    page = render_page(admin, "/accounts", "?q=analyst")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "accounts-table" in text and "Showing 1-2 of 2" in text  # analyst, kent-analyst
    assert "accounts-link" in admin.get(f"{BASE}/_dash-layout").get_data(as_text=True)
    kent = client_of(app)
    assert sign_in(kent, KENT_ADMIN, "kent admin password 1").status_code == 302
    scoped = render_page(kent, "/accounts", "?force=surrey").get_data(as_text=True)
    assert "Showing 1-2 of 2" in scoped  # Kent's own two, whatever the address asks
    assert "Surrey" not in scoped and "All forces" not in scoped
    for username in ("analyst", "viewer"):
        client = signed_in(app, username)
        refused = render_page(client, "/accounts").get_data(as_text=True)
        assert "accounts-not-allowed" in refused and "accounts-table" not in refused
        assert "Accounts are managed by administrators" in refused
        assert "accounts-link" not in client.get(f"{BASE}/_dash-layout").get_data(
            as_text=True)


LIST_INPUTS = [("accounts-search", "value"), ("accounts-role", "value"),
               ("accounts-force", "value"), ("accounts-status", "value"),
               ("accounts-previous", "n_clicks"), ("accounts-next", "n_clicks"),
               ("accounts-added", "data"), ("accounts-changed", "data")]
LIST_OUTPUTS = [("accounts-list", "children"), ("accounts-page", "data"),
                ("accounts-previous", "disabled"), ("accounts-next", "disabled")]


def show_accounts(client: FlaskClient, changed: str, page: int, **values: object
                  ) -> dict[str, Any]:
    """The list callback as the browser calls it: ``changed`` fired, the rest as given."""
    response = client.post(f"{BASE}/_dash-update-component", json={
        "output": ".." + "...".join(f"{c}.{p}" for c, p in LIST_OUTPUTS) + "..",
        "outputs": [{"id": c, "property": p} for c, p in LIST_OUTPUTS],
        "inputs": [{"id": c, "property": p, "value": values.get(c)} for c, p in LIST_INPUTS],
        "state": [{"id": "accounts-page", "property": "data", "value": page}],
        "changedPropIds": [changed],
    })
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_json()["response"]


@pytest.mark.slow  # the real app over 317 accounts, five requests (about a second)
def test_the_pager_and_the_filters_move_through_the_list(accounts_db: Path) -> None:
    generated_accounts(security_db_path(accounts_db))  # 312 more than the 5 there
    client = signed_in(app_over(accounts_db), "admin")
    # 317 accounts: 13 pages of 25 (the last holds 17)
    following = show_accounts(client, "accounts-next.n_clicks", 1, **{"accounts-next": 1})
    assert following["accounts-page"]["data"] == 2
    assert "Showing 26-50 of 317" in str(following["accounts-list"]["children"])
    assert following["accounts-previous"]["disabled"] is False
    last = show_accounts(client, "accounts-next.n_clicks", 13, **{"accounts-next": 9})
    assert last["accounts-page"]["data"] == 13 and last["accounts-next"]["disabled"] is True
    assert "Showing 301-317 of 317" in str(last["accounts-list"]["children"])
    back = show_accounts(client, "accounts-previous.n_clicks", 2, **{"accounts-previous": 1})
    assert back["accounts-page"]["data"] == 1 and back["accounts-previous"]["disabled"] is True
    # A new search starts at page 1: "smith" is 63 generated accounts (i % 5 == 0).
    found = show_accounts(client, "accounts-search.value", 3, **{"accounts-search": "smith"})
    assert found["accounts-page"]["data"] == 1
    assert "Showing 1-25 of 63" in str(found["accounts-list"]["children"])
    # A change made below redraws the page shown.
    kept = show_accounts(client, "accounts-changed.data", 2, **{"accounts-search": "smith",
                                                               "accounts-changed": 1})
    assert kept["accounts-page"]["data"] == 2
    assert "Showing 26-50 of 63" in str(kept["accounts-list"]["children"])

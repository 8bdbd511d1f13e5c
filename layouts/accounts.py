"""Accounts, for administrators: find an account among hundreds, add one, change its
role and force scope, disable or enable it, and reset its password.

Everything goes through the service (``FlightDeckService.accounts``, ``add_account``,
``set_account_role``, ``disable_account``, ``enable_account``, ``reset_password``),
which checks that the person is an administrator, keeps a force-scoped administrator to
its own force's accounts, refuses to take away the last active administrator who covers
every force, and writes every change to the audit log as the signed-in administrator.
A password an administrator sets (typed, or generated and shown here once) must be
changed by the account at its next sign-in.

Not cached like the data pages: the accounts change with every action here, while the
page cache follows the data version.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, dcc, html

from kpis.domain.access import ROLES, AccessDenied, Action
from kpis.service import FlightDeckService
from kpis.storage.security import (
    ACCOUNT_STATUSES,
    ALL_FORCES,
    MIN_PASSWORD_LENGTH,
    AccountPage,
    User,
    UserError,
)
from web import ids
from web import request_checks as _inputs
from web.context import service

dash.register_page(__name__, path="/accounts", name="Accounts",
                   title="Accounts - NOM flight deck", order=10)

LOG = logging.getLogger(__name__)
HEADING = "Accounts"
INTRO = (
    "Find, add and change the accounts that sign in to the flight deck. A change of role "
    "or scope, a disabled account and a password reset end the account's open sessions; "
    "a disabled account cannot sign in and its API tokens are refused. Every change is "
    "written to the audit log."
)
REFUSED = "Accounts are managed by administrators."
ROLE_LABELS = {"viewer": "Viewer", "analyst": "Analyst", "admin": "Administrator"}
STATUS_LABELS = {"active": "Active", "disabled": "Disabled"}
SEARCH_DEBOUNCE_MS = 300
# How the new account's first password is made.
GENERATE, TYPE, SSO_ONLY = "generate", "type", "sso"
PASSWORD_MODES = {
    GENERATE: "Generate a temporary password (shown once)",
    TYPE: "Type a password",
    SSO_ONLY: "No password: single sign-on only",
}


def _first(value: object) -> str | None:
    """A query value as text (the first, if the address repeats it)."""
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) else None


def _when(moment: dt.datetime | None) -> str:
    return f"{moment:%d %b %Y %H:%M}" if moment else "Never"


def _scope_label(svc: FlightDeckService, force: str | None) -> str:
    return "All forces" if force is None else svc.dataset().area_names.get(force, force)


def _force_options(svc: FlightDeckService) -> list[dict[str, str]]:
    """The scopes this administrator may give: its own force only, if it has one."""
    own = svc.principal.force
    if own is not None:
        return [{"label": _scope_label(svc, own), "value": own}]
    forces = svc.dataset().forces.sort_values("name")
    return [{"label": "All forces", "value": ALL_FORCES}] + [
        {"label": str(name), "value": str(slug)}
        for slug, name in zip(forces["slug"], forces["name"], strict=True)]


def _role_options() -> list[dict[str, str]]:
    return [{"label": ROLE_LABELS[role], "value": role} for role in ROLES]


def _status(user: User) -> str:
    if user.disabled:
        return "Disabled"
    if user.must_change_password:
        return "Active (must choose a password)"
    return "Active"


def accounts_view(svc: FlightDeckService, found: AccountPage) -> html.Div:
    """The count, the page of accounts as a table, and where the page is."""
    count = html.P(found.showing(), id=ids.ACCOUNTS_COUNT, role="status",
                   className="mb-2")
    if not found.accounts:
        return html.Div([count])
    head = html.Thead(html.Tr([html.Th(text, scope="col") for text in (
        "User name", "Display name", "Role", "Force scope", "Status", "Last sign-in")]))
    body = html.Tbody([html.Tr([
        html.Th(html.Button(
            user.username, id={"type": ids.ACCOUNT_PICK, "username": user.username},
            type="button", className="btn btn-link p-0 align-baseline text-start",
            **{"aria-label": f"{user.username}: choose to change"}), scope="row"),
        html.Td(user.display_name),
        html.Td(ROLE_LABELS.get(user.role.value, user.role.value)),
        html.Td(_scope_label(svc, user.force_slug)),
        html.Td(_status(user)),
        html.Td(_when(found.last_sign_in.get(user.username))),
    ], className="table-secondary" if user.disabled else None) for user in found.accounts])
    caption = f"Accounts, by user name: page {found.page} of {found.pages}"
    table = html.Div(
        dbc.Table([html.Caption(caption), head, body], size="sm", hover=True,
                  className="caption-top", id=ids.ACCOUNTS_TABLE),
        className="table-responsive", role="region", tabIndex="0",
        **{"aria-label": caption})
    return html.Div([count, table])


def filters(svc: FlightDeckService, query: str, role: str, force: str, status: str
            ) -> dbc.Row:
    scopes = _force_options(svc)
    if svc.principal.force is None:
        scopes = [{"label": "Any scope", "value": ""}, *scopes]
    return dbc.Row([
        dbc.Col([dbc.Label("Search", html_for=ids.ACCOUNTS_SEARCH),
                 dbc.Input(id=ids.ACCOUNTS_SEARCH, type="search", value=query,
                           debounce=SEARCH_DEBOUNCE_MS, autocomplete="off",
                           placeholder="User name or display name")], md=4),
        dbc.Col([dbc.Label("Role", html_for=ids.ACCOUNTS_ROLE),
                 dbc.Select(id=ids.ACCOUNTS_ROLE, value=role,
                            options=[{"label": "Any role", "value": ""},
                                     *_role_options()])], md=2),
        dbc.Col([dbc.Label("Force scope", html_for=ids.ACCOUNTS_FORCE),
                 dbc.Select(id=ids.ACCOUNTS_FORCE, options=scopes, value=force)], md=4),
        dbc.Col([dbc.Label("Status", html_for=ids.ACCOUNTS_STATUS),
                 dbc.Select(id=ids.ACCOUNTS_STATUS, value=status, options=[
                     {"label": "Any status", "value": ""},
                     *({"label": STATUS_LABELS[s], "value": s} for s in ACCOUNT_STATUSES)])],
                md=2),
    ], className="g-3 mb-3")


def pager() -> html.Nav:
    return html.Nav([
        # Solid buttons: Bootstrap's outline ones fall short of 4.5:1 in the dark theme.
        dbc.Button("Previous page", id=ids.ACCOUNTS_PREVIOUS, color="secondary",
                   size="sm", type="button", className="me-2"),
        dbc.Button("Next page", id=ids.ACCOUNTS_NEXT, color="secondary", size="sm",
                   type="button"),
    ], className="mb-4", **{"aria-label": "Pages of accounts"})


def add_form(svc: FlightDeckService) -> dbc.Form:
    scopes = _force_options(svc)
    return dbc.Form([
        html.H2("Add an account", className="h5"),
        dbc.Row([
            dbc.Col([dbc.Label("User name", html_for=ids.ACCOUNT_NEW_USERNAME),
                     dbc.Input(id=ids.ACCOUNT_NEW_USERNAME, maxLength=64, value="",
                               autocomplete="off"),
                     dbc.FormText("Letters, digits and . _ @ -, such as jo.bloggs@kent")],
                    md=3),
            dbc.Col([dbc.Label("Display name", html_for=ids.ACCOUNT_NEW_DISPLAY_NAME),
                     dbc.Input(id=ids.ACCOUNT_NEW_DISPLAY_NAME, maxLength=120, value="",
                               autocomplete="off")], md=3),
            dbc.Col([dbc.Label("Role", html_for=ids.ACCOUNT_NEW_ROLE),
                     dbc.Select(id=ids.ACCOUNT_NEW_ROLE, options=_role_options(),
                                value="viewer")], md=2),
            dbc.Col([dbc.Label("Force scope", html_for=ids.ACCOUNT_NEW_FORCE),
                     dbc.Select(id=ids.ACCOUNT_NEW_FORCE, options=scopes,
                                value=scopes[0]["value"])], md=4),
        ], className="g-3"),
        dbc.Row([
            dbc.Col(html.Fieldset([
                html.Legend("First password", className="form-label fs-6"),
                dbc.RadioItems(id=ids.ACCOUNT_NEW_PASSWORD_MODE, value=GENERATE,
                               options=[{"label": label, "value": value}
                                        for value, label in PASSWORD_MODES.items()]),
            ]), md=6),
            dbc.Col([dbc.Label("Password (only if you type one)",
                               html_for=ids.ACCOUNT_NEW_PASSWORD),
                     dbc.Input(id=ids.ACCOUNT_NEW_PASSWORD, type="password", value="",
                               autocomplete="new-password"),
                     dbc.FormText(f"At least {MIN_PASSWORD_LENGTH} characters, not easy to "
                                  "guess. The account must choose its own at first "
                                  "sign-in.")], md=6),
        ], className="g-3 mt-1"),
        dbc.Button("Add the account", id=ids.ACCOUNT_ADD, color="primary", type="button",
                   className="mt-3"),
        html.Div(id=ids.ACCOUNT_ADD_MESSAGE, className="mt-2", role="status"),
    ], className="mt-4")


def change_form(svc: FlightDeckService) -> dbc.Form:
    scopes = _force_options(svc)
    return dbc.Form([
        html.H2("Change an account", className="h5"),
        dbc.Row([
            dbc.Col([dbc.Label("Account", html_for=ids.ACCOUNT_TARGET),
                     dbc.Input(id=ids.ACCOUNT_TARGET, maxLength=64, value="",
                               autocomplete="off"),
                     dbc.FormText("Choose one in the list above, or type its user name.")],
                    md=4),
            dbc.Col([dbc.Label("Role", html_for=ids.ACCOUNT_ROLE),
                     dbc.Select(id=ids.ACCOUNT_ROLE, options=_role_options(),
                                value="viewer")], md=3),
            dbc.Col([dbc.Label("Force scope", html_for=ids.ACCOUNT_FORCE),
                     dbc.Select(id=ids.ACCOUNT_FORCE, options=scopes,
                                value=scopes[0]["value"])], md=5),
        ], className="g-3"),
        html.Div([
            dbc.Button("Change role and scope", id=ids.ACCOUNT_SET_ROLE, color="primary",
                       type="button", className="me-2"),
            dbc.Button("Disable", id=ids.ACCOUNT_DISABLE, color="danger", type="button",
                       className="me-2"),
            dbc.Button("Enable", id=ids.ACCOUNT_ENABLE, color="secondary", type="button"),
        ], className="mt-3"),
        dbc.Row([
            dbc.Col([dbc.Label("New password (leave empty to generate a temporary one)",
                               html_for=ids.ACCOUNT_RESET_PASSWORD),
                     dbc.Input(id=ids.ACCOUNT_RESET_PASSWORD, type="password", value="",
                               autocomplete="new-password")], md=6),
            dbc.Col(dbc.Button("Reset the password", id=ids.ACCOUNT_RESET,
                               color="secondary", type="button"),
                    md=6, className="d-flex align-items-end"),
        ], className="g-3 mt-1"),
        html.Div(id=ids.ACCOUNT_MESSAGE, className="mt-2", role="status"),
    ], className="mt-4")


def layout(q: object = None, role: object = None, force: object = None,
           status: object = None, page: object = None, **_: object) -> html.Div:
    heading = html.H1(HEADING, className="h3")
    try:
        svc = service()
        if svc.principal.demo:
            return html.Div([heading, dbc.Alert(
                "This unsecured demonstration has no accounts. Add the first "
                "administrator with 'flightdeck users add NAME --role admin' and restart "
                "the server; then manage accounts here.", color="info",
                id=ids.ACCOUNTS_NOT_ALLOWED)])
        if not svc.may(Action.MANAGE_USERS):
            return html.Div([heading, dbc.Alert(REFUSED, color="info",
                                                id=ids.ACCOUNTS_NOT_ALLOWED)])
        query = _first(q) or ""
        chosen_role = _first(role) if _first(role) in ROLES else ""
        chosen_status = _first(status) if _first(status) in ACCOUNT_STATUSES else ""
        scopes = {option["value"] for option in _force_options(svc)}
        chosen_force = _first(force) if _first(force) in scopes else ""
        number = _first(page) or ""
        found = svc.accounts(query, chosen_role or None, chosen_force or None,
                             chosen_status or None, int(number) if number.isdigit() else 1)
        return html.Div([
            heading, html.P(INTRO),
            filters(svc, query, chosen_role or "", chosen_force or
                    (svc.principal.force or ""), chosen_status or ""),
            html.Div(accounts_view(svc, found), id=ids.ACCOUNTS_LIST),
            pager(),
            dcc.Store(id=ids.ACCOUNTS_PAGE, data=found.page),
            dcc.Store(id=ids.ACCOUNTS_ADDED, data=0),
            dcc.Store(id=ids.ACCOUNTS_CHANGED, data=0),
            change_form(svc),
            add_form(svc),
        ])
    except Exception:
        LOG.exception("accounts page failed")
        return html.Div([heading, dbc.Alert("The accounts could not be read.",
                                            color="danger", id=ids.PAGE_ERROR)])


@dash.callback(
    Output(ids.ACCOUNTS_LIST, "children"),
    Output(ids.ACCOUNTS_PAGE, "data"),
    Output(ids.ACCOUNTS_PREVIOUS, "disabled"),
    Output(ids.ACCOUNTS_NEXT, "disabled"),
    Input(ids.ACCOUNTS_SEARCH, "value"),
    Input(ids.ACCOUNTS_ROLE, "value"),
    Input(ids.ACCOUNTS_FORCE, "value"),
    Input(ids.ACCOUNTS_STATUS, "value"),
    Input(ids.ACCOUNTS_PREVIOUS, "n_clicks"),
    Input(ids.ACCOUNTS_NEXT, "n_clicks"),
    Input(ids.ACCOUNTS_ADDED, "data"),
    Input(ids.ACCOUNTS_CHANGED, "data"),
    State(ids.ACCOUNTS_PAGE, "data"),
    prevent_initial_call=True,  # the layout drew the first page
)
def show_accounts(query: object, role: object, force: object, status: object,
                  _previous: object, _following: object, _added: object, _changed: object,
                  page: object) -> tuple[object, object, object, object]:
    """The list for the filters: a new search or filter starts at page 1, the pager
    moves a page, and a change made below redraws the page shown. (Which button or
    store fired is all that is read of them, not their values.)"""
    query = _inputs.text(query, "the search text")
    role = _inputs.text(role, "the role")
    force = _inputs.text(force, "the force scope")
    status = _inputs.text(status, "the status")
    number = max(1, _inputs.clicks(page, "the page number"))
    pressed = dash.ctx.triggered_id
    if pressed == ids.ACCOUNTS_PREVIOUS:
        number -= 1
    elif pressed == ids.ACCOUNTS_NEXT:
        number += 1
    elif pressed not in (ids.ACCOUNTS_ADDED, ids.ACCOUNTS_CHANGED, None):
        number = 1
    svc = service()
    try:
        found = svc.accounts(query or "", role or None, force or None, status or None,
                             number)
    except (AccessDenied, UserError) as refusal:
        return dbc.Alert(str(refusal), color="danger"), dash.no_update, True, True
    return (accounts_view(svc, found), found.page, found.page <= 1,
            found.page >= found.pages)


@dash.callback(
    Output(ids.ACCOUNT_TARGET, "value"),
    Output(ids.ACCOUNT_ROLE, "value"),
    Output(ids.ACCOUNT_FORCE, "value"),
    Input({"type": ids.ACCOUNT_PICK, "username": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def pick(_clicks: object) -> tuple[object, object, object]:
    """An account chosen in the list: its name, role and scope into the change form."""
    unchanged = (dash.no_update,) * 3
    chosen = dash.ctx.triggered_id
    triggered = dash.ctx.triggered[0] if dash.ctx.triggered else {}
    clicked = triggered.get("value") if isinstance(triggered, dict) else None
    if not isinstance(chosen, dict) or not isinstance(chosen.get("username"), str) \
            or _inputs.clicks(clicked, "the account's clicks") <= 0:
        return unchanged  # drawn, not clicked
    try:
        user = service().account(chosen["username"])
    except (AccessDenied, UserError):
        return unchanged
    return user.username, user.role.value, user.force_slug or ALL_FORCES


def _described(svc: FlightDeckService, user: User) -> str:
    return (f"{user.username} ({ROLE_LABELS.get(user.role.value, user.role.value)}, "
            f"{_scope_label(svc, user.force_slug)})")


def _shown_once(intro: str, secret: str) -> list[Any]:
    return [
        html.P([intro, " Their temporary password: ",
                html.Code(secret, id=ids.ACCOUNT_TEMPORARY_PASSWORD,
                          className="fs-6 text-body user-select-all")],
               className="mb-1"),
        html.P("Give it to them now, by a safe route: it will not be shown again, and "
               "only a hash of it is kept. They must choose their own password when they "
               "next sign in.", className="mb-0 fw-bold"),
    ]


@dash.callback(
    Output(ids.ACCOUNT_ADD_MESSAGE, "children"),
    Output(ids.ACCOUNTS_ADDED, "data"),
    Output(ids.ACCOUNT_NEW_PASSWORD, "value"),
    Input(ids.ACCOUNT_ADD, "n_clicks"),
    State(ids.ACCOUNT_NEW_USERNAME, "value"),
    State(ids.ACCOUNT_NEW_DISPLAY_NAME, "value"),
    State(ids.ACCOUNT_NEW_ROLE, "value"),
    State(ids.ACCOUNT_NEW_FORCE, "value"),
    State(ids.ACCOUNT_NEW_PASSWORD_MODE, "value"),
    State(ids.ACCOUNT_NEW_PASSWORD, "value"),
    prevent_initial_call=True,
)
def add(clicks: object, username: object, display_name: object, role: object,
        force: object, mode: object, password: object) -> tuple[object, object, object]:
    """Add the account through the service (role, scope and audit checked there)."""
    count = _inputs.clicks(clicks, "the add button's clicks")
    username = (_inputs.text(username, "the user name") or "").strip()
    display_name = _inputs.text(display_name, "the display name") or ""
    role = _inputs.text(role, "the role") or ""
    force = _inputs.text(force, "the force scope") or ""
    mode = _inputs.text(mode, "the password choice") or GENERATE
    password = _inputs.text(password, "the password") or ""
    if count <= 0:
        return dash.no_update, dash.no_update, dash.no_update
    if not username:
        return dbc.Alert("Give the new account a user name.", color="warning"), \
            dash.no_update, dash.no_update
    if mode == TYPE and not password:
        return dbc.Alert("Type the password, or choose to generate one.", color="warning"), \
            dash.no_update, dash.no_update
    svc = service()
    try:
        user, secret = svc.add_account(
            username, role, None if force in ("", ALL_FORCES) else force, display_name,
            password=password if mode == TYPE else None, sso_only=mode == SSO_ONLY)
    except (AccessDenied, UserError) as problem:
        return dbc.Alert(f"Not added: {problem}", color="danger"), dash.no_update, ""
    added = f"Added {_described(svc, user)}."
    if secret is not None:
        message: object = dbc.Alert(_shown_once(added, secret), color="success")
    elif user.has_password:
        message = dbc.Alert(f"{added} They must change the password you typed when they "
                            "first sign in.", color="success")
    else:
        message = dbc.Alert(f"{added} It has no password: it signs in through single "
                            "sign-on only.", color="success")
    return message, count, ""


@dash.callback(
    Output(ids.ACCOUNT_MESSAGE, "children"),
    Output(ids.ACCOUNTS_CHANGED, "data"),
    Output(ids.ACCOUNT_RESET_PASSWORD, "value"),
    Input(ids.ACCOUNT_SET_ROLE, "n_clicks"),
    Input(ids.ACCOUNT_DISABLE, "n_clicks"),
    Input(ids.ACCOUNT_ENABLE, "n_clicks"),
    Input(ids.ACCOUNT_RESET, "n_clicks"),
    State(ids.ACCOUNT_TARGET, "value"),
    State(ids.ACCOUNT_ROLE, "value"),
    State(ids.ACCOUNT_FORCE, "value"),
    State(ids.ACCOUNT_RESET_PASSWORD, "value"),
    prevent_initial_call=True,
)
def change(set_role: object, disable: object, enable: object, reset: object,
           username: object, role: object, force: object, password: object
           ) -> tuple[object, object, object]:
    """Change role and scope, disable, enable or reset through the service."""
    counts = {
        ids.ACCOUNT_SET_ROLE: _inputs.clicks(set_role, "the change button's clicks"),
        ids.ACCOUNT_DISABLE: _inputs.clicks(disable, "the disable button's clicks"),
        ids.ACCOUNT_ENABLE: _inputs.clicks(enable, "the enable button's clicks"),
        ids.ACCOUNT_RESET: _inputs.clicks(reset, "the reset button's clicks"),
    }
    username = (_inputs.text(username, "the account") or "").strip()
    role = _inputs.text(role, "the role") or ""
    force = _inputs.text(force, "the force scope") or ""
    password = _inputs.text(password, "the new password") or ""
    pressed = dash.ctx.triggered_id
    if pressed not in counts or counts[pressed] <= 0:
        return dash.no_update, dash.no_update, dash.no_update
    if not username:
        return dbc.Alert("Choose an account: pick one in the list, or type its user name.",
                         color="warning"), dash.no_update, dash.no_update
    svc = service()
    secret: str | None = None
    try:
        if pressed == ids.ACCOUNT_SET_ROLE:
            scope = None if force in ("", ALL_FORCES) else force
            svc.set_account_role(username, role, scope)
            done = (f"{username} is now {ROLE_LABELS.get(role, role)} "
                    f"({_scope_label(svc, scope)}); their open sessions have ended.")
        elif pressed == ids.ACCOUNT_DISABLE:
            svc.disable_account(username)
            done = (f"Disabled {username}: they cannot sign in, their open sessions have "
                    "ended and their API tokens are refused until the account is enabled.")
        elif pressed == ids.ACCOUNT_ENABLE:
            svc.enable_account(username)
            done = f"Enabled {username}: they can sign in again."
        else:
            secret = svc.reset_password(username, password or None)
            done = (f"Reset {username}'s password; their open sessions have ended."
                    + ("" if secret else " They must change the password you typed when "
                       "they next sign in."))
    except (AccessDenied, UserError) as problem:
        return dbc.Alert(f"Not changed: {problem}", color="danger"), dash.no_update, ""
    message = _shown_once(done, secret) if secret else done
    return dbc.Alert(message, color="success"), sum(counts.values()), ""

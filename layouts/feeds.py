"""Data feeds and API tokens: connect Power BI, Excel or a script to the KPI table.

The feeds (:mod:`web.feeds`: ``/feeds/kpis.csv`` and ``/feeds/kpis.json``) are read by
programs that cannot sign in on a form, so each request brings an API token. Here the
signed-in account makes its tokens (the secret is shown once, then only its hash is
kept), sees when each was last used, and revokes them. A token acts as its account as
the account is at each request: the same role, scope and disclosure control as its
pages. Making and revoking are exports' business (analysts and administrators), through
the service, audited.

Not cached like the data pages: what it shows is this one person's tokens.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import dash
import dash_bootstrap_components as dbc
import flask
from dash import Input, Output, State, html

from kpis.domain.access import AccessDenied, Action
from kpis.service import FlightDeckService
from kpis.storage.security import MAX_TOKEN_NAME_LENGTH, ApiToken, UserError
from web import ids
from web import request_checks as _inputs
from web.context import service
from web.feeds import FEED_PATH

dash.register_page(__name__, path="/data-feeds", name="Data feeds",
                   title="Data feeds - NOM flight deck", order=9)

LOG = logging.getLogger(__name__)
HEADING = "Data feeds"
INTRO = (
    "Connect Power BI, Excel or a script to the flight deck's KPI table: one row per KPI, "
    "area and period, with the protective marking and (for demonstration data) the data "
    "label on every row. The feed sees what your account sees, with the same force scope "
    "and disclosure control, and each request is recorded in the audit log."
)


def _when(moment: object) -> str:
    return f"{moment:%d %b %Y %H:%M}" if moment else "Never"


def example_address(svc: FlightDeckService, fmt: str = "csv") -> str:
    """A feed address for this account: an open data KPI for its own force (or Kent)."""
    ds = svc.dataset()
    kpi = "ho_rape_charge_rate" if "ho_rape_charge_rate" in ds.kpis else next(iter(ds.kpis))
    forces = list(ds.visible_forces["slug"])
    force = svc.principal.force or ("kent" if "kent" in forces else forces[0])
    base = flask.request.host_url.rstrip("/") if flask.has_request_context() else ""
    query = urlencode({"kpi": kpi, "force": force, "start": "2024-04"})
    return f"{base}{FEED_PATH}/kpis.{fmt}?{query}"


def how_to_connect(svc: FlightDeckService) -> html.Div:
    """Where the feeds are and how Power BI and Excel send the token."""
    return html.Div([
        html.H2("How to connect", className="h5"),
        html.P(["The feeds are ", html.Code(f"{FEED_PATH}/kpis.csv"), " and ",
                html.Code(f"{FEED_PATH}/kpis.json"), ", with ", html.Code("kpi=ID"),
                " (repeat for more), and optionally ", html.Code("force=SLUG"), ", ",
                html.Code("start=YYYY-MM"), ", ", html.Code("end=YYYY-MM"), ", ",
                html.Code("baseline"), ", ", html.Code("marking"), " and ",
                html.Code("suppress=1"), ". For example:"]),
        html.P(html.Code(example_address(svc), id=ids.FEED_EXAMPLE), className="text-break"),
        html.Ul([
            html.Li(["Power BI Desktop or Excel: Get data, From Web, Advanced; give the "
                     "address, and an HTTP request header ", html.Code("Authorization"),
                     " with the value ", html.Code("Bearer"), ", a space and your token. "
                     "Choose Anonymous access: the token is the credential."]),
            html.Li(["A script: send the same header, e.g. ",
                     html.Code('curl -H "Authorization: Bearer TOKEN" ADDRESS'), "."]),
        ]),
        html.P("Keep a token as you would a password: anyone who has it can read what "
               "your account can. Revoke it here when it is no longer needed.",
               className="small"),
    ], className="mt-3")


def tokens_view(tokens: list[ApiToken]) -> html.Div | html.P:
    """This account's tokens in use, as a table."""
    if not tokens:
        return html.P("You have no API tokens.", className="mb-0")
    head = html.Thead(html.Tr([html.Th(text, scope="col") for text in
                               ("Name", "Id", "Made", "Last used")]))
    body = html.Tbody([html.Tr([
        html.Th(token.name, scope="row"), html.Td(html.Code(token.token_id)),
        html.Td(_when(token.created_at)), html.Td(_when(token.last_used_at)),
    ]) for token in tokens])
    caption = "Your API tokens"
    return html.Div(dbc.Table([html.Caption(caption), head, body], size="sm",
                              className="caption-top"),
                    className="table-responsive", role="region", tabIndex="0",
                    **{"aria-label": caption})


def _revoke_options(tokens: list[ApiToken]) -> list[dict[str, str]]:
    return [{"label": f"{token.name} ({token.token_id})", "value": token.token_id}
            for token in tokens]


def token_form(tokens: list[ApiToken]) -> dbc.Form:
    return dbc.Form([
        html.H2("Make or revoke a token", className="h5"),
        dbc.Row([
            dbc.Col([dbc.Label("What the new token is for", html_for=ids.TOKEN_NAME),
                     dbc.Input(id=ids.TOKEN_NAME, maxLength=MAX_TOKEN_NAME_LENGTH,
                               placeholder="Power BI monthly report", value="")], md=6),
            dbc.Col([dbc.Label("Token to revoke", html_for=ids.TOKEN_REVOKE_CHOICE),
                     dbc.Select(id=ids.TOKEN_REVOKE_CHOICE, options=_revoke_options(tokens),
                                value=None)], md=6),
        ], className="g-3"),
        html.Div([
            dbc.Button("Make a token", id=ids.TOKEN_CREATE, color="primary", type="button",
                       className="me-2"),
            dbc.Button("Revoke", id=ids.TOKEN_REVOKE, color="secondary", outline=True,
                       type="button"),
        ], className="mt-3"),
        html.Div(id=ids.TOKEN_MESSAGE, className="mt-2", role="status"),
    ], className="mt-4")


def layout(**_: str) -> html.Div:
    heading = html.H1(HEADING, className="h3")
    intro = html.P(INTRO)
    try:
        svc = service()
        if svc.principal.demo:
            return html.Div([heading, intro, dbc.Alert(
                "This unsecured demonstration has no accounts, so no tokens: its feeds "
                "answer on this computer without one.", color="info",
                id=ids.FEEDS_NOT_ALLOWED), how_to_connect(svc)])
        if not svc.may(Action.EXPORT):
            return html.Div([heading, intro, dbc.Alert(
                "Data feeds are exports, for analysts and administrators. Ask an "
                "administrator if you need them.", color="info", id=ids.FEEDS_NOT_ALLOWED)])
        tokens = svc.api_tokens()
        return html.Div([heading, intro, how_to_connect(svc),
                         html.Div(tokens_view(tokens), id=ids.TOKENS), token_form(tokens)])
    except Exception:
        LOG.exception("data feeds page failed")
        return html.Div([heading, dbc.Alert("Your API tokens could not be read.",
                                            color="danger", id=ids.PAGE_ERROR)])


@dash.callback(
    Output(ids.TOKENS, "children"),
    Output(ids.TOKEN_REVOKE_CHOICE, "options"),
    Output(ids.TOKEN_MESSAGE, "children"),
    Output(ids.TOKEN_NAME, "value"),
    Input(ids.TOKEN_CREATE, "n_clicks"),
    Input(ids.TOKEN_REVOKE, "n_clicks"),
    State(ids.TOKEN_NAME, "value"),
    State(ids.TOKEN_REVOKE_CHOICE, "value"),
    prevent_initial_call=True,
)
def change(create: int | None, revoke: int | None, name: str | None,
           token_id: str | None) -> tuple[object, object, object, object]:
    """Make or revoke a token through the service (role checked and audited there)."""
    create_clicks = _inputs.clicks(create, "the make-a-token button's clicks")
    revoke_clicks = _inputs.clicks(revoke, "the revoke button's clicks")
    name = _inputs.text(name, "the token's name")
    token_id = _inputs.text(token_id, "the token to revoke")
    pressed = dash.ctx.triggered_id
    unchanged = (dash.no_update,) * 4
    if not ((pressed == ids.TOKEN_CREATE and create_clicks > 0)
            or (pressed == ids.TOKEN_REVOKE and revoke_clicks > 0)):
        return unchanged
    svc = service()
    cleared: object = dash.no_update
    try:
        if pressed == ids.TOKEN_CREATE:
            token, secret = svc.create_api_token(name or "")
            message = dbc.Alert([
                html.P([f"Your new token for {token.name} (id {token.token_id}): ",
                        html.Code(secret, id=ids.TOKEN_SECRET, className="text-break")],
                       className="mb-1"),
                html.P("Copy it now: it is not shown again (only a hash of it is kept).",
                       className="mb-0"),
            ], color="success")
            cleared = ""
        else:
            if not token_id:
                return (dash.no_update, dash.no_update,
                        dbc.Alert("Choose a token to revoke.", color="warning"),
                        dash.no_update)
            token = svc.revoke_api_token(token_id)
            message = dbc.Alert(f"Revoked {token.name} ({token.token_id}): it no longer "
                                "works.", color="success")
    except AccessDenied as refusal:
        return (dash.no_update, dash.no_update,
                dbc.Alert(f"Not changed: {refusal}", color="danger"), dash.no_update)
    except UserError as problem:
        return (dash.no_update, dash.no_update,
                dbc.Alert(f"Not changed: {problem}", color="danger"), dash.no_update)
    tokens = svc.api_tokens()
    return tokens_view(tokens), _revoke_options(tokens), message, cleared

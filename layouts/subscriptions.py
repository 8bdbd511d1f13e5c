"""Board packs by email: the signed-in account subscribes to a force's monthly board
pack (its own force, for a force-scoped account) in a format of its choice, or stops.

The packs are sent by :mod:`kpis.subscriptions` once the force's own return for a
month is in, built for the account as it is at send time and marked
OFFICIAL-SENSITIVE. Subscribing is an export right (analysts and administrators) and
goes through the service, which checks the scope and audits it.

Not cached like the data pages: what it shows is this one person's subscriptions,
while the page cache is shared by everyone with the same role and scope.
"""

from __future__ import annotations

import logging

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, html

from kpis.domain.access import AccessDenied, Action
from kpis.domain.periods import long_month
from kpis.service import FlightDeckService
from kpis.storage.security import Subscription, UserError
from kpis.subscriptions import FORMAT_NAMES
from web import ids
from web import request_checks as _inputs
from web.context import service

dash.register_page(__name__, path="/subscriptions", name="Board packs by email",
                   title="Board packs by email - NOM flight deck", order=8)

LOG = logging.getLogger(__name__)
HEADING = "Board packs by email"
FORMAT_LABELS = FORMAT_NAMES  # pptx: PowerPoint, pdf: PDF, docx: Word
INTRO = (
    "Get a force's monthly board pack by email, as soon as the force's own return for "
    "the month is in: one message a month, with the pack attached. It is built for your "
    "account as it is when it is sent (what you may see), and marked "
    "OFFICIAL-SENSITIVE."
)


def _names(svc: FlightDeckService) -> dict[str, str]:
    return svc.dataset().area_names


def current_view(svc: FlightDeckService) -> html.Div | html.P:
    """This account's subscriptions, as a table."""
    subs: list[Subscription] = svc.subscriptions()
    if not subs:
        return html.P("You have no subscriptions.", className="mb-0")
    names = _names(svc)
    account = svc.security.user(svc.principal.username)
    email = (account.email if account else None) or "no address"
    head = html.Thead(html.Tr([html.Th(text, scope="col") for text in
                               ("Force", "Format", "Sent to", "Latest month sent")]))
    body = html.Tbody([html.Tr([
        html.Th(names.get(sub.force_slug, sub.force_slug), scope="row"),
        html.Td(FORMAT_LABELS.get(sub.format, sub.format)),
        html.Td(email),
        html.Td(long_month(sub.last_sent) if sub.last_sent else "Nothing sent yet"),
    ]) for sub in subs])
    caption = "Your board pack subscriptions"
    return html.Div(dbc.Table([html.Caption(caption), head, body], size="sm",
                              className="caption-top"),
                    className="table-responsive", role="region", tabIndex="0",
                    **{"aria-label": caption})


def subscription_form(svc: FlightDeckService, force: str | None) -> dbc.Form:
    forces = svc.dataset().visible_forces  # a force-scoped account: its own force only
    options = [{"label": name, "value": slug}
               for slug, name in zip(forces["slug"], forces["name"], strict=True)]
    slugs = [option["value"] for option in options]
    chosen = force if force in slugs else (svc.principal.force or (slugs[0] if slugs else None))
    account = svc.security.user(svc.principal.username)
    return dbc.Form([
        html.H2("Subscribe or stop", className="h5"),
        dbc.Row([
            dbc.Col([dbc.Label("Force", html_for=ids.SUBSCRIPTION_FORCE),
                     dbc.Select(id=ids.SUBSCRIPTION_FORCE, options=options, value=chosen)],
                    md=4),
            dbc.Col([dbc.Label("Format", html_for=ids.SUBSCRIPTION_FORMAT),
                     dbc.RadioItems([{"label": label, "value": value}
                                     for value, label in FORMAT_LABELS.items()], "pptx",
                                    id=ids.SUBSCRIPTION_FORMAT)], md=3),
            dbc.Col([dbc.Label("Email address", html_for=ids.SUBSCRIPTION_EMAIL),
                     dbc.Input(id=ids.SUBSCRIPTION_EMAIL, type="email", maxLength=254,
                               autoComplete="email",
                               required=True,
                               value=(account.email if account else None) or ""),
                     dbc.FormText("The packs for every force you subscribe to go here.",
                                  id=f"{ids.SUBSCRIPTION_EMAIL}-hint")], md=5),
        ], className="g-3"),
        html.Div([
            dbc.Button("Subscribe", id=ids.SUBSCRIBE, color="primary", type="button",
                       className="me-2"),
            dbc.Button("Unsubscribe", id=ids.UNSUBSCRIBE, color="secondary",
                       outline=True, type="button"),
        ], className="mt-3"),
        html.Div(id=ids.SUBSCRIPTION_MESSAGE, className="mt-2", role="status"),
    ], className="mt-4")


def layout(force: str | None = None, **_: str) -> html.Div:
    heading = html.H1(HEADING, className="h3")
    intro = html.P(INTRO)
    try:
        svc = service()
        if svc.principal.demo:
            return html.Div([heading, intro, dbc.Alert(
                "Board packs by email need a signed-in account: this demonstration has "
                "none.", color="info", id=ids.SUBSCRIPTIONS_NOT_ALLOWED)])
        if not svc.may(Action.EXPORT):
            return html.Div([heading, intro, dbc.Alert(
                "Board packs are exports, for analysts and administrators. Ask an "
                "administrator if you need them.", color="info",
                id=ids.SUBSCRIPTIONS_NOT_ALLOWED)])
        return html.Div([
            heading, intro,
            html.Div(current_view(svc), id=ids.SUBSCRIPTIONS),
            subscription_form(svc, force if isinstance(force, str) else None),
        ])
    except Exception:
        LOG.exception("subscriptions page failed")
        return html.Div([heading, dbc.Alert("Your subscriptions could not be read.",
                                            color="danger", id=ids.PAGE_ERROR)])


@dash.callback(
    Output(ids.SUBSCRIPTIONS, "children"),
    Output(ids.SUBSCRIPTION_MESSAGE, "children"),
    Input(ids.SUBSCRIBE, "n_clicks"),
    Input(ids.UNSUBSCRIBE, "n_clicks"),
    State(ids.SUBSCRIPTION_FORCE, "value"),
    State(ids.SUBSCRIPTION_FORMAT, "value"),
    State(ids.SUBSCRIPTION_EMAIL, "value"),
    prevent_initial_call=True,
)
def change(subscribe: int | None, unsubscribe: int | None, force: str | None,
           fmt: str | None, email: str | None) -> tuple[object, object]:
    """Subscribe or unsubscribe through the service (scope checked and audited there)."""
    subscribe_clicks = _inputs.clicks(subscribe, "the subscribe button's clicks")
    unsubscribe_clicks = _inputs.clicks(unsubscribe, "the unsubscribe button's clicks")
    force = _inputs.text(force, "the force")
    fmt = _inputs.text(fmt, "the format")
    email = _inputs.text(email, "the email address")
    pressed = dash.ctx.triggered_id
    if pressed == ids.SUBSCRIBE and subscribe_clicks > 0:
        adding = True
    elif pressed == ids.UNSUBSCRIBE and unsubscribe_clicks > 0:
        adding = False
    else:
        return dash.no_update, dash.no_update
    if not force:
        return dash.no_update, dbc.Alert("Choose a force.", color="warning")
    svc = service()
    name = _names(svc).get(force, force)
    try:
        if adding:
            sub = svc.subscribe(force, fmt or "", (email or "").strip() or None)
            message = (f"Subscribed: {name}'s monthly board pack ({FORMAT_LABELS[sub.format]}) "
                       "will be emailed to you when each month's return is in.")
        else:
            svc.unsubscribe(force)
            message = f"Unsubscribed from {name}'s board pack."
    except AccessDenied as refusal:
        return dash.no_update, dbc.Alert(f"Not changed: {refusal}", color="danger")
    except UserError as problem:
        return dash.no_update, dbc.Alert(f"Not changed: {problem}", color="danger")
    return current_view(svc), dbc.Alert(message, color="success")

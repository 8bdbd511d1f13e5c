"""Audit log: sign-ins, failed and throttled sign-ins, loads, rollbacks, exports, user
changes and refused actions, newest first. Administrators only.

Not cached like the other pages: the log changes with every sign-in, while the page
cache follows the data version.
"""

from __future__ import annotations

import logging

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import html

from kpis.domain.access import Action
from kpis.storage import security
from layouts._tables import data_table
from web.context import service

dash.register_page(__name__, path="/audit", name="Audit log",
                   title="Audit log - NOM flight deck", order=9)

LOG = logging.getLogger(__name__)
AUDIT_TABLE = "audit-table"
SHOWN = 500


def _when(value: object) -> str:
    return pd.Timestamp(value).strftime("%d %b %Y %H:%M:%S") if not pd.isna(value) else ""


def audit_view(event: str | None) -> html.Div:
    events = service().security.events(limit=SHOWN, event=event or None)
    frame = pd.DataFrame([e.__dict__ for e in events],
                         columns=["event_id", "occurred_at", "event", "username", "address",
                                  "detail"])
    frame["occurred_at"] = frame["occurred_at"].map(_when)
    choices = html.P(["Show: ", html.A("everything", href="/audit"), *[
        part for name in security.EVENTS
        for part in (", ", html.A(name, href=f"/audit?event={name}"))
    ]], className="small")
    if frame.empty:
        table: html.Div | html.P = html.P("Nothing has been recorded yet.")
    else:
        table = data_table(
            frame,
            [("occurred_at", "When", None), ("event", "Event", None),
             ("username", "User", None), ("address", "Address", None),
             ("detail", "Detail", None)],
            caption=f"The latest {len(frame)} events"
                    + (f" of kind '{event}'" if event else "") + ", newest first.",
            table_id=AUDIT_TABLE,
        )
    return html.Div([choices, table])


def layout(event: str | None = None, **_: str) -> html.Div:
    heading = html.H1("Audit log", className="h3")
    try:
        if not service().may(Action.READ_AUDIT):
            return html.Div([heading, dbc.Alert("The audit log is for administrators.",
                                                color="info", id="audit-not-allowed")])
        if event not in security.EVENTS:
            event = None
        return html.Div([heading, audit_view(event)])
    except Exception:
        LOG.exception("audit page failed")
        return html.Div([heading, dbc.Alert("The audit log could not be read.",
                                            color="danger")])

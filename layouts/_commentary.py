"""Analyst commentary under a KPI chart: the current text with its author and time,
and a small form to write or replace it (earlier versions are kept as history).

A helper, not a page. Its callbacks are registered on the app by
``register_commentary(app)`` (called from the app wiring), and use pattern-matching
ids so a page may hold more than one block.
"""

from __future__ import annotations

import datetime as dt

import dash
import dash_bootstrap_components as dbc
from dash import MATCH, Input, Output, State, html

from kpis.domain.access import AccessDenied, Action
from kpis.domain.periods import format_month
from kpis.storage import annotations
from kpis.storage.annotations import Commentary
from web.context import service

CURRENT = "commentary-current"
TEXT = "commentary-text"
AUTHOR = "commentary-author"
SAVE = "commentary-save"
MESSAGE = "commentary-message"
SEPARATOR = "|"

__all__ = ["commentary_block", "register_commentary"]


def block_key(kpi_id: str, area: str, period: dt.date | str) -> str:
    """The key naming one block: kpi, area and month (YYYY-MM)."""
    month = format_month(period) if isinstance(period, dt.date) else str(period)[:7]
    return SEPARATOR.join((kpi_id, area, month))


def _id(kind: str, key: str) -> dict[str, str]:
    return {"type": kind, "key": key}


def _dom_id(kind: str, key: str) -> str:
    """A plain string id derived from a block key (for aria references)."""
    return f"{kind}-" + "".join(c if c.isalnum() else "-" for c in key)


def current_view(comment: Commentary | None) -> html.Div:
    """The current commentary with its author and time, or a plain 'none yet'."""
    if comment is None:
        return html.Div(html.P("No commentary for this force and period yet.",
                               className="text-body-secondary mb-0"))
    when = f"{comment.written_at.day} {comment.written_at:%b %Y %H:%M}"
    return html.Div([
        html.P(comment.text, className="mb-1 commentary-text", style={"whiteSpace": "pre-wrap"}),
        html.P(f"{comment.author}, {when}", className="small text-body-secondary mb-0"),
    ])


def commentary_block(kpi_id: str, area: str, period: dt.date | str) -> html.Section:
    """The commentary on ``kpi_id`` for ``area`` and ``period``, with a form to edit it."""
    key = block_key(kpi_id, area, period)
    comment = service().commentary_for(kpi_id, area, key.split(SEPARATOR)[2])
    heading_id = _dom_id("commentary-heading", key)
    principal = service().principal
    if principal.demo:
        author = html.Label([
            "Your name",
            dbc.Input(id=_id(AUTHOR, key), type="text", maxLength=annotations.MAX_AUTHOR),
        ], className="form-label d-block mt-2")
    else:  # signed in: the service signs it with the account's name (pages are cached
        # per role, not per person, so the name is not put in the page)
        author = html.Div([
            dbc.Input(id=_id(AUTHOR, key), type="hidden", value=""),
            html.P("Saved under your account's name.", className="small mb-0 mt-2"),
        ])
    may_write = principal.may(Action.COMMENT) and (
        principal.force is None or principal.force == area)
    # Labels wrap their controls: pattern-matching ids cannot be named by html_for.
    form = None if not may_write else html.Details([
        html.Summary("Write or replace the commentary"),
        html.Label([
            "Commentary",
            dbc.Textarea(id=_id(TEXT, key), value=comment.text if comment else "",
                         maxLength=annotations.MAX_TEXT, rows=3),
        ], className="form-label d-block mt-2"),
        dbc.FormText(f"Up to {annotations.MAX_TEXT:,} characters. The earlier commentary is "
                     "kept."),
        author,
        dbc.Button("Save commentary", id=_id(SAVE, key), color="primary", size="sm",
                   className="mt-2", type="button"),
        html.Div(id=_id(MESSAGE, key), role="status", className="mt-2"),
    ], className="commentary-form mt-2")
    return html.Section([
        html.H2("Commentary", className="h6", id=heading_id),
        html.Div(current_view(comment), id=_id(CURRENT, key)),
        form,
    ], className="commentary-block mb-4", **{"aria-labelledby": heading_id})


def save_commentary(key: str, text: str | None, author: str | None
                    ) -> tuple[object, dbc.Alert]:
    """Write the commentary named by ``key``; return the new view (or no_update) and a message."""
    parts = str(key).split(SEPARATOR)
    if len(parts) != 3:
        return dash.no_update, dbc.Alert("Not saved: the form was not recognised.",
                                         color="danger")
    kpi_id, area, month = parts
    try:
        service().write_commentary(kpi_id, area, month, text or "", author or "")
    except AccessDenied as refusal:
        return dash.no_update, dbc.Alert(f"Not saved: {refusal}", color="danger")
    except ValueError as problem:
        message = str(problem)
        return dash.no_update, dbc.Alert(
            f"Not saved: {message[0].upper()}{message[1:]}.", color="danger")
    comment = service().commentary_for(kpi_id, area, month)
    return current_view(comment), dbc.Alert("Commentary saved.", color="success")


def register_commentary(app: dash.Dash) -> None:
    """Register the commentary block's callbacks on ``app`` (once per app)."""

    @app.callback(
        Output(_id(CURRENT, MATCH), "children"),
        Output(_id(MESSAGE, MATCH), "children"),
        Input(_id(SAVE, MATCH), "n_clicks"),
        State(_id(TEXT, MATCH), "value"),
        State(_id(AUTHOR, MATCH), "value"),
        prevent_initial_call=True,
    )
    def save(clicks: int | None, text: str | None, author: str | None
             ) -> tuple[object, object]:
        """Save the commentary of the block whose button was pressed."""
        if not clicks:
            return dash.no_update, dash.no_update
        key = dash.ctx.triggered_id["key"]
        return save_commentary(key, text, author)

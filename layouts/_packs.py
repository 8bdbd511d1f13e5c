"""Building a pack from a page, as a background job: shared by the board pack and
scrutiny pages.

A page lays out :func:`job_panel` under its build button and starts a pack with
:func:`start`; the panel then follows the job (polling its status once a second: how
far it has got, with a cancel button) and, when the pack is ready, offers it as a
download link. Nothing waits on a web thread: the pack is built by the server's export
workers (:mod:`web.exports`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from kpis.domain.access import AccessDenied
from kpis.pack_jobs import PackRequest
from web import request_checks as _inputs
from web.context import principal
from web.exports import PACK_PATH, cancel_pack, pack_status, start_pack

FORMATS = (("pptx", "PowerPoint"), ("pdf", "PDF"), ("docx", "Word"))
POLL_MS = 1000


def _ids(prefix: str) -> dict[str, str]:
    return {"job": f"{prefix}-job", "poll": f"{prefix}-poll", "status": f"{prefix}-status",
            "cancel": f"{prefix}-cancel"}


def job_panel(prefix: str) -> html.Div:
    """Where the job's progress, its cancel button and the finished pack's link go."""
    ids = _ids(prefix)
    return html.Div([
        html.Div(id=ids["status"], className="mt-3", role="status",
                 **{"aria-live": "polite"}),
        dbc.Button("Cancel", id=ids["cancel"], color="secondary", outline=True,
                   className="mt-2 d-none", n_clicks=0),
        dcc.Store(id=ids["job"]),
        dcc.Interval(id=ids["poll"], interval=POLL_MS, disabled=True),
    ])


def _size(count: int) -> str:
    return f"{count / 1024:.0f} KB" if count < 1024 * 1024 else f"{count / 2**20:.1f} MB"


def start(force: str, period: dt.date, fmt: str, *, pillars: Sequence[int] | None,
          kpis: Sequence[str] | None, marking: str, suppress: bool, name: str,
          groups: Sequence[tuple[str, Sequence[str]]] | None = None,
          kind: str | None = None, full: bool = False) -> tuple[Any, ...]:
    """Start the pack: (the job's token for the store, the poll's ``disabled``, the
    status, the cancel button's class and ``disabled``): the outputs of
    :func:`start_outputs`, in that order."""
    if fmt not in dict(FORMATS):
        return refused("Choose PowerPoint, PDF or Word.")
    who = principal()
    if who is None:
        return refused("Sign in to build a pack.")
    request = PackRequest(
        "", "", who, "", force, period, fmt, name, marking, suppress, full,
        tuple(pillars) if pillars else None, tuple(kpis) if kpis else None,
        tuple((h, tuple(k)) for h, k in groups) if groups else None, kind)
    try:
        token = start_pack(request)
    except AccessDenied as refusal:
        return refused(f"Not exported: {refusal}", "danger")
    return (token, False, dbc.Alert("Queued: the pack will be built in the background.",
                                    color="info"), "mt-2", False)


def refused(words: str, colour: str = "warning") -> tuple[Any, ...]:
    """The outputs of :func:`start` when no pack is started."""
    return None, True, dbc.Alert(words, color=colour), "mt-2 d-none", True


def start_outputs(prefix: str) -> list[Output]:
    """The outputs a page's build callback gives :func:`start`'s values to."""
    ids = _ids(prefix)
    return [Output(ids["job"], "data"), Output(ids["poll"], "disabled"),
            Output(ids["status"], "children"), Output(ids["cancel"], "className"),
            Output(ids["cancel"], "disabled", allow_duplicate=True)]


def _status(token: str | None) -> tuple[Any, bool, str]:
    """(the status to show, whether to stop polling, the cancel button's class)."""
    status = pack_status(token)
    if status is None:
        return dbc.Alert("This pack is no longer available: build it again.",
                         color="warning"), True, "mt-2 d-none"
    if status.state == "done" and status.result:
        name = str(status.result.get("file", "pack"))
        size = _size(int(status.result.get("bytes", 0)))
        return dbc.Alert([
            html.Span(f"Built {name} ({size}). "),
            html.A(f"Download {name}", href=f"{PACK_PATH}/{token}", download=name,
                   className="alert-link", id=f"pack-link-{token[:8]}"),
        ], color="success"), True, "mt-2 d-none"
    if status.state == "failed":
        return dbc.Alert(status.message, color="danger"), True, "mt-2 d-none"
    if status.state == "cancelled":
        return dbc.Alert("Cancelled: no pack was built.", color="secondary"), True, \
            "mt-2 d-none"
    return dbc.Alert([dbc.Spinner(size="sm", spinner_class_name="me-2"),
                      html.Span(f"{status.message}\u2026")], color="info"), False, "mt-2"


def register_job_callbacks(prefix: str) -> None:
    """The panel's callbacks: follow the job, and cancel it."""
    ids = _ids(prefix)

    @dash.callback(
        Output(ids["status"], "children", allow_duplicate=True),
        Output(ids["poll"], "disabled", allow_duplicate=True),
        Output(ids["cancel"], "className", allow_duplicate=True),
        Input(ids["poll"], "n_intervals"),
        State(ids["job"], "data"),
        prevent_initial_call=True,
    )
    def follow(ticks: int | None, token: str | None) -> tuple[Any, bool, str]:
        _inputs.clicks(ticks)
        token = _inputs.text(token, "the pack job")
        if not token:
            return dash.no_update, True, dash.no_update
        return _status(token)

    @dash.callback(
        Output(ids["cancel"], "disabled"),
        Input(ids["cancel"], "n_clicks"),
        State(ids["job"], "data"),
        prevent_initial_call=True,
    )
    def cancel(clicks: int | None, token: str | None) -> bool:
        clicks = _inputs.clicks(clicks)
        token = _inputs.text(token, "the pack job")
        if not clicks or not token:
            return dash.no_update
        return cancel_pack(token)

"""Load data: analysts upload monthly returns or Home Office tables, read the
validation report, and confirm the load.

The files go to the server through the upload route (``web.uploads``, driven by
``assets/upload.js``), not through a callback: a year's Home Office workbook is up to
45 MB. They are checked, and on confirmation loaded, as background jobs whose progress
this page follows. Nothing is written until the analyst confirms, and then through the
one write path (``FlightDeckService.load``): all files or none, audited, published
atomically. Only analysts may upload, and a force-scoped analyst only their own
force's figures. Uploaded files wait in a private folder only their owner can reach.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, dcc, html

from kpis.domain.access import Action
from kpis.ingest.problems import Report
from kpis.jobs import JobStatus
from kpis.uploads import DENIED, REFUSED, checked_report
from layouts._shell import safe_layout
from layouts._tables import data_table
from web import request_checks as _inputs
from web.context import dataset, service
from web.uploads import (
    ACCEPTED,
    MAX_FILES,
    UPLOAD_PATH,
    find_batch,
    max_upload_bytes,
    submit,
)

dash.register_page(__name__, path="/upload", name="Load data",
                   title="Load data - NOM flight deck", order=6)

# Element ids (assets/upload.js uses the first five).
UPLOAD = "upload-files"
CHOOSE = "upload-choose"
STATUS = "upload-status"
BAR = "upload-bar"
TOKEN = "upload-token"
POLL = "upload-poll"
REPORT = "upload-report"
CONFIRM = "upload-confirm"
RESULT = "upload-result"
POLL_MS = 700


def report_view(report: Report, files: list[str]) -> html.Div:
    findings = pd.DataFrame([
        {"severity": f.severity, "file": f.file, "row": f.row if f.row is not None else "",
         "column": f.column or "", "value": f.value or "", "rule": f.rule}
        for f in report.findings
    ])
    errors, warnings = report.error_count, report.warning_count
    if errors:
        headline = dbc.Alert(f"{errors} error(s): these files cannot be loaded. Nothing has "
                             "been written. Correct the files and upload them again.",
                             color="danger")
    else:
        headline = dbc.Alert(f"No errors. {warnings} warning(s). Check them, then load.",
                             color="success" if not warnings else "warning")
    table = data_table(
        findings,
        [("severity", "Severity", None), ("file", "File", None), ("row", "Row", None),
         ("column", "Column", None), ("value", "Value", None), ("rule", "Rule", None)],
        caption="Validation report", table_id="upload-findings",
    ) if len(findings) else html.P("Every row passed validation.")
    # What each file held: sheets, rows kept and ignored by reason, N/A cells read as
    # no count, corrections, and the quarters and forces covered.
    read = html.Ul([html.Li(line) for line in files], id="upload-summaries") if files else None
    more = html.P(report.unlisted_note, id="upload-unlisted") if report.unlisted_note else None
    return html.Div([headline, read, table, more])


def max_upload_mb() -> int:
    return max_upload_bytes() // (1024 * 1024)


@safe_layout
def layout(**_: str) -> html.Div:
    principal = service().principal
    if not principal.may(Action.LOAD):
        return html.Div([
            html.H1("Load data", className="h3"),
            dbc.Alert("Loading data needs the analyst role. Ask an administrator if you "
                      "need it.", color="info", id="upload-not-allowed"),
        ])
    scope = (f" Your account loads figures for {dataset().area_names[principal.force]} "
             "only." if principal.force else "")
    return html.Div([
        html.H1("Load data", className="h3"),
        html.P(
            "Upload force monthly returns (long or wide, CSV or XLSX) or the Home Office "
            "outcomes and recorded-crime tables as published (XLSX or ODS). Every file is "
            "checked first; nothing is written until you confirm, and then all files load "
            f"or none do. Up to {MAX_FILES} files of up to {max_upload_mb()} MB each."
            f"{scope}"
        ),
        html.Div(
            [html.Span("Drag files here or "),
             html.Button("choose files", id=CHOOSE, type="button",
                         className="btn btn-link p-0 align-baseline")],
            id=UPLOAD, className="upload-zone",
            **{"data-start": UPLOAD_PATH, "data-accept": ",".join(ACCEPTED),
               "data-max-bytes": str(max_upload_bytes()), "data-max-files": str(MAX_FILES)},
        ),
        html.Div(id=STATUS, className="mt-2", role="status"),
        # Native: a value is a share done; no value, work whose length is unknown.
        html.Progress(id=BAR, value="0", max="100", className="upload-bar mt-2 d-none",
                      **{"aria-label": "Upload and check progress"}),
        dcc.Store(id=TOKEN),
        dcc.Interval(id=POLL, interval=POLL_MS, disabled=True),
        html.Div(id=REPORT, className="mt-3", role="status"),
        dbc.Button("Load these files", id=CONFIRM, color="primary", disabled=True,
                   className="mt-2"),
        html.Div(id=RESULT, className="mt-3", role="status"),
    ])


NO = dash.no_update
SHOWN, HIDDEN = "upload-bar mt-2", "upload-bar mt-2 d-none"


@dash.callback(
    Output(STATUS, "children"),
    Output(BAR, "value"),
    Output(BAR, "className"),
    Output(REPORT, "children"),
    Output(CONFIRM, "disabled"),
    Output(RESULT, "children"),
    Output(POLL, "disabled"),
    Input(TOKEN, "data"),
    Input(POLL, "n_intervals"),
    prevent_initial_call=True,
)
def follow_job(token: str | None, _: int | None) -> tuple[object, ...]:
    """Show how far the check or load of the analyst's batch has got, then its outcome."""
    token = _inputs.text(token, "the upload token")
    if not token:  # a new upload has begun: clear the last one's report
        return "", "0", HIDDEN, html.Div(), True, html.Div(), True
    batch = find_batch(token)
    status = batch.status() if batch is not None else None
    if batch is None or status is None:
        return ("", "0", HIDDEN,
                dbc.Alert("Upload the files again: nothing is waiting to be checked.",
                          color="warning"), True, NO, True)
    if not status.finished:
        return f"{status.message}…", None, SHOWN, NO, True, NO, False
    if status.state == "failed":
        alert = dbc.Alert(status.message, color="danger")
        checking = status.kind == "check"
        return ("", "0", HIDDEN, alert if checking else NO, True,
                NO if checking else alert, True)
    if status.kind == "check":
        report = checked_report(status.result or {})
        return (f"Checked {len(batch.names)} file(s).", "100", HIDDEN,
                report_view(report, list((status.result or {}).get("files", []))),
                bool(report.errors), NO, True)
    batch.remove()  # loaded (or refused): the staged files are done with
    return "", "100", HIDDEN, NO, True, load_result(status), True


def load_result(status: JobStatus) -> dbc.Alert:
    result = status.result or {}
    if result.get("outcome") == DENIED:
        return dbc.Alert(f"Not loaded: {result.get('message', '')}", color="danger")
    if result.get("outcome") == REFUSED:
        return dbc.Alert(f"Refused, nothing was written: {result.get('errors', 0)} "
                         "error(s).", color="danger")
    ids = ", ".join(map(str, result.get("load_ids", [])))
    revised = int(result.get("revised", 0))
    revisions = (f" {revised} stored value(s) revised or withdrawn by the new release "
                 "(the load history keeps the old ones)." if revised else "")
    return dbc.Alert(
        [f"Loaded {result.get('files', 0)} file(s) as load {ids}: "
         f"{result.get('observations', 0)} observations.{revisions} "
         "The dashboard shows them now. ", dcc.Link("See the load history", href="/data")],
        color="success")


@dash.callback(
    Output(RESULT, "children", allow_duplicate=True),
    Output(CONFIRM, "disabled", allow_duplicate=True),
    Output(POLL, "disabled", allow_duplicate=True),
    Input(CONFIRM, "n_clicks"),
    State(TOKEN, "data"),
    prevent_initial_call=True,
)
def confirm_load(clicks: int | None, token: str | None) -> tuple[object, bool, bool]:
    """Start loading the checked files through the one write path."""
    clicks = _inputs.clicks(clicks)
    batch = find_batch(_inputs.text(token, "the upload token"))
    status = batch.status() if batch is not None else None
    if (not clicks or batch is None or status is None or status.kind != "check"
            or status.state != "done"
            or checked_report(status.result or {}).errors):
        return dbc.Alert("Upload the files again: nothing is waiting to be loaded.",
                         color="warning"), True, True
    if not service().may(Action.LOAD):
        return dbc.Alert("Loading data needs the analyst role.", color="danger"), True, True
    submit(batch, "load")
    return html.Div(), True, False

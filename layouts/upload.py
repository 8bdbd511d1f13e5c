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

import datetime as dt
from typing import Any

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, dcc, html

from kpis.domain.access import Action
from kpis.domain.formatting import format_number
from kpis.domain.periods import add_months, format_month
from kpis.engine.views import default_period
from kpis.ingest.problems import Report
from kpis.jobs import JobStatus
from kpis.uploads import DENIED, REFUSED, checked_report
from layouts._shell import safe_layout
from layouts._tables import data_table
from web import request_checks as _inputs
from web.context import dataset, service
from web.templates import template_link
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
# The Load button: hidden until there is something to load, then a primary button.
SHOWN_BUTTON, HIDDEN_BUTTON = "upload-load mt-3", "upload-load mt-3 d-none"


def headline_text(report: Report) -> str:
    """The report in one sentence, when the check gave no preview (an older result)."""
    errors, warnings = report.error_count, report.warning_count
    if errors:
        return (f"{errors:,} error{'s' if errors != 1 else ''}: these files cannot be "
                "loaded. Nothing has been written. Correct the files and upload them again.")
    if warnings:
        return (f"No errors, but {warnings:,} warning{'s' if warnings != 1 else ''}: check "
                f"{'it' if warnings == 1 else 'them'} before loading.")
    return "No problems found: the files are ready to load."


def report_view(report: Report, files: list[str],
                preview: dict[str, Any] | None = None) -> html.Div:
    findings = pd.DataFrame([
        {"severity": f.severity, "file": f.file, "row": f.row if f.row is not None else "",
         "column": f.column or "", "value": f.value or "", "rule": f.rule}
        for f in report.findings
    ])
    text = (preview or {}).get("headline") or headline_text(report)
    color = ("danger" if report.error_count else "warning" if report.warning_count
             else "success")
    headline = dbc.Alert(text, color=color, id="upload-headline")
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
    changes = (preview_view(preview) if preview and preview.get("would_load")
               and not report.error_count else None)
    return html.Div([headline, read, table, more, changes])


def _number(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return format_number(float(value), 0 if float(value).is_integer() else 1)  # type: ignore[arg-type]


def preview_view(preview: dict[str, Any]) -> html.Div:
    """What the load would change: the changed cells (the first of them, the rest
    counted) and the KPIs whose SPC state or assurance would change."""
    cells = pd.DataFrame(preview.get("cells", []),
                         columns=["force", "measure", "title", "when", "old", "new", "kind"])
    cells["old"] = [("(none)" if kind == "added" else _number(old))
                    for kind, old in zip(cells["kind"], cells["old"], strict=True)]
    cells["new"] = [("(withdrawn)" if kind == "withdrawn" else _number(new))
                    for kind, new in zip(cells["kind"], cells["new"], strict=True)]
    more = int(preview.get("more_cells", 0))
    listed = len(cells)
    table = data_table(
        cells,
        [("force", "Force", None), ("title", "Measure", None), ("when", "Month", None),
         ("old", "Old value", str), ("new", "New value", str)],
        caption=(f"Values the load adds or replaces: the first {listed:,} of "
                 f"{listed + more:,}" if more else "Values the load adds or replaces"),
        table_id="upload-preview",
    ) if listed else html.P("The load changes no stored value: every figure is already "
                            "loaded as it is.")
    rest = html.P(f"... and {more:,} more changed value{'s' if more != 1 else ''}, not "
                  "listed.", id="upload-preview-more") if more else None
    kpis = preview.get("kpis", [])
    states = (html.Ul([html.Li(f"{k['force']}: {k['title']}: {k['before']} → {k['after']}")
                       for k in kpis], id="upload-kpi-changes") if kpis else
              html.P("No KPI would change its SPC state or assurance.",
                     id="upload-kpi-changes"))
    return html.Section([
        html.H2("What the load would change", className="h5 mt-3"),
        html.P(f"The load {preview.get('summary', '')}. Nothing has been written yet.",
               id="upload-preview-summary"),
        table, rest,
        html.H3("KPIs whose state would change", className="h6 mt-3"),
        states,
    ], id="upload-preview-section", **{"aria-label": "What the load would change"})


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
        template_section(principal.force),
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
        # Shown, as the page's one primary action, once a check has passed.
        dbc.Button("Load these files", id=CONFIRM, color="primary", size="lg",
                   disabled=True, className=HIDDEN_BUTTON),
        html.Div(id=RESULT, className="mt-3", role="status"),
    ])


NO = dash.no_update
SHOWN, HIDDEN = "upload-bar mt-2", "upload-bar mt-2 d-none"

TEMPLATE_FORCE = "template-force"
TEMPLATE_FROM = "template-from"
TEMPLATE_TO = "template-to"
TEMPLATE_FORMAT = "template-format"
TEMPLATE_PREFILL = "template-prefill"
TEMPLATE_LINK = "template-link"


def template_section(scope: str | None) -> html.Details:
    """A return to fill in for a force and months: blank, or pre-filled with the force's
    stored values (months loaded) and its latest values (months not yet), to edit."""
    ds = dataset()
    forces = ds.visible_forces
    force = scope or str(forces["slug"].iloc[0])
    latest = default_period(ds).period or dt.date.today().replace(day=1)
    start = add_months(latest, 1)
    return html.Details([
        html.Summary("Download a return template to fill in", className="fw-semibold"),
        dbc.Row([
            dbc.Col([dbc.Label("Force", html_for=TEMPLATE_FORCE),
                     dbc.Select(id=TEMPLATE_FORCE, value=force, disabled=scope is not None,
                                options=[{"label": n, "value": s} for s, n in
                                         zip(forces["slug"], forces["name"], strict=True)])],
                    md=4),
            dbc.Col([dbc.Label("First month", html_for=TEMPLATE_FROM),
                     dbc.Input(id=TEMPLATE_FROM, type="month", value=format_month(start))],
                    md=2),
            dbc.Col([dbc.Label("Last month", html_for=TEMPLATE_TO),
                     dbc.Input(id=TEMPLATE_TO, type="month", value=format_month(start))],
                    md=2),
            dbc.Col([dbc.Label("Format", html_for=TEMPLATE_FORMAT),
                     dbc.Select(id=TEMPLATE_FORMAT, value="xlsx",
                                options=[{"label": "Excel (XLSX)", "value": "xlsx"},
                                         {"label": "CSV", "value": "csv"}])], md=2),
        ], className="g-2 mt-1"),
        dbc.Checklist([{"label": "Pre-fill with the force's figures (months already loaded "
                                 "keep their values, to correct; later months start from "
                                 "the latest values, to overwrite)", "value": "on"}], [],
                      id=TEMPLATE_PREFILL, className="mt-2"),
        html.A("Download the template", id=TEMPLATE_LINK, className="btn btn-outline-primary "
               "mt-2", href=template_link(force, format_month(start), format_month(start))),
    ], className="upload-template mb-3")


@dash.callback(
    Output(TEMPLATE_LINK, "href"),
    Input(TEMPLATE_FORCE, "value"),
    Input(TEMPLATE_FROM, "value"),
    Input(TEMPLATE_TO, "value"),
    Input(TEMPLATE_FORMAT, "value"),
    Input(TEMPLATE_PREFILL, "value"),
    prevent_initial_call=True,
)
def template_href(force: str, start: str, end: str, fmt: str, prefill: list[str]) -> str:
    """The link follows the choices (the route checks them and says what is wrong)."""
    force = _inputs.text(force, "the force") or ""
    start = _inputs.text(start, "the first month") or ""
    end = _inputs.text(end, "the last month") or ""
    fmt = _inputs.text(fmt, "the format") or "xlsx"
    prefill = _inputs.text_list(prefill, "the pre-fill choice")
    scope = service().principal.force
    return template_link(scope or force, start, end or start, fmt, bool(prefill))


@dash.callback(
    Output(STATUS, "children"),
    Output(BAR, "value"),
    Output(BAR, "className"),
    Output(REPORT, "children"),
    Output(CONFIRM, "disabled"),
    Output(RESULT, "children"),
    Output(POLL, "disabled"),
    Output(CONFIRM, "className"),
    Input(TOKEN, "data"),
    Input(POLL, "n_intervals"),
    prevent_initial_call=True,
)
def follow_job(token: str | None, _: int | None) -> tuple[object, ...]:
    """Show how far the check or load of the analyst's batch has got, then its outcome."""
    token = _inputs.text(token, "the upload token")
    if not token:  # a new upload has begun: clear the last one's report
        return "", "0", HIDDEN, html.Div(), True, html.Div(), True, HIDDEN_BUTTON
    batch = find_batch(token)
    status = batch.status() if batch is not None else None
    if batch is None or status is None:
        return ("", "0", HIDDEN,
                dbc.Alert("Upload the files again: nothing is waiting to be checked.",
                          color="warning"), True, NO, True, HIDDEN_BUTTON)
    if not status.finished:
        return f"{status.message}…", None, SHOWN, NO, True, NO, False, NO
    if status.state == "failed":
        alert = dbc.Alert(status.message, color="danger")
        checking = status.kind == "check"
        return ("", "0", HIDDEN, alert if checking else NO, True,
                NO if checking else alert, True, HIDDEN_BUTTON)
    if status.kind == "check":
        result = status.result or {}
        report = checked_report(result)
        return (f"Checked {len(batch.names)} file(s).", "100", HIDDEN,
                report_view(report, list(result.get("files", [])), result.get("preview")),
                bool(report.errors), NO, True,
                HIDDEN_BUTTON if report.errors else SHOWN_BUTTON)
    batch.remove()  # loaded (or refused): the staged files are done with
    return "", "100", HIDDEN, NO, True, load_result(status), True, HIDDEN_BUTTON


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

"""Load data: analysts upload monthly returns or Home Office tables, read the
validation report, and confirm the load.

Nothing is written until the analyst confirms, and then through the one write path
(``FlightDeckService.load``): all files or none, audited, published atomically. Only
analysts may upload, and a force-scoped analyst only their own force's figures.
Uploaded files wait in a private folder named by a random token.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import shutil
from pathlib import Path, PurePath

import dash
import dash_bootstrap_components as dbc
import flask
import pandas as pd
from dash import Input, Output, State, dcc, html

from kpis.domain.access import AccessDenied, Action
from kpis.ingest.problems import LoadRefused, Report
from layouts._shell import safe_layout
from layouts._tables import data_table
from web import request_checks as _inputs
from web.context import dataset, service

dash.register_page(__name__, path="/upload", name="Load data",
                   title="Load data - NOM flight deck", order=6)

UPLOAD = "upload-files"
REPORT = "upload-report"
CONFIRM = "upload-confirm"
RESULT = "upload-result"
TOKEN = "upload-token"
ACCEPTED = ".csv,.xlsx,.ods"
MAX_FILES = 20
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]")
# File names are cut to this (plus the suffix): file systems refuse 255 bytes and more.
MAX_NAME = 120
MAX_SUFFIX = 10


def upload_root() -> Path:
    """Uploads wait beside the database (same disk, same permissions)."""
    return service().db_path.parent / ".uploads"


def decoded(content: str) -> bytes:
    """The bytes of a file as ``dcc.Upload`` sends it: ``data:<type>;base64,<data>``
    (Chrome sends an empty file as a bare ``data:``)."""
    header, comma, encoded = content.partition(",")
    if not header.startswith("data:") or (comma and not header.endswith(";base64")):
        raise _inputs.BadInput("an uploaded file", "a base64 data URL")
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise _inputs.BadInput("an uploaded file", "valid base64") from None


def safe_name(name: str, taken: set[str]) -> str:
    """The analyst's file name (reports name it), but never its folders, never '.' or
    '..', not so long the file system refuses it, and not one already ``taken``."""
    safe = SAFE_NAME.sub("_", PurePath(name).name)
    if not safe.strip("."):
        safe = "upload.csv"
    stem, suffix = PurePath(safe).stem[:MAX_NAME], PurePath(safe).suffix[:MAX_SUFFIX]
    candidate, number = stem + suffix, 1
    # Two files of one name (from different folders) must not overwrite each other.
    while candidate in taken:
        number += 1
        candidate = f"{stem} ({number}){suffix}"
    taken.add(candidate)
    return candidate


def save_uploads(contents: list[str], names: list[str]) -> tuple[str, list[Path]]:
    # Decode every file first: a malformed one is refused before anything is saved.
    files = [decoded(content) for content in contents]
    token = secrets.token_urlsafe(18)
    folder = upload_root() / token
    folder.mkdir(parents=True)
    taken: set[str] = set()
    paths = [folder / safe_name(name, taken) for name in names]
    for path, data in zip(paths, files, strict=True):
        path.write_bytes(data)
    return token, paths


def uploaded(token: str | None) -> tuple[Path, list[Path]] | None:
    if not isinstance(token, str) or not TOKEN_PATTERN.match(token):
        return None
    folder = upload_root() / token
    if not folder.is_dir():
        return None
    return folder, sorted(folder.iterdir())


def report_view(report: Report) -> html.Div:
    findings = pd.DataFrame([
        {"severity": f.severity, "file": f.file, "row": f.row if f.row is not None else "",
         "column": f.column or "", "value": f.value or "", "rule": f.rule}
        for f in report.findings
    ])
    errors, warnings = len(report.errors), len(report.warnings)
    ignored = [html.Li(f"{count} row(s) ignored {what}")
               for what, count in sorted(report.ignored.items())]
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
    return html.Div([headline, html.Ul(ignored) if ignored else None, table])


def max_upload_mb() -> int:
    return flask.current_app.config["FLIGHTDECK_SECURITY"].max_upload_mb


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
            "Upload force monthly returns (long or wide, CSV or XLSX) or Home Office outcomes "
            "and recorded-crime tables. Every file is checked first; nothing is written until "
            f"you confirm, and then all files load or none do. Files of up to "
            f"{max_upload_mb()} MB each.{scope}"
        ),
        html.Div(
            dcc.Upload(
                html.Div(["Drag files here or ", html.Span("choose files", className="link")]),
                id=UPLOAD, multiple=True, accept=ACCEPTED, className="upload-zone",
                max_size=max_upload_mb() * 1024 * 1024,
            ),
            **{"data-upload-label": "Choose return or Home Office files to check (CSV or XLSX)"},
        ),
        dcc.Store(id=TOKEN),
        html.Div(id=REPORT, className="mt-3", role="status"),
        dbc.Button("Load these files", id=CONFIRM, color="primary", disabled=True,
                   className="mt-2"),
        html.Div(id=RESULT, className="mt-3", role="status"),
    ])


@dash.callback(
    Output(REPORT, "children"),
    Output(CONFIRM, "disabled"),
    Output(TOKEN, "data"),
    Input(UPLOAD, "contents"),
    State(UPLOAD, "filename"),
    prevent_initial_call=True,
)
def validate_upload(contents: list[str] | None, names: list[str] | None
                    ) -> tuple[html.Div, bool, str | None]:
    """Save the files privately and show the validation report; enable loading if clean."""
    contents = _inputs.text_list(contents, "the uploaded files")
    names = _inputs.text_list(names, "the file names")
    if len(contents) != len(names):
        raise _inputs.BadInput("the uploaded files", "one per file name")
    if not contents:
        return html.Div(), True, None
    if len(contents) > MAX_FILES:
        return dbc.Alert(f"Upload at most {MAX_FILES} files at a time.", color="danger"), True, None
    if not service().may(Action.LOAD):
        return dbc.Alert("Loading data needs the analyst role.", color="danger"), True, None
    token, paths = save_uploads(contents, names)
    _, report = service().check_upload(paths)
    return report_view(report), bool(report.errors), token


@dash.callback(
    Output(RESULT, "children"),
    Output(CONFIRM, "disabled", allow_duplicate=True),
    Input(CONFIRM, "n_clicks"),
    State(TOKEN, "data"),
    prevent_initial_call=True,
)
def confirm_load(clicks: int | None, token: str | None) -> tuple[dbc.Alert, bool]:
    """Load the checked files through the one write path."""
    clicks = _inputs.clicks(clicks)
    found = uploaded(_inputs.text(token, "the upload token"))
    if not clicks or found is None:
        return dbc.Alert("Upload the files again: nothing is waiting to be loaded.",
                         color="warning"), True
    folder, paths = found
    try:
        result = service().load(paths)
    except AccessDenied as refusal:
        return dbc.Alert(f"Not loaded: {refusal}", color="danger"), True
    except LoadRefused as refused:
        return dbc.Alert(f"Refused, nothing was written: {len(refused.report.errors)} "
                         "error(s).", color="danger"), True
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    ids = ", ".join(map(str, result.load_ids))
    revised = sum(len(item.revisions) for item in result.files)
    revisions = (f" {revised} stored value(s) revised or withdrawn by the new release "
                 "(the load history keeps the old ones)." if revised else "")
    return dbc.Alert(
        [f"Loaded {len(paths)} file(s) as load {ids}: {result.observations} observations."
         f"{revisions} "
         "The dashboard shows them now. ", dcc.Link("See the load history", href="/data")],
        color="success"), True

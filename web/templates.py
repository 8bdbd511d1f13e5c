"""The return template download: a force's monthly return to fill in, blank or
pre-filled with its stored values to edit, from the catalogue in force.

    GET /download/return-template?force=SLUG&from=YYYY-MM&to=YYYY-MM&format=xlsx|csv
                                 [&prefill=1]

The upload page links to it for the force and months chosen. Only those who may load
the force's data get one (403 otherwise); a bad parameter is a 400 in one sentence.
"""

from __future__ import annotations

import dash
import flask

from kpis.domain.access import AccessDenied
from kpis.domain.periods import format_month, parse_month
from web.context import service
from web.security import plain_response

__all__ = ["TEMPLATE_PATH", "register_templates", "template_link"]

TEMPLATE_PATH = "/download/return-template"
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
#: Months one template may cover (a year and a half: a return is monthly).
MAX_MONTHS = 18


def template_link(force: str, start: str, end: str, fmt: str = "xlsx",
                  prefill: bool = False) -> str:
    query = f"force={force}&from={start}&to={end}&format={fmt}"
    return f"{TEMPLATE_PATH}?{query}" + ("&prefill=1" if prefill else "")


def download_template() -> flask.Response:
    args = flask.request.args
    force, fmt = args.get("force", ""), args.get("format", "xlsx")
    prefill = args.get("prefill", "0")
    try:
        start, end = parse_month(args.get("from", "")), parse_month(args.get("to", ""))
    except ValueError:
        return plain_response(400, "Give the first and last months as YYYY-MM.")
    if fmt not in MEDIA_TYPES:
        return plain_response(400, "A return template is xlsx or csv.")
    if prefill not in ("0", "1"):
        return plain_response(400, "prefill is 1 (pre-filled) or 0 (blank).")
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    if not 1 <= months <= MAX_MONTHS:
        return plain_response(400, f"Choose from 1 to {MAX_MONTHS} months, the last on or "
                                   "after the first.")
    scoped = service()
    if force not in scoped.dataset().area_names:
        return plain_response(404, "Not found: choose a force from the list.")
    try:
        body = scoped.return_template(force, start, end, fmt, prefill == "1")
    except AccessDenied as refusal:
        return plain_response(403, str(refusal))
    except ValueError as exc:
        return plain_response(400, str(exc))
    name = (f"return-{force}-{format_month(start)}-to-{format_month(end)}"
            + ("-prefilled" if prefill == "1" else "") + f".{fmt}")
    response = flask.Response(body, status=200, content_type=MEDIA_TYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def register_templates(app: dash.Dash) -> None:
    app.server.add_url_rule(TEMPLATE_PATH, "return_template", download_template,
                            methods=["GET"])

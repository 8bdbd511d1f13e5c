"""The chart download route: every chart on a page as PNG, SVG, PDF, CSV or XLSX, drawn
on the server.

One route serves them all::

    GET /download/chart/<chart>/<kpi_id>.<format>?force=SLUG&period=YYYY-MM&...

``chart`` names the page's chart (:data:`CHARTS`); ``format`` is png (print resolution,
3600 x 2025), svg, pdf, csv or xlsx. The query is the page's view state, so a link reproduces
what is on screen: ``force`` and ``period`` always, ``comparator`` for a trend chart,
``baseline=nom|all|first:N`` for where an SPC chart's limits come from (default nom),
``group`` and ``view`` for the compare page; ``marking`` overrides the protective marking
(by default the KPI's, :func:`kpis.engine.disclosure.default_marking`: OFFICIAL for Home
Office open data, OFFICIAL-SENSITIVE for anything from force returns); ``suppress=1``
applies disclosure control, which any marking other than OFFICIAL-SENSITIVE or higher
applies anyway, except to open data, which is published already
(:func:`kpis.engine.disclosure.suppression_required`). The images are the exports of
:mod:`kpis.charts.specs`, with the title, subtitle, source line, marking and
"demonstration data" label drawn in. The CSV is plain: one header row, the marking and
the data label as columns on every row, cells neutralised against spreadsheet formulas;
the XLSX has the same rows and a Notes sheet. The file name carries the marking (and
``demo`` for demonstration data).

The numbers come only through :func:`web.context.service` and
:func:`web.context.dataset`, the same as the pages, so a download obeys whatever
access rules the service applies. Every parameter is checked: a bad one is a 400 or 404
with one plain sentence, never a stack trace; a missing renderer is a 503.

Pages offer the links with :func:`layouts._downloads.chart_downloads`, which builds them
from the names here (:data:`DOWNLOAD_PATH`, :data:`CHARTS`, :func:`file_name`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import dash
import flask

from kpis.charts.specs import (
    COMPARE_VIEWS,
    ChartExport,
    compare_export,
    funnel_export,
    spc_export,
    trend_export,
)
from kpis.domain.catalogue import KpiDefinition
from kpis.domain.periods import format_month, month_label, parse_month
from kpis.engine.dataset import Dataset
from kpis.engine.disclosure import default_marking, suppression_required
from kpis.engine.measures import Baseline
from kpis.engine.views import COMPARATOR_NATIONAL, COMPARATOR_REGION, comparator_area
from kpis.exports.charts import CHART_FORMATS, MEDIA_TYPES, chart_bytes
from kpis.exports.render import RendererUnavailable
from kpis.settings import NATIONAL_SLUG
from web.context import dataset, service
from web.security import plain_response

__all__ = ["CHARTS", "COMPARATOR_NATIONAL", "COMPARATOR_REGION", "DOWNLOAD_PATH", "Refused",
           "check_marking", "comparator_area", "download_chart", "file_name",
           "register_downloads"]

LOG = logging.getLogger("flightdeck")

DOWNLOAD_PATH = "/download/chart"
#: The charts that can be downloaded: the KPI page's SPC chart and funnel plot, a pillar
#: page's trend chart, and the compare page's ranked bars or funnel plot.
CHARTS: tuple[str, ...] = ("spc", "funnel", "trend", "compare")
#: The view state's comparator choices besides a peer group id. They are the words of
#: ``layouts._state`` (which web may not import); tests/test_downloads.py checks that
#: both agree, and that :func:`comparator_area` picks what ``ViewState`` picks.
#: Query parameters every chart accepts (the shared view state, and the marking) ...
COMMON_PARAMETERS = frozenset({"force", "period", "comparator", "marking", "suppress"})
#: ... and those only some charts read.
CHART_PARAMETERS: dict[str, frozenset[str]] = {
    "spc": frozenset({"baseline"}),
    "funnel": frozenset(),
    "trend": frozenset(),
    "compare": frozenset({"group", "view"}),
}
# A protective marking is short plain words (OFFICIAL, OFFICIAL-SENSITIVE, ...): nothing
# that Plotly would read as markup inside the chart.
_MARKING = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ,.:;/()'&-]{0,59}$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def file_name(chart: str, kpi_id: str, params: Mapping[str, str], fmt: str,
              marking: str | None = None, demo: bool = False) -> str:
    """The download's file name: KPI, chart, force (group and view), period, then the
    protective marking and ``demo`` for demonstration data."""
    parts = [kpi_id, chart, params.get("force", NATIONAL_SLUG)]
    if chart == "compare":
        parts += [params.get("group", NATIONAL_SLUG), params.get("view", "bars")]
    if params.get("baseline"):
        parts.append("limits-" + params["baseline"].replace(":", "-"))
    parts.append(params.get("period", ""))
    if marking:
        parts.append(marking.upper())
    if demo:
        parts.append("demo")
    stem = _SAFE_NAME.sub("-", "-".join(p for p in parts if p)).strip("-.")
    return f"{stem or 'chart'}.{fmt}"


def check_marking(marking: str) -> str:
    """A protective marking asked for, if it is short plain words; else Refused (400)."""
    if not _MARKING.match(marking):
        raise Refused(400, "marking must be 1 to 60 letters, digits, spaces and simple "
                           "punctuation, such as OFFICIAL-SENSITIVE.")
    return marking


class Refused(Exception):
    """A request the route answers with ``status`` and one plain sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ChartRequest:
    """A checked download request."""

    chart: str
    kpi: KpiDefinition
    fmt: str
    force: str
    period: dt.date
    comparator: str
    marking: str
    baseline: Baseline
    group: str
    view: str
    suppress: bool = False  # disclosure control: asked for, or the marking requires it
    demo: bool = False  # demonstration data (said in the file name)


def _shown(value: str) -> str:
    """A user-supplied value quoted in an error message, cut short."""
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _one(args: Mapping[str, list[str]], key: str) -> str | None:
    values = args.get(key) or []
    if len(values) > 1:
        raise Refused(400, f"Give {key} once, not {len(values)} times.")
    return values[0] if values else None


def _period(ds: Dataset, text: str | None) -> dt.date:
    if ds.as_of is None or not len(ds.cube.periods):
        raise Refused(404, "No data has been loaded, so there is no chart to download.")
    first = ds.cube.periods[0].date()
    if text is None:
        return ds.as_of
    try:
        if not _MONTH.match(text):
            raise ValueError(text)
        period = parse_month(text)
    except ValueError:
        raise Refused(400, f"period must be a month written YYYY-MM, not {_shown(text)}."
                      ) from None
    if not first <= period <= ds.as_of:
        raise Refused(400, f"period must be from {month_label(first)} to "
                           f"{month_label(ds.as_of)}.")
    return period


def parse_request(chart: str, name: str, args: Mapping[str, list[str]]) -> ChartRequest:
    """Check the path and every query parameter; raise :class:`Refused` if any is bad."""
    if chart not in CHARTS:
        raise Refused(404, f"There is no chart called {_shown(chart)}; charts are "
                           f"{', '.join(CHARTS)}.")
    kpi_id, dot, fmt = name.rpartition(".")
    if not dot or fmt not in CHART_FORMATS:
        raise Refused(404, f"Charts download as {', '.join(CHART_FORMATS)}: add one of "
                           "them to the address, as in /download/chart/spc/KPI.png.")
    ds = dataset()
    kpi = ds.kpis.get(kpi_id)
    if kpi is None:
        raise Refused(404, f"There is no published KPI called {_shown(kpi_id)}.")
    allowed = COMMON_PARAMETERS | CHART_PARAMETERS[chart]
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise Refused(400, f"Unknown parameter {_shown(unknown[0])}; this chart takes "
                           f"{', '.join(sorted(allowed))}.")
    force = _one(args, "force") or NATIONAL_SLUG
    if force not in set(ds.forces["slug"]) | {NATIONAL_SLUG}:
        raise Refused(400, f"There is no force called {_shown(force)}.")
    period = _period(ds, _one(args, "period"))
    groups = set(ds.areas.loc[ds.areas["kind"] == "user", "area_id"])
    comparator = _one(args, "comparator") or COMPARATOR_NATIONAL
    if comparator not in {COMPARATOR_NATIONAL, COMPARATOR_REGION} | groups:
        raise Refused(400, f"comparator must be national, region or a peer group, not "
                           f"{_shown(comparator)}.")
    marking = _one(args, "marking")
    marking = (default_marking(ds.catalogue, [kpi]) if marking is None
               else check_marking(marking))
    try:
        baseline = Baseline.parse(_one(args, "baseline") or "nom")
    except ValueError as exc:
        raise Refused(400, f"{exc}.") from None
    group = _one(args, "group") or NATIONAL_SLUG
    regions_and_groups = set(ds.areas.loc[ds.areas["kind"].isin(["region", "user"]),
                                          "area_id"])
    if group not in regions_and_groups | {NATIONAL_SLUG}:
        raise Refused(400, f"There is no region or peer group called {_shown(group)}.")
    view = _one(args, "view") or COMPARE_VIEWS[0]
    if view not in COMPARE_VIEWS:
        raise Refused(400, f"view must be {' or '.join(COMPARE_VIEWS)}.")
    asked = _one(args, "suppress") or "0"
    if asked not in ("0", "1"):
        raise Refused(400, f"suppress must be 1 (disclosure control) or 0, not "
                           f"{_shown(asked)}.")
    return ChartRequest(chart, kpi, fmt, force, period, comparator, marking,
                        baseline, group, view,
                        suppression_required(marking, asked == "1",
                                             open_data=ds.catalogue.is_open_data(kpi)),
                        ds.is_demo)


def build_export(request: ChartRequest) -> ChartExport:
    """The chart's export, computed through the request's service."""
    source = service()
    kpi_id, force, period = request.kpi.kpi_id, request.force, request.period
    # A download is an export: the service checks the role and force scope, and
    # writes it to the audit log.
    source.authorise_export(f"{request.chart} chart of {kpi_id} for {force}, "
                            f"{format_month(period)}, as {request.fmt.upper()}", force)
    highlight = force if force != NATIONAL_SLUG else None
    suppress = request.suppress
    builders: dict[str, Callable[[], ChartExport]] = {
        "spc": lambda: spc_export(source, kpi_id, force, period, marking=request.marking,
                                  baseline=request.baseline, suppress=suppress),
        "trend": lambda: trend_export(source, kpi_id, force, period,
                                      comparator_area(source.dataset(), force,
                                                      request.comparator),
                                      marking=request.marking, suppress=suppress),
        "funnel": lambda: funnel_export(source, kpi_id, period, highlight,
                                        marking=request.marking, suppress=suppress),
        "compare": lambda: compare_export(source, kpi_id, period, highlight, request.group,
                                          request.view, marking=request.marking,
                                          suppress=suppress),
    }
    return builders[request.chart]()


def download_chart(chart: str, name: str) -> flask.Response:
    """The route: the chart as an attachment, or a plain-text refusal."""
    try:
        request = parse_request(chart, name, flask.request.args.to_dict(flat=False))
        export = build_export(request)
        if export.figure is None:
            raise Refused(404, export.summary)
        body = chart_bytes(export, request.fmt)
    except Refused as refused:
        return plain_response(refused.status, refused.message)
    except RendererUnavailable as exc:
        return plain_response(503, f"The chart cannot be drawn on this server: {exc} The "
                                   "data is still available as CSV.")
    except PermissionError as exc:  # the service's access rules (a force-scoped user)
        return plain_response(403, str(exc) or "You may not download this chart.")
    except KeyError as exc:
        return plain_response(404, f"Not found: {exc.args[0] if exc.args else 'no such chart'}.")
    except Exception:
        LOG.exception("chart download failed: %s/%s", chart, name)
        return plain_response(500, "The chart could not be built. Try again; if it keeps "
                                   "happening, tell your analyst team.")
    params = {"force": request.force, "period": format_month(request.period)}
    if request.chart == "compare":
        params.update(group=request.group, view=request.view)
    if request.baseline != Baseline():
        params["baseline"] = str(request.baseline)
    response = flask.Response(body, status=200, content_type=MEDIA_TYPES[request.fmt])
    filename = file_name(request.chart, request.kpi.kpi_id, params, request.fmt,
                         request.marking, request.demo)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    # Charts carry a protective marking: no shared or browser cache may keep them.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def register_downloads(app: dash.Dash) -> None:
    """Add the download route to the app's Flask server (each app has its own)."""
    app.server.add_url_rule(f"{DOWNLOAD_PATH}/<chart>/<name>", "download_chart",
                            download_chart, methods=["GET"])

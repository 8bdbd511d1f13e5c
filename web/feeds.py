"""The data feeds: the KPI table as CSV or JSON, for Power BI, Excel and scripts.

One route::

    GET /feeds/kpis.csv?kpi=ID&force=SLUG&start=YYYY-MM&end=YYYY-MM
    GET /feeds/kpis.json?...

``kpi`` (at least one, repeatable) names the KPIs; ``force`` (repeatable; default every
area the account sees) a force slug, ``england-and-wales``, a region or a peer group;
``start`` and ``end`` the first and last month (default: the whole series); ``baseline``
(``nom``, ``all`` or ``first:N``) where SPC limits come from; ``marking`` the protective
marking (default by source: :func:`kpis.engine.disclosure.default_marking`) and
``suppress=1`` disclosure control, which a marking below OFFICIAL-SENSITIVE applies
anyway. The rows are those of ``flightdeck kpis`` (:mod:`kpis.exports.kpi_csv`), with
``marking`` and ``data_label`` on every row: a CSV of one header row, or a JSON array of
objects (null where a figure is missing or withheld).

A request is authorised by an account's API token (``Authorization: Bearer TOKEN``,
checked by :mod:`web.security` before the route runs): Power BI and Excel cannot sign
in on a form. The numbers come through :func:`web.context.service`, the service as the
token's account may use it, so force scoping, withheld aggregates and disclosure
control apply exactly as they do to that account's pages and downloads; a feed is an
export (analysts and admins), and each area asked for is checked against the account's
scope. Every request is audited (token, KPIs, areas, periods, rows, marking, the
account's role and scope) and the token's last use recorded. In the unsecured
demonstration the feeds answer this computer without a token, as every page does.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

import dash
import flask

from kpis.domain.access import AccessDenied, Action
from kpis.domain.periods import format_month, parse_month
from kpis.engine.disclosure import default_marking, suppression_required
from kpis.engine.kpi_spc import Baseline
from kpis.exports.kpi_csv import kpi_table_for_cli, write_table
from web import security
from web.context import service
from web.downloads import Refused, check_marking
from web.security import plain_response

__all__ = ["FEED_FORMATS", "FEED_PATH", "FeedRequest", "feed", "parse_feed", "register_feeds"]

LOG = logging.getLogger("flightdeck")

FEED_PATH = security.FEED_PREFIX.rstrip("/")  # /feeds
FEED_FORMATS: dict[str, str] = {"csv": "text/csv; charset=utf-8",
                                "json": "application/json; charset=utf-8"}
PARAMETERS = frozenset({"kpi", "force", "start", "end", "baseline", "marking", "suppress",
                        "token"})  # token: checked by web.security where it is allowed
MAX_KPIS = 60
MAX_AREAS = 120
_MONTH = re.compile(r"^\d{4}-\d{2}$")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class FeedRequest:
    """A checked feed request."""

    fmt: str
    kpis: tuple[str, ...]
    areas: tuple[str, ...] | None  # None: every area the account sees
    start: dt.date | None
    end: dt.date | None
    baseline: Baseline
    marking: str
    suppress: bool


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _one(args: Mapping[str, list[str]], key: str) -> str | None:
    values = args.get(key) or []
    if len(values) > 1:
        raise Refused(400, f"Give {key} once, not {len(values)} times.")
    return values[0] if values else None


def _month(text: str | None, key: str) -> dt.date | None:
    if text is None:
        return None
    try:
        if not _MONTH.match(text):
            raise ValueError(text)
        return parse_month(text)
    except ValueError:
        raise Refused(400, f"{key} must be a month written YYYY-MM, not {_shown(text)}."
                      ) from None


def parse_feed(name: str, args: Mapping[str, list[str]]) -> FeedRequest:
    """Check the path and every query parameter; raise :class:`Refused` if any is bad."""
    stem, dot, fmt = name.rpartition(".")
    if stem != "kpis" or not dot or fmt not in FEED_FORMATS:
        raise Refused(404, "The feeds are /feeds/kpis.csv and /feeds/kpis.json.")
    unknown = sorted(set(args) - PARAMETERS)
    if unknown:
        raise Refused(400, f"Unknown parameter {_shown(unknown[0])}; a feed takes "
                           f"{', '.join(sorted(PARAMETERS - {'token'}))}.")
    ds = service().dataset()
    kpis = tuple(dict.fromkeys(args.get("kpi") or []))
    if not kpis:
        raise Refused(400, "Name at least one KPI: kpi=ID (repeat it for more; the ids "
                           "are on the Definitions page).")
    if len(kpis) > MAX_KPIS:
        raise Refused(400, f"Ask for at most {MAX_KPIS} KPIs at once.")
    missing = [k for k in kpis if k not in ds.kpis]
    if missing:
        raise Refused(400, f"There is no published KPI called {_shown(missing[0])}.")
    forces = tuple(dict.fromkeys(args.get("force") or []))
    if len(forces) > MAX_AREAS:
        raise Refused(400, f"Ask for at most {MAX_AREAS} areas at once.")
    strange = [f for f in forces if f not in ds.area_names]
    if strange:
        raise Refused(400, f"There is no force or area called {_shown(strange[0])}.")
    start, end = _month(_one(args, "start"), "start"), _month(_one(args, "end"), "end")
    if start and end and end < start:
        raise Refused(400, "end is before start.")
    try:
        baseline = Baseline.parse(_one(args, "baseline") or "nom")
    except ValueError as exc:
        raise Refused(400, f"{exc}.") from None
    chosen = [ds.kpis[k] for k in kpis]
    marking = _one(args, "marking")
    marking = (default_marking(ds.catalogue, chosen) if marking is None
               else check_marking(marking))
    asked = _one(args, "suppress") or "0"
    if asked not in ("0", "1"):
        raise Refused(400, f"suppress must be 1 (disclosure control) or 0, not "
                           f"{_shown(asked)}.")
    open_data = all(ds.catalogue.is_open_data(kpi) for kpi in chosen)
    return FeedRequest(fmt, kpis, forces or None, start, end, baseline, marking,
                       suppression_required(marking, asked == "1", open_data=open_data))


def feed_name(request: FeedRequest, demo: bool) -> str:
    """The file name a feed is offered under: the marking, and ``demo`` for demonstration
    data, as every download's name carries them."""
    parts = ["kpis", request.marking.upper(), *(["demo"] if demo else [])]
    return _SAFE_NAME.sub("-", "-".join(parts)).strip("-.") + f".{request.fmt}"


def _describe(request: FeedRequest, rows: int) -> str:
    areas = ", ".join(request.areas) if request.areas else "every area the account sees"
    start = format_month(request.start) if request.start else "the first period"
    end = format_month(request.end) if request.end else "the latest"
    control = ", disclosure control" if request.suppress else ""
    return (f"{request.fmt.upper()} feed of {', '.join(request.kpis)} for {areas}, {start} "
            f"to {end}: {rows} rows, marked {request.marking}{control}")


def feed(name: str) -> flask.Response:
    """The route: the KPI table as CSV or JSON, or a plain-text refusal."""
    token = flask.g.get(security.TOKEN_KEY)
    try:
        source = service()
        request = parse_feed(name, flask.request.args.to_dict(flat=False))
        # A feed is an export: the role, and each area asked for against the scope
        # (refusals audited by the service).
        for area in request.areas or (None,):
            source.require(Action.EXPORT, area)
        ds = source.dataset()
        table = kpi_table_for_cli(ds, request.kpis, request.areas, request.start,
                                  request.end, request.suppress, fmt=request.fmt,
                                  baseline=request.baseline, marking=request.marking)
        out = io.StringIO()
        write_table(table, out, request.fmt)
    except Refused as refused:
        return plain_response(refused.status, refused.message)
    except AccessDenied as exc:
        return plain_response(403, str(exc) or "Your account may not use this feed.")
    except KeyError as exc:
        return plain_response(400, f"Not found: {exc.args[0] if exc.args else 'no such KPI'}.")
    except Exception:
        LOG.exception("feed failed: %s", name)
        return plain_response(500, "The feed could not be built. Try again; if it keeps "
                                   "happening, tell your analyst team.")
    source.record_feed(token, _describe(request, len(table)))
    response = flask.Response(out.getvalue().encode("utf-8"), status=200,
                              content_type=FEED_FORMATS[request.fmt])
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{feed_name(request, ds.is_demo)}"')
    # Figures with a protective marking: no shared or browser cache may keep them.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def register_feeds(app: dash.Dash) -> None:
    """Add the feed route to the app's Flask server (each app has its own)."""
    app.server.add_url_rule(f"{FEED_PATH}/<name>", "feed", feed, methods=["GET"])

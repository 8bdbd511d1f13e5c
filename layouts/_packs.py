"""Building a board pack from a page: shared by the board pack and scrutiny pages."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc

from kpis.domain.access import AccessDenied
from kpis.exports.packs import build_pack
from kpis.exports.render import RendererUnavailable
from web.context import service

FORMATS = (("pptx", "PowerPoint"), ("pdf", "PDF"), ("docx", "Word"))
MEDIA_TYPES = {
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def pack_download(force: str, period: dt.date, fmt: str, *, pillars: Sequence[int] | None,
                  kpis: Sequence[str] | None, marking: str, suppress: bool,
                  name: str, groups: Sequence[tuple[str, Sequence[str]]] | None = None,
                  kind: str | None = None) -> tuple[dict[str, Any] | None, dbc.Alert]:
    """Build a pack and return (a dcc.Download payload, a status message)."""
    if fmt not in MEDIA_TYPES:
        return None, dbc.Alert("Choose PowerPoint, PDF or Word.", color="warning")
    try:
        service().authorise_export(f"{name}.{fmt} ({force}, {period:%Y-%m})", force)
    except AccessDenied as refusal:
        return None, dbc.Alert(f"Not exported: {refusal}", color="danger")
    with tempfile.TemporaryDirectory(prefix="flightdeck-pack-") as folder:
        out = Path(folder) / f"{name}.{fmt}"
        try:
            build_pack(service(), force, period, fmt, pillars=pillars or None,
                       kpis=kpis or None, marking=marking, suppress=suppress, out=out,
                       commentary=service().all_commentary(force, period),
                       groups=groups, kind=kind)
        except RendererUnavailable as exc:
            return None, dbc.Alert(
                f"Charts cannot be drawn on this server, so no pack was built: {exc}",
                color="danger")
        except KeyError as exc:
            return None, dbc.Alert(f"Nothing to export: {exc.args[0]}", color="warning")
        payload = dcc.send_bytes(out.read_bytes(), out.name, type=MEDIA_TYPES[fmt])
    return payload, dbc.Alert(f"Built {out.name}: your browser is downloading it.",
                              color="success")

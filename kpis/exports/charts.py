"""A chart spec (:mod:`kpis.charts.specs`) as a file: PNG, SVG, PDF or CSV."""

from __future__ import annotations

from pathlib import Path

from kpis.charts.specs import ChartExport, chart_rows
from kpis.exports.render import chart_csv, render

__all__ = ["CHART_FORMATS", "MEDIA_TYPES", "chart_bytes", "write_chart"]

CHART_FORMATS: tuple[str, ...] = ("png", "svg", "pdf", "csv")
MEDIA_TYPES: dict[str, str] = {
    "png": "image/png",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
}


def chart_bytes(export: ChartExport, fmt: str) -> bytes:
    """The chart as PNG (print resolution), SVG or PDF bytes, or its rows as UTF-8 CSV.

    Raises :class:`kpis.exports.render.RendererUnavailable` for an image when Chromium
    is missing or fails, and ValueError for an unknown format or when there is no data
    to draw.
    """
    if fmt == "csv":
        return chart_csv(chart_rows(export), export.header()).encode("utf-8")
    if fmt not in CHART_FORMATS:
        raise ValueError(f"unknown chart format {fmt!r}; use one of {', '.join(CHART_FORMATS)}")
    if export.figure is None:
        raise ValueError(export.summary)
    return render(export.figure, fmt, marking=export.text.marking)  # type: ignore[arg-type]


def write_chart(export: ChartExport, fmt: str, out: Path) -> Path:
    """Write the chart as PNG (print resolution), SVG, PDF or CSV to ``out``.

    Raises as :func:`chart_bytes` does; nothing is written when it raises.
    """
    out = Path(out)
    out.write_bytes(chart_bytes(export, fmt))
    return out

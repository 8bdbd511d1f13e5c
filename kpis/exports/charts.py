"""A chart spec (:mod:`kpis.charts.specs`) as a file: PNG, SVG, PDF, CSV or XLSX."""

from __future__ import annotations

from pathlib import Path

from kpis.charts.specs import ChartExport, chart_rows
from kpis.engine.disclosure import DEFAULT_MARKING
from kpis.exports.data_files import Notes, labelled, labels, xlsx_bytes
from kpis.exports.render import chart_csv, render

__all__ = ["CHART_FORMATS", "DATA_FORMATS", "MEDIA_TYPES", "chart_bytes", "chart_labels",
           "write_chart"]

CHART_FORMATS: tuple[str, ...] = ("png", "svg", "pdf", "csv", "xlsx")
#: The formats that hold the chart's rows rather than its picture.
DATA_FORMATS: tuple[str, ...] = ("csv", "xlsx")
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES: dict[str, str] = {
    "png": "image/png",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
    "xlsx": XLSX_MEDIA_TYPE,
}


def chart_labels(export: ChartExport) -> dict[str, str]:
    """The columns every row of the chart's data carries: its marking and data label."""
    return labels(export.text.marking or DEFAULT_MARKING, export.text.demo)


def chart_bytes(export: ChartExport, fmt: str) -> bytes:
    """The chart as PNG (print resolution), SVG or PDF bytes, or its rows as UTF-8 CSV
    (one header row, the marking and data label as columns) or as an XLSX with a Notes
    sheet.

    Raises :class:`kpis.exports.render.RendererUnavailable` for an image when Chromium
    is missing or fails, and ValueError for an unknown format or when there is no data
    to draw.
    """
    if fmt == "csv":
        return chart_csv(chart_rows(export), chart_labels(export)).encode("utf-8")
    if fmt == "xlsx":
        rows = labelled(chart_rows(export), chart_labels(export))
        kpi = export.kpi
        return xlsx_bytes(rows, Notes(export.notes(), list(rows.columns),
                                      [(kpi.kpi_id, f"{kpi.title}: {kpi.description}")]))
    if fmt not in CHART_FORMATS:
        raise ValueError(f"unknown chart format {fmt!r}; use one of {', '.join(CHART_FORMATS)}")
    if export.figure is None:
        raise ValueError(export.summary)
    return render(export.figure, fmt, marking=export.text.marking)  # type: ignore[arg-type]


def write_chart(export: ChartExport, fmt: str, out: Path) -> Path:
    """Write the chart as PNG (print resolution), SVG, PDF, CSV or XLSX to ``out``.

    Raises as :func:`chart_bytes` does; nothing is written when it raises.
    """
    out = Path(out)
    out.write_bytes(chart_bytes(export, fmt))
    return out

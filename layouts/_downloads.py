"""Chart download links: every chart on a page offered as PNG, SVG, PDF, CSV or XLSX.

Pages offer the links with :func:`chart_downloads` and ``chart_block(downloads=...)``:
plain ``<a download>`` links, which work with no callback and from the keyboard. Each
link carries the page's view state, so the file is what is on screen. The menu says
which protective marking the files will carry (the KPI's by source:
:func:`kpis.engine.disclosure.default_marking`), and the file names carry it too. The
route that draws them on the server is :mod:`web.downloads` (wired by
``app.create_app``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from kpis.domain.access import Action
from kpis.domain.periods import format_month
from kpis.engine.disclosure import DEFAULT_MARKING, default_marking
from layouts._html_block import HtmlBlock
from layouts._markup import Markup, tag
from layouts._state import ViewState
from web.context import service
from web.downloads import CHARTS, DOWNLOAD_PATH, file_name

__all__ = ["CHARTS", "DOWNLOAD_PATH", "FORMAT_LABELS", "ChartDownloads", "chart_downloads",
           "download_menu"]

#: (format, link text, what it is: for the link's accessible name), in menu order.
FORMAT_LABELS: tuple[tuple[str, str, str], ...] = (
    ("png", "PNG", "print-resolution image"),
    ("svg", "SVG", "vector image"),
    ("pdf", "PDF", "vector document"),
    ("csv", "Data (CSV)", "the figures behind the chart"),
    ("xlsx", "Data (Excel)", "the figures behind the chart, with notes"),
)


@dataclass(frozen=True)
class ChartDownloads:
    """One chart's download links: ``(format, href, file name)`` in menu order."""

    title: str  # the chart's title, which makes each link's accessible name unique
    links: tuple[tuple[str, str, str], ...]
    marking: str = DEFAULT_MARKING  # the protective marking the files carry


def chart_downloads(chart: str, kpi_id: str, title: str, state: ViewState,
                    **extra: str | None) -> ChartDownloads | None:
    """The download links of a page's chart, carrying the page's view state.

    ``extra`` holds the chart's own parameters (``comparator`` for a trend chart,
    ``baseline``, ``group``, ``view``); None values are left out. None when the view has
    no period (no data loaded), since there is then nothing to download.
    """
    if chart not in CHARTS:
        raise ValueError(f"unknown chart {chart!r}")
    if state.period is None or not service().may(Action.EXPORT):
        return None  # nothing to download, or (a viewer) not theirs to export
    params = {"force": state.force, "period": format_month(state.period)}
    params.update({k: v for k, v in extra.items() if v})
    query = urlencode(params)
    ds = service().dataset()
    kpi = ds.kpis.get(kpi_id)
    # What the route gives a download without a marking of its own (web.downloads).
    marking = default_marking(ds.catalogue, [kpi]) if kpi is not None else DEFAULT_MARKING
    links = tuple(
        (fmt, f"{DOWNLOAD_PATH}/{chart}/{kpi_id}.{fmt}?{query}",
         file_name(chart, kpi_id, params, fmt, marking, ds.is_demo))
        for fmt, _, _ in FORMAT_LABELS
    )
    return ChartDownloads(title, links, marking)


def download_menu(downloads: ChartDownloads) -> HtmlBlock:
    """The links in a line, after the marking they carry (:func:`download_menu_markup`),
    as one component."""
    return HtmlBlock(download_menu_markup(downloads))


def download_menu_markup(downloads: ChartDownloads) -> Markup:
    """The links in a line, after the marking they carry: "Download chart, marked
    OFFICIAL-SENSITIVE: PNG SVG PDF Data (CSV) Data (Excel)".

    Each link's accessible name starts with its visible words and says what the file
    is and which chart, so a screen reader's list of links is not a column of identical
    "PNG"s. It is an aria-label, not visually hidden text: browsers put a space of their
    own before hidden text ("PNG , print-..."). Not a second role="group" in the
    figure: the chart itself is the figure's group, and each link names its chart.
    Hidden in print, where a link is no use.
    """
    words = {fmt: (label, what) for fmt, label, what in FORMAT_LABELS}
    links = []
    for fmt, href, name in downloads.links:
        label, what = words[fmt]
        links.append(tag("a", label, href=href, download=name,
                         class_=f"chart-download chart-download-{fmt} me-3",
                         aria_label=f"{label}, {what}: {downloads.title}"))
    return tag("div", tag("span", "Download chart, marked ",
                          tag("strong", downloads.marking, class_="chart-marking"), ": ",
                          class_="me-1"), links,
               class_="chart-downloads small mt-1 d-print-none")

"""Static chart rendering (PNG, SVG, PDF) with kaleido and the system Chromium, and chart CSV.

One warm renderer per process: the first render starts a headless Chromium (Debian's, at
``/usr/bin/chromium`` unless ``$FLIGHTDECK_CHROMIUM`` or ``$BROWSER_PATH`` says otherwise)
with a page holding plotly.js from the installed plotly package; later renders reuse it.
Nothing is ever fetched from the network: plotly.js is a local file, MathJax is off, and
kaleido's browser download (``kaleido.get_chrome``) is never called. When Chromium is
missing or fails, :class:`RendererUnavailable` says so in plain words.

The renderer runs its own asyncio loop on a daemon thread (not kaleido's global sync
server, which blocks forever if the browser fails to start), so every call has a
timeout and a failure comes back as an exception.

Figures are the plain dicts of :mod:`kpis.charts.figures`, which carry the title, subtitle,
source line, protective marking and demonstration-data label as layout text, so they are
baked into every image.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import copy
import csv
import io
import os
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, Literal, TypeVar

import pandas as pd

from kpis import settings
from kpis.exports.cells import neutralise

__all__ = [
    "DEFAULT_CHROMIUM",
    "EXPORT_HEIGHT",
    "EXPORT_WIDTH",
    "IMAGE_FORMATS",
    "PRINT_SCALE",
    "RendererUnavailable",
    "chart_csv",
    "chromium_path",
    "for_print",
    "neutralise",
    "print_pdf",
    "render",
    "render_many",
    "resize",
    "shutdown",
    "warm_up",
]

ImageFormat = Literal["png", "svg", "pdf"]
IMAGE_FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
DEFAULT_CHROMIUM = settings.DEFAULT_CHROMIUM
#: Export size in CSS pixels (16:9); PNGs are drawn at ``PRINT_SCALE`` times this.
EXPORT_WIDTH = 1200
EXPORT_HEIGHT = 675
PRINT_SCALE = 3  # 3600 x 2025 pixels: 300 dpi at 12 inches wide
#: Seconds to wait for the browser to start, and for one image.
START_TIMEOUT = 60.0
RENDER_TIMEOUT = 60.0
PRINT_TIMEOUT = 120.0
#: CSS pixels of an A4 landscape page less 12 mm margins either side, and its height.
PRINT_VIEWPORT = (1032, 794)
#: Browser tabs rendering at once. More tabs render a pack's charts in parallel but each
#: costs seconds to open: on a 2-core machine one tab was fastest for a 12-chart pack.
TABS = 1
#: The demonstration label a chart carries in its top right corner (figures.dress).
DEMO_CORNER = "DEMONSTRATION DATA"
#: Renders between page reloads (see _kaleido_class).
RELOAD_EVERY = 50

T = TypeVar("T")


class RendererUnavailable(RuntimeError):
    """The chart renderer (headless Chromium) is missing or failed."""


#: The Chromium to use: $FLIGHTDECK_CHROMIUM, else $BROWSER_PATH, else Debian's (read by
#: :mod:`kpis.settings`, where every setting is read).
chromium_path = settings.chromium_path


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _kaleido_class() -> type:
    """Kaleido, reloading a tab every ``RELOAD_EVERY`` renders instead of after each one.

    Kaleido reloads the page (and with it plotly.js) after every image, which was half
    the time of a warm render; the images are the same without it. The page is still
    reloaded now and then, so that a long-running dashboard's tab does not grow.
    """
    import kaleido

    base = kaleido.Kaleido
    if not hasattr(base, "_return_kaleido_tab"):  # another kaleido version: leave it be
        return base

    class WarmKaleido(base):  # type: ignore[misc, valid-type]
        _renders = 0

        async def _return_kaleido_tab(self, tab: Any) -> None:
            self._renders += 1
            if self._renders % RELOAD_EVERY == 0:
                await super()._return_kaleido_tab(tab)
            else:
                await self.tabs_ready.put(tab)

    return WarmKaleido


class _Renderer:
    """A kaleido browser on its own event loop thread, started once and reused."""

    def __init__(self, browser: str) -> None:
        self.browser = browser
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="flightdeck-renderer")
        self.thread.start()
        self.kaleido: Any = None
        try:
            self._run(self._open(), START_TIMEOUT)
        except BaseException:
            self.close()
            raise

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            future.cancel()
            raise RendererUnavailable(
                f"The chart renderer did not answer within {timeout:.0f} seconds.") from None

    async def _open(self) -> None:
        script = _plotly_js()
        if not script.is_file():
            raise RendererUnavailable(f"plotly.js is missing from the plotly package ({script}).")
        # path: never search for or download a browser; mathjax=False: no CDN fetch.
        self.kaleido = _kaleido_class()(n=TABS, timeout=RENDER_TIMEOUT, path=self.browser,
                                        plotlyjs=str(script), mathjax=False)
        await self.kaleido.open()

    async def _many(self, figures: Sequence[dict[str, Any]], opts: dict[str, Any]
                    ) -> list[bytes]:
        return list(await asyncio.gather(
            *(self.kaleido.calc_fig(figure, opts=dict(opts)) for figure in figures)))

    async def _print(self, page: Path, options: dict[str, Any]) -> bytes:
        """``page`` (an HTML file) printed to PDF by a tab of its own, closed after."""
        import base64

        tab = await self.kaleido.create_tab("")
        try:
            # Laid out as printed (print styles, the page's width) before the page's own
            # script measures it.
            await tab.send_command("Emulation.setEmulatedMedia", params={"media": "print"})
            await tab.send_command("Emulation.setDeviceMetricsOverride", params={
                "width": PRINT_VIEWPORT[0], "height": PRINT_VIEWPORT[1],
                "deviceScaleFactor": 1, "mobile": False})
            await tab.send_command("Page.enable")
            loaded = tab.subscribe_once("Page.loadEventFired")
            await tab.send_command("Page.navigate", params={"url": page.as_uri()})
            await loaded
            answer = await tab.send_command("Page.printToPDF", params=options)
        finally:
            with contextlib.suppress(Exception):
                await self.kaleido.close_tab(tab.target_id)
        if "error" in answer:
            raise RendererUnavailable(f"Chromium could not print the page: {answer['error']}")
        return base64.b64decode(answer["result"]["data"])

    def print_pdf(self, page: Path, options: dict[str, Any]) -> bytes:
        return self._run(self._print(page, options), PRINT_TIMEOUT)

    def render(self, figures: Sequence[dict[str, Any]], opts: dict[str, Any]) -> list[bytes]:
        timeout = RENDER_TIMEOUT * max(1, -(-len(figures) // TABS))
        return self._run(self._many(figures, opts), timeout)

    def close(self) -> None:
        if self.kaleido is not None:
            with contextlib.suppress(Exception):  # a broken browser: nothing to close
                self._run(self.kaleido.close(), 15)
            self.kaleido = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


_lock = threading.Lock()
_renderer: _Renderer | None = None


def _get_renderer() -> _Renderer:
    """The process's renderer, started on first use (and again after a fork)."""
    global _renderer
    if _renderer is not None and _renderer.pid == os.getpid():
        return _renderer
    browser = chromium_path()
    if not (os.path.isfile(browser) and os.access(browser, os.X_OK)):
        raise RendererUnavailable(
            f"Charts cannot be drawn as images: no Chromium browser at {browser}. Install "
            "Chromium (scripts/setup does) or set FLIGHTDECK_CHROMIUM to its path.")
    try:
        _renderer = _Renderer(browser)
    except RendererUnavailable:
        raise
    except Exception as exc:
        raise RendererUnavailable(
            f"Charts cannot be drawn as images: the Chromium browser at {browser} failed "
            f"to start ({_reason(exc)}).") from exc
    return _renderer


def warm_up() -> None:
    """Start the process's renderer now rather than at its first chart: a process that
    will draw packs (a Celery worker's process, as it starts) pays Chromium's start
    before anyone waits for it. Raises :class:`RendererUnavailable` as a render would."""
    with _lock:
        _get_renderer()


def shutdown() -> None:
    """Close the process's renderer, if one was started (it starts again when needed)."""
    global _renderer
    with _lock:
        if _renderer is not None and _renderer.pid == os.getpid():
            _renderer.close()
        _renderer = None


atexit.register(shutdown)


def resize(figure: dict[str, Any], height: int, marking: str | None = None) -> dict[str, Any]:
    """A copy of ``figure`` laid out for print at ``height`` pixels.

    :func:`kpis.charts.figures.dress` places the legend and labels at paper fractions worked
    out for its height; they are rescaled so that they keep the same distance in pixels
    from the plot area. The title gets a left margin, and the protective ``marking`` (the
    annotation with that text) moves to the top centre, above the title, with a second
    copy at the bottom right, as printed papers carry it.
    """
    figure = copy.deepcopy(figure)
    layout = figure.setdefault("layout", {})
    margin = layout.setdefault("margin", {})
    notes = layout.setdefault("annotations", [])
    marked = [n for n in notes if marking and n.get("text") == marking]
    if marked:
        margin["t"] = margin.get("t", 100) + 24
    vertical = margin.get("t", 100) + margin.get("b", 80)
    old = max(layout.get("height", 450) - vertical, 1)
    new = max(height - vertical, 1)
    ratio = old / new

    def moved(y: float) -> float:
        if y > 1:
            return 1 + (y - 1) * ratio
        if y < 0:
            return y * ratio
        return y

    legend = layout.get("legend")
    if isinstance(legend, dict) and isinstance(legend.get("y"), int | float):
        legend["y"] = moved(legend["y"])
    for note in notes:
        if note.get("yref") == "paper" and isinstance(note.get("y"), int | float):
            note["y"] = moved(note["y"])
    title = layout.get("title")
    if isinstance(title, dict):
        title.setdefault("pad", {}).setdefault("l", 16)
        if marked:
            title.update(yref="container", y=1 - 34 / height, yanchor="top")
    for note in marked:
        note.update(y=1 + (margin["t"] - 8) / new, yanchor="top", x=0.5, xanchor="center")
        notes.append({**note, "y": 0, "yshift": -(margin.get("b", 80) - 22), "x": 1,
                      "xanchor": "right", "yanchor": "top"})
    layout["height"] = height
    return figure


def _options(fmt: str, width: int, height: int, scale: float | None) -> dict[str, Any]:
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"unknown image format {fmt!r}; use one of {', '.join(IMAGE_FORMATS)}")
    if scale is None:
        scale = PRINT_SCALE if fmt == "png" else 1
    return {"format": fmt, "width": width, "height": height, "scale": scale}


def render_many(figures: Sequence[dict[str, Any]], fmt: ImageFormat = "png", *,
                width: int = EXPORT_WIDTH, height: int = EXPORT_HEIGHT,
                scale: float | None = None, marking: str | None = None,
                print_size: bool = False) -> list[bytes]:
    """Each figure as an image (in parallel over the renderer's tabs), in order.

    ``print_size``: text enlarged for paper (:func:`for_print`).

    ``scale`` defaults to print resolution for PNG (``PRINT_SCALE``) and 1 for vector
    formats; ``marking`` is the protective marking the figures carry (see :func:`resize`).
    Raises :class:`RendererUnavailable` if Chromium is missing or fails.
    """
    opts = _options(fmt, width, height, scale)
    prepared = [resize(for_print(f) if print_size else f, height, marking) for f in figures]
    if not prepared:
        return []
    return _with_renderer(lambda renderer: renderer.render(prepared, opts))


def _with_renderer(work: Callable[[_Renderer], T]) -> T:
    """``work`` on the process's renderer. The lock covers starting (or dropping) the
    renderer, not the work: the renderer's tabs take requests from several threads at
    once, so one long render does not hold every other download."""
    with _lock:
        renderer = _get_renderer()
    try:
        return work(renderer)
    except RendererUnavailable:
        with _lock:
            _drop(renderer)
        raise
    except Exception as exc:
        if not _is_browser_failure(exc):
            raise
        with _lock:
            _drop(renderer)
        raise RendererUnavailable(
            f"Charts cannot be drawn as images: the Chromium renderer failed "
            f"({_reason(exc)}).") from exc


def print_pdf(page: Path, *, header: str = "", footer: str = "",
              landscape: bool = True) -> bytes:
    """An HTML file printed to a tagged PDF by the renderer's Chromium.

    Chromium writes a tagged PDF (a structure tree from the HTML: headings, paragraphs,
    tables, figures with their ``alt`` text, in reading order), the document's language
    from ``<html lang>``, its title from ``<title>``, and an outline from the headings.
    ``header`` and ``footer`` are HTML printed on every page (as page artefacts, outside
    the structure tree); their ``pageNumber`` and ``totalPages`` classes are filled in.
    """
    options = {"generateTaggedPDF": True, "generateDocumentOutline": True,
               "printBackground": True, "preferCSSPageSize": True, "landscape": landscape,
               "displayHeaderFooter": bool(header or footer),
               "headerTemplate": header or "<span></span>",
               "footerTemplate": footer or "<span></span>"}
    return _with_renderer(lambda renderer: renderer.print_pdf(Path(page), options))


def for_print(figure: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``figure`` with text large enough to read on paper: 13 px at least
    (the dashboard's chart is read on a screen, where 11 px is legible)."""
    figure = copy.deepcopy(figure)
    layout = figure.setdefault("layout", {})
    layout.setdefault("font", {})["size"] = 15
    title = layout.get("title")
    if isinstance(title, dict):
        title.setdefault("font", {})["size"] = 18
        if isinstance(title.get("text"), str):
            # The subtitle (periods, where the limits come from) is printed beside the
            # chart, where it wraps; on the chart it would run off the edge.
            title["text"] = title["text"].split("<br>", 1)[0]
            margin = layout.setdefault("margin", {})
            margin["t"] = max(int(margin.get("t", 100)) - 30, 60)
    # The demonstration label stays in the source line at the foot; the corner copy
    # would collide with the limits' labels at print size.
    layout["annotations"] = [n for n in layout.get("annotations", [])
                             if n.get("text") != DEMO_CORNER]
    for note in layout["annotations"]:
        font = note.setdefault("font", {})
        font["size"] = max(int(font.get("size", 13)), 13)
    for axis in ("xaxis", "yaxis"):
        layout.setdefault(axis, {}).setdefault("tickfont", {})["size"] = 14
    layout.setdefault("legend", {}).setdefault("font", {})["size"] = 14
    return figure


def render(figure: dict[str, Any], fmt: ImageFormat = "png", *, width: int = EXPORT_WIDTH,
           height: int = EXPORT_HEIGHT, scale: float | None = None,
           marking: str | None = None, print_size: bool = False) -> bytes:
    """One figure as PNG, SVG or PDF bytes (see :func:`render_many`)."""
    return render_many([figure], fmt, width=width, height=height, scale=scale,
                       marking=marking, print_size=print_size)[0]


def _drop(renderer: _Renderer) -> None:
    """Forget a broken renderer, so the next call starts a fresh browser."""
    global _renderer
    renderer.close()
    if _renderer is renderer:
        _renderer = None


def _reason(exc: BaseException) -> str:
    """The first sentence of an error (not choreographer's advice to download Chrome)."""
    first = exc.args[0] if exc.args else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _is_browser_failure(exc: BaseException) -> bool:
    """Whether an error came from the browser (not from a bad figure)."""
    module = type(exc).__module__ or ""
    return module.startswith(("choreographer", "kaleido")) or isinstance(
        exc, BrokenPipeError | ConnectionError | asyncio.TimeoutError)


# --- CSV ---------------------------------------------------------------------------------


def chart_csv(rows: pd.DataFrame, labels: Mapping[str, str] | None = None) -> str:
    """The rows behind a chart as plain CSV: one header row, then the rows.

    ``labels`` (column -> value: the marking and the demonstration label,
    :func:`kpis.exports.data_files.labels`) are added as the last columns, the same on
    every row. No comment lines: Power Query and Excel read the first line as the
    header. Missing values are empty cells; every cell is neutralised
    (:func:`neutralise`).
    """
    extra = dict(labels or {})
    tail = [neutralise(v) for v in extra.values()]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([neutralise(c) for c in [*rows.columns, *extra]])
    for record in rows.itertuples(index=False, name=None):
        writer.writerow([*(neutralise(_cell(v)) for v in record), *tail])
    return out.getvalue()


def _cell(value: Any) -> object:
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    if isinstance(value, float):
        return repr(value) if value != int(value) else str(int(value))
    return value

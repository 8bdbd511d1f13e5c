"""Chart downloads: every chart on a page as PNG, SVG, PDF, CSV and XLSX, drawn on the
server.

The app is driven through Flask's test client, as a browser would: pages are rendered
through Dash's own endpoints, the download links are read from them and followed.
Numbers in the files are checked against sums of the raw observations worked out here.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from playwright.sync_api import Browser

from kpis.charts.specs import DEFAULT_MARKING
from kpis.exports import render
from kpis.storage.duckdb_file import Reader
from tests.conftest import LiveServer, app_over
from tests.pages import DEFAULT_TIMEOUT_MS, open_app
from web import downloads as _downloads

KPI = "suspect_contact_30d"  # a monthly share: numerator and denominator from returns
TITLE = "Suspect arrested or interviewed within 30 days"
PERIOD = dt.date(2025, 9, 1)
QUERY = "force=kent&period=2025-09"
MEDIA = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf",
         "csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
FORMATS = ("png", "svg", "pdf", "csv", "xlsx")
NAME_TAIL = f"{DEFAULT_MARKING}-demo"  # what every download's name ends with here


@pytest.fixture(scope="module")
def client(demo_db_readonly: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[FlaskClient]:
    """The app over a copy of the demonstration database (the app may write its audit
    log beside it), with Flask's test client."""
    from web.context import SERVICE_KEY

    db = tmp_path_factory.mktemp("downloads") / "flightdeck.duckdb"
    shutil.copyfile(demo_db_readonly, db)
    dash_app = app_over(db)
    yield dash_app.server.test_client()
    dash_app.server.config[SERVICE_KEY].close()


def raw_sums(db: Path, measures: list[str], period: dt.date,
             force: str | None = None) -> float:
    """The sum of measures' raw observations for a month (one force, or all forces)."""
    reader = Reader(db)
    try:
        with reader.connect() as conn:
            query = ("SELECT sum(value) FROM observations WHERE period_start = :period "
                     "AND measure_id IN :measures")
            params: dict[str, Any] = {"period": period, "measures": tuple(measures)}
            if force is not None:
                query += " AND force_slug = :force"
                params["force"] = force
            statement = sa.text(query).bindparams(sa.bindparam("measures", expanding=True))
            return float(conn.execute(statement, params).scalar_one())
    finally:
        reader.close()


def read_csv(text: str) -> list[dict[str, str]]:
    """A plain CSV's rows as dicts: one header row, no comment lines."""
    assert not text.startswith("#"), text[:100]
    return list(csv.DictReader(io.StringIO(text)))


def xlsx_notes(data: bytes) -> dict[str, str]:
    """An XLSX download's Notes sheet, heading -> text (and column -> definition)."""
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True)
    assert book.sheetnames == ["Data", "Notes"]
    rows = [row for row in book["Notes"].iter_rows(values_only=True) if row and row[0]]
    return {str(row[0]): str(row[1]) for row in rows}


# --- pages, rendered as the browser asks for them ----------------------------------------


def render_page(client: FlaskClient, path: str, search: str = "") -> Any:
    """The page's component tree, from Dash's pages callback (as in tests/test_app.py)."""
    dependencies = json.loads(client.get("/_dash-dependencies").data)
    pages_callback = next(d for d in dependencies if "_pages_store" in d["output"])
    inputs = [{**item, "value": {"pathname": path, "search": search}.get(item["property"])}
              for item in pages_callback["inputs"]]
    payload = {
        "output": pages_callback["output"],
        "outputs": [{"id": part.split(".")[0], "property": part.split(".")[1]}
                    for part in pages_callback["output"].strip(".").split("...")],
        "inputs": inputs,
        "changedPropIds": [f"{i['id']}.{i['property']}" for i in inputs],
        "state": [{**s, "value": None} for s in pages_callback.get("state", [])],
    }
    response = client.post("/_dash-update-component", json=payload)
    assert response.status_code == 200
    return response.get_json()


def components(tree: Any, kind: str) -> Iterator[dict[str, Any]]:
    """Every component of type ``kind`` in a rendered tree (as its props)."""
    if isinstance(tree, list):
        for item in tree:
            yield from components(item, kind)
    elif isinstance(tree, dict):
        if tree.get("type") == kind and "props" in tree:
            yield tree["props"]
        for value in tree.values():
            yield from components(value, kind)


class _Links(HTMLParser):
    """The attributes of every link in a block of markup."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, Any]] = []
        self.text = ""
        self._open = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            found = dict(attrs)
            self.links.append({**found, "className": found.get("class", ""), "text": ""})
            self._open = True

    def handle_endtag(self, tag: str) -> None:
        self._open = self._open and tag != "a"

    def handle_data(self, data: str) -> None:
        self.text += data
        if self._open:
            self.links[-1]["text"] += data


def markup_text(markup: str) -> str:
    parser = _Links()
    parser.feed(markup)
    return parser.text


def download_links(tree: Any) -> list[dict[str, Any]]:
    """The download menus' links: blocks of markup (layouts/_downloads.py)."""
    parser = _Links()
    for block in components(tree, "HtmlBlock"):
        parser.feed(block.get("html", ""))
    return [a for a in parser.links if "chart-download" in str(a.get("className", ""))]


def figure_texts(tree: Any) -> dict[str, tuple[str, str]]:
    """Each chart on the page: its id -> (title, subtitle), as drawn on screen."""
    found = {}
    for graph in components(tree, "Graph"):
        text = graph["figure"]["layout"]["title"]["text"]
        title, _, rest = text.partition("<br><span style='font-size:13px'>")
        # A chart that switches in place has a pattern id naming its part.
        ident = graph["id"]["part"] if isinstance(graph["id"], dict) else graph["id"]
        found[ident] = (title, rest.removesuffix("</span>"))
    return found


PAGES = [
    # (page, query, the charts it has and their downloads)
    (f"/kpi/{KPI}", f"?{QUERY}", {"kpi-spc-chart": "spc", "kpi-funnel-chart": "funnel"}),
    (f"/kpi/{KPI}", f"?{QUERY}&baseline=all",
     {"kpi-spc-chart": "spc", "kpi-funnel-chart": "funnel"}),
    ("/pillar/1", "?force=kent&period=2025-06&comparator=region", None),
    ("/compare", f"?{QUERY}&kpi={KPI}&group=region-south-east&view=funnel",
     {"compare-chart": "compare"}),
    ("/compare", "?force=essex&period=2025-09&kpi=cps_referrals", {"compare-chart": "compare"}),
]


@pytest.mark.parametrize(("path", "search", "charts"), PAGES)
def test_every_chart_on_a_page_links_its_downloads_with_the_pages_view(
        client: FlaskClient, path: str, search: str, charts: dict[str, str] | None) -> None:
    tree = render_page(client, path, search)
    drawn = figure_texts(tree)
    links = download_links(tree)
    assert drawn and len(links) == 5 * len(drawn)  # PNG, SVG, PDF, CSV, XLSX for each
    view = {k: v[0] for k, v in parse_qs(search.lstrip("?")).items()}
    csv_links = [a for a in links if urlsplit(a["href"]).path.endswith(".csv")]
    for link, (figure_id, (title, _subtitle)) in zip(csv_links, drawn.items(), strict=True):
        url = urlsplit(link["href"])
        chart = url.path.split("/")[3]
        if charts is not None:
            assert chart == charts[figure_id]
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        # The links carry the page's view: force, period and the chart's own choices.
        assert query["force"] == view["force"] and query["period"] == view["period"]
        for key in ("comparator", "baseline", "group", "view"):
            if key in view and (chart, key) in {("trend", "comparator"), ("spc", "baseline"),
                                                ("compare", "group"), ("compare", "view")}:
                assert query[key] == view[key]
        assert link["download"].endswith(".csv")
        # Page and download draw from one spec (kpis.charts.specs), so the file's words
        # are the page's by construction: what is checked here is the link's view.
        response = client.get(link["href"])
        assert response.status_code == 200, response.data
        rows = read_csv(response.data.decode("utf-8"))
        # Every row carries the marking the link's file name (and its menu) gave:
        # OFFICIAL for Home Office open data, OFFICIAL-SENSITIVE for force returns.
        marking = rows[0]["marking"]
        assert marking in ("OFFICIAL", DEFAULT_MARKING)
        assert link["download"].endswith(f"-{marking}-demo.csv")
        assert {r["marking"] for r in rows} == {marking}
        assert {r["data_label"] for r in rows} == {"DEMONSTRATION DATA"}
        workbook = client.get(link["href"].replace(".csv?", ".xlsx?"))
        assert workbook.status_code == 200, workbook.data
        notes = xlsx_notes(workbook.data)
        assert notes["Title"] == html.unescape(title)
        assert notes["Protective marking"] == marking


def test_the_links_are_named_for_their_format_and_chart(client: FlaskClient) -> None:
    tree = render_page(client, f"/kpi/{KPI}", f"?{QUERY}")
    groups = [b["html"] for b in components(tree, "HtmlBlock")
              if 'class="chart-downloads' in b.get("html", "")]
    assert len(groups) == 2  # the SPC chart's and the funnel plot's
    # The marking the files will carry is shown before anything is downloaded.
    assert markup_text(groups[0]) == (f"Download chart, marked {DEFAULT_MARKING}: "
                                      "PNGSVGPDFData (CSV)Data (Excel)")
    assert 'class="chart-downloads small mt-1 d-print-none"' in groups[0]  # no use on paper
    assert [a["text"] for a in download_links(tree)][:5] == ["PNG", "SVG", "PDF",
                                                             "Data (CSV)", "Data (Excel)"]
    names = [a["aria-label"] for a in download_links(tree)][:5]
    assert names == [f"PNG, print-resolution image: {TITLE}", f"SVG, vector image: {TITLE}",
                     f"PDF, vector document: {TITLE}",
                     f"Data (CSV), the figures behind the chart: {TITLE}",
                     f"Data (Excel), the figures behind the chart, with notes: {TITLE}"]
    hrefs = [a["href"] for a in download_links(tree)][:5]
    assert hrefs == [f"/download/chart/spc/{KPI}.{fmt}?{QUERY}" for fmt in FORMATS]
    # The file names carry the marking and say the data is a demonstration.
    assert [a["download"] for a in download_links(tree)][:5] == [
        f"{KPI}-spc-kent-2025-09-{NAME_TAIL}.{fmt}" for fmt in FORMATS]


# --- each format -----------------------------------------------------------------------


# The images are drawn with headless Chromium (kaleido): slow; the CSV is not.
@pytest.mark.parametrize("fmt", [pytest.param(fmt, marks=pytest.mark.slow)
                                 for fmt in ("png", "svg", "pdf")] + ["csv", "xlsx"])
def test_each_format_is_a_marked_attachment(client: FlaskClient, fmt: str) -> None:
    response = client.get(f"/download/chart/spc/{KPI}.{fmt}?{QUERY}")
    assert response.status_code == 200, response.data
    assert response.headers["Content-Type"] == MEDIA[fmt]
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="{KPI}-spc-kent-2025-09-{NAME_TAIL}.{fmt}"')
    assert response.headers["Cache-Control"] == "no-store"
    data = response.data
    if fmt == "png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert (width, height) == (3600, 2025)  # print resolution
        assert len(data) > 50_000
    elif fmt == "pdf":
        assert data[:5] == b"%PDF-"
        assert len(data) > 5_000
    elif fmt == "svg":
        text = data.decode("utf-8")
        assert text.lstrip().startswith("<svg")
        for words_in_chart in (TITLE, "Kent, April 2019 to September 2025", DEFAULT_MARKING,
                               "DEMONSTRATION DATA", "Source: Force monthly return"):
            assert words_in_chart in text
        assert len(data) > 5_000
    elif fmt == "xlsx":
        notes = xlsx_notes(data)
        assert notes["Title"] == TITLE
        assert notes["Protective marking"] == DEFAULT_MARKING
        assert notes["Demonstration data"].startswith("DEMONSTRATION DATA")
        assert notes["Source"] == "Force monthly return"
    else:
        rows = read_csv(data.decode("utf-8"))
        assert {(r["marking"], r["data_label"]) for r in rows} == {
            (DEFAULT_MARKING, "DEMONSTRATION DATA")}
        assert rows[0]["period_start"] == "2019-04-01"
        assert rows[-1]["period_start"] == "2025-09-01" and len(rows) == 78


def test_the_csv_has_the_figures_of_the_raw_returns(client: FlaskClient,
                                                    demo_db_readonly: Path) -> None:
    numerator = raw_sums(demo_db_readonly, ["suspect_arrested_interviewed_30d"], PERIOD, "kent")
    denominator = raw_sums(demo_db_readonly, ["reports_named_suspect"], PERIOD, "kent")
    rows = read_csv(client.get(f"/download/chart/spc/{KPI}.csv?{QUERY}").data.decode())
    september = rows[-1]
    assert float(september["numerator"]) == numerator
    assert float(september["denominator"]) == denominator
    assert float(september["value"]) == pytest.approx(numerator / denominator)
    assert september["area"] == "kent" and september["period"] == "September 2025"

    # The funnel plot's centre is England and Wales: every force's counts summed.
    national = (raw_sums(demo_db_readonly, ["suspect_arrested_interviewed_30d"], PERIOD)
                / raw_sums(demo_db_readonly, ["reports_named_suspect"], PERIOD))
    forces = read_csv(client.get(f"/download/chart/funnel/{KPI}.csv?{QUERY}")
                      .data.decode())
    reader = Reader(demo_db_readonly)
    try:
        with reader.connect() as conn:
            reporting = conn.execute(sa.text(
                "SELECT count(*) FROM observations WHERE period_start = :period AND "
                "measure_id = 'reports_named_suspect' AND value > 0"), {"period": PERIOD}
            ).scalar_one()
    finally:
        reader.close()
    assert len(forces) == reporting > 30  # every force with a return for the month
    assert [float(r["centre"]) for r in forces] == [pytest.approx(national)] * len(forces)
    kent = next(r for r in forces if r["area"] == "kent")
    assert float(kent["value"]) == pytest.approx(numerator / denominator)

    # The compare page's bars: ranked best first (higher is better for this KPI).
    ranked = read_csv(client.get(f"/download/chart/compare/{KPI}.csv?{QUERY}")
                      .data.decode())
    values = [float(r["value"]) for r in ranked]
    assert values == sorted(values, reverse=True)
    # September's England and Wales figure is incomplete (3 forces' returns are late in
    # the demo): no force is ranked in it. August is complete, and ranked.
    assert {r["rank"] for r in ranked} == {""}
    august = QUERY.replace("2025-09", "2025-08")
    ranked = read_csv(client.get(f"/download/chart/compare/{KPI}.csv?{august}")
                      .data.decode())
    values = [float(r["value"]) for r in ranked]
    assert values == sorted(values, reverse=True) and ranked[0]["rank"] == "1"
    assert [r["rank"] for r in ranked[:3]] == ["1", "2", "3"]


def test_formula_like_cells_are_neutralised(client: FlaskClient) -> None:
    # No cell of the chart data starts a formula: negative numbers stay numbers, text
    # starting = + - @ would carry a leading quote.
    text = client.get(f"/download/chart/trend/{KPI}.csv?{QUERY}&comparator=region"
                      ).data.decode()
    rows = read_csv(text)
    assert {r["area"] for r in rows} == {"kent", "region-south-east"}
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "@")), cell


@pytest.mark.slow  # draws an image with headless Chromium (kaleido)
def test_another_marking_can_be_chosen(client: FlaskClient) -> None:
    svg = client.get(f"/download/chart/spc/{KPI}.svg?{QUERY}&marking=OFFICIAL").data.decode()
    assert "OFFICIAL" in svg and DEFAULT_MARKING not in svg


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "status", "says"), [
    (f"/download/chart/spc/no_such_kpi.png?{QUERY}", 404, "no published KPI"),
    (f"/download/chart/pie/{KPI}.png?{QUERY}", 404, "no chart called"),
    (f"/download/chart/spc/{KPI}.gif?{QUERY}", 404, "png, svg, pdf, csv, xlsx"),
    (f"/download/chart/spc/{KPI}?{QUERY}", 404, "png, svg, pdf, csv, xlsx"),
    (f"/download/chart/spc/{KPI}.png?force=atlantis&period=2025-09", 400, "no force"),
    (f"/download/chart/spc/{KPI}.png?force=kent&period=2025-13", 400, "YYYY-MM"),
    (f"/download/chart/spc/{KPI}.png?force=kent&period=Sept", 400, "YYYY-MM"),
    (f"/download/chart/spc/{KPI}.png?force=kent&period=2031-01", 400, "from Apr 2019"),
    (f"/download/chart/spc/{KPI}.png?force=kent&period=2010-01", 400, "from Apr 2019"),
    (f"/download/chart/spc/{KPI}.png?{QUERY}&colour=red", 400, "Unknown parameter"),
    (f"/download/chart/spc/{KPI}.png?{QUERY}&group=region-south-east", 400,
     "Unknown parameter"),
    (f"/download/chart/spc/{KPI}.png?{QUERY}&force=essex", 400, "once"),
    (f"/download/chart/spc/{KPI}.png?{QUERY}&baseline=yes", 400, "nom, all or first:N"),
    (f"/download/chart/spc/{KPI}.png?{QUERY}&baseline=first:3", 400, "15 or more"),
    (f"/download/chart/spc/{KPI}.png?{QUERY}&rebase=adoption", 400, "Unknown parameter"),
    (f"/download/chart/trend/{KPI}.png?{QUERY}&comparator=mars", 400, "comparator"),
    (f"/download/chart/compare/{KPI}.png?{QUERY}&group=atlantis", 400, "no region"),
    (f"/download/chart/compare/{KPI}.png?{QUERY}&view=pie", 400, "bars or funnel"),
    (f"/download/chart/spc/{KPI}.svg?{QUERY}&marking=%3Ca%20href%3Dx%3EHI%3C/a%3E", 400,
     "marking"),
    ("/download/chart/funnel/device_return_days.png?force=kent&period=2025-09", 404,
     "neither"),
])
def test_bad_requests_get_a_plain_answer_not_a_trace(client: FlaskClient, url: str,
                                                     status: int, says: str) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.data.decode("utf-8")
    assert says in body
    assert "Traceback" not in body and len(body) < 300
    assert "Content-Disposition" not in response.headers


def test_a_missing_renderer_is_a_503_and_csv_still_works(
        client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLIGHTDECK_CHROMIUM", str(tmp_path / "no-chromium"))
    render.shutdown()
    try:
        response = client.get(f"/download/chart/spc/{KPI}.png?{QUERY}")
        assert response.status_code == 503
        assert "no Chromium browser" in response.data.decode()
        assert client.get(f"/download/chart/spc/{KPI}.csv?{QUERY}").status_code == 200
    finally:
        monkeypatch.undo()
        render.shutdown()


def test_the_services_access_rules_apply(client: FlaskClient,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A refusal from the service (a force-scoped account) is a 403 with its words."""
    def refuse() -> None:
        raise PermissionError("Your account is limited to Kent.")

    monkeypatch.setattr(_downloads, "service", refuse)
    response = client.get(f"/download/chart/spc/{KPI}.png?force=essex&period=2025-09")
    assert response.status_code == 403
    assert response.data.decode().strip() == "Your account is limited to Kent."


# --- in the browser ----------------------------------------------------------------------


@pytest.mark.browser
def test_a_chart_downloads_from_the_keyboard(chromium: Browser, live_server: LiveServer,
                                             tmp_path: Path) -> None:
    app = open_app(chromium, live_server.url)
    app.goto(f"/kpi/{KPI}?{QUERY}")
    link = app.page.get_by_role("link", name=f"PNG, print-resolution image: {TITLE}",
                                exact=True)
    link.focus()
    with app.page.expect_download(timeout=DEFAULT_TIMEOUT_MS * 3) as download:
        app.page.keyboard.press("Enter")
    assert download.value.suggested_filename == f"{KPI}-spc-kent-2025-09-{NAME_TAIL}.png"
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.read_bytes()[:4] == b"\x89PNG"
    assert app.console_errors() == []

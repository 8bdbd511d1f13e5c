"""Board packs a PCC can publish, opened with independent readers (python-pptx,
python-docx, pypdf): summary first, at most 20 pages, native PowerPoint charts holding
the KPI's series, tagged PDF, A4 Word, alternative text everywhere, templates."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kpis.charts.specs import spc_export
from kpis.cli import main
from kpis.domain.formatting import short_period
from kpis.engine.dataset import Dataset
from kpis.engine.measures import flight_deck_table
from kpis.exports.packs import (
    MAX_EXCEPTION_CHARTS,
    PAGE_LIMIT,
    SCRUTINY_TITLE,
    TemplateError,
    build_pack,
    pack_content,
)
from kpis.exports.packs.plan import MATRIX_COLUMNS, column_widths
from kpis.exports.packs.pptx import chart_series, slide_plan
from kpis.service import FlightDeckService
from kpis.storage.annotations import record_progress, write_commentary

PERIOD = dt.date(2025, 9, 1)
TODAY = dt.date(2025, 10, 15)
MARKING = "OFFICIAL-SENSITIVE"
#: Northumbria's pack for March 2024 has the most exceptions in the demonstration data
#: (12, eight of them charted): the longest default pack.
LONGEST = ("northumbria", dt.date(2024, 3, 1))
COMMENT = "Plans agreed at the repeat-suspect panel; three more due in October."
OTHER_COMMENT = "Referrals dipped while the CPS liaison post was vacant."
WEST_MIDLANDS_NOTE = "West Midlands' own progress: the flag is live on Athena."
KENT_NOTE = "Kent's progress: the review of repeat suspects started in August."
EMU = 914400


def plain(text: str) -> str:
    return " ".join(text.replace("\u2212", "-").split())


@pytest.fixture(scope="module")
def pack_db(demo_db_readonly: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo database with commentary for Kent and per-force progress notes."""
    db = tmp_path_factory.mktemp("packdb") / "flightdeck.duckdb"
    shutil.copyfile(demo_db_readonly, db)
    write_commentary(db, "repeat_suspects_managed", "kent", PERIOD, COMMENT, "Jane Analyst")
    write_commentary(db, "cps_referrals", "kent", PERIOD, OTHER_COMMENT, "Jane Analyst")
    record_progress(db, "R2", "in progress", KENT_NOTE, "Jane Analyst",
                    now=dt.datetime(2025, 10, 1, 9, 0), area="kent")
    record_progress(db, "R2", "complete", WEST_MIDLANDS_NOTE, "Sam Lead",
                    now=dt.datetime(2025, 10, 2, 9, 0), area="west-midlands")
    return db


@pytest.fixture(scope="module")
def service(pack_db: Path) -> Iterator[FlightDeckService]:
    service = FlightDeckService(pack_db)
    yield service
    service.close()


@pytest.fixture(scope="module")
def kent_packs(service: FlightDeckService, tmp_path_factory: pytest.TempPathFactory
               ) -> dict[str, Path]:
    """Kent's default pack for September 2025 in each format, as the CLI builds it."""
    folder = tmp_path_factory.mktemp("kent")
    return {fmt: build_pack(service, "kent", PERIOD, fmt, marking=MARKING, today=TODAY,
                            commentary=service.all_commentary("kent", PERIOD),
                            out=folder / f"kent.{fmt}")
            for fmt in ("pptx", "pdf", "docx")}


def slides(path: Path) -> list[Any]:
    from pptx import Presentation

    return list(Presentation(str(path)).slides)


def slide_text(slide: Any) -> str:
    parts = []
    for shape in slide.shapes:
        if shape.has_text_frame:
            parts.append(shape.text_frame.text)
        if shape.has_table:
            parts += [cell.text for row in shape.table.rows for cell in row.cells]
    return plain(" ".join(parts))


def alt_text(shape: Any) -> str:
    for child in shape._element.iter():
        if child.tag.endswith("}cNvPr"):
            return child.get("descr") or ""
    return ""


# --- the plan ------------------------------------------------------------------------


def test_column_widths_fit_short_columns_and_share_the_rest_by_length() -> None:
    rows = [("a" * 40, "Sep 25", "b" * 30)]
    widths = column_widths(("KPI", "Period", "Summary"), rows, capacity=100)
    # "Sep 25" is short (22 characters or fewer): its 6 characters, one more, and two
    # for the cell's margins: 9 of the 100.
    assert widths[1] == pytest.approx(9 / 100)
    # The long columns start from their longest word plus one (41 and 31) and share
    # what is left (100 - 9 - 41 - 31 = 19) as the square roots of their lengths.
    spare = 100 - 9 - 41 - 31
    weights = (40 ** 0.5, 30 ** 0.5)
    assert widths[0] == pytest.approx((41 + spare * weights[0] / sum(weights)) / 100)
    assert widths[2] == pytest.approx((31 + spare * weights[1] / sum(weights)) / 100)
    # Too little room: every column keeps its minimum, shares scaled to the whole.
    cramped = column_widths(("KPI", "Period", "Summary"), rows, capacity=50)
    assert cramped == pytest.approx((41 / 81, 9 / 81, 31 / 81))


def test_the_summary_and_exceptions_come_first_in_severity_order(
        demo_dataset: Dataset) -> None:
    force, period = LONGEST
    content = pack_content(demo_dataset, force, period, images=None, today=TODAY)
    table = flight_deck_table(demo_dataset, list(demo_dataset.kpis), [force], end=period)
    latest = table.groupby("kpi").tail(1).set_index("kpi")
    titles = {k.title: k.kpi_id for k in demo_dataset.kpis.values()}
    # Table 1 lists every KPI (a row each, under its pillar's heading).
    listed = [row[0] for i, row in enumerate(content.matrix.rows)
              if i not in content.matrix.groups]
    assert sorted(listed) == sorted(titles)
    assert content.matrix.number == 1 and content.exceptions.number == 2
    # Concerns first, then targets consistently failed, each worked out from the table.
    whys = [row[1] for row in content.exceptions.rows]
    order = {"Special-cause concern": 0, "Target consistently failed": 1, "Return not in": 2}
    assert whys == sorted(whys, key=order.__getitem__)
    for title, why, summary in content.exceptions.rows:
        if why == "Special-cause concern":
            assert latest.loc[titles[title], "variation"] == "concern"
            assert summary.startswith(spc_export(demo_dataset, titles[title], force,
                                                 period).summary)
        elif why == "Target consistently failed":
            assert latest.loc[titles[title], "assurance"] == "fail"
    # Chart pages: the first eight concerns and failing targets, numbered in order.
    flagged = [titles[t] for t, why, _ in content.exceptions.rows if why != "Return not in"]
    assert len(flagged) > MAX_EXCEPTION_CHARTS
    assert [c.chart.kpi.kpi_id for c in content.charts] == flagged[:MAX_EXCEPTION_CHARTS]
    assert [c.number for c in content.charts] == list(range(1, MAX_EXCEPTION_CHARTS + 1))
    # The other KPIs go to the appendix, each once.
    assert content.other_kpis is not None
    rest = {row[0] for row in content.other_kpis.rows}
    assert rest == set(titles) - {demo_dataset.kpis[k].title for k in flagged[:8]}
    assert len(slide_plan(content)) <= PAGE_LIMIT


def test_a_full_pack_has_every_chart(demo_dataset: Dataset) -> None:
    content = pack_content(demo_dataset, "kent", PERIOD, images=None, full=True)
    assert len(content.charts) == len(demo_dataset.kpis)
    assert content.other_kpis is None


@pytest.mark.slow  # plans 86 packs
def test_no_default_pack_runs_past_twenty_slides(demo_dataset: Dataset) -> None:
    longest = max(len(slide_plan(pack_content(demo_dataset, force, period, images=None)))
                  for force in demo_dataset.visible_forces["slug"]
                  for period in (PERIOD, dt.date(2024, 3, 1)))
    assert longest <= PAGE_LIMIT


def test_empty_commentary_is_left_out_and_written_commentary_is_kept(
        service: FlightDeckService) -> None:
    content = pack_content(service, "kent", PERIOD, images=None, today=TODAY,
                           commentary=service.all_commentary("kent", PERIOD))
    by_kpi = {c.chart.kpi.kpi_id: c.commentary for c in content.charts}
    assert by_kpi["repeat_suspects_managed"] == COMMENT
    assert all(text in ("", COMMENT) for text in by_kpi.values())
    assert list(by_kpi.values()).count("") == len(by_kpi) - 1
    # Commentary on a KPI without a chart page is kept, in the appendix's own table.
    assert "cps_referrals" not in by_kpi
    assert content.commentary is not None
    assert content.commentary.rows == [("Police referrals to CPS", OTHER_COMMENT)]
    assert content.commentary.label in content.list_of_tables()


def test_a_forces_pack_has_its_own_progress_not_another_forces(
        service: FlightDeckService) -> None:
    kent = pack_content(service, "kent", PERIOD, images=None, today=TODAY)
    assert kent.recommendations is not None
    rows = {row[0].split(":")[0]: row for row in kent.recommendations.rows}
    assert KENT_NOTE in rows["R2"][3]
    text = " ".join(" ".join(row) for row in kent.recommendations.rows)
    assert WEST_MIDLANDS_NOTE not in text
    # Linked KPIs by title, each with its current variation in words.
    linked = [k for k in service.dataset().kpis.values() if "R2" in k.recommendations]
    for kpi in linked:
        assert kpi.title in rows["R2"][4]
    assert "_" not in rows["R2"][4]  # no KPI ids
    west = pack_content(service, "west-midlands", PERIOD, images=None, today=TODAY)
    assert west.recommendations is not None
    text = " ".join(" ".join(row) for row in west.recommendations.rows)
    assert WEST_MIDLANDS_NOTE in text and KENT_NOTE not in text


# --- PowerPoint ------------------------------------------------------------------------


@pytest.mark.slow  # builds packs with charts drawn by headless Chromium (kaleido)
def test_pptx_summary_first_with_native_charts_holding_the_kpis_series(
        kent_packs: dict[str, Path], service: FlightDeckService) -> None:
    from pptx.enum.chart import XL_CHART_TYPE

    ds = service.dataset()
    deck = slides(kent_packs["pptx"])
    assert len(deck) <= PAGE_LIMIT
    # Slide 1 holds the matrix: every KPI's title in its tables.
    first = deck[0]
    tables = [s for s in first.shapes if s.has_table]
    assert len(tables) == 2
    cells = {c.text for t in tables for row in t.table.rows for c in row.cells}
    assert {k.title for k in ds.kpis.values()} <= cells
    assert {tuple(c.text for c in t.table.rows[0].cells) for t in tables} == {MATRIX_COLUMNS}
    assert "Table 2: What needs attention" in slide_text(deck[1])
    charts = [(slide, shape) for slide in deck for shape in slide.shapes if shape.has_chart]
    content = pack_content(service, "kent", PERIOD, images=None, today=TODAY)
    assert len(charts) == len(content.charts) > 0
    for (slide, shape), planned in zip(charts, content.charts, strict=True):
        kpi = planned.chart.kpi
        chart = shape.chart
        assert chart.chart_type in (XL_CHART_TYPE.LINE, XL_CHART_TYPE.LINE_MARKERS)
        # Placed in the layout's content placeholder, beside the slide's title.
        assert slide.slide_layout.name == "Two Content"
        assert slide.shapes.title.text_frame.text == kpi.title
        assert shape.is_placeholder
        series = {s.name: list(s.values) for s in chart.plots[0].series}
        rows = flight_deck_table(ds, [kpi.kpi_id], ["kent"], end=PERIOD)
        assert series["Value"] == pytest.approx(rows["value"].astype(float).tolist())
        assert series["Mean"] == pytest.approx(rows["spc_mean"].astype(float).tolist())
        assert series["Upper process limit"] == pytest.approx(
            rows["spc_upper"].astype(float).tolist())
        assert series["England and Wales"] == pytest.approx(
            rows["national_value"].astype(float).tolist())
        if kpi.target is not None:
            assert series["Target"] == pytest.approx([kpi.target] * len(rows))
        categories = list(chart.plots[0].categories)
        assert categories == [short_period(kpi, p) for p in rows["period_start"]]
        # Alternative text: the chart's plain-English summary.
        assert planned.chart.summary in alt_text(shape)
        assert f"Figure {planned.number}:" in slide_text(slide)
    for slide in deck:
        text = slide_text(slide)
        assert text.count(MARKING) >= 2
        assert "Demonstration data" in text
        for shape in slide.shapes:
            if shape.shape_type == 13 or shape.has_chart or shape.has_table:  # pictures
                assert alt_text(shape), (slide_text(slide)[:40], shape.name)
    assert re.search(r"Slide 1 of \d+", slide_text(deck[0]))
    assert "No commentary" not in " ".join(slide_text(s) for s in deck)
    assert COMMENT in " ".join(slide_text(s) for s in deck)
    assert kent_packs["pptx"].stat().st_size < 3 * 2**20


@pytest.mark.slow  # every KPI's suppressed series for a force
def test_native_chart_data_leave_suppressed_points_blank(demo_dataset: Dataset) -> None:
    """City of London's small counts: the chart's data hold no hidden value."""
    content = pack_content(demo_dataset, "city-of-london", PERIOD, images=None,
                           suppress=True, full=True)
    hidden_seen = 0
    for planned in content.charts:
        kpi = planned.chart.kpi
        raw = flight_deck_table(demo_dataset, [kpi.kpi_id], ["city-of-london"], end=PERIOD)
        shown = flight_deck_table(demo_dataset, [kpi.kpi_id], ["city-of-london"], end=PERIOD,
                                  suppress=True)
        _, series = chart_series(planned)
        for i, hidden in enumerate(shown["suppressed"].astype(bool)):
            if hidden:
                hidden_seen += 1
                assert series["Value"][i] is None
        if shown["suppressed"].any():  # a series with a hidden point has no SPC lines
            assert set(series["Mean"]) == {None}
        values = [v for v in series["Value"] if v is not None]
        assert len(values) == int((~shown["suppressed"].astype(bool)
                                   & raw["value"].notna()).sum())
    assert hidden_seen > 0, "City of London's demo data have small counts"


@pytest.mark.slow  # builds packs with charts drawn by headless Chromium (kaleido)
def test_pptx_pictures_when_asked_carry_alt_text(service: FlightDeckService,
                                                tmp_path: Path) -> None:
    out = build_pack(service, "kent", PERIOD, "pptx", kpis=["repeat_suspects_managed",
                                                             "cps_referrals"],
                     pictures=True, full=True, out=tmp_path / "pictures.pptx")
    pictures = [s for slide in slides(out) for s in slide.shapes if s.shape_type == 13]
    assert len(pictures) == 2
    for picture in pictures:
        assert "SPC chart of" in alt_text(picture)
        assert alt_text(picture) != "image.png"


def make_potx(path: Path, layout_marker: str) -> Path:
    """A PowerPoint template (.potx): a 4:3 deck with a layout of the force's own (a
    marker to find in the pack) and a sample slide, saved as a template."""
    from pptx import Presentation

    deck = Presentation()
    deck.slide_layouts[2]._element.cSld.set("name", layout_marker)
    deck.slides.add_slide(deck.slide_layouts[0])  # a sample slide: the pack drops it
    plain_path = path.with_suffix(".pptx")
    deck.save(str(plain_path))
    with zipfile.ZipFile(plain_path) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "[Content_Types].xml":
                data = data.replace(b"presentationml.presentation.main+xml",
                                    b"presentationml.template.main+xml")
            target.writestr(item, data)
    return path


def test_a_forces_powerpoint_template_is_used(demo_dataset: Dataset, tmp_path: Path) -> None:
    from pptx import Presentation

    template = make_potx(tmp_path / "kent.potx", "KENT POLICE TEMPLATE")
    out = build_pack(demo_dataset, "kent", PERIOD, "pptx", template=template,
                     out=tmp_path / "templated.pptx", kpis=["repeat_suspects_managed"])
    deck = Presentation(str(out))
    assert "KENT POLICE TEMPLATE" in [layout.name for layout in deck.slide_layouts]
    assert deck.slide_width == Presentation(str(tmp_path / "kent.pptx")).slide_width  # 4:3
    content = pack_content(demo_dataset, "kent", PERIOD, images=None,
                           kpis=["repeat_suspects_managed"])
    assert len(deck.slides) == len(slide_plan(content))  # the sample slide is gone
    assert all(s.slide_layout.name in ("Title and Content", "Two Content") for s in deck.slides)
    with pytest.raises(TemplateError, match="must be one of"):
        build_pack(demo_dataset, "kent", PERIOD, "pptx", template=tmp_path / "x.docx",
                   out=tmp_path / "bad.pptx")
    (tmp_path / "broken.pptx").write_bytes(b"not a zip")
    with pytest.raises(TemplateError, match="not a PPTX file"):
        build_pack(demo_dataset, "kent", PERIOD, "pptx", template=tmp_path / "broken.pptx",
                   out=tmp_path / "bad.pptx")
    assert not (tmp_path / "bad.pptx").exists()


# --- PDF -------------------------------------------------------------------------------


def struct_tags(node: Any, found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    from pypdf.generic import ArrayObject, DictionaryObject

    node = node.get_object()
    if isinstance(node, DictionaryObject):
        if "/S" in node:
            found.append((str(node["/S"]), str(node.get("/Alt", ""))))
        kids = node.get("/K")
        if kids is not None:
            for kid in (kids if isinstance(kids, ArrayObject) else [kids]):
                struct_tags(kid, found)
    elif isinstance(node, ArrayObject):
        for kid in node:
            struct_tags(kid, found)
    return found


@pytest.mark.slow  # builds packs with charts drawn by headless Chromium (kaleido)
def test_the_pdf_is_tagged_titled_in_en_gb_and_summary_first(
        kent_packs: dict[str, Path], service: FlightDeckService) -> None:
    from pypdf import PdfReader

    reader = PdfReader(kent_packs["pdf"])
    root = reader.trailer["/Root"]
    assert bool(root["/MarkInfo"]["/Marked"])
    assert "/StructTreeRoot" in root
    assert root["/Lang"] == "en-GB"
    content = pack_content(service, "kent", PERIOD, images=None, today=TODAY)
    assert reader.metadata.title == content.title
    assert reader.metadata.author == "Kent: NOM flight deck"
    tags = struct_tags(root["/StructTreeRoot"], [])
    kinds = [kind for kind, _ in tags]
    assert kinds.count("/H1") == 1
    assert kinds.count("/H2") >= 2 + len(content.charts)
    assert "/Table" in kinds and "/TH" in kinds
    figures = [alt for kind, alt in tags if kind == "/Figure" and alt]
    for chart in content.charts:
        assert any(chart.chart.summary in alt for alt in figures), chart.chart.kpi.title
    pages = [plain(page.extract_text()) for page in reader.pages]
    assert len(pages) <= PAGE_LIMIT
    # Page one holds the matrix: every KPI's title (wrapped in its cell: compared
    # without the spaces).
    squeezed = reader.pages[0].extract_text().replace(" ", "").replace("\n", "")
    for kpi in service.dataset().kpis.values():
        assert kpi.title.replace(" ", "") in squeezed, kpi.title
    assert "Table 1: Every KPI at a glance" in pages[0]
    assert "What needs attention" in pages[1]
    for number, page in enumerate(pages, start=1):
        assert page.count(MARKING) >= 2
        assert f"Page {number} of {len(pages)}" in page
    assert "Figure 1:" in " ".join(pages)
    assert kent_packs["pdf"].stat().st_size < 3 * 2**20


@pytest.mark.slow  # builds packs with charts drawn by headless Chromium (kaleido)
def test_the_longest_default_pack_keeps_to_twenty_pages_in_every_format(
        demo_dataset: Dataset, tmp_path: Path) -> None:
    from pypdf import PdfReader

    force, period = LONGEST
    pdf = build_pack(demo_dataset, force, period, "pdf", out=tmp_path / "long.pdf")
    pages = PdfReader(pdf).pages
    assert len(pages) <= PAGE_LIMIT
    first = pages[0].extract_text().replace(" ", "").replace("\n", "")
    for kpi in demo_dataset.kpis.values():
        assert kpi.title.replace(" ", "") in first, kpi.title
    docx = build_pack(demo_dataset, force, period, "docx", out=tmp_path / "long.docx")
    assert docx_pages(docx) <= PAGE_LIMIT
    assert docx.stat().st_size < 3 * 2**20


# --- Word ------------------------------------------------------------------------------


def docx_pages(path: Path) -> int:
    """Pages a Word paper has at least: one more than its page breaks and sections."""
    from docx import Document

    body = Document(str(path)).element.body
    breaks = sum(1 for el in body.iter() if el.tag.endswith("}br")
                 and el.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
                            "type") == "page")
    sections = sum(1 for el in body.iter() if el.tag.endswith("}sectPr"))
    return breaks + sections


@pytest.mark.slow  # builds packs with charts drawn by headless Chromium (kaleido)
def test_the_word_paper_is_a4_with_alt_text_and_sized_columns(
        kent_packs: dict[str, Path], service: FlightDeckService) -> None:
    from docx import Document
    from docx.shared import Cm

    document = Document(str(kent_packs["docx"]))
    section = document.sections[0]
    assert abs(section.page_width - Cm(21)) < Cm(0.05)
    assert abs(section.page_height - Cm(29.7)) < Cm(0.05)
    content = pack_content(service, "kent", PERIOD, images=None, today=TODAY)
    pictures = document.inline_shapes
    assert len(pictures) == len(content.charts) > 0
    for shape, chart in zip(pictures, content.charts, strict=True):
        assert chart.chart.summary in shape._inline.docPr.get("descr")
    assert docx_pages(kent_packs["docx"]) <= PAGE_LIMIT
    # The first table is the matrix, before the first page break; its columns are not
    # equal: the KPI titles' column is the widest, and no word is broken.
    matrix = document.tables[0]
    widths = [c.width for c in matrix.columns]
    assert widths[0] == max(widths) and len(set(widths)) > 2
    assert {row.cells[0].text for row in matrix.rows} >= {k.title for k in
                                                          service.dataset().kpis.values()}
    captions = [p.text for p in document.paragraphs if p.text.startswith(("Figure ", "Table "))]
    assert captions[0].startswith("Table 1: Every KPI at a glance")
    assert [c for c in captions if c.startswith("Figure")][:len(content.charts)] == [
        chart.caption for chart in content.charts]
    text = " ".join(p.text for p in document.paragraphs)
    assert "No commentary" not in text and COMMENT in text
    assert document.core_properties.author == "Kent: NOM flight deck"
    assert document.core_properties.language == "en-GB"
    header = " ".join(p.text for p in section.header.paragraphs)
    assert MARKING in header
    assert kent_packs["docx"].stat().st_size < 3 * 2**20


@pytest.mark.slow  # the Word paper's chart is drawn by headless Chromium (kaleido)
def test_a_forces_word_template_keeps_its_styles_and_page(demo_dataset: Dataset,
                                                         tmp_path: Path) -> None:
    from docx import Document
    from docx.shared import Inches

    template = Document()
    template.sections[0].page_width, template.sections[0].page_height = (
        Inches(8.5), Inches(11))
    template.sections[0].header.paragraphs[0].text = "KENT POLICE"
    template.add_paragraph("Sample text the pack replaces")
    plain_path = tmp_path / "kent.docx"
    template.save(str(plain_path))
    dotx = tmp_path / "kent.dotx"
    with zipfile.ZipFile(plain_path) as source, zipfile.ZipFile(dotx, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "[Content_Types].xml":
                data = data.replace(b"document.main+xml", b"template.main+xml")
            target.writestr(item, data)
    out = build_pack(demo_dataset, "kent", PERIOD, "docx", template=dotx,
                     kpis=["cps_referrals"], out=tmp_path / "templated.docx")
    document = Document(str(out))
    assert abs(document.sections[0].page_width - Inches(8.5)) < Inches(0.01)
    header = " ".join(p.text for p in document.sections[0].header.paragraphs)
    assert "KENT POLICE" in header and MARKING in header
    assert "Sample text the pack replaces" not in " ".join(p.text for p in document.paragraphs)


# --- the scrutiny pack and the command -------------------------------------------------


def test_a_scrutiny_pack_keeps_the_meetings_order_and_says_what_it_is(
        demo_dataset: Dataset) -> None:
    groups = [("Special cause concerns", ["cps_referrals"]),
              ("Special cause improvements", ["suspect_contact_30d", "ho_rape_charge_rate"])]
    content = pack_content(demo_dataset, "kent", PERIOD, images=None, groups=groups,
                           kind=SCRUTINY_TITLE)
    assert content.title == f"{SCRUTINY_TITLE}: Kent, September 2025"
    titles = [demo_dataset.kpis[k].title for _, ids in groups for k in ids]
    assert [row[0] for row in content.exceptions.rows] == titles
    assert [row[1] for row in content.exceptions.rows] == [
        "Special cause concerns", "Special cause improvements", "Special cause improvements"]
    assert [c.chart.kpi.title for c in content.charts] == titles


@pytest.mark.slow  # a pack from the command line, charts drawn by Chromium
def test_export_from_the_cli_full_and_with_a_template(pack_db: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    out = tmp_path / "kent.pptx"
    code = main(["export", "--db", str(pack_db), "--force", "kent", "--period", "2025-09",
                 "--format", "pptx", "--pillar", "6", "--full", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    deck = slides(out)
    charts = [s for slide in deck for s in slide.shapes if s.has_chart]
    pillar_six = [k for k in FlightDeckService(pack_db).dataset().kpis.values()
                  if k.pillar == 6]
    assert len(charts) == len(pillar_six)
    code = main(["export", "--db", str(pack_db), "--force", "kent", "--period", "2025-09",
                 "--format", "pdf", "--template", str(tmp_path / "kent.pptx"),
                 "--out", str(tmp_path / "kent.pdf")])
    assert code == 2
    assert "not to PDF" in capsys.readouterr().err
    assert not (tmp_path / "kent.pdf").exists()


def test_a_pack_for_an_unknown_force_is_refused(demo_dataset: Dataset, tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="unknown force"):
        build_pack(demo_dataset, "atlantis", PERIOD, "pptx", out=tmp_path / "x.pptx")
    assert not (tmp_path / "x.pptx").exists()


def test_a_provisional_quarter_is_marked_in_the_matrix_and_the_appendix(
        demo_dataset: Dataset) -> None:
    """The latest published Home Office quarter (2025/26 Q2 for September 2025) is
    provisional on the recorded basis: the matrix marks it "p" and says what that means,
    the appendix says "provisional" beside the period."""
    from kpis.domain.vocabulary import PROVISIONAL_NOTE

    kpi = demo_dataset.kpis["ho_rape_charge_rate"]
    row = flight_deck_table(demo_dataset, [kpi.kpi_id], ["kent"], end=PERIOD).iloc[-1]
    assert bool(row["provisional"])
    content = pack_content(demo_dataset, "kent", PERIOD, images=None)
    matrix = {r[0]: r for r in content.matrix.rows}
    assert matrix[kpi.title][1] == "Q2 25/26 p"
    assert f"p: {PROVISIONAL_NOTE}" in content.matrix.note
    assert content.other_kpis is not None
    other = {r[0]: r for r in content.other_kpis.rows}
    assert other[kpi.title][1] == "2025/26 Q2 (provisional)"
    # A monthly KPI has no mark.
    assert matrix[demo_dataset.kpis["cps_referrals"].title][1] == "Sep 25"

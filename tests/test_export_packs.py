"""Board packs: open the PPTX, PDF and DOCX that are written and check what they say."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest

from kpis.charts.specs import spc_export
from kpis.cli import main
from kpis.domain.formatting import format_number, format_period, format_value
from kpis.engine.dataset import Dataset
from kpis.engine.measures import flight_deck_table
from kpis.engine.summary import summarise
from kpis.exports.packs import (
    COMMENTARY_PLACEHOLDER,
    NO_PROGRESS,
    NOTE_LIMIT,
    PACK_TITLE,
    RECOMMENDATION_COLUMNS,
    RECOMMENDATIONS_HEADING,
    build_pack,
    page_count,
    recommendation_row,
    select_kpis,
)
from kpis.service import FlightDeckService
from kpis.storage.annotations import RecommendationStatus, record_progress

PERIOD = dt.date(2025, 9, 1)
MARKING = "OFFICIAL-SENSITIVE"
# Two pillars (1 and 2); City of London's figures for these rest on small counts.
KPIS = ["suspect_contact_30d", "repeat_suspects_managed", "bail_breaches_responded"]
PILLARS = 2
COMMENTARY = {"suspect_contact_30d": "Contact within 30 days rose after the new triage desk."}
#: The day the packs are produced, which decides what is overdue: every recommendation's
#: deadline (January to July 2025) has passed.
TODAY = dt.date(2025, 10, 15)
RECOMMENDATIONS = 5  # R1 to R5 in data/catalogue.yaml


def plain(text: str) -> str:
    """Whitespace collapsed and the minus sign as '-' (the PDF's fonts have no U+2212)."""
    return " ".join(text.replace("\u2212", "-").split())


@pytest.fixture(scope="module")
def packs(demo_dataset: Dataset, tmp_path_factory: pytest.TempPathFactory
          ) -> dict[tuple[str, bool], Path]:
    """Packs for Kent (open) and City of London (suppressed), in each format."""
    folder = tmp_path_factory.mktemp("packs")
    built = {}
    for fmt in ("pptx", "pdf", "docx"):
        for force, suppress in (("kent", False), ("city-of-london", True)):
            built[(fmt, suppress)] = build_pack(
                demo_dataset, force, PERIOD, fmt, kpis=KPIS, marking=MARKING, suppress=suppress,
                commentary=COMMENTARY, out=folder / f"{force}.{fmt}", today=TODAY)
    return built


def summaries(ds: Dataset, force: str, suppress: bool) -> list[str]:
    return [spc_export(ds, k, force, PERIOD, suppress=suppress).summary for k in KPIS]


def hidden_texts(ds: Dataset) -> list[str]:
    """What City of London's suppressed figures would read as if they were published."""
    table = flight_deck_table(ds, KPIS, ["city-of-london"], start=PERIOD, end=PERIOD)
    small = table[(table["numerator"] > 0) & (table["numerator"] < 5)]
    assert len(small) >= 2, "the demonstration data should have small counts here"
    found = []
    name = ds.area_names["city-of-london"]
    for row in small.to_dict("records"):
        kpi = ds.kpis[row["kpi"]]
        found.append(summarise(ds, row, name))
        found.append(f"({format_number(row['numerator'])} of "
                     f"{format_number(row['denominator'])})")
        # the pillar table row, as the PowerPoint test joins its cells
        found.append(f"{kpi.title} | {format_period(kpi, row['period_start'])} | "
                     f"{format_value(kpi, row['value'])}")
    return found


def test_page_count_formula() -> None:
    # title, pillar summaries, KPI charts, recommendations, sources and definitions
    assert page_count(3, 2, 5) == 1 + 2 + 3 + 1 + 1
    assert page_count(12, 3, 5) == 1 + 3 + 12 + 1 + 2
    assert page_count(12, 3, 6) == 1 + 3 + 12 + 2 + 2
    assert page_count(3, 2, 0) == 1 + 2 + 3 + 0 + 1


def test_kpi_selection_by_pillar_and_id(demo_dataset: Dataset) -> None:
    assert [k.kpi_id for k in select_kpis(demo_dataset, kpis=KPIS)] == KPIS
    pillar_two = select_kpis(demo_dataset, pillars=[2])
    assert pillar_two and {k.pillar for k in pillar_two} == {2}
    with pytest.raises(KeyError):
        select_kpis(demo_dataset, kpis=["no_such_kpi"])


# --- PowerPoint ------------------------------------------------------------------------


def slide_texts(path: Path) -> list[list[tuple[float, str]]]:
    """Each slide's text frames and table cells as (top in inches, text)."""
    from pptx import Presentation

    slides = []
    for slide in Presentation(str(path)).slides:
        items = []
        for shape in slide.shapes:
            top = shape.top / 914400
            if shape.has_text_frame:
                items.append((top, shape.text_frame.text))
            if shape.has_table:
                for row in shape.table.rows:
                    items.append((top, " | ".join(c.text for c in row.cells)))
        slides.append(items)
    return slides


@pytest.mark.slow  # draws images with headless Chromium (kaleido)
def test_pptx_slides_titles_marking_numbers_and_summaries(
        packs: dict[tuple[str, bool], Path], demo_dataset: Dataset) -> None:
    from pptx import Presentation

    path = packs[("pptx", False)]
    slides = slide_texts(path)
    expected = page_count(len(KPIS), PILLARS, RECOMMENDATIONS)
    assert len(slides) == expected
    for number, items in enumerate(slides, start=1):
        assert any(top < 0.5 and text == MARKING for top, text in items), number
        assert any(top > 6.9 and text == MARKING for top, text in items), number
        assert any(text == f"Slide {number} of {expected}" for _, text in items), number
    title = "\n".join(text for _, text in slides[0])
    for words in (PACK_TITLE, "Kent", "Period: September 2025",
                  f"Protective marking: {MARKING}", "Demonstration data"):
        assert words in title
    everything = "\n".join(text for items in slides for _, text in items)
    for summary in summaries(demo_dataset, "kent", False):
        assert summary in everything
    assert COMMENTARY["suspect_contact_30d"] in everything
    assert everything.count(COMMENTARY_PLACEHOLDER) == len(KPIS) - 1
    assert "Pillar 1: Suspect-focused investigations: summary" in everything
    assert "Pillar 2: Identifying and disrupting repeat suspects: summary" in everything
    assert "Sources and definitions" in everything
    deck = Presentation(str(path))
    pictures = [s for slide in deck.slides for s in slide.shapes if s.shape_type == 13]
    assert len(pictures) == len(KPIS)
    kpi_titles = [demo_dataset.kpis[k].title for k in KPIS]
    slide_titles = [next(t for top, t in items if 0.4 < top < 0.6) for items in slides[1:]]
    # The recommendations come after the charts, just before sources and definitions.
    assert slide_titles[-2:] == [RECOMMENDATIONS_HEADING, "Sources and definitions"]
    assert [t for t in slide_titles[:-2] if not t.startswith("Pillar")] == kpi_titles
    # Built from a bare dataset, which has no progress notes to read.
    assert everything.count(NO_PROGRESS) == RECOMMENDATIONS


@pytest.mark.slow  # draws images with headless Chromium (kaleido)
def test_pptx_with_suppression_shows_no_hidden_number(
        packs: dict[tuple[str, bool], Path], demo_dataset: Dataset) -> None:
    slides = slide_texts(packs[("pptx", True)])
    everything = "\n".join(text for items in slides for _, text in items)
    for hidden in hidden_texts(demo_dataset):
        assert hidden not in everything
    for summary in summaries(demo_dataset, "city-of-london", True):
        assert summary in everything
    assert "suppressed to protect victims" in everything
    assert "[c]" in everything
    assert "Disclosure control" in everything


@pytest.mark.slow  # draws images with headless Chromium (kaleido)
def test_a_twelve_chart_pack(demo_db_readonly: Path, demo_dataset: Dataset, tmp_path: Path
                             ) -> None:
    from pptx import Presentation

    twelve = [k.kpi_id for k in select_kpis(demo_dataset)][:12]
    pillars = len({demo_dataset.kpis[k].pillar for k in twelve})
    out = tmp_path / "twelve.pptx"
    args = ["export", "--db", str(demo_db_readonly), "--force", "west-midlands", "--period",
            "2025-09", "--format", "pptx", "--marking", "OFFICIAL", "--out", str(out)]
    for kpi in twelve:
        args += ["--kpi", kpi]
    assert main(args) == 0
    deck = Presentation(str(out))
    assert len(deck.slides) == page_count(12, pillars, RECOMMENDATIONS)
    pictures = [s for slide in deck.slides for s in slide.shapes if s.shape_type == 13]
    assert len(pictures) == 12


@pytest.mark.slow  # draws images with headless Chromium (kaleido)
def test_export_by_pillar_from_the_cli(demo_db_readonly: Path, demo_dataset: Dataset,
                                       tmp_path: Path) -> None:
    from pptx import Presentation

    out = tmp_path / "pillar6.pptx"
    assert main(["export", "--db", str(demo_db_readonly), "--force", "kent", "--period",
                 "2025-09", "--format", "pptx", "--pillar", "6", "--out", str(out)]) == 0
    count = len(select_kpis(demo_dataset, pillars=[6]))
    assert len(Presentation(str(out)).slides) == page_count(count, 1, RECOMMENDATIONS)


def test_export_refuses_an_unknown_force(demo_db_readonly: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["export", "--db", str(demo_db_readonly), "--force", "atlantis", "--period",
                 "2025-09", "--format", "pdf", "--out", str(tmp_path / "x.pdf")])
    assert code == 2
    assert "atlantis" in capsys.readouterr().err


# --- PDF -------------------------------------------------------------------------------


def pdf_pages(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [plain(page.extract_text() or "") for page in PdfReader(str(path)).pages]


@pytest.mark.slow  # draws images with headless Chromium (kaleido)
def test_pdf_pages_marking_numbers_and_summaries(packs: dict[tuple[str, bool], Path],
                                                 demo_dataset: Dataset) -> None:
    pages = pdf_pages(packs[("pdf", False)])
    expected = page_count(len(KPIS), PILLARS, RECOMMENDATIONS)
    assert len(pages) == expected
    for number, text in enumerate(pages, start=1):
        assert text.count(MARKING) >= 2, number
        assert f"Page {number} of {expected}" in text
    assert PACK_TITLE in pages[0] and "Kent" in pages[0] and "Demonstration data" in pages[0]
    everything = " ".join(pages)
    for summary in summaries(demo_dataset, "kent", False):
        assert plain(summary) in everything
    assert plain(COMMENTARY["suspect_contact_30d"]) in everything
    for kpi in KPIS:
        assert demo_dataset.kpis[kpi].title in everything
    assert "Sources and definitions" in pages[-1]
    assert RECOMMENDATIONS_HEADING in pages[-2]


@pytest.mark.slow  # draws images with headless Chromium (kaleido)
def test_pdf_with_suppression_shows_no_hidden_number(packs: dict[tuple[str, bool], Path],
                                                     demo_dataset: Dataset) -> None:
    everything = " ".join(pdf_pages(packs[("pdf", True)]))
    for hidden in hidden_texts(demo_dataset):
        assert plain(hidden) not in everything
    assert "suppressed to protect victims" in everything
    assert "[c]" in everything


# --- Word ------------------------------------------------------------------------------


@pytest.mark.slow  # draws images with headless Chromium (kaleido)
def test_docx_headings_marking_page_numbers_and_summaries(
        packs: dict[tuple[str, bool], Path], demo_dataset: Dataset) -> None:
    from docx import Document

    document = Document(str(packs[("docx", False)]))
    for section in document.sections:
        assert MARKING in section.header.paragraphs[0].text
        footer_xml = section.footer._element.xml
        assert MARKING in footer_xml
        assert "PAGE" in footer_xml and "NUMPAGES" in footer_xml
    headings = [(p.style.name, p.text) for p in document.paragraphs
                if p.style.name.startswith(("Heading", "Title"))]
    assert headings[0] == ("Title", f"{PACK_TITLE}: Kent, September 2025")
    assert [t for s, t in headings if s == "Heading 1"] == [
        "Pillar 1: Suspect-focused investigations",
        "Pillar 2: Identifying and disrupting repeat suspects",
        RECOMMENDATIONS_HEADING,
        "Sources and definitions",
    ]
    assert [t for s, t in headings if s == "Heading 2"] == [
        demo_dataset.kpis[k].title for k in KPIS]
    assert len(document.tables) == PILLARS + 1  # the pillar tables and the recommendations
    assert len(document.inline_shapes) == len(KPIS)
    text = "\n".join(p.text for p in document.paragraphs)
    for summary in summaries(demo_dataset, "kent", False):
        assert summary in text
    assert "Figure 1: Suspect arrested or interviewed within 30 days" in text
    assert COMMENTARY["suspect_contact_30d"] in text


@pytest.mark.slow  # draws images with headless Chromium (kaleido)
def test_docx_with_suppression_shows_no_hidden_number(packs: dict[tuple[str, bool], Path],
                                                      demo_dataset: Dataset) -> None:
    from docx import Document

    document = Document(str(packs[("docx", True)]))
    cells = [c.text for t in document.tables for row in t.rows for c in row.cells]
    everything = "\n".join([p.text for p in document.paragraphs] + cells)
    for hidden in hidden_texts(demo_dataset):
        assert hidden not in everything
    assert "[c]" in cells


# --- Inspection recommendations ----------------------------------------------------------

NOTE = "Repeat-suspect flag live on the records system; 212 suspects reviewed, 61 plans agreed."
NOTED_AT = dt.datetime(2025, 10, 3, 9, 30)
EARLIER_NOTE = "Scoping the work with the repeat-suspect working group."
DONE_NOTE = "Every RASSO investigator has completed the word-on-word course."


def expected_recommendation_cells(demo_dataset: Dataset) -> dict[str, list[str]]:
    """R1 to R3 as the pack should show them, worked out here from the catalogue."""
    def linked(rec_id: str) -> str:
        return "; ".join(k.title for k in sorted(demo_dataset.kpis.values(),
                                                 key=lambda k: k.position)
                         if rec_id in k.recommendations)

    titles = {r.rec_id: r.title for r in demo_dataset.catalogue.recommendations}
    return {
        # deadline 31 July 2025, recorded in progress, produced 15 October: overdue
        "R2": [f"R2: {titles['R2']}", "31 July 2025",
               "Overdue (deadline passed; recorded as in progress)",
               f"{NOTE} (Jane Analyst, 3 October 2025)", linked("R2")],
        # complete: never overdue, whatever the deadline
        "R1": [f"R1: {titles['R1']}", "31 January 2025", "Complete",
               f"{DONE_NOTE} (Jane Analyst, 1 September 2025)", linked("R1")],
        # nothing recorded, deadline passed
        "R3": [f"R3: {titles['R3']}", "31 January 2025",
               "Overdue (deadline passed; recorded as not started)", NO_PROGRESS,
               linked("R3")],
    }


@pytest.fixture(scope="module")
def recorded_packs(demo_db_readonly: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> dict[str, Path]:
    """Packs built through the service after progress was recorded on R1 and R2."""
    folder = tmp_path_factory.mktemp("recorded")
    db = folder / "flightdeck.duckdb"
    shutil.copyfile(demo_db_readonly, db)
    record_progress(db, "R2", "not started", EARLIER_NOTE, "Sam Lead",
                    now=dt.datetime(2025, 5, 1, 10, 0))
    record_progress(db, "R2", "in progress", NOTE, "Jane Analyst", now=NOTED_AT)
    record_progress(db, "R1", "complete", DONE_NOTE, "Jane Analyst",
                    now=dt.datetime(2025, 9, 1, 12, 0))
    service = FlightDeckService(db)
    try:
        return {fmt: build_pack(service, "kent", PERIOD, fmt, kpis=["repeat_suspects_managed"],
                                out=folder / f"kent.{fmt}", today=TODAY)
                for fmt in ("pptx", "pdf", "docx")}
    finally:
        service.close()


@pytest.mark.slow  # draws images with headless Chromium (kaleido)
def test_pptx_has_the_recommendations_slide_before_sources(
        recorded_packs: dict[str, Path], demo_dataset: Dataset) -> None:
    slides = slide_texts(recorded_packs["pptx"])
    assert len(slides) == page_count(1, 1, RECOMMENDATIONS)
    titles = [next((t for top, t in items if 0.4 < top < 0.6), "") for items in slides]
    assert titles[-2:] == [RECOMMENDATIONS_HEADING, "Sources and definitions"]
    rows = [text for _, text in slides[-2]]
    assert " | ".join(RECOMMENDATION_COLUMNS) in rows
    for cells in expected_recommendation_cells(demo_dataset).values():
        assert " | ".join(cells) in rows
    table_rows = [r for r in rows if re.match(r"R\d: ", r)]
    assert [r.split(":")[0] for r in table_rows] == ["R1", "R2", "R3", "R4", "R5"]
    everything = "\n".join(rows)
    assert EARLIER_NOTE not in everything  # only the latest note
    assert "Status on 15 October 2025" in everything
    assert all(any(text == MARKING for _, text in items) for items in slides)


@pytest.mark.slow  # draws images with headless Chromium (kaleido)
def test_pdf_has_the_recommendations_page(recorded_packs: dict[str, Path],
                                          demo_dataset: Dataset) -> None:
    pages = pdf_pages(recorded_packs["pdf"])
    expected = page_count(1, 1, RECOMMENDATIONS)
    assert len(pages) == expected
    page = pages[-2]
    assert RECOMMENDATIONS_HEADING in page
    assert f"Page {expected - 1} of {expected}" in page and page.count(MARKING) >= 2
    for cells in expected_recommendation_cells(demo_dataset).values():
        for cell in cells:
            assert plain(cell) in page, cell
    assert plain(EARLIER_NOTE) not in page
    assert "Sources and definitions" in pages[-1]


@pytest.mark.slow  # draws images with headless Chromium (kaleido)
def test_docx_has_the_recommendations_table(recorded_packs: dict[str, Path],
                                            demo_dataset: Dataset) -> None:
    from docx import Document

    document = Document(str(recorded_packs["docx"]))
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    assert headings[-2:] == [RECOMMENDATIONS_HEADING, "Sources and definitions"]
    table = document.tables[-1]
    rows = [[c.text for c in row.cells] for row in table.rows]
    assert rows[0] == list(RECOMMENDATION_COLUMNS)
    assert [r[0].split(":")[0] for r in rows[1:]] == ["R1", "R2", "R3", "R4", "R5"]
    by_id = {r[0].split(":")[0]: r for r in rows[1:]}
    for rec_id, cells in expected_recommendation_cells(demo_dataset).items():
        assert by_id[rec_id] == cells
    status = [run for run in table.rows[2].cells[2].paragraphs[0].runs if run.text]
    assert status and all(run.bold for run in status)  # overdue stands out in print too


def test_a_recommendation_row_in_words(demo_dataset: Dataset) -> None:
    long_note = "Progress. " * 200  # 2,000 characters, the most a note may hold
    rec = RecommendationStatus(
        "R2", "Use the new definition", dt.date(2025, 7, 31), ("repeat_suspects_managed",),
        "in progress", long_note.strip(), "Jane Analyst", NOTED_AT, "in progress")
    row = recommendation_row(rec, demo_dataset.kpis)
    assert row.status == "In progress" and not row.overdue
    assert row.kpis == "Repeat suspects with an active management plan"
    assert row.deadline == "31 July 2025"
    assert row.progress() == f"{long_note.strip()} (Jane Analyst, 3 October 2025)"
    shown = row.progress(NOTE_LIMIT)
    assert shown.endswith("\u2026 (Jane Analyst, 3 October 2025)")
    assert len(shown) <= NOTE_LIMIT + len(" (Jane Analyst, 3 October 2025)")


# --- provisional Home Office quarters --------------------------------------------------


@pytest.mark.slow  # draws images with headless Chromium (kaleido)
def test_a_provisional_quarter_is_marked_in_every_pack_format(
        demo_dataset: Dataset, tmp_path: Path) -> None:
    """The latest published Home Office quarter (2025/26 Q2 for September 2025) is always
    provisional on the recorded basis: each pack says so beside its figure."""
    from docx import Document

    from kpis.domain.vocabulary import PROVISIONAL_NOTE

    kpi = "ho_rape_charge_rate"
    row = flight_deck_table(demo_dataset, [kpi], ["kent"], end=PERIOD).iloc[-1]
    assert bool(row["provisional"])
    assert format_period(demo_dataset.kpis[kpi], row["period_start"]) == "2025/26 Q2"
    texts = {}
    for fmt in ("pptx", "pdf", "docx"):
        out = build_pack(demo_dataset, "kent", PERIOD, fmt, kpis=[kpi], marking=MARKING,
                         out=tmp_path / f"kent.{fmt}", today=TODAY)
        if fmt == "pptx":
            texts[fmt] = plain(" ".join(t for slide in slide_texts(out) for _, t in slide))
        elif fmt == "pdf":
            texts[fmt] = " ".join(pdf_pages(out))
        else:
            texts[fmt] = plain(" ".join(p.text for p in Document(str(out)).paragraphs))
    for fmt, text in texts.items():
        assert f"({PROVISIONAL_NOTE})" in text, fmt
        assert plain(summarise(demo_dataset, row.to_dict())) in text, fmt


def test_a_scrutiny_pack_keeps_the_meetings_order_and_says_what_it_is(
        demo_dataset: Dataset, tmp_path: Path) -> None:
    from docx import Document

    from kpis.exports.packs.plan import SCRUTINY_TITLE

    # Improvements listed first in the catalogue, a concern last: the pack follows the
    # groups given, not the catalogue.
    groups = [("Special cause concerns", ["cps_referrals"]),
              ("Special cause improvements", ["suspect_contact_30d", "ho_rape_charge_rate"])]
    out = build_pack(demo_dataset, "kent", PERIOD, "docx", groups=groups, kind=SCRUTINY_TITLE,
                     out=tmp_path / "scrutiny.docx")
    document = Document(str(out))
    headings = [(p.style.name, p.text) for p in document.paragraphs
                if p.style.name.startswith(("Heading", "Title"))]
    assert headings[0] == ("Title", f"{SCRUTINY_TITLE}: Kent, September 2025")
    assert [t for s, t in headings if s == "Heading 1"][:2] == [
        "Special cause concerns", "Special cause improvements"]
    assert [t for s, t in headings if s == "Heading 2"] == [
        demo_dataset.kpis[k].title for _, ids in groups for k in ids]

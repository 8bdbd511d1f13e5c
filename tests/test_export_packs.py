"""Board packs: open the PPTX, PDF and DOCX that are written and check what they say."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kpis.cli import main
from kpis.dataset import Dataset
from kpis.export.charts import spc_export
from kpis.export.packs import (
    COMMENTARY_PLACEHOLDER,
    PACK_TITLE,
    build_pack,
    page_count,
    select_kpis,
)
from kpis.formatting import format_number, format_period, format_value
from kpis.measures import flight_deck_table
from kpis.summary import summarise

PERIOD = dt.date(2025, 9, 1)
MARKING = "OFFICIAL-SENSITIVE"
# Two pillars (1 and 2); City of London's figures for these rest on small counts.
KPIS = ["suspect_contact_30d", "repeat_suspects_managed", "bail_breaches_responded"]
PILLARS = 2
COMMENTARY = {"suspect_contact_30d": "Contact within 30 days rose after the new triage desk."}


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
                commentary=COMMENTARY, out=folder / f"{force}.{fmt}")
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
    assert page_count(3, 2) == 1 + 2 + 3 + 1
    assert page_count(12, 3) == 1 + 3 + 12 + 2


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


def test_pptx_slides_titles_marking_numbers_and_summaries(
        packs: dict[tuple[str, bool], Path], demo_dataset: Dataset) -> None:
    from pptx import Presentation

    path = packs[("pptx", False)]
    slides = slide_texts(path)
    expected = page_count(len(KPIS), PILLARS)
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
    slide_titles = [next(t for top, t in items if 0.4 < top < 0.6) for items in slides[1:-1]]
    assert [t for t in slide_titles if not t.startswith("Pillar")] == kpi_titles


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
    assert len(deck.slides) == page_count(12, pillars)
    pictures = [s for slide in deck.slides for s in slide.shapes if s.shape_type == 13]
    assert len(pictures) == 12


def test_export_by_pillar_from_the_cli(demo_db_readonly: Path, demo_dataset: Dataset,
                                       tmp_path: Path) -> None:
    from pptx import Presentation

    out = tmp_path / "pillar6.pptx"
    assert main(["export", "--db", str(demo_db_readonly), "--force", "kent", "--period",
                 "2025-09", "--format", "pptx", "--pillar", "6", "--out", str(out)]) == 0
    count = len(select_kpis(demo_dataset, pillars=[6]))
    assert len(Presentation(str(out)).slides) == page_count(count, 1)


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


def test_pdf_pages_marking_numbers_and_summaries(packs: dict[tuple[str, bool], Path],
                                                 demo_dataset: Dataset) -> None:
    pages = pdf_pages(packs[("pdf", False)])
    expected = page_count(len(KPIS), PILLARS)
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


def test_pdf_with_suppression_shows_no_hidden_number(packs: dict[tuple[str, bool], Path],
                                                     demo_dataset: Dataset) -> None:
    everything = " ".join(pdf_pages(packs[("pdf", True)]))
    for hidden in hidden_texts(demo_dataset):
        assert plain(hidden) not in everything
    assert "suppressed to protect victims" in everything
    assert "[c]" in everything


# --- Word ------------------------------------------------------------------------------


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
        "Sources and definitions",
    ]
    assert [t for s, t in headings if s == "Heading 2"] == [
        demo_dataset.kpis[k].title for k in KPIS]
    assert len(document.tables) == PILLARS
    assert len(document.inline_shapes) == len(KPIS)
    text = "\n".join(p.text for p in document.paragraphs)
    for summary in summaries(demo_dataset, "kent", False):
        assert summary in text
    assert "Figure 1: Suspect arrested or interviewed within 30 days" in text
    assert COMMENTARY["suspect_contact_30d"] in text


def test_docx_with_suppression_shows_no_hidden_number(packs: dict[tuple[str, bool], Path],
                                                      demo_dataset: Dataset) -> None:
    from docx import Document

    document = Document(str(packs[("docx", True)]))
    cells = [c.text for t in document.tables for row in t.rows for c in row.cells]
    everything = "\n".join([p.text for p in document.paragraphs] + cells)
    for hidden in hidden_texts(demo_dataset):
        assert hidden not in everything
    assert "[c]" in cells

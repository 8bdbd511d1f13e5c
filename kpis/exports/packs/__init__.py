"""Board packs: a force's KPIs for a period as PowerPoint, PDF or a Word committee paper.

:mod:`.plan` gathers the content once (:func:`pack_content`): summary first, then the
exceptions' charts, then an appendix. One writer per format lays it out: :mod:`.pptx`
(native, editable PowerPoint charts on the template's own layouts), :mod:`.pdf` (HTML,
:mod:`.html`, printed by Chromium as a tagged PDF) and :mod:`.docx` (an A4 paper on the
template's styles). :func:`build_pack` does both; :mod:`.templates` reads a force's own
``.pptx``/``.potx`` or ``.docx``/``.dotx``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from kpis.charts.specs import DEFAULT_MARKING, Source
from kpis.engine.disclosure import suppression_required
from kpis.exports.packs.plan import (
    MAX_EXCEPTION_CHARTS,
    NO_PROGRESS,
    NOTE_LIMIT,
    PACK_FORMATS,
    PACK_TITLE,
    PAGE_LIMIT,
    RECOMMENDATION_COLUMNS,
    RECOMMENDATIONS_HEADING,
    SCRUTINY_TITLE,
    TABLE_COLUMNS,
    PackContent,
    PackFormat,
    Progress,
    pack_content,
    recommendation_row,
    select_kpis,
)
from kpis.exports.packs.templates import TEMPLATE_SUFFIXES, TemplateError
from kpis.storage.annotations import RecommendationStatus

__all__ = [
    "MAX_EXCEPTION_CHARTS",
    "NOTE_LIMIT",
    "NO_PROGRESS",
    "PACK_FORMATS",
    "PACK_TITLE",
    "PAGE_LIMIT",
    "RECOMMENDATIONS_HEADING",
    "RECOMMENDATION_COLUMNS",
    "SCRUTINY_TITLE",
    "TABLE_COLUMNS",
    "TEMPLATE_SUFFIXES",
    "PackContent",
    "TemplateError",
    "build_pack",
    "pack_content",
    "recommendation_row",
    "select_kpis",
]


def build_pack(source: Source, force: str, period: dt.date, fmt: PackFormat, *,
               pillars: Sequence[int] | None = None, kpis: Sequence[str] | None = None,
               marking: str = DEFAULT_MARKING, suppress: bool = False,
               out: Path, commentary: Mapping[str, str] | None = None,
               progress: Progress | None = None, today: dt.date | None = None,
               recommendations: Sequence[RecommendationStatus] | None = None,
               groups: Sequence[tuple[str, Sequence[str]]] | None = None,
               kind: str | None = None, full: bool = False, template: Path | None = None,
               pictures: bool = False, author: str = "",
               cancelled: Callable[[], None] | None = None) -> Path:
    """Write a board pack for ``force`` and ``period`` as PPTX, PDF or DOCX to ``out``.

    ``today`` (default: today) is the date produced, which decides what is overdue;
    ``recommendations``, ``groups``, ``kind`` and ``full`` as for :func:`pack_content`.
    ``template``: a force's own PowerPoint (``.pptx``/``.potx``) or Word
    (``.docx``/``.dotx``) file whose layouts and styles the pack uses. ``pictures``:
    PowerPoint charts as pictures instead of native, editable charts.

    Raises KeyError for an unknown force, pillar or KPI, :class:`TemplateError` for a
    template that cannot be used, and :class:`kpis.exports.render.RendererUnavailable`
    if charts cannot be drawn.
    """
    if fmt not in PACK_FORMATS:
        raise ValueError(f"unknown pack format {fmt!r}; use one of {', '.join(PACK_FORMATS)}")
    if template is not None and fmt == "pdf":
        raise TemplateError("A template applies to PowerPoint and Word packs, not to PDF.")
    # A pack marked for wider handling than OFFICIAL-SENSITIVE gets disclosure control.
    suppress = suppression_required(marking, suppress)
    images = {"pdf": "svg", "docx": "png", "pptx": "png" if pictures else None}[fmt]
    content = pack_content(source, force, period, pillars=pillars, kpis=kpis, marking=marking,
                           suppress=suppress, commentary=commentary, progress=progress,
                           today=today, recommendations=recommendations, groups=groups,
                           full=full, images=images, author=author,  # type: ignore[arg-type]
                           cancelled=cancelled, **({"kind": kind} if kind else {}))
    if progress:
        progress(f"Writing the {fmt.upper()} file")
    out = Path(out)
    if fmt == "pptx":
        from kpis.exports.packs.pptx import write_pptx

        write_pptx(content, out, template=template, pictures=pictures)
    elif fmt == "docx":
        from kpis.exports.packs.docx import write_docx

        write_docx(content, out, template=template)
    else:
        from kpis.exports.packs.pdf import write_pdf

        write_pdf(content, out)
    return out

"""Board packs: a force's KPIs for a period as PowerPoint, PDF or a Word committee paper.

:mod:`.plan` gathers the content once (:func:`pack_content`); one writer per format
(:mod:`.pptx`, :mod:`.pdf`, :mod:`.docx`) lays it out. :func:`build_pack` does both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

from kpis.charts.specs import DEFAULT_MARKING, Source
from kpis.engine.disclosure import suppression_required
from kpis.exports.packs.docx import write_docx
from kpis.exports.packs.pdf import write_pdf
from kpis.exports.packs.plan import (
    COMMENTARY_PLACEHOLDER,
    NO_PROGRESS,
    NOTE_LIMIT,
    PACK_FORMATS,
    PACK_TITLE,
    RECOMMENDATION_COLUMNS,
    RECOMMENDATIONS_HEADING,
    RECOMMENDATIONS_PER_PAGE,
    SOURCES_PER_PAGE,
    TABLE_COLUMNS,
    PackContent,
    PackFormat,
    Progress,
    pack_content,
    page_count,
    recommendation_row,
    select_kpis,
)
from kpis.exports.packs.pptx import write_pptx
from kpis.storage.annotations import RecommendationStatus

__all__ = [
    "COMMENTARY_PLACEHOLDER",
    "NOTE_LIMIT",
    "NO_PROGRESS",
    "PACK_FORMATS",
    "PACK_TITLE",
    "RECOMMENDATIONS_HEADING",
    "RECOMMENDATIONS_PER_PAGE",
    "RECOMMENDATION_COLUMNS",
    "SOURCES_PER_PAGE",
    "TABLE_COLUMNS",
    "PackContent",
    "build_pack",
    "pack_content",
    "page_count",
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
               kind: str | None = None) -> Path:
    """Write a board pack for ``force`` and ``period`` as PPTX, PDF or DOCX to ``out``.

    ``today`` (default: today) is the date produced, which decides what is overdue;
    ``recommendations``, ``groups`` and ``kind`` as for :func:`pack_content`.

    Raises KeyError for an unknown force, pillar or KPI, and
    :class:`kpis.exports.render.RendererUnavailable` if charts cannot be drawn.
    """
    if fmt not in PACK_FORMATS:
        raise ValueError(f"unknown pack format {fmt!r}; use one of {', '.join(PACK_FORMATS)}")
    # A pack marked for wider handling than OFFICIAL-SENSITIVE gets disclosure control.
    suppress = suppression_required(marking, suppress)
    content = pack_content(source, force, period, pillars=pillars, kpis=kpis, marking=marking,
                           suppress=suppress, commentary=commentary, progress=progress,
                           today=today, recommendations=recommendations, groups=groups,
                           **({"kind": kind} if kind else {}))
    if progress:
        progress(f"Writing {fmt.upper()} to {out}")
    writer = {"pptx": write_pptx, "pdf": write_pdf, "docx": write_docx}[fmt]
    out = Path(out)
    writer(content, out)
    return out

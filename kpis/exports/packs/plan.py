"""The content plan of a board pack (a force's KPIs for a period), which every writer lays out.

A PCC publishes its board papers, so a pack is short and puts what needs attention first:

1. **Summary** (page 1): the pack's title, the date produced, the protective marking, the
   headline counts and the summary matrix (:mod:`kpis.charts.glance`): every KPI with its
   value, England and Wales, and its Making Data Count variation and assurance, grouped
   by pillar, what needs attention first. Table 1.
2. **Exceptions** (page 2): special-cause concerns, then targets consistently failed,
   then returns not in, each with its plain-English summary (a scrutiny pack: its
   meeting's groups instead). Table 2.
3. **Charts**: one page each for the most severe exceptions, concerns first, at most
   :data:`MAX_EXCEPTION_CHARTS` (``full=True``: every KPI). Each chart page has the SPC
   chart (with England and Wales and where the limits come from), its summary and the
   commentary when one has been written. Figures are numbered.
4. **Appendix**: the other KPIs in one compact table (value, change on a year earlier,
   England and Wales, variation), the inspection recommendations with this force's
   progress, the definitions and sources in a compact table, how to read the charts
   (and the disclosure control applied), and the list of figures and tables.

The default pack for one force and period is at most :data:`PAGE_LIMIT` pages; every
writer says how it keeps to that. With ``suppress=True`` every number comes from
``flight_deck_table(..., suppress=True)``: a hidden figure reads ``[c]`` in tables, is
described as suppressed in summaries, and is not drawn in charts (nor put in a
PowerPoint chart's data).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from kpis.charts.glance import (
    CONCERN,
    FAILING,
    MISSING,
    GlanceRow,
    at_periods,
    compact_value,
    comparator_text,
    glance_rows,
    latest_rows,
)
from kpis.charts.icons import short_words
from kpis.charts.specs import (
    DEFAULT_MARKING,
    ChartExport,
    Source,
    dataset_of,
    spc_export,
)
from kpis.domain.catalogue import KpiDefinition
from kpis.domain.formatting import (
    format_change,
    format_period,
    format_value,
    is_missing,
    short_period,
)
from kpis.domain.periods import long_day, long_month
from kpis.domain.vocabulary import (
    DEMO_LABEL,
    PROVISIONAL_LABEL,
    PROVISIONAL_NOTE,
    SUPPRESSED_LABEL,
    parse_parts,
    variation_phrase,
)
from kpis.engine.dataset import Dataset
from kpis.engine.measures import area_rows, cached_table, hidden_columns
from kpis.engine.views import period_on_or_before
from kpis.settings import NATIONAL_SLUG
from kpis.storage.annotations import (
    NOT_STARTED,
    RecommendationStatus,
    displayed_status,
)

__all__ = [
    "MAX_EXCEPTION_CHARTS",
    "PACK_FORMATS",
    "PACK_TITLE",
    "PAGE_LIMIT",
    "PackContent",
    "pack_content",
]

PackFormat = Literal["pptx", "pdf", "docx"]
PACK_FORMATS: tuple[str, ...] = ("pptx", "pdf", "docx")
PACK_TITLE = "RASSO performance board pack"
SCRUTINY_TITLE = "RASSO scrutiny pack"
#: Chart pages in a default pack: the most severe exceptions.
MAX_EXCEPTION_CHARTS = 8
#: Returns not in listed one by one; more than this are one row.
MISSING_ROWS = 3
#: Pages (slides) a default pack for one force and period keeps within.
PAGE_LIMIT = 20
SUMMARY_HEADING = "Summary"
EXCEPTIONS_HEADING = "What needs attention"
CHARTS_HEADING = "Charts"
APPENDIX_HEADING = "Appendix"
OTHER_KPIS_HEADING = "Every other KPI"
RECOMMENDATIONS_HEADING = "Inspection recommendations"
DEFINITIONS_HEADING = "Definitions and sources"
NOTES_HEADING = "How to read this pack"
LISTS_HEADING = "Figures and tables"
MATRIX_NOTE = (f"p: {PROVISIONAL_NOTE}. (late): the return for the period is not in; the "
               "latest figure is shown. England and Wales at the same period; a count is "
               "compared as a rate per 100,000 people (or per its base).")
NO_EXCEPTIONS = ("No KPI shows a special-cause concern or a target consistently failed, "
                 "and every return for the period is in.")
MATRIX_COLUMNS = ("KPI", "Period", "Value", "England and Wales", "Variation", "Assurance")
EXCEPTION_COLUMNS = ("KPI", "Why", "Summary")
TABLE_COLUMNS = ("KPI", "Period", "Value", "Change on a year earlier", "England and Wales",
                 "Variation")
RECOMMENDATION_COLUMNS = ("Recommendation", "Deadline", "Status", "Latest progress",
                          "Evidenced by")
DEFINITION_COLUMNS = ("KPI", "Definition", "Source", "Unit and frequency")
COMMENTARY_COLUMNS = ("KPI", "Commentary")
COMMENTARY_HEADING = "Commentary on the other KPIs"
#: Characters of a progress note in a pack's table (notes may run to 2,000 characters).
NOTE_LIMIT = 300
NO_PROGRESS = "No progress recorded yet."
#: Rendered chart size for print (CSS pixels) and the PNG scale: text drawn at 13 px or
#: more is 8 points or more on an A4 page (the Word paper's 17 cm wide figures), larger
#: on a slide or landscape PDF page.
PRINT_WIDTH = 860
PRINT_HEIGHT = 500
PNG_SCALE = 2
WHY = {CONCERN: "Special-cause concern", FAILING: "Target consistently failed",
       MISSING: "Return not in"}
SPC_NOTE = (
    "Charts are statistical process control (XmR) charts: the centre line is the mean, "
    "the dashed lines are the process limits (mean plus or minus 2.66 times the mean "
    "moving range), worked out from the period the subtitle names (at a re-base a dotted "
    "line marks where new limits start). The purple dash-dot line is England and Wales "
    "(on a count's chart, the count the force would have at England and Wales' rate). "
    "Special-cause points are marked by shape as well as colour: orange for a concern, "
    "turquoise for an improvement.")
ICON_NOTE = (
    "Variation and assurance follow NHS England's Making Data Count: variation says "
    "whether the latest point shows special cause (a concern or an improvement) or common "
    "cause; assurance says whether the process limits show a target will be met "
    "consistently, failed consistently, or either.")
SUPPRESSION_TEXT = (
    f"Disclosure control: counts from 1 to 4, any rate built on one, and any figure that "
    f"would let one be worked out (a total minus its shown parts, a year minus its shown "
    f"months) are withheld and shown as {SUPPRESSED_LABEL}; withheld points are not drawn, "
    f"and a series with one has no SPC lines, signals or change on a year earlier.")

Progress = Callable[[str], None]
ImageKind = Literal["png", "svg"]


@dataclass(frozen=True)
class PackTable:
    """A numbered table: its caption, columns, rows and how wide each column is."""

    number: int
    caption: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    #: Each column's share of the width, sized to its content (sum 1).
    widths: tuple[float, ...]
    #: Rows that head a group (a pillar): shown bold across the table.
    groups: frozenset[int] = frozenset()
    #: (row, column) cells shown bold (an overdue status).
    bold: frozenset[tuple[int, int]] = frozenset()
    note: str = ""
    #: Characters' worth of room added to columns (column, characters): icons.
    extra: tuple[tuple[int, int], ...] = ()

    @property
    def label(self) -> str:
        return f"Table {self.number}: {self.caption}"

    def widths_at(self, width_points: float, font_points: float) -> tuple[float, ...]:
        """The column shares for a table ``width_points`` wide in a ``font_points``
        font (a character taken as half the font size wide)."""
        body = [r for i, r in enumerate(self.rows) if i not in self.groups]
        return column_widths(self.columns, body, int(width_points / (font_points / 2)),
                             dict(self.extra))

    def chunks(self, size: int) -> list[list[int]]:
        """Row positions split into pages of at most ``size`` rows, a group heading never
        left alone at the foot of a page."""
        pages: list[list[int]] = [[]]
        for i in range(len(self.rows)):
            if len(pages[-1]) >= size or (i in self.groups and len(pages[-1]) >= size - 1
                                          and pages[-1]):
                pages.append([])
            pages[-1].append(i)
        return [p for p in pages if p] or [[]]


@dataclass(frozen=True)
class PackChart:
    """A numbered figure: an SPC chart with its summary, commentary and image."""

    number: int
    chart: ChartExport
    reason: str  # why it is in the pack: "Special-cause concern", or "" (a full pack)
    commentary: str  # "" when none has been written
    image: bytes | None = None  # PNG or SVG, as the writer asked; None: not drawn

    @property
    def caption(self) -> str:
        return f"Figure {self.number}: {self.chart.kpi.title}, {self.chart.area_name}"

    @property
    def alt(self) -> str:
        """The alternative text of the chart: its plain-English summary."""
        return f"SPC chart of {self.chart.kpi.title}. {self.chart.summary}"

    @property
    def details(self) -> str:
        """The subtitle (periods, where the limits come from) and source."""
        return f"{self.chart.text.subtitle}. {self.chart.text.source}."


@dataclass(frozen=True)
class RecommendationRow:
    """One inspection recommendation as a pack shows it (RECOMMENDATION_COLUMNS)."""

    rec_id: str
    title: str
    deadline: str
    status: str  # the displayed status in words; overdue also says what was recorded
    note: str  # the latest progress note, or NO_PROGRESS
    noted: str  # "Jane Analyst, 3 October 2025", or "" with no note
    kpis: str  # the titles of the KPIs that evidence it, each with its variation
    overdue: bool

    @property
    def heading(self) -> str:
        return f"{self.rec_id}: {self.title}"

    def progress(self, limit: int | None = None) -> str:
        """The note and who wrote it when, the note cut to ``limit`` characters."""
        note = self.note
        if limit is not None and len(note) > limit:
            note = note[:limit - 1].rstrip() + "\u2026"
        return f"{note} ({self.noted})" if self.noted else note

    def cells(self, limit: int | None = None) -> tuple[str, ...]:
        return (self.heading, self.deadline, self.status, self.progress(limit), self.kpis)


def recommendation_row(rec: RecommendationStatus, kpis: Mapping[str, KpiDefinition],
                       variation: Mapping[str, str] | None = None) -> RecommendationRow:
    """``variation``: each KPI's current variation in words, shown after its title."""
    status = rec.displayed.capitalize()
    if rec.is_overdue:
        status += f" (deadline passed; recorded as {rec.status or NOT_STARTED})"
    noted = ""
    if rec.note is not None:
        when = long_day(rec.noted_at.date()) if rec.noted_at is not None else ""
        noted = ", ".join(part for part in (rec.author or "", when) if part)
    words = variation or {}
    titles = [(kpis[k].title if k in kpis else k)
              + (f" ({words[k]})" if words.get(k) else "") for k in rec.kpi_ids]
    return RecommendationRow(rec.rec_id, rec.title, long_day(rec.deadline), status,
                             rec.note or NO_PROGRESS, noted, "; ".join(titles) or "None",
                             rec.is_overdue)


def catalogue_recommendations(ds: Dataset, today: dt.date) -> list[RecommendationStatus]:
    """The recommendations of a dataset's catalogue with no progress recorded.

    For a pack built from a bare :class:`Dataset`, which has no database to read
    progress notes from; a pack built from the service reads them.
    """
    linked: dict[str, list[str]] = {}
    for kpi in ds.kpis.values():
        for rec_id in kpi.recommendations:
            linked.setdefault(rec_id, []).append(kpi.kpi_id)
    return [RecommendationStatus(rec.rec_id, rec.title, rec.deadline,
                                 tuple(linked.get(rec.rec_id, ())), None, None, None, None,
                                 displayed_status(rec.deadline, None, today))
            for rec in sorted(ds.catalogue.recommendations, key=lambda r: r.rec_id)]


@dataclass(frozen=True)
class PackContent:
    force: str
    force_name: str
    period: dt.date
    marking: str
    demo: bool
    suppress: bool
    produced: dt.date
    headline: str  # "3 concerns, 2 targets consistently failed, 1 return not in"
    matrix: PackTable
    exceptions: PackTable
    charts: list[PackChart]
    other_kpis: PackTable | None
    recommendations: PackTable | None
    definitions: PackTable
    kpis: list[KpiDefinition]
    kind: str = PACK_TITLE  # what the pack is: a board pack, a scrutiny pack
    full: bool = False
    author: str = ""
    notes: list[str] = field(default_factory=list)
    #: The matrix's Making Data Count icons (variation, assurance) as data URIs, row by
    #: row ("" for none), drawn beside their words where a format can.
    icons: list[tuple[str, str]] = field(default_factory=list)
    #: Commentary on KPIs without a chart page (KPI, commentary), or None.
    commentary: PackTable | None = None

    @property
    def period_label(self) -> str:
        return long_month(self.period)

    @property
    def title(self) -> str:
        return f"{self.kind}: {self.force_name}, {self.period_label}"

    @property
    def subject(self) -> str:
        return (f"{self.kind} for {self.force_name}: the National Operating Model flight "
                f"deck's KPIs to {self.period_label}")

    def title_lines(self) -> list[str]:
        """What the summary page says under its title."""
        lines = [f"Produced {long_day(self.produced)}. Protective marking: {self.marking}."]
        if self.demo:
            lines.append(f"Demonstration data: {DEMO_LABEL.split('– ', 1)[-1]}.")
        if self.suppress:
            lines.append(f"Disclosure control applied: small counts and figures that "
                         f"would reveal them are shown as {SUPPRESSED_LABEL}.")
        lines.append(f"What needs attention: {self.headline}.")
        return lines

    @property
    def footer(self) -> str:
        return (f"{self.force_name}, {self.period_label}"
                + ("  |  Demonstration data" if self.demo else ""))

    def tables(self) -> list[PackTable]:
        """Every table, in number order."""
        return [t for t in (self.matrix, self.exceptions, self.other_kpis, self.commentary,
                            self.recommendations, self.definitions) if t is not None]

    def list_of_figures(self) -> list[str]:
        return [c.caption for c in self.charts]

    def list_of_tables(self) -> list[str]:
        return [t.label for t in self.tables()]


# --- gathering ---------------------------------------------------------------------------


def select_kpis(ds: Dataset, pillars: Sequence[int] | None = None,
                kpis: Sequence[str] | None = None) -> list[KpiDefinition]:
    """Published KPIs in catalogue order: those named (else all), in the pillars named."""
    if kpis:
        unknown = [k for k in kpis if k not in ds.kpis]
        if unknown:
            raise KeyError(f"unknown or unpublished KPI(s): {', '.join(unknown)}")
    if pillars:
        known = {p.number for p in ds.catalogue.pillars}
        unknown_pillars = [str(p) for p in pillars if p not in known]
        if unknown_pillars:
            raise KeyError(f"unknown pillar(s): {', '.join(unknown_pillars)}")
    chosen = [k for k in ds.kpis.values()
              if (not kpis or k.kpi_id in kpis) and (not pillars or k.pillar in pillars)]
    if not chosen:
        raise KeyError("no published KPI matches the pillars and KPIs chosen")
    return sorted(chosen, key=lambda k: (k.pillar, k.position))


def column_widths(columns: Sequence[str], rows: Sequence[Sequence[str]],
                  capacity: int = 100, extra: Mapping[int, int] | None = None
                  ) -> tuple[float, ...]:
    """Each column's share of a table's width, sized to its content.

    A table line holds about ``capacity`` characters. A column of short entries (22
    characters or fewer, such as a period or a value) gets room for its longest entry,
    so it never wraps; the columns of long text share what is left, in proportion to the
    square root of their length, never narrower than their longest word (so no word is
    broken, as "percentag e" was). ``extra``: characters' worth of room to add to a
    column (for an icon drawn beside its words).
    """
    padding = extra or {}
    longest, words, lengths = [], [], []
    for c, heading in enumerate(columns):
        body = [row[c] for row in rows]
        texts = [heading, *body]
        words.append(max((len(w) for t in texts for w in t.split()), default=1) + 1
                     + padding.get(c, 0))
        longest.append(max((len(t) for t in body), default=len(heading)) + 1
                       + padding.get(c, 0))
        lengths.append(sum(len(t) for t in body) / max(len(body), 1))
    short = [c for c in range(len(columns)) if longest[c] <= 22 + padding.get(c, 0)]
    # A short column gets two characters more than its longest entry: a cell's margins.
    needs = [float(max(longest[c], words[c]) + 2) if c in short else float(words[c])
             for c in range(len(columns))]
    spare = capacity - sum(needs)
    long_columns = [c for c in range(len(columns)) if c not in short]
    if spare > 0 and long_columns:
        weights = {c: max(lengths[c], 1.0) ** 0.5 for c in long_columns}
        total = sum(weights.values())
        for c in long_columns:
            needs[c] += spare * weights[c] / total
    whole = sum(needs) or 1.0
    return tuple(n / whole for n in needs)


def _table(number: int, caption: str, columns: tuple[str, ...], rows: list[tuple[str, ...]],
           groups: frozenset[int] = frozenset(), bold: frozenset[tuple[int, int]] = frozenset(),
           note: str = "", capacity: int = 150, extra: Mapping[int, int] | None = None
           ) -> PackTable:
    body = [r for i, r in enumerate(rows) if i not in groups]
    return PackTable(number, caption, columns, rows,
                     column_widths(columns, body, capacity, extra), groups, bold, note,
                     tuple(sorted((extra or {}).items())))


def _variation_words(kpi: KpiDefinition, row: Mapping[str, Any] | None) -> str:
    if row is None:
        return "no data"
    if "variation" in hidden_columns(parse_parts(row.get("suppressed_parts"))):
        return SUPPRESSED_LABEL
    if is_missing(row.get("variation")) or is_missing(row.get("value")):
        return "\u2014"
    return variation_phrase(row.get("variation"))


def matrix_row(line: GlanceRow) -> tuple[str, ...]:
    """A row of the matrix: the icons' words short (the icon is beside them where the
    format can draw it), a provisional quarter marked "p" (the table's note says so)."""
    kpi, row = line.kpi, line.row
    variation, assurance = short_words(line.variation, "No SPC"), short_words(line.assurance)
    if row is None:
        return (kpi.title, "", "no data", comparator_text(line), variation, assurance)
    period = short_period(kpi, row["period_start"]) + (" p" if row.get("provisional") else "")
    if line.missing:
        period += " (late)"
    return (kpi.title, period,
            compact_value(kpi, row.get("value"), bool(row.get("suppressed"))),
            comparator_text(line), variation, assurance)


def table_row(kpi: KpiDefinition, row: Mapping[str, Any] | None) -> tuple[str, ...]:
    """A row of the other KPIs' table (TABLE_COLUMNS): hidden figures read [c]."""
    if row is None:
        return (kpi.title, "", "no data", "not available", "no data", "")
    withheld = hidden_columns(parse_parts(row.get("suppressed_parts")))
    return (
        kpi.title,
        format_period(kpi, row["period_start"])
        + (f" ({PROVISIONAL_LABEL})" if row.get("provisional") else ""),
        format_value(kpi, row.get("value"), suppressed="value" in withheld),
        format_change(kpi, row.get("change"), suppressed="change" in withheld),
        format_value(kpi, row.get("national_value"), suppressed="national_value" in withheld),
        _variation_words(kpi, row),
    )


def _severity(line: GlanceRow) -> tuple[int, int]:
    """Concerns first, and among them a point beyond the limits before a run or trend."""
    rules = str((line.row or {}).get("spc_rule") or "")
    return (line.attention, 0 if "outside" in rules else 1)


def pack_content(source: Source, force: str, period: dt.date, *,
                 pillars: Sequence[int] | None = None, kpis: Sequence[str] | None = None,
                 marking: str = DEFAULT_MARKING, suppress: bool = False,
                 commentary: Mapping[str, str] | None = None,
                 images: ImageKind | None = "png",
                 progress: Progress | None = None, today: dt.date | None = None,
                 recommendations: Sequence[RecommendationStatus] | None = None,
                 groups: Sequence[tuple[str, Sequence[str]]] | None = None,
                 kind: str = PACK_TITLE, full: bool = False, author: str = "",
                 cancelled: Callable[[], None] | None = None) -> PackContent:
    """Everything a pack shows, with chart images rendered as ``images`` (None: none).

    ``groups``: (heading, KPI ids) of a scrutiny meeting, in its order (concerns, then
    failing targets, then improvements): they replace the exceptions, and their KPIs get
    the chart pages; ``kind``: what the title calls the pack. ``full``: a chart page for
    every KPI. ``commentary`` maps KPI id to the analyst's commentary for this force and
    period. ``recommendations`` defaults to the tracker's state for this force, read
    through the service (with ``today`` deciding what is overdue); a bare
    :class:`Dataset` has no progress notes. ``cancelled`` is called between steps and
    raises to stop.
    """
    today = today or dt.date.today()
    ds = dataset_of(source)
    if force not in ds.area_names:
        raise KeyError(f"unknown force: {force}")
    say = progress or (lambda _message: None)
    check = cancelled or (lambda: None)
    chosen = select_kpis(ds, pillars, kpis)
    say(f"Computing {len(chosen)} KPI(s) for {ds.area_names[force]}")
    areas = [force] + ([NATIONAL_SLUG] if force != NATIONAL_SLUG else [])
    table = cached_table(ds, [k.kpi_id for k in chosen], areas, end=period, suppress=suppress)
    own = latest_rows(table, force)
    national = at_periods(table, NATIONAL_SLUG, own) if force != NATIONAL_SLUG else {}
    expected = {k.kpi_id: period_on_or_before(ds, k.kpi_id, period) for k in chosen}
    by_pillar = glance_rows(chosen, own, national, expected)
    lines = {line.kpi.kpi_id: line for rows in by_pillar.values() for line in rows}
    check()

    # Table 1: the matrix, by pillar, attention first within each.
    matrix_rows: list[tuple[str, ...]] = []
    icons: list[tuple[str, str]] = []
    pillar_rows: set[int] = set()
    for pillar in ds.catalogue.pillars:
        rows = by_pillar.get(pillar.number, [])
        if not rows:
            continue
        pillar_rows.add(len(matrix_rows))
        matrix_rows.append((f"{pillar.number}. {pillar.name}",) + ("",) * 5)
        icons.append(("", ""))
        matrix_rows += [matrix_row(line) for line in rows]
        icons += [(line.variation.data_uri, line.assurance.data_uri if line.assurance else "")
                  for line in rows]
    matrix = _table(1, f"Every KPI at a glance, latest period on or before "
                       f"{long_month(period)}", MATRIX_COLUMNS, matrix_rows,
                    frozenset(pillar_rows), note=MATRIX_NOTE, capacity=100,
                    extra={4: 3, 5: 3})
    every = [line for rows in by_pillar.values() for line in rows]
    concerns = sum(line.concern for line in every)
    failing = sum(line.failing and not line.concern for line in every)
    missing = sum(line.missing for line in every)
    headline = (f"{concerns} special-cause concern{'s' if concerns != 1 else ''}, "
                f"{failing} target{'s' if failing != 1 else ''} consistently failed, "
                f"{missing} return{'s' if missing != 1 else ''} not in")

    # The exceptions, and the KPIs whose charts follow.
    if groups:
        flagged = [(heading, k) for heading, ids in groups for k in ids if k in lines]
    else:
        ranked = sorted((line for line in every if line.attention <= MISSING), key=_severity)
        flagged = [(WHY[line.attention], line.kpi.kpi_id) for line in ranked]
    if full:
        charted = [k for _, k in flagged] + [k.kpi_id for k in chosen
                                             if k.kpi_id not in {i for _, i in flagged}]
    else:
        drawable = [k for why, k in flagged if why != WHY[MISSING]]
        charted = drawable[:MAX_EXCEPTION_CHARTS]
    by_kpi = {kpi_id: rows for kpi_id, rows in
              area_rows(table, force).groupby("kpi", sort=False)}
    empty = table.iloc[0:0]
    exports = {k: spc_export(source, k, force, period, marking=marking, suppress=suppress,
                             series=by_kpi.get(k, empty)) for k in charted}
    number_of = {k: i for i, k in enumerate(charted, start=1)}
    summaries = {k: spc_export(source, k, force, period, marking=None, suppress=suppress,
                               series=by_kpi.get(k, empty)).summary
                 if k not in exports else exports[k].summary for _, k in flagged}
    exception_rows = []
    late = [k for why, k in flagged if why == WHY[MISSING]]
    for why, kpi_id in flagged:
        if why == WHY[MISSING] and len(late) > MISSING_ROWS:
            continue
        summary = summaries[kpi_id]
        if kpi_id in number_of:
            summary += f" (Figure {number_of[kpi_id]})"
        exception_rows.append((ds.kpis[kpi_id].title, why, summary))
    if len(late) > MISSING_ROWS:
        # Many returns not in (a force's return not yet loaded): one row, not a page each.
        exception_rows.append((
            f"{len(late)} KPIs", WHY[MISSING],
            f"No figure for {long_month(period)} yet; the latest figure is shown in the "
            f"summary. KPIs: " + "; ".join(ds.kpis[k].title for k in late) + "."))
    exceptions = _table(2, "What needs attention, most severe first", EXCEPTION_COLUMNS,
                        exception_rows)
    check()

    images_of: dict[str, bytes] = {}
    drawable_exports = [k for k in charted if exports[k].figure is not None]
    if images and drawable_exports:
        say(f"Drawing {len(drawable_exports)} chart(s)")
        from kpis.exports.render import render_many

        drawn = render_many([exports[k].figure for k in drawable_exports],  # type: ignore[misc]
                            images, width=PRINT_WIDTH, height=PRINT_HEIGHT,
                            scale=PNG_SCALE if images == "png" else 1, marking=marking,
                            print_size=True)
        images_of = dict(zip(drawable_exports, drawn, strict=True))
        check()
    notes = commentary or {}
    charts = [PackChart(number_of[k], exports[k],
                        next((why for why, i in flagged if i == k), ""),
                        (notes.get(k) or "").strip(), images_of.get(k)) for k in charted]

    number = 3
    rest = [k for k in chosen if k.kpi_id not in number_of]
    other_kpis = None
    if rest:
        other_kpis = _table(number, "Every other KPI: latest value, change and variation",
                            TABLE_COLUMNS, [table_row(k, own.get(k.kpi_id)) for k in rest],
                            note="Change is on the same period a year earlier; variation is "
                                 "the SPC reading of the latest point.")
        number += 1
    # Commentary written on a KPI without a chart page is kept, in the appendix.
    remarks = [(k.title, (notes.get(k.kpi_id) or "").strip()) for k in rest
               if (notes.get(k.kpi_id) or "").strip()]
    commentary_table = None
    if remarks:
        commentary_table = _table(number, f"Commentary on the other KPIs, "
                                          f"{long_month(period)}", COMMENTARY_COLUMNS, remarks)
        number += 1

    if recommendations is None:
        tracker = getattr(source, "recommendation_status", None)
        recommendations = (_force_recommendations(tracker, today, force)
                           if tracker is not None else catalogue_recommendations(ds, today))
    words = {k: line.variation.name for k, line in lines.items()}
    recs = [recommendation_row(r, ds.kpis, words) for r in recommendations]
    recommendation_table = None
    if recs:
        recommendation_table = _table(
            number, f"{RECOMMENDATIONS_HEADING}: status on {long_day(today)}",
            RECOMMENDATION_COLUMNS, [r.cells(NOTE_LIMIT) for r in recs],
            bold=frozenset((i, 2) for i, r in enumerate(recs) if r.overdue),
            note="A recommendation is overdue when its deadline has passed and its work is "
                 "not recorded as complete. The latest progress note is shown with who "
                 "recorded it and when.")
        number += 1
    definitions = _table(number, DEFINITIONS_HEADING, DEFINITION_COLUMNS,
                         [_definition_row(k) for k in chosen])
    notes_text = [SPC_NOTE, ICON_NOTE] + ([SUPPRESSION_TEXT] if suppress else [])
    return PackContent(force, ds.area_names[force], period, marking, ds.is_demo, suppress,
                       today, headline, matrix, exceptions, charts, other_kpis,
                       recommendation_table, definitions, chosen, kind, full,
                       author or f"{ds.area_names[force]}: NOM flight deck", notes_text,
                       icons, commentary_table)


def _force_recommendations(tracker: Callable[..., Sequence[RecommendationStatus]],
                           today: dt.date, force: str) -> Sequence[RecommendationStatus]:
    """The tracker's state for this force (its own progress notes)."""
    try:
        return tracker(today, area=force)
    except TypeError:  # a tracker without per-force progress
        return tracker(today)


def _definition_row(kpi: KpiDefinition) -> tuple[str, str, str, str]:
    unit = {"percent": "per cent", "per_100k": "per 100,000 population",
            "ratio": "ratio"}.get(kpi.unit, kpi.unit.replace("_", " "))
    return (kpi.title, kpi.description, kpi.source,
            f"{unit}; {kpi.periodicity} (version {kpi.version})")

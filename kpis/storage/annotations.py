"""Analysts' annotations: the recommendations tracker and KPI commentary.

Both are kept as history: every status change or commentary edit is a new row, and
the latest row is the current one. Writes go through the store's one write path
(``Store.write``); reads take a connection or a ``Store``. Opening a database written
before these tables existed upgrades it, which creates them; reads still treat a
missing table as empty, for a connection to a file nobody has opened through a store.

Recommendation progress is kept per force: each force records its own status and
notes, and a national note (area england-and-wales) speaks for England and Wales. A
force's status is its own latest row ("not started" when it has recorded nothing),
shown with the latest national note beside it.

The displayed status of a recommendation is computed, never stored: "overdue" when
its deadline has passed and its latest recorded status is not "complete".
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from kpis.domain.periods import parse_month
from kpis.settings import NATIONAL_SLUG
from kpis.storage import schema
from kpis.storage.backend import ANNOTATION_VERSION_KEY, Store, has_table, open_store

NOT_STARTED = "not started"
IN_PROGRESS = "in progress"
COMPLETE = "complete"
OVERDUE = "overdue"
STATUSES = (NOT_STARTED, IN_PROGRESS, COMPLETE)
MAX_TEXT = 2000
MAX_AUTHOR = 100

Source = sa.Connection | Store
#: Called in an annotation's write transaction with a description of what was written
#: (the service records its audit row there, where the store allows).
Audit = Callable[[sa.Connection, str], None]


@dataclass(frozen=True)
class RecommendationStatus:
    """One recommendation with its linked KPIs, latest progress and displayed status.

    ``status``, ``note``, ``author`` and ``noted_at`` are the latest row ``area``
    recorded (a force, or england-and-wales for the national notes); ``national_*``
    are the latest national row's, whatever the area (for the national area, the same
    as the area's own).
    """

    rec_id: str
    title: str
    deadline: dt.date
    kpi_ids: tuple[str, ...]
    status: str | None  # latest recorded status, None if never recorded
    note: str | None
    author: str | None
    noted_at: dt.datetime | None
    displayed: str  # overdue | not started | in progress | complete
    area: str = NATIONAL_SLUG
    national_status: str | None = None
    national_note: str | None = None
    national_author: str | None = None
    national_noted_at: dt.datetime | None = None

    @property
    def is_overdue(self) -> bool:
        return self.displayed == OVERDUE


@dataclass(frozen=True)
class Commentary:
    """An analyst's commentary on a KPI for an area and period."""

    comment_id: int
    kpi_id: str
    area: str
    period_start: dt.date
    text: str
    author: str
    written_at: dt.datetime


# --------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _connection(source: Source) -> Iterator[sa.Connection]:
    if isinstance(source, Store):
        with source.connect() as conn:
            yield conn
    else:
        yield source


def _rows(source: Source, table: sa.Table, query: sa.Select) -> list[sa.Row]:
    """The rows ``query`` reads from ``table``: none while the table does not exist."""
    with _connection(source) as conn:
        return conn.execute(query).all() if has_table(conn, table.name) else []


def _annotation_write(store: Store, area: str
                      ) -> contextlib.AbstractContextManager[sa.Connection]:
    """A write of one area's annotations: it bumps the annotation version (the dataset
    is kept; pages are drawn again) and waits only for other annotations of the same
    area (and for writes of the whole database), not for anyone's load."""
    return store.write(area=f"annotations:{area}", version=ANNOTATION_VERSION_KEY)


def _known(conn: sa.Connection, column: sa.Column, value: str) -> bool:
    """Whether ``column``'s table holds a row with ``value`` in it."""
    return bool(conn.execute(sa.select(sa.func.count()).select_from(column.table)
                             .where(column == value)).scalar())


def _clean_text(value: object, what: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must not be empty")
    text = value.strip()
    if len(text) > limit:
        raise ValueError(f"{what} is {len(text):,} characters; the limit is {limit:,}")
    return text


def month_of(period_start: dt.date | str) -> dt.date:
    """The month a period names, as commentary is kept under it (its first day)."""
    if isinstance(period_start, dt.datetime):
        period_start = period_start.date()
    if isinstance(period_start, dt.date):
        return period_start.replace(day=1)
    try:
        return parse_month(str(period_start))
    except ValueError:
        raise ValueError(f"period must be a month (YYYY-MM), not {period_start!r}") from None


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now().replace(microsecond=0)


def displayed_status(deadline: dt.date, status: str | None, today: dt.date) -> str:
    """The status to show: overdue past the deadline unless complete."""
    current = status or NOT_STARTED
    if current != COMPLETE and today > deadline:
        return OVERDUE
    return current


# --------------------------------------------------------------------- recommendations


def record_progress(db_path: Path, rec_id: str, status: str, note: str, author: str,
                    now: dt.datetime | None = None, area: str = NATIONAL_SLUG,
                    audit: Audit | None = None) -> int:
    """Record a dated status and progress note on a recommendation for ``area`` (a
    force's slug, or england-and-wales for a national note); return its id.

    Raises ValueError for an unknown recommendation or area, a bad status (including
    "overdue", which is computed from the deadline), an empty or over-long note or
    an empty author. Nothing is written when it raises.
    """
    if status == OVERDUE:
        raise ValueError('"overdue" is worked out from the deadline; choose one of '
                         + ", ".join(STATUSES))
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    note = _clean_text(note, "The progress note")
    author = _clean_text(author, "The author", MAX_AUTHOR)
    rec_id = (rec_id or "").strip()
    area = (area or "").strip() if isinstance(area, str) else ""
    with open_store(db_path) as store, _annotation_write(store, area) as conn:
        if not _known(conn, schema.recommendations.c.rec_id, rec_id):
            raise ValueError(f"unknown recommendation {rec_id!r}")
        _check_area(conn, area)
        table = schema.recommendation_progress
        progress_id = int(conn.execute(
            sa.insert(table).values(rec_id=rec_id, area=area, status=status, note=note,
                                    author=author, noted_at=_now(now))
            .returning(table.c.progress_id)
        ).scalar_one())
        if audit is not None:
            audit(conn, f"{rec_id} for {area}: {status} (note {progress_id})")
        return progress_id


def _check_area(conn: sa.Connection, area: str) -> None:
    """Progress is a force's own or national: never a region's or a peer group's."""
    forces = schema.forces
    known = conn.execute(sa.select(sa.func.count()).select_from(forces).where(
        forces.c.slug == area, forces.c.kind.in_(("force", "national")))).scalar()
    if not known:
        raise ValueError(f"unknown force {area!r}: progress is recorded for a force or "
                         f"for England and Wales ({NATIONAL_SLUG})")


def _linked_kpis(conn: sa.Connection) -> dict[str, list[str]]:
    """rec_id -> KPI ids linked by each KPI's latest published version, catalogue order."""
    defs = schema.kpi_definitions
    latest = (
        sa.select(defs.c.kpi_id, sa.func.max(defs.c.version).label("version"))
        .where(defs.c.status == "published").group_by(defs.c.kpi_id).subquery()
    )
    links = schema.kpi_recommendations
    rows = conn.execute(
        sa.select(links.c.rec_id, links.c.kpi_id)
        .join(latest, sa.and_(latest.c.kpi_id == links.c.kpi_id,
                              latest.c.version == links.c.version))
        .join(defs, sa.and_(defs.c.kpi_id == links.c.kpi_id,
                            defs.c.version == links.c.version))
        .order_by(defs.c.position)
    )
    linked: dict[str, list[str]] = {}
    for row in rows:
        linked.setdefault(row.rec_id, []).append(row.kpi_id)
    return linked


def progress_history(source: Source, rec_id: str | None = None, area: str | None = None
                     ) -> list[dict[str, object]]:
    """Every recorded progress row, newest first (optionally for one recommendation,
    and for one area: a force, or england-and-wales for the national notes)."""
    table = schema.recommendation_progress
    query = sa.select(table).order_by(table.c.progress_id.desc())
    if rec_id is not None:
        query = query.where(table.c.rec_id == rec_id)
    if area is not None:
        query = query.where(table.c.area == area)
    return [dict(row._mapping) for row in _rows(source, table, query)]


def recommendation_status(source: Source, today: dt.date | None = None,
                          area: str = NATIONAL_SLUG) -> list[RecommendationStatus]:
    """One row per recommendation (in id order) with ``area``'s current and displayed
    status, and the latest national note.

    ``area`` is a force's slug or england-and-wales (the national notes). A force's
    status is its own latest row, "not started" while it has recorded nothing, whatever
    the national notes say. Raises ValueError for an unknown area.
    """
    today = today or dt.date.today()
    with _connection(source) as conn:
        _check_area(conn, area)
        recs = conn.execute(sa.select(schema.recommendations)
                            .order_by(schema.recommendations.c.rec_id)).all()
        linked = _linked_kpis(conn)
        own: dict[str, sa.Row] = {}
        national: dict[str, sa.Row] = {}
        if has_table(conn, "recommendation_progress"):
            table = schema.recommendation_progress
            for row in conn.execute(sa.select(table)
                                    .where(table.c.area.in_((area, NATIONAL_SLUG)))
                                    .order_by(table.c.progress_id)):
                # Later rows replace earlier ones.
                if row.area == area:
                    own[row.rec_id] = row
                if row.area == NATIONAL_SLUG:
                    national[row.rec_id] = row
    result = []
    for rec in recs:
        progress, nation = own.get(rec.rec_id), national.get(rec.rec_id)
        status = progress.status if progress is not None else None
        result.append(RecommendationStatus(
            rec_id=rec.rec_id, title=rec.title, deadline=rec.deadline,
            kpi_ids=tuple(linked.get(rec.rec_id, ())),
            status=status,
            note=progress.note if progress is not None else None,
            author=progress.author if progress is not None else None,
            noted_at=progress.noted_at if progress is not None else None,
            displayed=displayed_status(rec.deadline, status, today),
            area=area,
            national_status=nation.status if nation is not None else None,
            national_note=nation.note if nation is not None else None,
            national_author=nation.author if nation is not None else None,
            national_noted_at=nation.noted_at if nation is not None else None,
        ))
    return result


# -------------------------------------------------------------------------- commentary


def write_commentary(db_path: Path, kpi_id: str, area: str, period_start: dt.date | str,
                     text: str, author: str, now: dt.datetime | None = None,
                     audit: Audit | None = None) -> int:
    """Write (or replace) the commentary on a KPI for an area and month; return its id.

    The previous commentary is kept as history. Raises ValueError for an unknown KPI
    or area, a bad period, empty or over-long text, or an empty author.
    """
    period = month_of(period_start)
    text = _clean_text(text, "The commentary")
    author = _clean_text(author, "The author", MAX_AUTHOR)
    kpi_id = (kpi_id or "").strip()
    area = (area or "").strip()
    with open_store(db_path) as store, _annotation_write(store, area) as conn:
        if not _known(conn, schema.kpi_definitions.c.kpi_id, kpi_id):
            raise ValueError(f"unknown KPI {kpi_id!r}")
        if not _known(conn, schema.forces.c.slug, area):
            raise ValueError(f"unknown force or area {area!r}")
        table = schema.commentary
        comment_id = int(conn.execute(
            sa.insert(table).values(kpi_id=kpi_id, area=area, period_start=period, text=text,
                                    author=author, written_at=_now(now))
            .returning(table.c.comment_id)
        ).scalar_one())
        if audit is not None:
            audit(conn, f"{kpi_id} for {area}, {period:%Y-%m} (commentary {comment_id})")
        return comment_id


def _commentary(row: sa.Row) -> Commentary:
    return Commentary(row.comment_id, row.kpi_id, row.area, row.period_start, row.text,
                      row.author, row.written_at)


def commentary_history(source: Source, kpi_id: str, area: str, period_start: dt.date | str
                       ) -> list[Commentary]:
    """Every commentary written on a KPI for an area and month, newest first."""
    period = month_of(period_start)
    table = schema.commentary
    return [_commentary(row) for row in _rows(source, table, sa.select(table).where(
        table.c.kpi_id == kpi_id, table.c.area == area, table.c.period_start == period,
    ).order_by(table.c.comment_id.desc()))]


#: The most (KPI, area, month) keys :func:`commented` gives; more, and it gives None.
MOST_COMMENTED = 10_000  # some 3 MB of keys at most


def commented(source: Source, most: int = MOST_COMMENTED
              ) -> frozenset[tuple[str, str, dt.date]] | None:
    """Every (KPI, area, month) that has commentary, or None when more than ``most`` do
    (then ask :func:`commentary_for` each time). One query: a page asks for the
    commentary of its view, and most views have none (the service keeps this set per
    annotation version, so a view without commentary costs no query)."""
    table = schema.commentary
    rows = _rows(source, table, sa.select(table.c.kpi_id, table.c.area, table.c.period_start)
                 .distinct().limit(most + 1))
    if len(rows) > most:
        return None
    return frozenset((row.kpi_id, row.area, month_of(row.period_start)) for row in rows)


def commentary_for(source: Source, kpi_id: str, area: str, period_start: dt.date | str
                   ) -> Commentary | None:
    """The current (latest) commentary on a KPI for an area and month, or None."""
    history = commentary_history(source, kpi_id, area, period_start)
    return history[0] if history else None


def all_commentary(source: Source, area: str, period_start: dt.date | str) -> dict[str, str]:
    """The current commentary text of every KPI for an area and month (for exports)."""
    period = month_of(period_start)
    table = schema.commentary
    rows = _rows(source, table, sa.select(table.c.kpi_id, table.c.text).where(
        table.c.area == area, table.c.period_start == period).order_by(table.c.comment_id))
    return {row.kpi_id: row.text for row in rows}  # later rows replace earlier ones

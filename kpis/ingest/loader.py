"""Loading files: validate everything, then write all files or none, audited.

A load runs inside the store's write (``kpis.storage.backend.Store.write``): on a
private copy of the database, published by an atomic rename only when every file has
passed. A resubmitted force-month replaces the current values and moves the old ones
to ``observation_history``; ``rollback`` puts them back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from kpis.domain.periods import long_month, quarter_label
from kpis.ingest.context import IngestContext, build_context, shipped_context
from kpis.ingest.home_office import (
    ROWS_KEPT,
    is_ho_outcomes,
    is_ho_recorded,
    parse_ho_outcomes,
    parse_ho_recorded,
)
from kpis.ingest.plausibility import CELL_COLUMNS, plausibility_findings
from kpis.ingest.problems import Finding, LoadRefused, Report
from kpis.ingest.returns import is_return, parse_return
from kpis.ingest.tables import FORMULA_CELL_RULE, Table, read_table
from kpis.ingest.workbooks import WORKBOOK_SUFFIXES, read_workbook
from kpis.storage import schema
from kpis.storage.backend import Store, open_store, staged
from kpis.storage.database import initialise, is_initialised

KINDS = ("return", "ho-outcomes", "ho-recorded")
OBSERVATION_COLUMNS = ["force_slug", "measure_id", "period_start", "value"]


@dataclass
class ParsedFile:
    path: Path
    kind: str
    sha256: str
    rows: int
    observations: pd.DataFrame
    sheets: list[str] = field(default_factory=list)  # the tables read ('FILE, sheet ...')
    counted: dict[str, int] = field(default_factory=dict)  # this file's Report.counted
    ignored: dict[str, int] = field(default_factory=dict)  # this file's Report.ignored
    revisions: list[Revision] = field(default_factory=list)  # what its load changed
    # A return's observations with the row and column each came from.
    cells: pd.DataFrame | None = None


@dataclass
class LoadResult:
    load_ids: list[int] = field(default_factory=list)
    report: Report = field(default_factory=Report)
    observations: int = 0
    files: list[ParsedFile] = field(default_factory=list)


Parser = Callable[[Table, IngestContext, Report], pd.DataFrame]
#: Hears what a load is doing, step by step (a message per file and stage).
Progress = Callable[[str], None]


def quiet(message: str) -> None:
    """Progress nobody follows."""
#: Each kind of file: how its header is recognised and its parser, in the order tried.
_PARSERS: dict[str, tuple[Callable[[list[str]], bool], Parser]] = {
    "ho-outcomes": (is_ho_outcomes, parse_ho_outcomes),
    "ho-recorded": (is_ho_recorded, parse_ho_recorded),
    "return": (is_return, parse_return),  # with each value's row and column
}


def detect_kind(header: list[str]) -> str | None:
    return next((kind for kind, (matches, _) in _PARSERS.items() if matches(header)), None)


def sha256_of(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _recognised(header: list[str]) -> bool:
    return detect_kind(header) is not None


def parse_files(
    files: Sequence[Path], ctx: IngestContext, kind: str | None = None,
    progress: Progress = quiet,
) -> tuple[list[ParsedFile], Report]:
    """Read and validate every file; the report holds every finding of every file.

    ``progress(message)`` hears what is being done, file by file (the upload page shows
    it while a large workbook is read)."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    report = Report()
    parsed: list[ParsedFile] = []
    if not files:
        report.error("(no file)", None, None, None, "no files were given to load")
    contents: dict[str, str] = {}
    for number, path in enumerate(map(Path, files), start=1):
        of = f" (file {number} of {len(files)})" if len(files) > 1 else ""
        progress(f"Reading {path.name}{of}")
        start = len(report.findings)
        _parse_one(path, ctx, kind, report, parsed, contents, progress)
        report.findings[start:] = _tidy_findings(report.findings[start:])
    _check_across_files(parsed, report)
    return parsed, report


def _tidy_findings(findings: list[Finding]) -> list[Finding]:
    """One file's findings in row order (file-level first), one per formula cell.

    A formula cell is read as blank, so the column's own check would add a second,
    confusing error (a blank count, say) for the same cell: that one is dropped.
    """
    formulas = {(f.row, f.column) for f in findings if f.rule == FORMULA_CELL_RULE}
    kept = [f for f in findings
            if f.rule == FORMULA_CELL_RULE or (f.row, f.column) not in formulas]
    return sorted(kept, key=lambda f: f.row or 0)


def _parse_one(path: Path, ctx: IngestContext, kind: str | None, report: Report,
               parsed: list[ParsedFile], contents: dict[str, str],
               progress: Progress = quiet) -> None:
    if not path.is_file():
        report.error(path.name, None, None, str(path), "file not found")
        return
    digest = sha256_of(path)
    if digest in contents:
        report.error(path.name, None, None, None,
                     f"the same contents as {contents[digest]}, already in this load")
        return
    contents[digest] = path.name
    before = report.mark()
    tables = _read(path, report)
    if not tables:
        return
    kinds = [kind or detect_kind(table.header) for table in tables]
    if None in kinds or len(set(kinds)) > 1:
        table = tables[kinds.index(None)] if None in kinds else tables[-1]
        report.error(
            table.file, table.header_row, None, ", ".join(table.header),
            "cannot tell what kind of file this is: expected a monthly return "
            "(force, month, ...) or a Home Office outcomes or recorded-crime table"
            if None in kinds else
            f"a workbook holds one kind of table; this sheet is a {kinds[-1]}, "
            f"an earlier one a {kinds[0]}",
        )
        return
    file_kind = str(kinds[0])
    if file_kind == "return" and path.suffix.lower() in (".xlsx", ".xlsm"):
        # A force return (small) is read cell by cell with openpyxl, which sees every
        # kind of formula; what calamine found is dropped, so nothing is said twice.
        report.rewind(before)
        table = read_table(path, report, recognise=_recognised)
        if table is None:
            return
        tables = [table]
    start, start_ignored = dict(report.counted), dict(report.ignored)
    progress(f"Checking {sum(len(t.frame) for t in tables):,} rows of {path.name}")
    frames = [_PARSERS[file_kind][1](table, ctx, report) for table in tables]
    frames = [f for f in frames if not f.empty]
    observations = (pd.concat(frames, ignore_index=True) if len(frames) > 1
                    else frames[0] if frames else pd.DataFrame(columns=OBSERVATION_COLUMNS))
    _check_across_sheets(tables, frames, report)
    cells = None
    if file_kind == "return":
        cells = observations.assign(file=path.name).reindex(columns=CELL_COLUMNS)
        observations = observations[OBSERVATION_COLUMNS]
    parsed.append(ParsedFile(path, file_kind, digest, sum(len(t.frame) for t in tables),
                             observations, [t.file for t in tables],
                             _since(report.counted, start), _since(report.ignored,
                                                                   start_ignored),
                             cells=cells))


def _since(now: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in now.items() if v != before.get(k, 0)}


def describe(item: ParsedFile) -> str:
    """What one file held, for the load's summary.

    'outcomes.xlsx (Home Office outcomes): sheet 'Outcomes open data 2025_26'; 1,204
    rows read, 96 kept; ignored 1,100 rows for offence codes outside ...; 48 cells read
    as no count (N/A: ...); 2 negative corrections summed as published; 2025/26 Q1 to
    2025/26 Q2, 2 forces'.
    """
    sheets = [s.split(", sheet ", 1)[1][1:-1] for s in item.sheets if ", sheet " in s]
    parts = [f"sheet{'s' if len(sheets) > 1 else ''} {', '.join(sheets)}"] if sheets else []
    kept = item.counted.get(ROWS_KEPT)
    parts.append(f"{item.rows:,} rows read" + (f", {kept:,} kept" if kept is not None else ""))
    parts += [f"ignored {n:,} rows {what}" for what, n in sorted(item.ignored.items())]
    parts += [f"{n:,} {what}" for what, n in sorted(item.counted.items()) if what != ROWS_KEPT]
    frame = item.observations
    if not frame.empty:
        periods = sorted(pd.to_datetime(frame["period_start"]).dt.date.unique())
        quarterly = item.kind != "return"
        first, last = (quarter_label(p) if quarterly else long_month(p)
                       for p in (periods[0], periods[-1]))
        forces = frame["force_slug"].nunique()
        parts.append(f"{first} to {last}, {forces} force{'s' if forces != 1 else ''}")
    if item.revisions:
        withdrawn = sum(1 for r in item.revisions if r.new is None)
        parts.append(f"{len(item.revisions) - withdrawn:,} stored values revised"
                     + (f", {withdrawn:,} withdrawn" if withdrawn else ""))
    label = {"return": "monthly return", "ho-outcomes": "Home Office outcomes",
             "ho-recorded": "Home Office recorded crime"}[item.kind]
    return f"{item.path.name} ({label}): " + "; ".join(parts)


def _read(path: Path, report: Report) -> list[Table]:
    """The file's tables: a CSV's one, or every recognised sheet of a workbook."""
    if path.suffix.lower() in WORKBOOK_SUFFIXES:
        before = report.error_count
        tables = read_workbook(path, report, _recognised)
        if not tables and report.error_count == before:
            report.error(path.name, None, None, None,
                         "no sheet of this workbook has a header this program knows: "
                         "expected a monthly return or a Home Office outcomes or "
                         "recorded-crime table")
        return tables
    table = read_table(path, report, recognise=_recognised)
    return [table] if table is not None else []


def _check_across_sheets(tables: list[Table], frames: list[pd.DataFrame],
                         report: Report) -> None:
    """Two sheets of one workbook may not supply the same force, measure and period."""
    if len(frames) < 2:
        return
    keys = ["force_slug", "measure_id", "period_start"]
    both = pd.concat([f[keys].assign(sheet=t.file) for t, f in zip(tables, frames,
                                                                    strict=False)])
    clashes = both[both.duplicated(subset=keys, keep=False)]
    if clashes.empty:
        return
    example = clashes.iloc[0]
    sheets = [t.file for t in tables if t.file in set(clashes["sheet"])]  # workbook order
    report.error(sheets[-1], None, None, f"{example['force_slug']} {example['measure_id']} "
                 f"{example['period_start']}",
                 f"{len(clashes) // 2} value(s) for the same force, measure and period are "
                 f"also supplied by {sheets[0]}")


def _check_across_files(parsed: list[ParsedFile], report: Report) -> None:
    """Two files in one load may not both supply the same force, measure and period."""
    if len(parsed) < 2:
        return
    frames = [
        item.observations[["force_slug", "measure_id", "period_start"]].assign(file=item.path.name)
        for item in parsed if not item.observations.empty
    ]
    if len(frames) < 2:
        return
    keys = ["force_slug", "measure_id", "period_start"]
    both = pd.concat(frames, ignore_index=True)
    first = both.drop_duplicates(subset=keys, keep="first").set_index(keys)["file"]
    clashes = both[both.duplicated(subset=keys, keep="first")]
    for (file, other), group in clashes.assign(
        other=first.loc[pd.MultiIndex.from_frame(clashes[keys])].to_numpy()
    ).groupby(["file", "other"], sort=False):
        example = group.iloc[0]
        report.error(
            file, None, None, f"{example['force_slug']} {example['measure_id']} "
            f"{example['period_start']}",
            f"{len(group)} value(s) for the same force, measure and period are also "
            f"supplied by {other} in this load: load one or the other",
        )


def check_plausibility(conn: sa.Connection, parsed: Sequence[ParsedFile], ctx: IngestContext,
                       report: Report) -> None:
    """Add the plausibility warnings of the returns in ``parsed`` to ``report``
    (:mod:`kpis.ingest.plausibility`): only for files that passed, as a value refused
    or passed over would be reported again as a doubt."""
    if report.errors:
        return
    returns = [item.cells for item in parsed if item.cells is not None and len(item.cells)]
    if not returns:
        return
    others = [item.observations for item in parsed
              if item.cells is None and not item.observations.empty]
    for finding in plausibility_findings(
            conn, pd.concat(returns, ignore_index=True), ctx,
            pd.concat(others, ignore_index=True) if others else None):
        report.add(finding)


def _already_loaded(conn: sa.Connection, parsed: list[ParsedFile], report: Report) -> None:
    """Warn (not refuse) when a file's exact contents were loaded before."""
    for item in parsed:
        earlier = conn.execute(
            sa.select(schema.loads.c.load_id, schema.loads.c.file_name, schema.loads.c.loaded_at)
            .where(schema.loads.c.sha256 == item.sha256)
            .where(schema.loads.c.status == "loaded")
            .order_by(schema.loads.c.load_id.desc())
        ).first()
        if earlier is not None:
            report.warning(
                item.path.name, None, None, item.sha256[:12],
                f"the same contents were loaded before as load {earlier.load_id} "
                f"({earlier.file_name}, {earlier.loaded_at:%Y-%m-%d %H:%M}); "
                "loading again changes nothing but the audit trail",
            )


def load_files(
    db_path: Path,
    files: Sequence[Path],
    kind: str | None = None,
    user: str | None = None,
    now: dt.datetime | None = None,
    today: dt.date | None = None,
    before_publish: Callable[[sa.Connection], None] | None = None,
    load_times: Sequence[dt.datetime] | None = None,
    progress: Progress = quiet,
    audit: Callable[[sa.Connection, LoadResult], None] | None = None,
) -> LoadResult:
    """Validate and load ``files`` into the database at ``db_path``: all or nothing.

    ``audit(conn, result)`` runs in the load's transaction once everything is written
    (the service records the load's audit row there, where the store allows).

    ``load_times`` (one per file) records when each file arrived, for building a
    history such as the demonstration's; by default every file is loaded ``now``.
    Raises LoadRefused (nothing written) when any file has an error.
    """
    if load_times is not None and len(load_times) != len(files):
        raise ValueError("load_times needs one time per file")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    now = now or dt.datetime.now().replace(microsecond=0)
    user = user or getpass.getuser()
    today = today or now.date()
    with open_store(db_path) as store:
        # Parse and validate before taking any lock (a year's workbook takes some 20 s):
        # other loads write meanwhile. The context is checked again under the lock.
        ctx = _published_context(store, today)
        parsed: list[ParsedFile] = []
        report = Report()
        if ctx is not None:  # else the write creates the database, then reads the files
            parsed, report = parse_files(files, ctx, kind, progress)
            if report.errors:
                raise LoadRefused(report)
        with store.write(area=_area_of(parsed) if ctx is not None else None) as conn:
            result = _write_load(conn, files, parsed, report, ctx, kind, user, now, today,
                                 before_publish, load_times, progress)
            if audit is not None:
                audit(conn, result)
    return result


def _published_context(store: Store, today: dt.date) -> IngestContext | None:
    """The context of the published database; None when it has not been created (the
    load creates it, under the whole database's lock)."""
    if not store.exists():
        return None
    with store.connect() as conn:
        return build_context(conn, today=today) if is_initialised(conn) else None


def _area_of(parsed: Sequence[ParsedFile]) -> str | None:
    """The one force whose returns these files are, if they are (its own lock); None
    for anything else (a Home Office table, several forces: the whole database's)."""
    forces = {str(slug) for item in parsed if item.kind == "return"
              for slug in item.observations["force_slug"].unique()}
    if len(forces) == 1 and all(item.kind == "return" for item in parsed):
        return forces.pop()
    return None


def _write_load(conn: sa.Connection, files: Sequence[Path], parsed: list[ParsedFile],
                report: Report, ctx: IngestContext | None, kind: str | None, user: str,
                now: dt.datetime, today: dt.date,
                before_publish: Callable[[sa.Connection], None] | None,
                load_times: Sequence[dt.datetime] | None, progress: Progress) -> LoadResult:
    """The load's writes, in the write transaction (holding its lock)."""
    result = LoadResult()
    if not is_initialised(conn):
        initialise(conn)
    current = build_context(conn, today=today)
    if current != ctx:
        # Created just now, or the catalogue or forces changed since the files were
        # read: read them again against what is stored now.
        parsed, report = parse_files(files, current, kind, progress)
    ctx = current
    result.report, result.files = report, parsed
    if not report.errors:
        check_plausibility(conn, parsed, ctx, report)
        _already_loaded(conn, parsed, report)
    if report.errors:
        raise LoadRefused(report)
    arrived = dict(zip(map(Path, files), load_times or [now] * len(files), strict=True))
    for item in parsed:
        progress(f"Writing {len(item.observations):,} values from {item.path.name}")
        warnings = sum(1 for w in report.warnings if w.file == item.path.name)
        load_id = _record_load(conn, item, user, arrived.get(item.path, now), warnings)
        observations = item.observations
        if item.kind == "return":
            observations = with_completeness(conn, observations, ctx)
        # A Home Office release republishes whole years: what it no longer holds
        # for a force and year it covers is withdrawn.
        item.revisions = _revisions(conn, observations, load_id,
                                    release=item.kind != "return")
        _apply(conn, observations, load_id)
        result.load_ids.append(load_id)
        result.observations += len(observations)
    if before_publish is not None:
        before_publish(conn)
    return result


@dataclass(frozen=True)
class Revision:
    """A stored value a load changed: ``new`` None when the release withdrew it."""

    force_slug: str
    measure_id: str
    period_start: dt.date
    old: float
    new: float | None
    quarterly: bool = True  # a Home Office quarter, or a return's month

    def __str__(self) -> str:
        when = quarter_label(self.period_start) if self.quarterly else (
            long_month(self.period_start))
        new = "withdrawn" if self.new is None else f"{self.new:g}"
        return f"{self.force_slug} {self.measure_id} {when}: {self.old:g} -> {new}"


_FINANCIAL_YEAR = ("CASE WHEN EXTRACT(MONTH FROM {0}) >= 4 THEN EXTRACT(YEAR FROM {0}) "
                   "ELSE EXTRACT(YEAR FROM {0}) - 1 END")
# The stored values a Home Office release (registered as ``release``) withdraws: those of
# its measures, forces and financial years that it no longer holds.
_WITHDRAWN = (
    "FROM observations o WHERE o.measure_id IN (SELECT measure_id FROM release) "
    f"AND (o.force_slug, {_FINANCIAL_YEAR.format('o.period_start')}) IN (SELECT force_slug, "
    f"{_FINANCIAL_YEAR.format('period_start')} FROM release) AND NOT EXISTS (SELECT 1 FROM "
    "release r WHERE r.force_slug = o.force_slug AND r.measure_id = o.measure_id "
    "AND r.period_start = o.period_start)")


#: The column types of observations staged for SQL (kpis.storage.backend.staged).
_STAGED_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "force_slug": sa.String(), "measure_id": sa.String(), "period_start": sa.Date(),
    "value": sa.Float(),
}


def _incoming(observations: pd.DataFrame) -> pd.DataFrame:
    incoming = observations[OBSERVATION_COLUMNS].copy()
    incoming["period_start"] = pd.to_datetime(incoming["period_start"]).dt.date
    incoming["value"] = incoming["value"].astype(float)
    return incoming


def _registered(conn: sa.Connection, observations: pd.DataFrame
                ) -> contextlib.AbstractContextManager[None]:
    """``observations`` as the table ``release`` while the block runs."""
    return staged(conn, "release", _incoming(observations), _STAGED_TYPES)


def compare_with_stored(conn: sa.Connection, observations: pd.DataFrame, release: bool
                        ) -> pd.DataFrame:
    """What loading ``observations`` would do, read-only: each value beside the stored
    value it replaces (``old`` NaN: a value added) and, for a Home Office ``release``,
    each stored value it withdraws (``new`` NaN). Columns force_slug, measure_id,
    period_start (a date), old, new; sorted."""
    columns = ["force_slug", "measure_id", "period_start", "old", "new"]
    if observations.empty:
        return pd.DataFrame(columns=columns)
    with _registered(conn, observations):
        rows = conn.exec_driver_sql(
            "SELECT r.force_slug, r.measure_id, r.period_start, o.value, r.value "
            "FROM release r LEFT JOIN observations o "
            "USING (force_slug, measure_id, period_start)").fetchall()
        if release:
            rows += conn.exec_driver_sql(
                f"SELECT o.force_slug, o.measure_id, o.period_start, o.value, NULL "
                f"{_WITHDRAWN}").fetchall()
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("old", "new"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame.sort_values(columns[:3]).reset_index(drop=True)


def _revisions(conn: sa.Connection, observations: pd.DataFrame, load_id: int,
               release: bool) -> list[Revision]:
    """The stored values ``observations`` change; for a Home Office ``release``
    (quarterly, republishing whole years) also those of the same measures, forces and
    financial years that it no longer holds: moved to the history (so a rollback
    restores them) and deleted."""
    if observations.empty:
        return []
    compared = compare_with_stored(conn, observations, release)
    revised = compared[compared["old"].notna()
                       & (compared["new"].isna() | (compared["old"] != compared["new"]))]
    if release and revised["new"].isna().any():
        with _registered(conn, observations):
            conn.exec_driver_sql(
                "INSERT INTO observation_history SELECT o.force_slug, o.measure_id, "
                f"o.period_start, o.value, o.load_id, {int(load_id)} {_WITHDRAWN}")
            conn.exec_driver_sql(
                f"DELETE FROM observations WHERE (force_slug, measure_id, period_start) "
                f"IN (SELECT o.force_slug, o.measure_id, o.period_start {_WITHDRAWN})")
    return [Revision(str(f), str(m), p, float(old), None if pd.isna(new) else float(new),
                     quarterly=release)
            for f, m, p, old, new in revised.itertuples(index=False, name=None)]


def _record_load(conn: sa.Connection, item: ParsedFile, user: str, now: dt.datetime,
                 warnings: int) -> int:
    return int(conn.execute(
        sa.insert(schema.loads).returning(schema.loads.c.load_id),
        [{"file_name": item.path.name, "sha256": item.sha256, "kind": item.kind,
          "rows": item.rows, "loaded_by": user, "loaded_at": now, "status": "loaded",
          "warnings": warnings}],
    ).scalar_one())


def _apply(conn: sa.Connection, observations: pd.DataFrame, load_id: int) -> None:
    """Upsert observations, moving any value they replace into the history table."""
    if observations.empty:
        return
    load = int(load_id)
    with staged(conn, "incoming_observations", _incoming(observations), _STAGED_TYPES):
        conn.exec_driver_sql(
            "INSERT INTO observation_history "
            f"SELECT o.force_slug, o.measure_id, o.period_start, o.value, o.load_id, {load} "
            "FROM observations o JOIN incoming_observations i "
            "USING (force_slug, measure_id, period_start)")
        conn.exec_driver_sql(
            "DELETE FROM observations o USING incoming_observations i "
            "WHERE o.force_slug = i.force_slug AND o.measure_id = i.measure_id "
            "AND o.period_start = i.period_start"
        )
        conn.exec_driver_sql(
            "INSERT INTO observations "
            "SELECT force_slug, measure_id, CAST(period_start AS DATE), value, "
            f"{load} FROM incoming_observations")


def with_completeness(conn: sa.Connection, observations: pd.DataFrame,
                      ctx: IngestContext) -> pd.DataFrame:
    """Add the computed completeness measures for every force-month the return touches.

    Completeness counts what the database will hold after this load, so a return that
    fills in a missing measure later raises the month's completeness.
    """
    if observations.empty:
        return observations
    months = observations[["force_slug", "period_start"]].drop_duplicates()
    needed = set(ctx.return_measures)
    existing = pd.DataFrame(
        conn.execute(
            sa.select(schema.observations.c.force_slug, schema.observations.c.measure_id,
                      schema.observations.c.period_start)
            .where(schema.observations.c.measure_id.in_(sorted(needed)))
            .where(schema.observations.c.force_slug.in_(sorted(set(months["force_slug"]))))
            .where(schema.observations.c.period_start.in_(sorted(set(months["period_start"]))))
        ).fetchall(),
        columns=["force_slug", "measure_id", "period_start"],
    )
    held = pd.concat(
        [existing, observations[["force_slug", "measure_id", "period_start"]]]
    ).drop_duplicates()
    held = held[held["measure_id"].isin(needed)]
    held = held.merge(months, on=["force_slug", "period_start"])
    supplied = held.groupby(["force_slug", "period_start"]).size().rename("supplied")
    counts = months.merge(supplied.reset_index(), on=["force_slug", "period_start"], how="left")
    counts["supplied"] = counts["supplied"].fillna(0)
    computed = pd.concat([
        counts.assign(measure_id="return_measures_supplied", value=counts["supplied"]),
        counts.assign(measure_id="return_measures_expected", value=float(len(needed))),
    ])[OBSERVATION_COLUMNS]
    return pd.concat([observations, computed], ignore_index=True)


class RollbackRefused(ValueError):
    pass


def rollback(db_path: Path, load_id: int,
             audit: Callable[[sa.Connection, int], None] | None = None) -> int:
    """Restore the state before load ``load_id``; returns the observations restored or
    removed. ``audit(conn, changed)`` runs in the rollback's transaction at the end."""
    with open_store(db_path) as store, store.write() as conn:
        load = conn.execute(
            sa.select(schema.loads).where(schema.loads.c.load_id == load_id)
        ).one_or_none()
        if load is None:
            raise RollbackRefused(f"no load with id {load_id}")
        if load.status != "loaded":
            raise RollbackRefused(f"load {load_id} ({load.file_name}) is already {load.status}")
        later = conn.execute(
            sa.select(schema.loads.c.load_id).distinct()
            .select_from(schema.observation_history.join(
                schema.loads,
                schema.observation_history.c.superseded_by == schema.loads.c.load_id))
            .where(schema.observation_history.c.load_id == load_id)
            .where(schema.loads.c.status == "loaded")
            .order_by(schema.loads.c.load_id)
        ).scalars().all()
        if later:
            raise RollbackRefused(
                f"load {load_id} was partly replaced by later load(s) "
                f"{', '.join(map(str, later))}: roll those back first"
            )
        removed = conn.execute(
            sa.delete(schema.observations).where(schema.observations.c.load_id == load_id)
        ).rowcount
        history = schema.observation_history
        conn.execute(
            sa.insert(schema.observations).from_select(
                ["force_slug", "measure_id", "period_start", "value", "load_id"],
                sa.select(history.c.force_slug, history.c.measure_id, history.c.period_start,
                          history.c.value, history.c.load_id)
                .where(history.c.superseded_by == load_id),
            )
        )
        # The rows moved back are the ones deleted from the history.
        restored = conn.execute(
            sa.delete(history).where(history.c.superseded_by == load_id)).rowcount
        conn.execute(
            sa.update(schema.loads).where(schema.loads.c.load_id == load_id)
            .values(status="rolled back")
        )
        changed = int(removed) + int(restored)
        if audit is not None:
            audit(conn, changed)
        return changed


def check_files(db_path: Path, files: Sequence[Path], kind: str | None = None,
                today: dt.date | None = None, progress: Progress = quiet,
                first: Callable[[list[ParsedFile], Report], None] | None = None,
                ) -> tuple[list[ParsedFile], Report]:
    """Validate files against the published database without writing anything.

    For a preview (the upload page): it reads the database read-only, so it never
    waits for or blocks a writer (except to upgrade a database written by an older
    version, once). A database that does not exist yet is checked against the shipped
    forces and catalogue. ``first(parsed, report)`` adds its own checks before the
    plausibility checks, which run only when no check found an error (the service's
    force scope: a plausibility warning quotes stored figures).
    """
    today = today or dt.date.today()
    store = open_store(db_path)
    if not store.exists():
        parsed, report = parse_files(files, shipped_context(today), kind, progress)
        if first is not None:
            first(parsed, report)
        return parsed, report
    with store:
        with store.connect() as conn:
            ctx = build_context(conn, today=today)
        # Read with no connection held: a year's workbook takes some 20 s.
        parsed, report = parse_files(files, ctx, kind, progress)
        if first is not None:
            first(parsed, report)
        if not report.errors and any(item.cells is not None for item in parsed):
            progress("Checking the values against what is already loaded")
            with store.connect() as conn:
                check_plausibility(conn, parsed, ctx, report)
        return parsed, report

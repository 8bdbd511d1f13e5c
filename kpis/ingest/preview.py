"""What a load would change, worked out before it is confirmed, writing nothing.

:func:`preview_load` takes files already checked (:func:`kpis.ingest.loader.check_files`)
and says, for each force: the values the load adds, the stored values it replaces (with
the old value beside the new) or, for a Home Office release, withdraws; and which KPIs
would change their SPC state (the variation at the force's latest point) or assurance.
The KPI table is computed on the current data and on the same data with the new values
applied in memory (:meth:`kpis.engine.dataset.Dataset.with_values`), both cut down to
the forces the load changes (a force's SPC state and assurance come from its own
series alone): the same engine, the same rules, nothing written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kpis.domain.formatting import format_number
from kpis.domain.periods import long_month, quarter_label
from kpis.domain.vocabulary import ASSURANCE_PHRASE, VARIATION_PHRASE
from kpis.engine.dataset import Dataset
from kpis.engine.measures import flight_deck_table
from kpis.ingest.context import build_context
from kpis.ingest.loader import ParsedFile, compare_with_stored, with_completeness
from kpis.ingest.problems import Report
from kpis.storage.backend import open_store

#: Changed cells a page or the command line lists before "... and N more".
MAX_CELLS_LISTED = 50
ADDED, REPLACED, WITHDRAWN = "added", "replaced", "withdrawn"


@dataclass(frozen=True)
class CellChange:
    """One value the load would write: ``old`` None when it adds one, ``new`` None when
    a Home Office release withdraws one."""

    file: str
    force_slug: str
    measure_id: str
    period_start: dt.date
    old: float | None
    new: float | None
    quarterly: bool = False

    @property
    def kind(self) -> str:
        return ADDED if self.old is None else WITHDRAWN if self.new is None else REPLACED

    @property
    def when(self) -> str:
        """'September 2025', or '2025/26 Q2' for a Home Office quarter."""
        return quarter_label(self.period_start) if self.quarterly else (
            long_month(self.period_start))


@dataclass(frozen=True)
class KpiStateChange:
    """A KPI whose SPC variation at the force's latest point, or assurance, would change."""

    kpi_id: str
    title: str
    force_slug: str
    before_period: dt.date | None
    before_variation: str | None
    before_assurance: str | None
    after_period: dt.date | None
    after_variation: str | None
    after_assurance: str | None

    @staticmethod
    def state(variation: str | None, assurance: str | None) -> str:
        """In words: 'Special cause concern; hit and miss against the target'."""
        parts = [VARIATION_PHRASE.get(variation or "", "no SPC assessment")]
        if assurance:
            parts.append(ASSURANCE_PHRASE.get(assurance, assurance).lower())
        return "; ".join(parts)

    @property
    def before(self) -> str:
        return self.state(self.before_variation, self.before_assurance)

    @property
    def after(self) -> str:
        return self.state(self.after_variation, self.after_assurance)


@dataclass
class LoadPreview:
    """What loading checked files would do. Nothing here has been written."""

    report: Report
    files: list[ParsedFile] = field(default_factory=list)
    changes: list[CellChange] = field(default_factory=list)  # added, replaced, withdrawn
    unchanged: int = 0  # values the load holds that are already stored as they are
    kpi_changes: list[KpiStateChange] = field(default_factory=list)
    force_names: dict[str, str] = field(default_factory=dict)
    measure_titles: dict[str, str] = field(default_factory=dict)

    @property
    def would_load(self) -> bool:
        return not self.report.errors

    def count(self, kind: str) -> int:
        return sum(1 for c in self.changes if c.kind == kind)

    @property
    def forces(self) -> list[str]:
        """The forces whose figures the load changes, by name."""
        slugs = sorted({c.force_slug for c in self.changes})
        return sorted(self.force_names.get(s, s) for s in slugs)

    @property
    def months(self) -> tuple[dt.date, dt.date] | None:
        """The first and last month (or quarter start) the load changes."""
        periods = [c.period_start for c in self.changes]
        return (min(periods), max(periods)) if periods else None

    def headline(self) -> str:
        """'No problems found: 1,234 values for Kent, April to September 2025 are ready to
        load.' / 'No errors, but 3 warnings: check them before loading.' / '2 errors:
        these files cannot be loaded. ...'."""
        errors, warnings = self.report.error_count, self.report.warning_count
        if errors:
            return (f"{_count(errors, 'error')}: these files cannot be loaded. Nothing has "
                    "been written. Correct the files and upload them again.")
        if warnings:
            return (f"No errors, but {_count(warnings, 'warning')}: check "
                    f"{'it' if warnings == 1 else 'them'} before loading.")
        return f"No problems found: {self.what()} ready to load."

    def what(self) -> str:
        """'1,234 values for Kent, April to September 2025 are'."""
        values = sum(len(item.observations) for item in self.files)
        if not self.changes:
            return (f"{_count(values, 'value')}, all already loaded as they are, "
                    f"{'are' if values != 1 else 'is'}")
        forces = self.forces
        whom = (", ".join(forces) if len(forces) <= 3 else f"{len(forces)} forces")
        first, last = self.months or (None, None)
        quarterly = all(c.quarterly for c in self.changes)
        assert first is not None and last is not None
        if quarterly:
            span = (quarter_label(first) if first == last
                    else f"{quarter_label(first)} to {quarter_label(last)}")
        else:
            span = _month_span(first, last)
        return f"{_count(values, 'value')} for {whom}, {span} {'are' if values != 1 else 'is'}"

    def summary(self) -> str:
        """'adds 120 values, replaces 6 (old values kept in the load history)'."""
        parts = [f"adds {_count(self.count(ADDED), 'value')}"] if self.count(ADDED) else []
        if self.count(REPLACED):
            parts.append(f"replaces {self.count(REPLACED):,} stored value"
                         f"{'s' if self.count(REPLACED) != 1 else ''}")
        if self.count(WITHDRAWN):
            parts.append(f"withdraws {self.count(WITHDRAWN):,}")
        if self.unchanged:
            parts.append(f"leaves {self.unchanged:,} as they are (the same figures)")
        return ", ".join(parts) if self.changes else "changes no stored value"

    def lines(self, limit: int = MAX_CELLS_LISTED) -> list[str]:
        """The preview as the command line prints it."""
        if not self.would_load:
            return ["nothing would be loaded: the files have errors"]
        out = [f"would load: {self.what()} ready to load; the load {self.summary()}"]
        for change in self.changes[:limit]:
            old = "(new)" if change.old is None else _number(change.old)
            new = "(withdrawn)" if change.new is None else _number(change.new)
            out.append(f"  {self.force_names.get(change.force_slug, change.force_slug)}, "
                       f"{change.measure_id}, {change.when}: {old} -> {new}")
        if len(self.changes) > limit:
            out.append(f"  ... and {len(self.changes) - limit:,} more changed values")
        if self.kpi_changes:
            out.append("KPIs whose SPC state or assurance would change:")
            for kpi in self.kpi_changes:
                out.append(f"  {self.force_names.get(kpi.force_slug, kpi.force_slug)}, "
                           f"{kpi.title} ({kpi.kpi_id}): {kpi.before} -> {kpi.after}")
        else:
            out.append("no KPI would change its SPC state or assurance")
        return out

    def to_json(self, limit: int = MAX_CELLS_LISTED) -> dict[str, Any]:
        """The preview as JSON values (the upload page's check job), the first ``limit``
        changed cells listed and the rest counted."""
        def plain(row: dict[str, Any]) -> dict[str, Any]:
            return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in row.items()}

        return {
            "would_load": self.would_load,
            "headline": self.headline(),
            "summary": self.summary() if self.would_load else "",
            "counts": {kind: self.count(kind) for kind in (ADDED, REPLACED, WITHDRAWN)},
            "unchanged": self.unchanged,
            "cells": [plain({"force": self.force_names.get(c.force_slug, c.force_slug),
                             "measure": c.measure_id,
                             "title": self.measure_titles.get(c.measure_id, c.measure_id),
                             "when": c.when, "old": c.old, "new": c.new, "kind": c.kind})
                      for c in self.changes[:limit]],
            "more_cells": max(0, len(self.changes) - limit),
            "kpis": [{**plain(asdict(k)), "force": self.force_names.get(k.force_slug,
                                                                         k.force_slug),
                      "before": k.before, "after": k.after} for k in self.kpi_changes],
        }


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _number(value: float) -> str:
    return format_number(value, 0 if float(value).is_integer() else 1)


def _month_span(first: dt.date, last: dt.date) -> str:
    """'September 2025', 'April to September 2025', 'October 2025 to March 2026'."""
    if first == last:
        return long_month(first)
    head = f"{first:%B}" if first.year == last.year else long_month(first)
    return f"{head} to {long_month(last)}"


def preview_load(db_path: Path, parsed: list[ParsedFile], report: Report,
                 current: Dataset | None = None, today: dt.date | None = None
                 ) -> LoadPreview:
    """What loading the checked files ``parsed`` (with their ``report``) would change in
    the database at ``db_path``, and the KPIs whose state would change, writing nothing.

    ``current``: the dataset of the database as it is (the service's; read afresh if
    not given). Files with errors would not load: their preview changes nothing.
    """
    preview = LoadPreview(report, list(parsed))
    store = open_store(db_path)
    if report.errors or not store.exists():
        return preview
    with store, store.connect() as conn:
        ctx = build_context(conn, today=today)
        compared = []
        for item in parsed:
            observations = item.observations
            if item.kind == "return":
                observations = with_completeness(conn, observations, ctx)
            frame = compare_with_stored(conn, observations, release=item.kind != "return")
            compared.append(frame.assign(file=item.path.name, quarterly=item.kind != "return"))
        if current is None:
            from kpis.storage.dataset_loader import load_dataset

            current = load_dataset(conn)
    preview.force_names = {s: ctx.force_name(s) for s in ctx.force_slugs}
    preview.measure_titles = {m: measure.title for m, measure in ctx.measures.items()}
    if not compared:
        return preview
    frame = pd.concat(compared, ignore_index=True)
    same = frame["old"].notna() & frame["new"].notna() & (frame["old"] == frame["new"])
    shown = frame["measure_id"].map(
        lambda m: getattr(ctx.measures.get(m), "source", "") != "computed")
    preview.unchanged = int((same & shown).sum())
    changed = frame[~same]
    cells = [
        CellChange(file, force, measure, _as_date(period),
                   None if pd.isna(old) else float(old), None if pd.isna(new) else float(new),
                   bool(quarterly))
        for file, force, measure, period, old, new, quarterly in changed[shown[~same]][
            ["file", "force_slug", "measure_id", "period_start", "old", "new", "quarterly"]
        ].itertuples(index=False, name=None)]
    # Replaced and withdrawn values first (an old figure changes), then the new ones;
    # each by force, month and the catalogue's order of measures (the return's columns).
    kinds = {REPLACED: 0, WITHDRAWN: 1, ADDED: 2}
    position = {m: n for n, m in enumerate(ctx.measures)}
    preview.changes = sorted(cells, key=lambda c: (
        kinds[c.kind], preview.force_names.get(c.force_slug, c.force_slug), c.period_start,
        position.get(c.measure_id, len(position))))
    preview.kpi_changes = kpi_state_changes(current, changed)
    return preview


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else (
        pd.Timestamp(value).date())


def kpi_state_changes(current: Dataset, changed: pd.DataFrame) -> list[KpiStateChange]:
    """The KPIs whose variation at the latest point, or assurance, would change for a
    force whose values ``changed`` (force_slug, measure_id, period_start, new)."""
    if changed.empty:
        return []
    source = current.source or current
    measures = set(changed["measure_id"])
    kpis = [k for k in source.kpis.values() if measures & {*k.numerator, *k.denominator}]
    forces = sorted(set(changed["force_slug"]) & set(source.forces["slug"]))
    if not kpis or not forces:
        return []
    # Each force's own series decide its SPC state and assurance: the two datasets
    # compared hold the forces the load changes only (a fraction of the cost).
    values = changed[["force_slug", "measure_id", "period_start"]].assign(
        value=changed["new"].astype(float))
    before = source.with_values(values.iloc[:0], f"{source.data_version}+now", forces)
    after = source.with_values(values, f"{source.data_version}+preview", forces)
    ids = [k.kpi_id for k in kpis]
    states = [_latest(flight_deck_table(data, ids, forces)) for data in (before, after)]
    joined = states[0].merge(states[1], left_index=True, right_index=True, how="outer",
                             suffixes=("_before", "_after"))
    words = ["variation_before", "assurance_before", "variation_after", "assurance_after"]
    joined[words] = joined[words].fillna("")
    moved = joined[(joined["variation_before"] != joined["variation_after"])
                   | (joined["assurance_before"] != joined["assurance_after"])]
    order = {kpi_id: n for n, kpi_id in enumerate(ids)}
    return [
        KpiStateChange(kpi_id, source.kpis[kpi_id].title, force,
                       _period(row["period_before"]), row["variation_before"] or None,
                       row["assurance_before"] or None, _period(row["period_after"]),
                       row["variation_after"] or None, row["assurance_after"] or None)
        for (kpi_id, force), row in sorted(moved.iterrows(),
                                           key=lambda item: (item[0][1], order[item[0][0]]))]


def _latest(table: pd.DataFrame) -> pd.DataFrame:
    """Each KPI and area's latest point with a value: its period, variation, assurance."""
    present = table[table["value"].notna()]
    last = present.sort_values("period_start").groupby(["kpi", "area"]).tail(1)
    return pd.DataFrame({
        "period": last["period_start"].to_numpy(),
        "variation": [_text(v) for v in last["variation"]],
        "assurance": [_text(v) for v in last["assurance"]],
    }, index=pd.MultiIndex.from_frame(last[["kpi", "area"]]))


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) or (
        pd.isna(value)) else str(value)


def _period(value: Any) -> dt.date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()

"""What validation checks a file against: known forces, measures and today's date."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa

from kpis.domain.catalogue import Catalogue, Measure, PlausibilityRules, read_catalogue
from kpis.settings import CATALOGUE_FILE
from kpis.storage import schema
from kpis.storage.catalogue_store import fetch_catalogue
from kpis.storage.reference import normalise_name, read_forces

# No file may supply figures for an earlier month: such a month is a typing slip
# ("1025-08"), the flight deck's data starts long after, and dates before 1677 cannot
# even be held by the pandas timestamps the pages are drawn with.
EARLIEST_MONTH = dt.date(2000, 1, 1)


@dataclass(frozen=True)
class ShareRule:
    """A share KPI: within a force-month its numerator may not exceed its denominator."""

    kpi_id: str
    numerator: tuple[str, ...]
    denominator: tuple[str, ...]
    title: str = ""


@dataclass(frozen=True)
class IngestContext:
    aliases: dict[str, str]  # normalised name or slug -> slug
    force_slugs: frozenset[str]
    measures: dict[str, Measure]
    return_measures: tuple[str, ...]  # measures a monthly return should supply, in order
    share_rules: tuple[ShareRule, ...]
    today: dt.date
    plausibility: PlausibilityRules = field(default_factory=PlausibilityRules)
    force_names: dict[str, str] | None = None  # slug -> name, for findings in words

    def force_name(self, slug: str) -> str:
        return (self.force_names or {}).get(slug, slug)

    def force_slug(self, name: str) -> str | None:
        return self.aliases.get(normalise_name(name))

    @property
    def current_month(self) -> dt.date:
        return dt.date(self.today.year, self.today.month, 1)


def build_context(conn: sa.Connection, today: dt.date | None = None) -> IngestContext:
    catalogue = fetch_catalogue(conn)
    aliases = dict(
        conn.execute(sa.select(schema.force_aliases.c.alias, schema.force_aliases.c.slug))
        .all()
    )
    names = dict(conn.execute(
        sa.select(schema.forces.c.slug, schema.forces.c.name)
        .where(schema.forces.c.kind == "force")).all())
    return context_from(catalogue, aliases, frozenset(names), today or dt.date.today(),
                        names)


def context_from(
    catalogue: Catalogue, aliases: dict[str, str], slugs: frozenset[str], today: dt.date,
    names: dict[str, str] | None = None,
) -> IngestContext:
    measures = {m.measure_id: m for m in catalogue.measures}
    needed: list[str] = []
    for kpi in catalogue.published():
        for measure_id in kpi.numerator + kpi.denominator:
            if measures[measure_id].source == "force_return" and measure_id not in needed:
                needed.append(measure_id)
    # Keep the catalogue's measure order, which groups measures sensibly for a form.
    ordered = tuple(m.measure_id for m in catalogue.measures if m.measure_id in needed)
    rules = tuple(
        ShareRule(k.kpi_id, k.numerator, k.denominator, k.title)
        for k in catalogue.published()
        if k.unit == "percent"
    )
    return IngestContext(aliases, slugs, measures, ordered, rules, today,
                         catalogue.plausibility, names)


def shipped_context(today: dt.date) -> IngestContext:
    """The context of a database not built yet: the shipped catalogue and forces."""
    forces = {str(f["slug"]): str(f["name"]) for f in read_forces()}
    slugs = frozenset(forces)
    return context_from(read_catalogue(CATALOGUE_FILE), {s: s for s in slugs}, slugs, today,
                        forces)

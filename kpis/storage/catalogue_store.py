"""The catalogue in the database: written on a catalogue load, read into every dataset.

Reading it back costs eight queries and some 40 ms, and every load and every dataset
reads it, though it changes only when an administrator loads a catalogue. So a digest
of the catalogue is stored with it, and a catalogue read is kept (``_READ``) under that
digest: a database whose stored digest is one already read gives that catalogue back
after one query. Anything else that changes the catalogue's rows (the schema upgrade
steps) removes the digest, and a database without one is always read in full.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import sqlalchemy as sa

from kpis.cache import ALL_FORCES, VersionedCache
from kpis.domain.catalogue import (
    Catalogue,
    PlausibilityRules,
)
from kpis.storage import schema
from kpis.storage.backend import CATALOGUE_DIGEST_KEY, get_meta, set_meta
from kpis.storage.duckdb_reader import PLAUSIBILITY_SETTINGS, catalogue_from_rows

__all__ = ["PLAUSIBILITY_SETTINGS", "catalogue_digest", "fetch_catalogue", "store_catalogue"]

# Catalogues read back, by their stored digest (a few: tests hold several databases).
_READ: VersionedCache[Catalogue] = VersionedCache(8)


def catalogue_digest(catalogue: Catalogue) -> str:
    """Changes with any field of any entry (the dataclasses' reprs show every field)."""
    return hashlib.sha256(repr(catalogue).encode("utf-8")).hexdigest()


def store_catalogue(conn: sa.Connection, catalogue: Catalogue) -> None:
    """Replace the catalogue tables with ``catalogue`` (inside the caller's transaction)."""
    for table in (
        schema.plausibility_settings, schema.plausibility_comparisons,
        schema.kpi_recommendations, schema.kpi_terms, schema.kpi_definitions,
        schema.measures, schema.recommendations, schema.pillars,
    ):
        conn.execute(sa.delete(table))
    conn.execute(
        sa.insert(schema.pillars), [{"number": p.number, "name": p.name} for p in catalogue.pillars]
    )
    if catalogue.recommendations:
        conn.execute(
            sa.insert(schema.recommendations),
            [{"rec_id": r.rec_id, "deadline": r.deadline, "title": r.title}
             for r in catalogue.recommendations],
        )
    conn.execute(
        sa.insert(schema.measures),
        [
            {"measure_id": m.measure_id, "title": m.title, "unit": m.unit,
             "periodicity": m.periodicity, "source": m.source, "position": position,
             "stock": m.stock, "missing": m.missing}
            for position, m in enumerate(catalogue.measures)
        ],
    )
    conn.execute(
        sa.insert(schema.kpi_definitions),
        [
            {"kpi_id": k.kpi_id, "version": k.version, "status": k.status, "title": k.title,
             "pillar": k.pillar, "description": k.description, "unit": k.unit,
             "polarity": k.polarity, "target": k.target, "periodicity": k.periodicity,
             "source": k.source, "effective_from": k.effective_from, "position": k.position,
             "spc_run_length": k.spc_run_length,
             "spc_baseline_points": k.spc_baseline_points,
             "comparison_base": k.comparison_base, "comparison_per": k.comparison_per,
             "provisional_pending": k.provisional.pending if k.provisional else None,
             "provisional_total": k.provisional.total if k.provisional else None,
             "provisional_above": k.provisional.above if k.provisional else None}
            for k in catalogue.kpis
        ],
    )
    terms = [
        {"kpi_id": k.kpi_id, "version": k.version, "role": role, "measure_id": m,
         "term_order": order}
        for k in catalogue.kpis
        for role, measures in (("numerator", k.numerator), ("denominator", k.denominator))
        for order, m in enumerate(measures)
    ]
    conn.execute(sa.insert(schema.kpi_terms), terms)
    links = [
        {"kpi_id": k.kpi_id, "version": k.version, "rec_id": r}
        for k in catalogue.kpis for r in k.recommendations
    ]
    if links:
        conn.execute(sa.insert(schema.kpi_recommendations), links)
    _store_plausibility(conn, catalogue.plausibility)
    set_meta(conn, CATALOGUE_DIGEST_KEY, catalogue_digest(catalogue))


def _store_plausibility(conn: sa.Connection, rules: PlausibilityRules) -> None:
    conn.execute(sa.insert(schema.plausibility_settings), [
        {"name": name, "value": float(getattr(rules, name))} for name in PLAUSIBILITY_SETTINGS])
    if rules.home_office:
        conn.execute(sa.insert(schema.plausibility_comparisons), [
            {"position": position, "return_measure": pair.return_measure,
             "home_office_measure": pair.home_office_measure, "tolerance": pair.tolerance}
            for position, pair in enumerate(rules.home_office)])


def fetch_catalogue(conn: sa.Connection) -> Catalogue:
    """The catalogue the database holds (kept under its stored digest, if it has one)."""
    digest = get_meta(conn, CATALOGUE_DIGEST_KEY)
    found = (_read_catalogue(conn) if digest is None
             else _READ.get("catalogue", ALL_FORCES, digest, lambda: _read_catalogue(conn)))
    # Each caller gets lists of its own (the entries themselves are frozen).
    return dataclasses.replace(found, pillars=list(found.pillars),
                               recommendations=list(found.recommendations),
                               measures=list(found.measures), kpis=list(found.kpis))


def _read_catalogue(conn: sa.Connection) -> Catalogue:
    """Read the catalogue back from the database's tables (built from the rows as
    kpis.storage.duckdb_reader builds it from the same queries without SQLAlchemy)."""

    def rows(statement: sa.Select[Any]) -> list[sa.Row[Any]]:
        # Fetched at once: on DuckDB the next query ends a result not yet read.
        return list(conn.execute(statement).all())

    plausibility = schema.plausibility_settings.c
    return catalogue_from_rows(
        get_meta(conn, "catalogue_version") or "",
        pillars=rows(sa.select(schema.pillars).order_by(schema.pillars.c.number)),
        recommendations=rows(sa.select(schema.recommendations)
                             .order_by(schema.recommendations.c.rec_id)),
        measures=rows(sa.select(schema.measures).order_by(schema.measures.c.position)),
        terms=rows(sa.select(schema.kpi_terms).order_by(schema.kpi_terms.c.term_order)),
        links=rows(sa.select(schema.kpi_recommendations)
                   .order_by(schema.kpi_recommendations.c.rec_id)),
        kpis=rows(sa.select(schema.kpi_definitions).order_by(
            schema.kpi_definitions.c.position, schema.kpi_definitions.c.version)),
        settings=dict(rows(sa.select(plausibility.name, plausibility.value))),
        comparisons=rows(sa.select(schema.plausibility_comparisons)
                         .order_by(schema.plausibility_comparisons.c.position)),
    )

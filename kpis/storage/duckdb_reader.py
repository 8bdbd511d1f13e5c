"""A DuckDB file's dataset read with the ``duckdb`` module alone, for one-shot commands.

``flightdeck kpis`` reads one dataset and exits. Through the store (SQLAlchemy,
duckdb_engine and its dialect's probing of the connection) that read cost some 0.25 s
of a new process's 1.1 s, more than the queries (bench/bench_cli.py). So for a DuckDB
file at the schema version this module was written for, :func:`read_dataset` opens
the file read-only with ``duckdb`` and runs the very SQL that
:func:`kpis.storage.dataset_loader.load_dataset` compiles on DuckDB; the rows become
the same :class:`~kpis.engine.dataset.Dataset` through the same code
(:func:`dataset_from_frames`, :func:`catalogue_from_rows`, which the store's path
uses too), and tests/test_duckdb_reader.py checks the two datasets are equal.

Anything this narrow path does not do returns None, and the caller takes the store's
path, which does it: an older file (the store upgrades it through the write path), a
newer one (refused with ``SchemaTooNew``), a file ``duckdb`` cannot open or read. It
never writes, and never imports SQLAlchemy (tests/test_cli_imports.py).
"""

from __future__ import annotations

import dataclasses
import os
from collections import namedtuple
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from kpis.domain.catalogue import (
    Catalogue,
    HomeOfficeComparison,
    KpiDefinition,
    Measure,
    Pillar,
    PlausibilityRules,
    ProvisionalRule,
    Recommendation,
    comparison_noun,
)
from kpis.engine.dataset import Dataset, build_cube
from kpis.settings import NATIONAL_NAME, NATIONAL_SLUG

__all__ = ["READS_SCHEMA_VERSION", "catalogue_from_rows", "dataset_from_frames",
           "read_dataset", "read_dataset_from"]

#: The schema version whose tables the SQL below reads: ``kpis.storage.schema.
#: SCHEMA_VERSION`` (not imported: it is declared with SQLAlchemy). A file at any other
#: version goes through the store; a test fails when the two differ, so whoever
#: changes the schema looks at these queries.
READS_SCHEMA_VERSION = 7

#: The thresholds kept in ``plausibility_settings``, one row each.
PLAUSIBILITY_SETTINGS = tuple(f.name for f in dataclasses.fields(PlausibilityRules)
                              if f.name != "home_office")

# The statements load_dataset and fetch_catalogue compile on DuckDB (literal values:
# the same text, so DuckDB gives the same frames and rows).
_META = "SELECT meta.value FROM meta WHERE meta.key = ?"
_FORCES = ("SELECT forces.slug, forces.name, forces.ons_code, forces.region, "
           "forces.population, forces.kind, forces.nom_adoption FROM forces "
           "ORDER BY forces.name")
_GROUPS = ("SELECT peer_groups.group_id, peer_groups.name, peer_groups.kind "
           "FROM peer_groups ORDER BY peer_groups.name")
_MEMBERS = ("SELECT peer_group_members.group_id, peer_group_members.force_slug "
            "FROM peer_group_members")
_OBSERVATIONS = ("SELECT observations.force_slug, observations.period_start, "
                 "observations.measure_id, observations.value FROM observations")
_LOADS = ("SELECT loads.load_id, loads.file_name, loads.sha256, loads.kind, loads.rows, "
          "loads.loaded_by, loads.loaded_at, loads.status, loads.warnings FROM loads "
          "ORDER BY loads.load_id DESC")
_LOAD_FORCES = ("SELECT anon_1.load_id, string_agg(anon_1.force_slug, ',') AS string_agg_1 "
                "FROM (SELECT observations.load_id AS load_id, observations.force_slug AS "
                "force_slug FROM observations UNION SELECT observation_history.load_id AS "
                "load_id, observation_history.force_slug AS force_slug FROM "
                "observation_history) AS anon_1 GROUP BY anon_1.load_id")
_POPULATIONS = ("SELECT force_populations.force_slug, force_populations.year, "
                "force_populations.population FROM force_populations "
                "ORDER BY force_populations.year, force_populations.force_slug")
_PILLARS = "SELECT pillars.number, pillars.name FROM pillars ORDER BY pillars.number"
_RECOMMENDATIONS = ("SELECT recommendations.rec_id, recommendations.deadline, "
                    "recommendations.title FROM recommendations "
                    "ORDER BY recommendations.rec_id")
_MEASURES = ("SELECT measures.measure_id, measures.title, measures.unit, "
             "measures.periodicity, measures.source, measures.position, measures.stock, "
             "measures.missing FROM measures ORDER BY measures.position")
_TERMS = ("SELECT kpi_terms.kpi_id, kpi_terms.version, kpi_terms.role, "
          "kpi_terms.measure_id, kpi_terms.term_order FROM kpi_terms "
          "ORDER BY kpi_terms.term_order")
_LINKS = ("SELECT kpi_recommendations.kpi_id, kpi_recommendations.version, "
          "kpi_recommendations.rec_id FROM kpi_recommendations "
          "ORDER BY kpi_recommendations.rec_id")
_KPIS = ("SELECT kpi_definitions.kpi_id, kpi_definitions.version, kpi_definitions.status, "
         "kpi_definitions.title, kpi_definitions.pillar, kpi_definitions.description, "
         "kpi_definitions.unit, kpi_definitions.polarity, kpi_definitions.target, "
         "kpi_definitions.periodicity, kpi_definitions.source, "
         "kpi_definitions.effective_from, kpi_definitions.position, "
         "kpi_definitions.spc_run_length, kpi_definitions.spc_baseline_points, "
         "kpi_definitions.comparison_base, kpi_definitions.comparison_per, "
         "kpi_definitions.provisional_pending, kpi_definitions.provisional_total, "
         "kpi_definitions.provisional_above FROM kpi_definitions "
         "ORDER BY kpi_definitions.position, kpi_definitions.version")
_SETTINGS = ("SELECT plausibility_settings.name, plausibility_settings.value "
             "FROM plausibility_settings")
_COMPARISONS = ("SELECT plausibility_comparisons.position, "
                "plausibility_comparisons.return_measure, "
                "plausibility_comparisons.home_office_measure, "
                "plausibility_comparisons.tolerance FROM plausibility_comparisons "
                "ORDER BY plausibility_comparisons.position")


def catalogue_from_rows(version: str, pillars: Iterable[Any], recommendations: Iterable[Any],
                        measures: Iterable[Any], terms: Iterable[Any], links: Iterable[Any],
                        kpis: Iterable[Any], settings: Mapping[str, float],
                        comparisons: Iterable[Any]) -> Catalogue:
    """The catalogue from its tables' rows (read by the queries above, in their order;
    rows with their columns as attributes, as SQLAlchemy's and :func:`_rows` give them).
    ``settings``: the stored plausibility thresholds by name (one not stored keeps its
    default)."""
    measure_list = [
        Measure(r.measure_id, r.title, r.unit, r.periodicity, r.source, stock=bool(r.stock),
                missing=r.missing)
        for r in measures
    ]
    by_id = {m.measure_id: m for m in measure_list}
    by_term: dict[tuple[str, int, str], list[str]] = {}
    for row in terms:
        by_term.setdefault((row.kpi_id, row.version, row.role), []).append(row.measure_id)
    by_kpi: dict[tuple[str, int], list[str]] = {}
    for row in links:
        by_kpi.setdefault((row.kpi_id, row.version), []).append(row.rec_id)
    definitions = [
        KpiDefinition(
            kpi_id=r.kpi_id, version=r.version, status=r.status, title=r.title,
            pillar=r.pillar, description=r.description,
            numerator=tuple(by_term.get((r.kpi_id, r.version, "numerator"), [])),
            denominator=tuple(by_term.get((r.kpi_id, r.version, "denominator"), [])),
            unit=r.unit, polarity=r.polarity, target=r.target, periodicity=r.periodicity,
            source=r.source, effective_from=r.effective_from,
            recommendations=tuple(by_kpi.get((r.kpi_id, r.version), [])),
            position=r.position,
            spc_run_length=r.spc_run_length, spc_baseline_points=r.spc_baseline_points,
            comparison_base=r.comparison_base, comparison_per=r.comparison_per,
            comparison_noun=comparison_noun(r.comparison_base, by_id),
            provisional=ProvisionalRule(r.provisional_pending, r.provisional_total,
                                        r.provisional_above)
            if r.provisional_pending is not None else None,
        )
        for r in kpis
    ]
    defaults = PlausibilityRules()
    values = {name: type(getattr(defaults, name))(settings[name])
              for name in PLAUSIBILITY_SETTINGS if name in settings}
    plausibility = dataclasses.replace(defaults, **values, home_office=tuple(
        HomeOfficeComparison(r.return_measure, r.home_office_measure, r.tolerance)
        for r in comparisons))
    return Catalogue(
        version,
        [Pillar(r.number, r.name) for r in pillars],
        [Recommendation(r.rec_id, r.deadline, r.title) for r in recommendations],
        measure_list, definitions, plausibility)


def dataset_from_frames(catalogue: Catalogue, forces_all: pd.DataFrame, groups: pd.DataFrame,
                        members: pd.DataFrame, observations: pd.DataFrame,
                        loads: pd.DataFrame, load_forces: Mapping[int, str],
                        populations: pd.DataFrame, is_demo: bool, data_version: str
                        ) -> Dataset:
    """The dataset from the frames the queries above give (``members`` with its columns
    ``group_id``, ``force_slug``; ``load_forces``: the forces each load holds figures
    for, comma separated)."""
    forces = forces_all[forces_all["kind"] == "force"].reset_index(drop=True)
    members = members.rename(columns={"group_id": "area_id"})
    national_members = pd.DataFrame({"area_id": NATIONAL_SLUG, "force_slug": forces["slug"]})
    members = pd.concat([national_members, members], ignore_index=True)
    population = dict(zip(forces["slug"], forces["population"], strict=True))
    group_population = members.assign(
        population=members["force_slug"].map(population)
    ).groupby("area_id")["population"].sum()
    areas = pd.concat(
        [
            pd.DataFrame({
                "area_id": forces["slug"], "name": forces["name"], "kind": "force",
                "population": forces["population"],
            }),
            pd.DataFrame({
                "area_id": [NATIONAL_SLUG], "name": [NATIONAL_NAME], "kind": ["national"],
                "population": [int(forces["population"].sum())],
            }),
            pd.DataFrame({
                "area_id": groups["group_id"], "name": groups["name"], "kind": groups["kind"],
                "population": groups["group_id"].map(group_population).fillna(0).astype(int),
            }),
        ],
        ignore_index=True,
    )
    observations["period_start"] = pd.to_datetime(observations["period_start"])
    loads["forces"] = loads["load_id"].map(load_forces).fillna("")
    return Dataset(
        catalogue=catalogue,
        forces=forces,
        areas=areas,
        members=members,
        cube=build_cube(forces, areas, members, observations, populations),
        is_demo=is_demo,
        data_version=data_version,
        loads=loads,
    )


def populations_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The population estimates as :func:`kpis.storage.reference.population_by_year`
    gives them: force_slug (str), year and population (int64), empty with those
    columns."""
    if frame.empty:
        return pd.DataFrame({"force_slug": pd.Series(dtype=object),
                             "year": pd.Series(dtype="int64"),
                             "population": pd.Series(dtype="int64")})
    return frame.astype({"force_slug": object, "year": "int64", "population": "int64"})


def _rows(con: Any, sql: str) -> list[Any]:
    """The rows of a query, their columns as attributes (as SQLAlchemy's rows)."""
    cursor = con.execute(sql)
    row = namedtuple("row", [d[0] for d in cursor.description])  # type: ignore[misc]
    return [row(*values) for values in cursor.fetchall()]


def _observations(con: Any) -> pd.DataFrame:
    """The observations as :data:`_OBSERVATIONS` gives them, but for ``force_slug`` and
    ``measure_id`` as categoricals (DuckDB ENUMs of the values present, in Python's
    sorted order): not a Python string per row, some 0.03 s less, and
    :func:`kpis.engine.dataset.build_cube` makes the same cube of either (a test
    checks)."""
    def values(column: str) -> list[str]:
        return sorted(str(v) for (v,) in con.execute(
            f"SELECT DISTINCT {column} FROM observations").fetchall())

    forces, measures = values("force_slug"), values("measure_id")
    if not forces or not measures:  # no observations: there is no empty ENUM
        return con.execute(_OBSERVATIONS).df()
    return con.execute(
        f"SELECT CAST(observations.force_slug AS {_enum(forces)}) AS force_slug, "
        "observations.period_start, "
        f"CAST(observations.measure_id AS {_enum(measures)}) AS measure_id, "
        "observations.value FROM observations").df()


def _enum(values: list[str]) -> str:
    return "ENUM(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def read_dataset(path: str | os.PathLike[str]) -> Dataset | None:
    """The dataset of the DuckDB file at ``path`` (a path, not a URL), read read-only;
    None when the store's path must read it instead (see the module's docstring)."""
    import duckdb  # here: a module of the storage layer that --help never needs

    try:
        con = duckdb.connect(os.fspath(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        return read_dataset_from(con)
    except duckdb.Error:
        return None
    finally:
        con.close()


def read_dataset_from(con: Any) -> Dataset | None:
    """The dataset of the file open on the DuckDB connection ``con``; None when it is
    at another schema version (raises ``duckdb.Error`` when it cannot be read)."""
    def meta(key: str) -> str | None:
        found = con.execute(_META, [key]).fetchone()
        return None if found is None else found[0]

    has_meta = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta' "
        "AND table_schema = current_schema()").fetchone()[0]
    if not has_meta or meta("schema_version") != str(READS_SCHEMA_VERSION):
        return None  # older (to upgrade), newer (to refuse) or unreadable: the store's
    catalogue = catalogue_from_rows(
        meta("catalogue_version") or "", _rows(con, _PILLARS), _rows(con, _RECOMMENDATIONS),
        _rows(con, _MEASURES), _rows(con, _TERMS), _rows(con, _LINKS), _rows(con, _KPIS),
        dict(con.execute(_SETTINGS).fetchall()), _rows(con, _COMPARISONS))
    return dataset_from_frames(
        catalogue,
        forces_all=con.execute(_FORCES).df(),
        groups=con.execute(_GROUPS).df(),
        members=con.execute(_MEMBERS).df(),
        observations=_observations(con),
        loads=con.execute(_LOADS).df(),
        load_forces={int(load_id): str(forces)
                     for load_id, forces in con.execute(_LOAD_FORCES).fetchall()},
        populations=populations_frame(con.execute(_POPULATIONS).df()),
        is_demo=meta("demo") == "true",
        data_version=meta("data_version") or "0",
    )

"""Reading one data version from the database into a :class:`Dataset`."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from kpis.engine.dataset import Dataset, build_cube
from kpis.settings import NATIONAL_NAME, NATIONAL_SLUG
from kpis.storage import schema
from kpis.storage.backend import get_meta, query_frame
from kpis.storage.catalogue_store import fetch_catalogue
from kpis.storage.reference import population_by_year


def _load_forces(conn: sa.Connection) -> dict[int, str]:
    """The forces each load holds figures for (comma separated slugs)."""
    current, history = schema.observations.c, schema.observation_history.c
    pairs = sa.union(
        sa.select(current.load_id, current.force_slug),
        sa.select(history.load_id, history.force_slug),
    ).subquery()
    statement = (sa.select(pairs.c.load_id,
                           sa.func.string_agg(pairs.c.force_slug, sa.literal(",")))
                 .group_by(pairs.c.load_id))
    return {int(load_id): str(forces) for load_id, forces in conn.execute(statement)}


def load_dataset(conn: sa.Connection) -> Dataset:
    catalogue = fetch_catalogue(conn)
    forces_all = query_frame(conn, sa.select(schema.forces).order_by(schema.forces.c.name))
    forces = forces_all[forces_all["kind"] == "force"].reset_index(drop=True)
    groups = query_frame(conn, sa.select(schema.peer_groups).order_by(schema.peer_groups.c.name))
    members = query_frame(conn, sa.select(schema.peer_group_members)).rename(
        columns={"group_id": "area_id"}
    )
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
    observations = query_frame(
        conn,
        sa.select(
            schema.observations.c.force_slug, schema.observations.c.period_start,
            schema.observations.c.measure_id, schema.observations.c.value,
        ),
    )
    observations["period_start"] = pd.to_datetime(observations["period_start"])
    loads = query_frame(conn, sa.select(schema.loads).order_by(schema.loads.c.load_id.desc()))
    loads["forces"] = loads["load_id"].map(_load_forces(conn)).fillna("")
    return Dataset(
        catalogue=catalogue,
        forces=forces,
        areas=areas,
        members=members,
        cube=build_cube(forces, areas, members, observations, population_by_year(conn)),
        is_demo=get_meta(conn, "demo") == "true",
        data_version=get_meta(conn, "data_version") or "0",
        loads=loads,
    )

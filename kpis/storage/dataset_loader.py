"""Reading one data version from the database into a :class:`Dataset`."""

from __future__ import annotations

import sqlalchemy as sa

from kpis.engine.dataset import Dataset
from kpis.storage import schema
from kpis.storage.backend import get_meta, query_frame
from kpis.storage.catalogue_store import fetch_catalogue
from kpis.storage.duckdb_reader import dataset_from_frames
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
    # The same queries as kpis.storage.duckdb_reader runs without SQLAlchemy, and the
    # same assembly (dataset_from_frames): the two read one dataset.
    return dataset_from_frames(
        fetch_catalogue(conn),
        forces_all=query_frame(conn, sa.select(schema.forces).order_by(schema.forces.c.name)),
        groups=query_frame(conn, sa.select(schema.peer_groups)
                           .order_by(schema.peer_groups.c.name)),
        members=query_frame(conn, sa.select(schema.peer_group_members)),
        observations=query_frame(
            conn,
            sa.select(
                schema.observations.c.force_slug, schema.observations.c.period_start,
                schema.observations.c.measure_id, schema.observations.c.value,
            ),
        ),
        loads=query_frame(conn, sa.select(schema.loads).order_by(schema.loads.c.load_id.desc())),
        load_forces=_load_forces(conn),
        populations=population_by_year(conn),
        is_demo=get_meta(conn, "demo") == "true",
        data_version=get_meta(conn, "data_version") or "0",
    )

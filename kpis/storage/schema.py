"""The DuckDB schema, declared with SQLAlchemy Core.

Tables are declared here rather than reflected: duckdb-engine's reflection does not
work reliably with SQLAlchemy 2.x, and a declared schema is the documentation.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# DuckDB has no SERIAL type, so generated keys come from explicit sequences.
load_id_seq = sa.Sequence("load_id_seq", metadata=metadata)

forces = sa.Table(
    "forces",
    metadata,
    sa.Column("slug", sa.String, primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("ons_code", sa.String),
    sa.Column("region", sa.String),
    sa.Column("population", sa.BigInteger, nullable=False),
    # "force" for the 43 territorial forces, "national" for England and Wales.
    sa.Column("kind", sa.String, nullable=False),
    # The month the force adopted the NOM, used to re-base SPC limits.
    sa.Column("nom_adoption", sa.Date),
)

force_aliases = sa.Table(
    "force_aliases",
    metadata,
    sa.Column("alias", sa.String, primary_key=True),  # normalised: lower case, letters only
    sa.Column("slug", sa.String, nullable=False),
)

peer_groups = sa.Table(
    "peer_groups",
    metadata,
    sa.Column("group_id", sa.String, primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("kind", sa.String, nullable=False),  # "region" or "user"
)

peer_group_members = sa.Table(
    "peer_group_members",
    metadata,
    sa.Column("group_id", sa.String, primary_key=True),
    sa.Column("force_slug", sa.String, primary_key=True),
)

pillars = sa.Table(
    "pillars",
    metadata,
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String, nullable=False),
)

recommendations = sa.Table(
    "recommendations",
    metadata,
    sa.Column("rec_id", sa.String, primary_key=True),
    sa.Column("deadline", sa.Date, nullable=False),
    sa.Column("title", sa.String, nullable=False),
)

measures = sa.Table(
    "measures",
    metadata,
    sa.Column("measure_id", sa.String, primary_key=True),
    sa.Column("title", sa.String, nullable=False),
    sa.Column("unit", sa.String, nullable=False),
    sa.Column("periodicity", sa.String, nullable=False),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),  # order in the catalogue file
)

kpi_definitions = sa.Table(
    "kpi_definitions",
    metadata,
    sa.Column("kpi_id", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("status", sa.String, nullable=False),  # draft | published
    sa.Column("title", sa.String, nullable=False),
    sa.Column("pillar", sa.Integer, nullable=False),
    sa.Column("description", sa.String, nullable=False),
    sa.Column("unit", sa.String, nullable=False),
    sa.Column("polarity", sa.String, nullable=False),
    sa.Column("target", sa.Double),
    sa.Column("periodicity", sa.String, nullable=False),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("effective_from", sa.Date, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),  # order in the catalogue file
)

kpi_terms = sa.Table(
    "kpi_terms",
    metadata,
    sa.Column("kpi_id", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("role", sa.String, primary_key=True),  # numerator | denominator
    sa.Column("measure_id", sa.String, primary_key=True),
    sa.Column("term_order", sa.Integer, nullable=False),  # order as written in the catalogue
)

kpi_recommendations = sa.Table(
    "kpi_recommendations",
    metadata,
    sa.Column("kpi_id", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("rec_id", sa.String, primary_key=True),
)

observations = sa.Table(
    "observations",
    metadata,
    sa.Column("force_slug", sa.String, primary_key=True),
    sa.Column("measure_id", sa.String, primary_key=True),
    sa.Column("period_start", sa.Date, primary_key=True),
    sa.Column("value", sa.Double, nullable=False),
    sa.Column("load_id", sa.Integer, nullable=False),
)

# Values replaced by a resubmission, kept so nothing is ever lost.
observation_history = sa.Table(
    "observation_history",
    metadata,
    sa.Column("force_slug", sa.String, nullable=False),
    sa.Column("measure_id", sa.String, nullable=False),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("value", sa.Double, nullable=False),
    sa.Column("load_id", sa.Integer, nullable=False),
    sa.Column("superseded_by", sa.Integer, nullable=False),
)

loads = sa.Table(
    "loads",
    metadata,
    sa.Column(
        "load_id", sa.Integer, load_id_seq, server_default=load_id_seq.next_value(),
        primary_key=True,
    ),
    sa.Column("file_name", sa.String, nullable=False),
    sa.Column("sha256", sa.String, nullable=False),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("loaded_by", sa.String, nullable=False),
    sa.Column("loaded_at", sa.DateTime, nullable=False),
    sa.Column("status", sa.String, nullable=False),  # loaded | rolled back
    sa.Column("warnings", sa.Integer, nullable=False),
)

# Recommendations tracker: every status change is a new row (history is kept); the
# latest row per recommendation is its current status.
progress_id_seq = sa.Sequence("progress_id_seq", metadata=metadata)

recommendation_progress = sa.Table(
    "recommendation_progress",
    metadata,
    sa.Column(
        "progress_id", sa.Integer, progress_id_seq,
        server_default=progress_id_seq.next_value(), primary_key=True,
    ),
    sa.Column("rec_id", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False),  # not started | in progress | complete
    sa.Column("note", sa.String, nullable=False),
    sa.Column("author", sa.String, nullable=False),
    sa.Column("noted_at", sa.DateTime, nullable=False),
)

# Analyst commentary on a KPI for an area and period: the latest row per
# (kpi_id, area, period_start) is current; older rows are kept as history.
comment_id_seq = sa.Sequence("comment_id_seq", metadata=metadata)

commentary = sa.Table(
    "commentary",
    metadata,
    sa.Column(
        "comment_id", sa.Integer, comment_id_seq,
        server_default=comment_id_seq.next_value(), primary_key=True,
    ),
    sa.Column("kpi_id", sa.String, nullable=False),
    sa.Column("area", sa.String, nullable=False),  # force slug or england-and-wales
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("text", sa.String, nullable=False),
    sa.Column("author", sa.String, nullable=False),
    sa.Column("written_at", sa.DateTime, nullable=False),
)

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("value", sa.String, nullable=False),
)

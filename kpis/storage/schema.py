"""The flight deck's schema, declared with SQLAlchemy Core, and its versions.

Tables are declared here rather than reflected: duckdb-engine's reflection does not
work reliably with SQLAlchemy 2.x, and a declared schema is the documentation. The
schema's version and the steps that upgrade an older database are at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa

from kpis.settings import NATIONAL_SLUG

if TYPE_CHECKING:
    from kpis.domain.catalogue import KpiDefinition

metadata = sa.MetaData()


def serial_key(name: str, sequence: sa.Sequence) -> sa.Column:
    """An integer primary key numbered by ``sequence``: DuckDB has no SERIAL type, so
    generated keys come from explicit sequences."""
    return sa.Column(name, sa.Integer, sequence, server_default=sequence.next_value(),
                     primary_key=True)


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

# Population by year (ONS mid-year estimates, loaded by an administrator): counts are
# compared per 100,000 people of the period's year. ``forces.population`` (the shipped
# approximate figure) is the fallback for a year with no estimate.
force_populations = sa.Table(
    "force_populations",
    metadata,
    sa.Column("force_slug", sa.String, primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),  # mid-year (30 June)
    sa.Column("population", sa.BigInteger, nullable=False),
    sa.Column("source", sa.String, nullable=False),  # the file it was loaded from
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
    # A stock is never summed over time; how a month without a return counts.
    sa.Column("stock", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("missing", sa.String, nullable=False, server_default="gap"),
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
    sa.Column("spc_run_length", sa.Integer, nullable=False, server_default="7"),
    sa.Column("spc_baseline_points", sa.Integer),  # None: re-base at NOM adoption
    # A count is compared per ``comparison_per`` of the population or of a measure.
    sa.Column("comparison_base", sa.String, nullable=False, server_default="population"),
    sa.Column("comparison_per", sa.Integer, nullable=False, server_default="100000"),
    # A recorded-basis Home Office KPI is provisional while pending / total > above.
    sa.Column("provisional_pending", sa.String),
    sa.Column("provisional_total", sa.String),
    sa.Column("provisional_above", sa.Double),
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

# The catalogue's plausibility thresholds (``plausibility:``), one row per threshold:
# history_months, min_history, factor, run_length, recent_returns, min_median (schema 7).
plausibility_settings = sa.Table(
    "plausibility_settings",
    metadata,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("value", sa.Double, nullable=False),
)

# A force return's measure over a quarter against a Home Office measure (schema 7).
plausibility_comparisons = sa.Table(
    "plausibility_comparisons",
    metadata,
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("return_measure", sa.String, nullable=False),
    sa.Column("home_office_measure", sa.String, nullable=False),
    sa.Column("tolerance", sa.Double, nullable=False),  # a share of the Home Office figure
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
    serial_key("load_id", load_id_seq),
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
# latest row per recommendation and area is its current status there.
progress_id_seq = sa.Sequence("progress_id_seq", metadata=metadata)

recommendation_progress = sa.Table(
    "recommendation_progress",
    metadata,
    serial_key("progress_id", progress_id_seq),
    sa.Column("rec_id", sa.String, nullable=False),
    # The force whose progress it is, or england-and-wales for a national note (every
    # note written before notes were kept per force, schema 6, is national).
    sa.Column("area", sa.String, nullable=False, server_default=NATIONAL_SLUG),
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
    serial_key("comment_id", comment_id_seq),
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


# ----------------------------------------------------------------------- schema versions
#
# A database records the version of the schema it was written with in ``meta``
# (key ``schema_version``); one written before versions were recorded counts as 1. A
# store opening an older database upgrades it through the write path (see
# docs/storage.md): the steps below run in order on a private copy, from the file's
# version up to ``SCHEMA_VERSION``, then a new file is built with the tables declared
# above and the rows copied into it table by table, and published by atomic rename.
#
# To change the schema: change the tables above, add one to SCHEMA_VERSION, and add
# the step from the previous version to UPGRADES. A new table or a column with a
# default needs no code in its step (the rebuild creates it); a step moves, fills or
# drops what the rebuild cannot infer. The rebuild refuses to drop a table or column
# of the old file that the schema no longer declares: a step must drop it explicitly.

UpgradeStep = Callable[[sa.Connection], None]

SCHEMA_VERSION = 7
UNVERSIONED = 1  # the version of a database that records none


@dataclass(frozen=True)
class VersionedSchema:
    """The tables one kind of database holds, their version and the steps up to it.

    ``upgrades[n]`` turns a database at version ``n`` into one at ``n + 1``; it runs
    inside the upgrade's transaction, on a private copy, and sees the database as
    version ``n`` left it.
    """

    name: str  # what the database is, for messages
    metadata: sa.MetaData
    version: int
    upgrades: Mapping[int, UpgradeStep] = field(default_factory=dict)
    #: The PostgreSQL schema it lives in (kpis.storage.postgres): each kind of database
    #: has its own, so their ``meta`` tables do not meet.
    namespace: str = ""

    def __post_init__(self) -> None:
        expected = list(range(UNVERSIONED, self.version))
        if sorted(self.upgrades) != expected or list(self.upgrades) != expected:
            raise ValueError(
                f"{self.name} schema {self.version} needs one upgrade step from each "
                f"version before it, in order: {expected}, not {list(self.upgrades)}")


def _columns(conn: sa.Connection, table: str) -> list[str]:
    return list(conn.execute(sa.text(
        "SELECT column_name FROM information_schema.columns WHERE table_name = :table "
        "AND table_schema = current_schema() ORDER BY ordinal_position"),
        {"table": table}).scalars())


def _number_rows(conn: sa.Connection, table: str, column: str,
                 partition_by: tuple[str, ...] = ()) -> None:
    """Add integer ``column`` to ``table``, numbering its rows from 0 in the order they
    were written (DuckDB's rowid), within each ``partition_by`` group."""
    over = "ORDER BY rowid"
    if partition_by:
        over = f"PARTITION BY {', '.join(partition_by)} {over}"
    conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER")
    conn.exec_driver_sql(
        f"UPDATE {table} SET {column} = numbered.n FROM (SELECT rowid AS row_id, "
        f"row_number() OVER ({over}) - 1 AS n FROM {table}) AS numbered "
        f"WHERE {table}.rowid = numbered.row_id")


def _catalogue_order(conn: sa.Connection) -> None:
    """1 -> 2: the catalogue's order, and the schema version itself.

    Databases written before the catalogue kept its order have no
    ``measures.position`` or ``kpi_terms.term_order``. The code reads both, and the
    write path cannot add them (``create_all`` adds missing tables, not columns), so
    such a file could not be read or written at all. The catalogue was stored in file
    order, so the order the rows were written is the catalogue's. (Version 2 also
    records ``schema_version`` in ``meta``: every upgrade writes that row.)
    """
    measures = _columns(conn, "measures")
    if measures and "position" not in measures:
        _number_rows(conn, "measures", "position")
    terms = _columns(conn, "kpi_terms")
    if terms and "term_order" not in terms:
        _number_rows(conn, "kpi_terms", "term_order", ("kpi_id", "version", "role"))


def _add_columns(conn: sa.Connection, table: str, columns: tuple[tuple[str, str], ...]
                 ) -> bool:
    """Add each (name, declaration) ``table`` lacks; False if there is no such table."""
    present = _columns(conn, table)
    for name, declaration in columns if present else ():
        if name not in present:
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")
    return bool(present)


ShippedValues = Callable[["KpiDefinition", set[str]], "dict[str, object] | None"]


def _shipped_kpi_values(conn: sa.Connection, values: ShippedValues) -> None:
    """Give each stored KPI definition the columns ``values(kpi, stored measure ids)``
    returns for the shipped catalogue's entry of the same id and version (None: keep
    the defaults). Upgrades use it so a new rule applies without a catalogue reload."""
    from kpis.domain.catalogue import read_catalogue  # the shipped file, once
    from kpis.settings import CATALOGUE_FILE

    stored = set(conn.execute(sa.text("SELECT measure_id FROM measures")).scalars())
    for kpi in read_catalogue(CATALOGUE_FILE).kpis:
        given = values(kpi, stored)
        if given:
            columns = ", ".join(f"{name} = :{name}" for name in given)
            conn.execute(sa.text(f"UPDATE kpi_definitions SET {columns} "
                                 "WHERE kpi_id = :kpi_id AND version = :version"),
                         {**given, "kpi_id": kpi.kpi_id, "version": kpi.version})


def _measure_and_spc_rules(conn: sa.Connection) -> None:
    """2 -> 3: measures say whether they are stocks and how a missing month counts; KPI
    definitions carry their SPC run length and any fixed baseline.

    The rows already stored take the values the shipped catalogue gives the same ids
    (so devices awaiting examination becomes a stock without a catalogue reload), and
    the defaults otherwise.
    """
    from kpis.domain.catalogue import read_catalogue  # the shipped file, once
    from kpis.settings import CATALOGUE_FILE

    if _add_columns(conn, "measures", (("stock", "BOOLEAN NOT NULL DEFAULT false"),
                                       ("missing", "VARCHAR NOT NULL DEFAULT 'gap'"))):
        for m in read_catalogue(CATALOGUE_FILE).measures:
            conn.execute(sa.text("UPDATE measures SET stock = :stock, missing = :missing "
                                 "WHERE measure_id = :id"),
                         {"stock": m.stock, "missing": m.missing, "id": m.measure_id})
    if _add_columns(conn, "kpi_definitions", (
            ("spc_run_length", "INTEGER NOT NULL DEFAULT 7"), ("spc_baseline_points", "INTEGER"))):
        _shipped_kpi_values(conn, lambda k, _: {"spc_run_length": k.spc_run_length,
                                                "spc_baseline_points": k.spc_baseline_points})


def _comparison_bases(conn: sa.Connection) -> None:
    """3 -> 4: KPI definitions say what a count is compared per.

    The rows already stored take the base the shipped catalogue gives the same id and
    version (police referrals to CPS: per 100 reports received); every other count
    keeps what it had, per 100,000 people.
    """
    if _add_columns(conn, "kpi_definitions", (
            ("comparison_base", "VARCHAR NOT NULL DEFAULT 'population'"),
            ("comparison_per", "INTEGER NOT NULL DEFAULT 100000"))):
        _shipped_kpi_values(conn, lambda k, stored: {
            "comparison_base": k.comparison_base, "comparison_per": k.comparison_per,
        } if k.comparison_base in stored else None)


def _provisional_rules(conn: sa.Connection) -> None:
    """4 -> 5: recorded-basis Home Office KPIs say when their values are provisional.

    The rows already stored take the rule the shipped catalogue gives the same id and
    version; the others have none.
    """
    def rule(kpi: KpiDefinition, stored: set[str]) -> dict[str, object] | None:
        given = kpi.provisional
        if given is None or not {given.pending, given.total} <= stored:
            return None
        return {"provisional_pending": given.pending, "provisional_total": given.total,
                "provisional_above": given.above}

    if _add_columns(conn, "kpi_definitions", (
            ("provisional_pending", "VARCHAR"), ("provisional_total", "VARCHAR"),
            ("provisional_above", "DOUBLE"))):
        _shipped_kpi_values(conn, rule)


def _progress_areas(conn: sa.Connection) -> None:
    """5 -> 6: recommendation progress is kept per force.

    Every note written before then was the one national note, so the rows already
    stored become national notes (england-and-wales).
    """
    _add_columns(conn, "recommendation_progress", (
        ("area", f"VARCHAR NOT NULL DEFAULT '{NATIONAL_SLUG}'"),))


def _plausibility_rules(conn: sa.Connection) -> None:
    """6 -> 7: the catalogue's plausibility thresholds and Home Office comparisons.

    A database without them takes the shipped catalogue's, so every load of a return
    is checked without a catalogue reload (a comparison only where both measures are
    stored). The step creates the two tables itself, so that the rebuild copies what
    it wrote; a file that already has them (a version 1 file, which records no
    version) keeps its rows.
    """
    from kpis.domain.catalogue import read_catalogue  # the shipped file, once
    from kpis.settings import CATALOGUE_FILE
    from kpis.storage.catalogue_store import PLAUSIBILITY_SETTINGS

    if _columns(conn, plausibility_settings.name):
        return
    plausibility_settings.create(conn)
    plausibility_comparisons.create(conn)
    if not _columns(conn, "measures"):
        return  # no catalogue stored: a catalogue load writes the rules with it
    rules = read_catalogue(CATALOGUE_FILE).plausibility
    conn.execute(sa.insert(plausibility_settings), [
        {"name": name, "value": float(getattr(rules, name))}
        for name in PLAUSIBILITY_SETTINGS])
    stored = set(conn.execute(sa.text("SELECT measure_id FROM measures")).scalars())
    pairs = [{"position": position, "return_measure": pair.return_measure,
              "home_office_measure": pair.home_office_measure, "tolerance": pair.tolerance}
             for position, pair in enumerate(rules.home_office)
             if {pair.return_measure, pair.home_office_measure} <= stored]
    if pairs:
        conn.execute(sa.insert(plausibility_comparisons), pairs)


#: From-version -> the step to the next version, in version order.
UPGRADES: dict[int, UpgradeStep] = {
    1: _catalogue_order,
    2: _measure_and_spc_rules,
    3: _comparison_bases,
    4: _provisional_rules,
    5: _progress_areas,
    6: _plausibility_rules,
}

FLIGHT_DECK = VersionedSchema("flight deck database", metadata, SCHEMA_VERSION, UPGRADES,
                              namespace="flightdeck")

"""Reference data: the 43 territorial forces, England and Wales, and peer groups.

Forces come from ``data/forces.csv`` (project data); each force's region is its
default peer group. A user-supplied "most similar group" file (CSV with columns
``group,force``) can add peer groups. Force names in Home Office tables vary
between releases, so names are matched through a normalised alias table.

An administrator also loads two kinds of reference data (validated by
``kpis.ingest.adoption`` and ``kpis.ingest.populations``): each force's NOM adoption
month (``forces.nom_adoption``) and ONS mid-year population estimates by year
(``force_populations``). Here are their readers and writers.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from kpis.settings import DATA_DIR, FORCES_CSV, NATIONAL_NAME, NATIONAL_SLUG
from kpis.storage import schema
from kpis.storage.backend import query_frame

ALIASES_CSV = DATA_DIR / "force_aliases.csv"

# Rows in Home Office tables that are not territorial forces.
NON_TERRITORIAL = ("action fraud", "cifas", "uk finance", "british transport police")


def normalise_name(name: str) -> str:
    """Lower case, '&' as 'and', letters and digits only.

    'Devon & Cornwall Police' -> 'devonandcornwall'.
    """
    text = str(name).lower().replace("&", " and ")
    text = re.sub(r"\b(police|service|constabulary)\b", " ", text)
    return re.sub(r"[^a-z0-9]", "", text)


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")


def read_forces(path: Path = FORCES_CSV) -> list[dict[str, object]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [
        {
            "slug": row["slug"],
            "name": row["name"],
            "ons_code": row["ons_code"],
            "region": row["region"],
            "population": int(row["approx_population"]),
            "kind": "force",
            "nom_adoption": None,
        }
        for row in rows
    ]


def store_reference(conn: sa.Connection, forces_path: Path = FORCES_CSV) -> None:
    """(Re)write forces, aliases and regional peer groups, keeping user peer groups."""
    forces = read_forces(forces_path)
    national = {
        "slug": NATIONAL_SLUG,
        "name": NATIONAL_NAME,
        "ons_code": "K04000001",
        "region": None,
        "population": sum(int(f["population"]) for f in forces),  # type: ignore[call-overload]
        "kind": "national",
        "nom_adoption": None,
    }
    conn.execute(sa.delete(schema.forces))
    conn.execute(sa.insert(schema.forces), [*forces, national])

    aliases: dict[str, str] = {}
    for force in forces:
        aliases[normalise_name(str(force["name"]))] = str(force["slug"])
        aliases[normalise_name(str(force["slug"]))] = str(force["slug"])
    with open(ALIASES_CSV, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            aliases[normalise_name(row["alias"])] = row["slug"]
    conn.execute(sa.delete(schema.force_aliases))
    conn.execute(
        sa.insert(schema.force_aliases),
        [{"alias": alias, "slug": slug} for alias, slug in sorted(aliases.items())],
    )

    is_region = schema.peer_groups.c.kind == "region"
    conn.execute(sa.delete(schema.peer_group_members).where(
        schema.peer_group_members.c.group_id.in_(
            sa.select(schema.peer_groups.c.group_id).where(is_region))))
    conn.execute(sa.delete(schema.peer_groups).where(is_region))
    regions = sorted({str(f["region"]) for f in forces})
    conn.execute(
        sa.insert(schema.peer_groups),
        [{"group_id": f"region-{slugify(r)}", "name": r, "kind": "region"} for r in regions],
    )
    conn.execute(
        sa.insert(schema.peer_group_members),
        [{"group_id": f"region-{slugify(str(f['region']))}", "force_slug": f["slug"]}
         for f in forces],
    )


class PeerGroupError(ValueError):
    """A peer group file names an unknown force or is malformed."""


def store_peer_groups(conn: sa.Connection, path: Path) -> int:
    """Add (or replace) user peer groups from a CSV with columns ``group,force``.

    Forces may be given by slug or by any known name. Returns the number of groups.
    """
    aliases = dict(conn.execute(
        sa.select(schema.force_aliases.c.alias, schema.force_aliases.c.slug)).all())
    groups: dict[str, list[str]] = {}
    problems: list[str] = []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {"group", "force"} - set(reader.fieldnames or [])
        if missing:
            raise PeerGroupError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            slug = aliases.get(normalise_name(row["force"] or ""))
            if slug is None:
                problems.append(
                    f"{path}: row {line}: column 'force' = {row['force']!r}: unknown force"
                )
                continue
            groups.setdefault(row["group"].strip(), []).append(slug)
    problems += _revealing_groups(conn, path, {n: set(m) for n, m in groups.items()})
    if problems:
        raise PeerGroupError("\n".join(problems))
    for name, members in groups.items():
        group_id = f"group-{slugify(name)}"
        conn.execute(sa.delete(schema.peer_group_members).where(
            schema.peer_group_members.c.group_id == group_id))
        conn.execute(
            sa.delete(schema.peer_groups).where(schema.peer_groups.c.group_id == group_id)
        )
        conn.execute(
            sa.insert(schema.peer_groups).values(group_id=group_id, name=name, kind="user")
        )
        conn.execute(
            sa.insert(schema.peer_group_members),
            [{"group_id": group_id, "force_slug": s} for s in sorted(set(members))],
        )
    return len(groups)


#: The fewest forces a peer group may have, and by which it must differ from any other
#: aggregate that holds it or that it holds: a group of one force is that force; one
#: that is England and Wales less one force gives that force away by subtraction.
MIN_GROUP_FORCES = 3


def _revealing_groups(conn: sa.Connection, path: Path, groups: dict[str, set[str]]
                      ) -> list[str]:
    """Why each new group could give a force's figures away, if it could."""
    members = conn.execute(sa.select(schema.peer_group_members.c.group_id,
                                     schema.peer_group_members.c.force_slug)).all()
    names = dict(conn.execute(sa.select(schema.peer_groups.c.group_id,
                                        schema.peer_groups.c.name)).all())
    existing: dict[str, set[str]] = {}
    for group_id, slug in members:
        existing.setdefault(names.get(group_id, group_id), set()).add(slug)
    forces = set(conn.execute(sa.select(schema.forces.c.slug)
                              .where(schema.forces.c.kind == "force")).scalars())
    others = {**{n: m for n, m in existing.items() if n not in groups},
              "England and Wales": forces, **groups}
    problems = []
    for name, group in groups.items():
        if len(group) < MIN_GROUP_FORCES:
            problems.append(f"{path}: group {name!r} has {len(group)} force(s): a peer "
                            f"group needs at least {MIN_GROUP_FORCES}, or it shows single "
                            "forces' figures")
            continue
        for other_name, other in others.items():
            if other_name == name:
                continue
            bigger, smaller = (other, group) if len(other) >= len(group) else (group, other)
            if smaller <= bigger and 0 < len(bigger - smaller) < MIN_GROUP_FORCES:
                problems.append(
                    f"{path}: group {name!r} differs from {other_name!r} by "
                    f"{len(bigger - smaller)} force(s) ({', '.join(sorted(bigger - smaller))})"
                    f": subtracting one from the other would give "
                    f"{'that force' if len(bigger - smaller) == 1 else 'those forces'}' "
                    "figures; add or remove forces")
                break
    return problems


# ---------------------------------------------------------------- NOM adoption months


def adoption_months(conn: sa.Connection) -> list[tuple[str, str, dt.date | None]]:
    """Each territorial force as (slug, name, NOM adoption month or None), by name."""
    forces = schema.forces.c
    rows = conn.execute(
        sa.select(forces.slug, forces.name, forces.nom_adoption)
        .where(forces.kind == "force").order_by(forces.name)
    ).all()
    return [(str(slug), str(name), month) for slug, name, month in rows]


def store_adoption_months(conn: sa.Connection, months: Mapping[str, dt.date | None]) -> None:
    """Set (a month) or clear (None) the NOM adoption month of each force named."""
    forces = schema.forces.c
    for slug, month in sorted(months.items()):
        conn.execute(sa.update(schema.forces).where(forces.slug == slug)
                     .where(forces.kind == "force").values(nom_adoption=month))


# ---------------------------------------------------------------- population by year

POPULATION_COLUMNS = ["force_slug", "year", "population"]


def population_by_year(conn: sa.Connection) -> pd.DataFrame:
    """ONS mid-year population estimates: one row per force and year, sorted.

    Columns ``force_slug`` (str), ``year`` (int, the estimate is at 30 June) and
    ``population`` (int). Empty (with those columns) until an administrator loads
    estimates; a year without one falls back to ``forces.population``.
    """
    table = schema.force_populations.c
    frame = query_frame(conn, sa.select(table.force_slug, table.year, table.population)
                        .order_by(table.year, table.force_slug))
    if frame.empty:
        return pd.DataFrame({"force_slug": pd.Series(dtype=object),
                             "year": pd.Series(dtype="int64"),
                             "population": pd.Series(dtype="int64")})
    return frame.astype({"force_slug": object, "year": "int64", "population": "int64"})


def population_estimates(conn: sa.Connection) -> pd.DataFrame:
    """The stored estimates with each force's name and the file they came from."""
    table, forces = schema.force_populations.c, schema.forces.c
    return query_frame(conn, sa.select(
        table.year, table.force_slug, forces.name, table.population, table.source)
        .join_from(schema.force_populations, schema.forces,
                   forces.slug == table.force_slug)
        .order_by(table.year, forces.name))


def store_populations(conn: sa.Connection, estimates: pd.DataFrame, source: str
                      ) -> dict[int, int]:
    """Replace every estimate for each year in ``estimates`` (force_slug, year,
    population) with those rows; returns how many rows each year held before."""
    table = schema.force_populations
    years = sorted({int(y) for y in estimates["year"]})
    before = dict(conn.execute(
        sa.select(table.c.year, sa.func.count()).where(table.c.year.in_(years))
        .group_by(table.c.year)).all())
    conn.execute(sa.delete(table).where(table.c.year.in_(years)))
    if len(estimates):
        conn.execute(sa.insert(table), [
            {"force_slug": str(slug), "year": int(year), "population": int(population),
             "source": source}
            for slug, year, population in estimates[POPULATION_COLUMNS].itertuples(
                index=False, name=None)])
    return {year: int(before.get(year, 0)) for year in years}

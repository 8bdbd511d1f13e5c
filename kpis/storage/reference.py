"""Reference data: the 43 territorial forces, England and Wales, and peer groups.

Forces come from ``data/forces.csv`` (project data); each force's region is its
default peer group. A user-supplied "most similar group" file (CSV with columns
``group,force``) can add peer groups. Force names in Home Office tables vary
between releases, so names are matched through a normalised alias table.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import sqlalchemy as sa

from kpis.settings import DATA_DIR, FORCES_CSV, NATIONAL_NAME, NATIONAL_SLUG
from kpis.storage import schema

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

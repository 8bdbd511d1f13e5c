"""The store: a real DuckDB file, written through one path, read by read-only readers."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from kpis.settings import DB_ENV_VAR, DEFAULT_DB_PATH, NATIONAL_SLUG, resolve_db_path
from kpis.storage import schema
from kpis.storage.duckdb_file import Reader, get_meta, write_transaction
from kpis.storage.reference import normalise_name, read_forces


def test_forces_round_trip_with_england_and_wales_as_the_national_total(empty_db: Path) -> None:
    forces = read_forces()
    with Reader(empty_db).connect() as conn:
        rows = conn.execute(sa.select(schema.forces)).mappings().all()
    territorial = [r for r in rows if r["kind"] == "force"]
    national = [r for r in rows if r["kind"] == "national"]
    assert len(territorial) == 43
    assert {r["slug"] for r in territorial} == {f["slug"] for f in forces}
    assert national[0]["slug"] == NATIONAL_SLUG
    assert national[0]["population"] == sum(int(f["population"]) for f in forces)


def test_every_force_belongs_to_its_region_as_the_default_peer_group(empty_db: Path) -> None:
    with Reader(empty_db).connect() as conn:
        members = conn.execute(
            sa.select(schema.peer_group_members.c.force_slug, schema.peer_groups.c.name)
            .join(schema.peer_groups,
                  schema.peer_groups.c.group_id == schema.peer_group_members.c.group_id)
            .where(schema.peer_groups.c.kind == "region")
        ).all()
    region_of = {f["slug"]: f["region"] for f in read_forces()}
    assert len(members) == 43
    assert all(region_of[slug] == region for slug, region in members)


def test_observations_round_trip_through_a_published_write(empty_db: Path) -> None:
    with write_transaction(empty_db) as conn:
        conn.execute(sa.insert(schema.loads).values(
            file_name="x.csv", sha256="0" * 64, kind="return", rows=1, loaded_by="test",
            loaded_at=dt.datetime(2025, 10, 1, 9), status="loaded", warnings=0))
        conn.execute(sa.insert(schema.observations).values(
            force_slug="kent", measure_id="rape_reports", period_start=dt.date(2025, 9, 1),
            value=123.0, load_id=1))
    with Reader(empty_db).connect() as conn:
        row = conn.execute(sa.select(schema.observations)).one()
    assert row == ("kent", "rape_reports", dt.date(2025, 9, 1), 123.0, 1)


def test_a_failed_write_leaves_the_file_byte_for_byte_unchanged(empty_db: Path) -> None:
    before = empty_db.read_bytes()
    with pytest.raises(RuntimeError, match="boom"), write_transaction(empty_db) as conn:
        conn.execute(sa.delete(schema.forces))
        raise RuntimeError("boom")
    assert empty_db.read_bytes() == before
    leftovers = [p.name for p in empty_db.parent.iterdir() if "staging" in p.name]
    assert leftovers == []


def test_each_write_bumps_the_data_version(empty_db: Path) -> None:
    def version() -> str | None:
        with Reader(empty_db).connect() as conn:
            return get_meta(conn, "data_version")

    first = int(version() or 0)
    with write_transaction(empty_db):
        pass
    assert int(version() or 0) == first + 1


def test_a_reader_sees_a_new_version_without_reopening_by_hand(empty_db: Path) -> None:
    reader = Reader(empty_db)
    count = sa.select(sa.func.count()).select_from(schema.observations)
    with reader.connect() as conn:
        assert conn.execute(count).scalar_one() == 0
    with write_transaction(empty_db) as conn:
        conn.execute(sa.insert(schema.observations).values(
            force_slug="kent", measure_id="rape_reports", period_start=dt.date(2025, 9, 1),
            value=5.0, load_id=1))
    with reader.connect() as conn:
        assert conn.execute(count).scalar_one() == 1
    reader.close()


def test_a_reader_mid_query_keeps_the_old_version_while_a_write_lands(empty_db: Path) -> None:
    reader = Reader(empty_db)
    count = sa.select(sa.func.count()).select_from(schema.observations)
    with reader.connect() as held:
        with write_transaction(empty_db) as conn:
            conn.execute(sa.insert(schema.observations).values(
                force_slug="kent", measure_id="rape_reports",
                period_start=dt.date(2025, 9, 1), value=5.0, load_id=1))
        assert held.execute(count).scalar_one() == 0
        with reader.connect() as fresh:
            assert fresh.execute(count).scalar_one() == 1
    reader.close()


def test_readers_cannot_write(empty_db: Path) -> None:
    with Reader(empty_db).connect() as conn, pytest.raises(sa.exc.DBAPIError):
        conn.execute(sa.delete(schema.forces))


def test_database_path_comes_from_argument_then_environment_then_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(DB_ENV_VAR, raising=False)
    assert resolve_db_path() == DEFAULT_DB_PATH
    monkeypatch.setenv(DB_ENV_VAR, str(tmp_path / "env.duckdb"))
    assert resolve_db_path() == tmp_path / "env.duckdb"
    assert resolve_db_path(tmp_path / "arg.duckdb") == tmp_path / "arg.duckdb"
    assert DEFAULT_DB_PATH.name == "flightdeck.duckdb"
    assert DEFAULT_DB_PATH.parent.name == "data"


@pytest.mark.parametrize(
    ("variant", "slug"),
    [
        ("Metropolitan Police", "metropolitan"),
        ("Metropolitan Police Service", "metropolitan"),
        ("London, City of", "city-of-london"),
        ("Devon & Cornwall", "devon-and-cornwall"),
        ("Avon & Somerset", "avon-and-somerset"),
        ("Dyfed Powys", "dyfed-powys"),
        ("Hampshire and Isle of Wight", "hampshire"),
    ],
)
def test_home_office_force_name_variants_resolve_to_one_force(
    empty_db: Path, variant: str, slug: str
) -> None:
    with Reader(empty_db).connect() as conn:
        found = conn.execute(
            sa.select(schema.force_aliases.c.slug)
            .where(schema.force_aliases.c.alias == normalise_name(variant))
        ).scalar_one()
    assert found == slug


def test_the_database_file_is_git_ignored() -> None:
    ignore = (Path(__file__).resolve().parent.parent / ".gitignore").read_text()
    assert "data/*.duckdb" in ignore
    assert os.path.basename(str(DEFAULT_DB_PATH)).endswith(".duckdb")

"""User-supplied 'most similar group' peer groups add to the regional defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from kpis.storage import schema
from kpis.storage.duckdb_file import Reader, write_transaction
from kpis.storage.reference import PeerGroupError, store_peer_groups


def test_a_peer_group_file_adds_a_group_by_slug_or_name(empty_db: Path, tmp_path: Path) -> None:
    groups = tmp_path / "msg.csv"
    groups.write_text("group,force\nCounty group,kent\nCounty group,Devon & Cornwall\n"
                      "County group,Essex\n", encoding="utf-8")
    with write_transaction(empty_db) as conn:
        assert store_peer_groups(conn, groups) == 1
    with Reader(empty_db).connect() as conn:
        members = conn.execute(
            sa.select(schema.peer_group_members.c.force_slug)
            .where(schema.peer_group_members.c.group_id == "group-county-group")
            .order_by(schema.peer_group_members.c.force_slug)
        ).scalars().all()
    assert members == ["devon-and-cornwall", "essex", "kent"]


def test_an_unknown_force_in_a_peer_group_file_is_refused_with_its_row(
    empty_db: Path, tmp_path: Path
) -> None:
    groups = tmp_path / "msg.csv"
    groups.write_text("group,force\nG,kent\nG,Atlantis\n", encoding="utf-8")
    expected = r"row 3: column 'force' = 'Atlantis': unknown"
    with pytest.raises(PeerGroupError, match=expected), write_transaction(empty_db) as conn:
        store_peer_groups(conn, groups)

"""The recommendations tracker and commentary store, on real DuckDB files and on
PostgreSQL (tests/conftest.py: BACKENDS)."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from kpis.storage import annotations
from kpis.storage.backend import Store, open_store
from kpis.storage.duckdb_file import Reader, write_transaction
from tests.backends import demo_db_on_both, empty_db_on_both  # noqa: F401 (fixtures: both backends)
from tests.conftest import database_digest

NOON = dt.datetime(2025, 6, 1, 12, 0)
KPI = "investigators_accredited"


@pytest.fixture
def reader(empty_db: Path | str) -> Iterator[Store]:
    handle = open_store(empty_db)
    yield handle
    handle.close()


def by_id(rows: list[annotations.RecommendationStatus]
          ) -> dict[str, annotations.RecommendationStatus]:
    return {row.rec_id: row for row in rows}


def test_five_recommendations_with_deadlines_and_linked_kpis(reader: Store) -> None:
    rows = annotations.recommendation_status(reader, dt.date(2024, 12, 1))
    assert [r.rec_id for r in rows] == ["R1", "R2", "R3", "R4", "R5"]
    r2 = by_id(rows)["R2"]
    assert r2.deadline == dt.date(2025, 7, 31)
    assert r2.kpi_ids == ("repeat_suspects_identified", "repeat_suspects_managed")
    assert all(r.displayed == "not started" and r.status is None for r in rows)


def test_overdue_is_computed_from_the_deadline_and_today(empty_db: Path, reader: Store
                                                         ) -> None:
    # R2's deadline is 31 July 2025.
    assert by_id(annotations.recommendation_status(reader, dt.date(2025, 7, 31)))[
        "R2"].displayed == "not started"
    assert by_id(annotations.recommendation_status(reader, dt.date(2025, 8, 1)))[
        "R2"].displayed == "overdue"
    annotations.record_progress(empty_db, "R2", "in progress", "Started", "Ana", now=NOON)
    late = by_id(annotations.recommendation_status(reader, dt.date(2025, 8, 1)))["R2"]
    assert (late.displayed, late.status, late.is_overdue) == ("overdue", "in progress", True)
    early = by_id(annotations.recommendation_status(reader, dt.date(2025, 7, 1)))["R2"]
    assert early.displayed == "in progress"
    annotations.record_progress(empty_db, "R2", "complete", "Done", "Ana", now=NOON)
    done = by_id(annotations.recommendation_status(reader, dt.date(2030, 1, 1)))["R2"]
    assert done.displayed == "complete" and not done.is_overdue


def test_history_is_kept_and_the_latest_row_is_current(empty_db: Path, reader: Store) -> None:
    first = annotations.record_progress(empty_db, "R4", "in progress", "Process drafted",
                                        "Ana", now=NOON)
    second = annotations.record_progress(empty_db, "R4", "complete", "  Signed off  ", "Ben",
                                         now=NOON + dt.timedelta(days=3))
    assert second > first
    row = by_id(annotations.recommendation_status(reader, dt.date(2025, 6, 1)))["R4"]
    assert (row.status, row.note, row.author, row.noted_at) == (
        "complete", "Signed off", "Ben", NOON + dt.timedelta(days=3))
    history = annotations.progress_history(reader, "R4")
    assert [h["note"] for h in history] == ["Signed off", "Process drafted"]
    assert annotations.progress_history(reader, "R1") == []


@pytest.mark.parametrize(("rec_id", "status", "note", "author", "message"), [
    ("R9", "complete", "x", "Ana", "unknown recommendation"),
    ("R1", "overdue", "x", "Ana", "worked out from the deadline"),
    ("R1", "finished", "x", "Ana", "status must be one of"),
    ("R1", "complete", "   ", "Ana", "note must not be empty"),
    ("R1", "complete", "x" * 2001, "Ana", "limit is 2,000"),
    ("R1", "complete", "x", "", "author must not be empty"),
])
def test_bad_progress_is_refused_and_nothing_is_written(
    empty_db: Path, rec_id: str, status: str, note: str, author: str, message: str
) -> None:
    before = database_digest(empty_db)
    with pytest.raises(ValueError, match=message):
        annotations.record_progress(empty_db, rec_id, status, note, author)
    assert database_digest(empty_db) == before


def test_a_note_of_exactly_2000_characters_is_accepted(empty_db: Path, reader: Store) -> None:
    annotations.record_progress(empty_db, "R1", "complete", "y" * 2000, "Ana")
    assert by_id(annotations.recommendation_status(reader))["R1"].note == "y" * 2000


def test_commentary_round_trip_replacement_and_history(demo_db: Path) -> None:
    annotations.write_commentary(demo_db, KPI, "kent", "2025-09", "First view", "Ana", now=NOON)
    annotations.write_commentary(demo_db, KPI, "kent", dt.date(2025, 9, 1), "Revised view",
                                 "Ben", now=NOON + dt.timedelta(hours=1))
    annotations.write_commentary(demo_db, KPI, "england-and-wales", "2025-09", "National",
                                 "Ana", now=NOON)
    annotations.write_commentary(demo_db, "ho_rape_charge_rate", "kent", "2025-09",
                                 "Charges up", "Ana", now=NOON)
    annotations.write_commentary(demo_db, KPI, "kent", "2025-08", "August", "Ana", now=NOON)
    reader = open_store(demo_db)
    try:
        current = annotations.commentary_for(reader, KPI, "kent", "2025-09")
        assert current is not None
        assert (current.text, current.author, current.written_at) == (
            "Revised view", "Ben", NOON + dt.timedelta(hours=1))
        history = annotations.commentary_history(reader, KPI, "kent", "2025-09")
        assert [c.text for c in history] == ["Revised view", "First view"]
        assert annotations.all_commentary(reader, "kent", "2025-09") == {
            KPI: "Revised view", "ho_rape_charge_rate": "Charges up"}
        assert annotations.commentary_for(reader, KPI, "durham", "2025-09") is None
        assert annotations.all_commentary(reader, "kent", "2024-01") == {}
    finally:
        reader.close()


@pytest.mark.parametrize(("kpi_id", "area", "period", "text", "author", "message"), [
    ("no_such_kpi", "kent", "2025-09", "x", "Ana", "unknown KPI"),
    (KPI, "atlantis", "2025-09", "x", "Ana", "unknown force or area"),
    (KPI, "kent", "September", "x", "Ana", "period must be a month"),
    (KPI, "kent", "2025-09", "", "Ana", "commentary must not be empty"),
    (KPI, "kent", "2025-09", "z" * 2001, "Ana", "limit is 2,000"),
    (KPI, "kent", "2025-09", "x", "  ", "author must not be empty"),
])
def test_bad_commentary_is_refused(empty_db: Path, kpi_id: str, area: str, period: str,
                                   text: str, author: str, message: str) -> None:
    before = database_digest(empty_db)
    with pytest.raises(ValueError, match=message):
        annotations.write_commentary(empty_db, kpi_id, area, period, text, author)
    assert database_digest(empty_db) == before


def test_a_database_without_the_new_tables_reads_as_empty(empty_db_template: Path,
                                                          tmp_path: Path) -> None:
    empty_db = empty_db_template  # a file of an older version: DuckDB only
    old = tmp_path / "old.duckdb"
    shutil.copyfile(empty_db, old)
    with write_transaction(old) as conn:  # create_all runs first: drop them afterwards
        conn.execute(sa.text("DROP TABLE recommendation_progress"))
        conn.execute(sa.text("DROP TABLE commentary"))
    reader = Reader(old)
    try:
        with reader.connect() as conn:
            names = set(conn.execute(sa.text(
                "SELECT table_name FROM information_schema.tables")).scalars())
        assert "commentary" not in names and "recommendation_progress" not in names
        rows = annotations.recommendation_status(reader, dt.date(2025, 2, 1))
        assert len(rows) == 5 and by_id(rows)["R2"].displayed == "not started"
        assert by_id(rows)["R1"].displayed == "overdue"
        assert annotations.progress_history(reader) == []
        assert annotations.commentary_for(reader, KPI, "kent", "2025-09") is None
        assert annotations.all_commentary(reader, "kent", "2025-09") == {}
    finally:
        reader.close()
    # The next write creates the tables again.
    annotations.record_progress(old, "R2", "in progress", "Back", "Ana")
    again = Reader(old)
    try:
        with again.connect() as conn:
            rows = annotations.recommendation_status(conn, dt.date(2025, 2, 1))
    finally:
        again.close()
    assert by_id(rows)["R2"].status == "in progress"


# ------------------------------------------------------------- the Dash helper pieces


def _texts(component: object) -> str:
    """Every string in a Dash component tree, joined (for asserting on rendered text)."""
    if isinstance(component, str):
        return component
    children = getattr(component, "children", None)
    if children is None:
        return ""
    if isinstance(children, list | tuple):
        return " ".join(_texts(child) for child in children)
    return _texts(children)


def test_commentary_block_shows_saves_and_refuses(demo_db: Path) -> None:
    import dash
    import flask

    from kpis.domain.access import demo_principal
    from kpis.service import FlightDeckService
    from layouts import _commentary
    from web.context import SERVICE_KEY

    server = flask.Flask(__name__)
    server.config[SERVICE_KEY] = FlightDeckService(demo_db)
    try:
        with server.test_request_context():
            flask.g.principal = demo_principal()  # as the sign-in gate sets it
            block = _commentary.commentary_block(KPI, "kent", dt.date(2025, 9, 1))
            assert "No commentary for this force and period yet" in _texts(block)
            view, message = _commentary.save_commentary(
                _commentary.block_key(KPI, "kent", "2025-09"), "Accreditation rising", "Ana")
            assert "Commentary saved" in _texts(message)
            assert "Accreditation rising" in _texts(view) and "Ana" in _texts(view)
            block = _commentary.commentary_block(KPI, "kent", "2025-09")
            assert "Accreditation rising" in _texts(block)
            view, message = _commentary.save_commentary(
                _commentary.block_key(KPI, "kent", "2025-09"), "", "Ana")
            assert view is dash.no_update
            assert "Not saved: The commentary must not be empty" in _texts(message)
    finally:
        server.config[SERVICE_KEY].close()
    app = dash.Dash(__name__)
    _commentary.register_commentary(app)
    assert any("commentary-current" in key for key in app.callback_map)


# ------------------------------------------------------------- versions


def test_annotations_move_their_own_version_and_keep_the_dataset(
    demo_db: Path | str, tmp_path: Path
) -> None:
    from kpis.ingest.loader import load_files
    from kpis.service import FlightDeckService

    service = FlightDeckService(demo_db)
    try:
        dataset, notes = service.dataset(), service.annotation_version
        annotations.write_commentary(demo_db, KPI, "kent", "2025-09", "Rising", "Ana")
        # The same dataset object (not rebuilt), a new annotation version, the new text.
        assert service.dataset() is dataset
        first = service.annotation_version
        assert first != notes
        annotations.record_progress(demo_db, "R2", "in progress", "Started", "Ana",
                                    area="kent")
        assert service.dataset() is dataset
        assert int(service.annotation_version) == int(first) + 1
        assert service.commentary_for(KPI, "kent", "2025-09").text == "Rising"  # type: ignore[union-attr]
        # A load changes the data: the dataset is built again, one data version on.
        file = tmp_path / "r.csv"
        file.write_text("force,month,measure,value\nkent,2025-09,rape_reports,5\n")
        load_files(demo_db, [file], today=dt.date(2025, 10, 15))
        rebuilt = service.dataset()
        assert rebuilt is not dataset
        assert int(rebuilt.data_version) == int(dataset.data_version) + 1
        assert service.annotation_version == str(int(first) + 1)
    finally:
        service.close()


def test_commentary_and_progress_are_audited_with_who_and_what(demo_db: Path | str) -> None:
    from kpis.domain.access import Principal
    from kpis.domain.events import COMMENTARY_WRITTEN, PROGRESS_RECORDED
    from kpis.service import FlightDeckService

    service = FlightDeckService(demo_db, Principal("kent-analyst", "analyst", "kent"),
                                address="10.0.0.7")
    try:
        service.write_commentary(KPI, "kent", "2025-09", "Rising")
        service.record_progress("R2", "in progress", "Started", area="kent")
        written = service.security.events(event=COMMENTARY_WRITTEN)
        recorded = service.security.events(event=PROGRESS_RECORDED)
        comment = service.commentary_for(KPI, "kent", "2025-09")
        assert [(e.username, e.address, e.detail) for e in written] == [
            ("kent-analyst", "10.0.0.7",
             f"{KPI} for kent, 2025-09 (commentary {comment.comment_id})")]  # type: ignore[union-attr]
        assert [(e.username, e.detail.split(" (")[0]) for e in recorded] == [
            ("kent-analyst", "R2 for kent: in progress")]
    finally:
        service.close()


def test_the_views_with_commentary_are_known_and_the_others_ask_nothing(
        demo_db: Path | str, monkeypatch: pytest.MonkeyPatch) -> None:
    from kpis.service import FlightDeckService

    annotations.write_commentary(demo_db, KPI, "kent", "2025-09", "Rising", "Ana", now=NOON)
    annotations.write_commentary(demo_db, KPI, "kent", "2025-09", "Rising fast", "Ben",
                                 now=NOON)
    annotations.write_commentary(demo_db, KPI, "durham", "2025-08", "Flat", "Ana", now=NOON)
    reader = open_store(demo_db)
    try:
        assert annotations.commented(reader) == {
            (KPI, "kent", dt.date(2025, 9, 1)), (KPI, "durham", dt.date(2025, 8, 1))}
        assert annotations.commented(reader, most=1) is None  # two: too many to keep
    finally:
        reader.close()
    asked: list[tuple[str, str, object]] = []
    real = annotations.commentary_for

    def counted(source: object, kpi_id: str, area: str, period: object) -> object:
        asked.append((kpi_id, area, period))
        return real(source, kpi_id, area, period)  # type: ignore[arg-type]

    monkeypatch.setattr(annotations, "commentary_for", counted)
    service = FlightDeckService(demo_db)
    try:
        assert service.commentary_for(KPI, "kent", "2025-09").text == "Rising fast"  # type: ignore[union-attr]
        assert service.commentary_for(KPI, "kent", "2025-08") is None
        assert service.commentary_for(KPI, "gwent", dt.date(2025, 9, 1)) is None
        assert asked == [(KPI, "kent", "2025-09")]  # none asked for the views without
        # Written after the set was read: a new annotation version, so it is read again.
        annotations.write_commentary(demo_db, KPI, "gwent", "2025-09", "New", "Ana", now=NOON)
        assert service.commentary_for(KPI, "gwent", dt.date(2025, 9, 1)).text == "New"  # type: ignore[union-attr]
    finally:
        service.close()

"""Recommendation progress per force: storage, the service's scope, the schema 5 -> 6
upgrade and the recommendations page, on real DuckDB files and the real app.

A West Midlands note must never show as Kent's; a national note shows beside every
force's own status; a force-scoped account records for its own force only.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dash
import pytest
from flask.testing import FlaskClient

from kpis.domain.access import AccessDenied, Principal, Role
from kpis.domain.catalogue import read_catalogue
from kpis.service import FlightDeckService
from kpis.settings import CATALOGUE_FILE, NATIONAL_SLUG
from kpis.storage import annotations, security
from kpis.storage.annotations import RecommendationStatus
from kpis.storage.backend import get_meta, open_store
from kpis.storage.duckdb_file import Reader
from tests.backends import demo_db_on_both, empty_db_on_both  # noqa: F401 (fixtures: both backends)
from tests.conftest import DUCKDB_FILE_ONLY, app_over, database_digest
from tests.test_downloads import components, render_page
from tests.test_storage_backend import make_version_5, raw, raw_meta

KENT, WM = "kent", "west-midlands"
NOON = dt.datetime(2025, 6, 2, 12, 0)
BEFORE_DEADLINES = dt.date(2024, 12, 1)  # every deadline is in 2025: nothing is overdue
KENT_ANALYST = Principal("ka", Role.ANALYST, force=KENT, display_name="Kent Analyst")
ANALYST = Principal("na", Role.ANALYST, display_name="National Analyst")


def by_id(rows: list[RecommendationStatus]) -> dict[str, RecommendationStatus]:
    return {row.rec_id: row for row in rows}


def status_of(source: Any, area: str, rec_id: str = "R2") -> RecommendationStatus:
    return by_id(annotations.recommendation_status(source, BEFORE_DEADLINES, area))[rec_id]


@pytest.fixture
def reader(empty_db: Path) -> Iterator[Reader]:
    handle = open_store(empty_db)
    yield handle
    handle.close()


# ------------------------------------------------------------------------------ storage


def test_a_west_midlands_note_is_west_midlands_own_and_not_kents(empty_db: Path,
                                                                 reader: Reader) -> None:
    annotations.record_progress(empty_db, "R2", "in progress", "WM pilot under way", "Wyn",
                                now=NOON, area=WM)
    mine = status_of(reader, WM)
    assert (mine.area, mine.status, mine.displayed, mine.note, mine.author, mine.noted_at) == (
        WM, "in progress", "in progress", "WM pilot under way", "Wyn", NOON)
    assert mine.national_note is None and mine.national_status is None
    kent = status_of(reader, KENT)
    assert (kent.area, kent.status, kent.displayed, kent.note, kent.author) == (
        KENT, None, "not started", None, None)
    assert kent.national_note is None
    # Nor is it national, and no other recommendation changed.
    assert status_of(reader, NATIONAL_SLUG).note is None
    assert [r.rec_id for r in annotations.recommendation_status(reader, BEFORE_DEADLINES, WM)
            if r.status is not None] == ["R2"]


def test_a_national_note_shows_as_the_national_note_for_every_force(empty_db: Path,
                                                                    reader: Reader) -> None:
    annotations.record_progress(empty_db, "R2", "complete", "Definition adopted nationally",
                                "Nat", now=NOON)  # no area: national, as before
    annotations.record_progress(empty_db, "R2", "in progress", "Kent training booked", "Kay",
                                now=NOON + dt.timedelta(hours=1), area=KENT)
    for area in (KENT, WM):
        row = status_of(reader, area)
        assert (row.national_status, row.national_note, row.national_author,
                row.national_noted_at) == ("complete", "Definition adopted nationally", "Nat",
                                           NOON)
    # Each force's own status is its own: Kent's note, and West Midlands has none (the
    # national "complete" does not make it complete).
    kent, wm = status_of(reader, KENT), status_of(reader, WM)
    assert (kent.status, kent.note, kent.author) == ("in progress", "Kent training booked",
                                                     "Kay")
    assert (wm.status, wm.displayed, wm.note) == (None, "not started", None)
    # Past the deadline (31 July 2025), West Midlands is overdue although the nation is
    # complete.
    late = by_id(annotations.recommendation_status(reader, dt.date(2025, 8, 1), WM))["R2"]
    assert late.displayed == "overdue"
    national = status_of(reader, NATIONAL_SLUG)
    assert (national.area, national.status, national.note) == (
        NATIONAL_SLUG, "complete", "Definition adopted nationally")
    assert national.national_note == national.note  # the national area's own rows
    # The default is still the national view (the packs call it without an area).
    assert by_id(annotations.recommendation_status(reader, BEFORE_DEADLINES))["R2"] == national


def test_the_latest_row_is_per_force_and_history_filters_by_area(empty_db: Path,
                                                                 reader: Reader) -> None:
    first = annotations.record_progress(empty_db, "R4", "in progress", "Kent drafted", "Kay",
                                        now=NOON, area=KENT)
    annotations.record_progress(empty_db, "R4", "in progress", "WM drafted", "Wyn",
                                now=NOON + dt.timedelta(hours=1), area=WM)
    # A later West Midlands row does not replace Kent's latest ...
    assert status_of(reader, KENT, "R4").note == "Kent drafted"
    annotations.record_progress(empty_db, "R4", "complete", "Kent signed off", "Kay",
                                now=NOON + dt.timedelta(hours=2), area=KENT)
    # ... and a later Kent row replaces it.
    assert (status_of(reader, KENT, "R4").status, status_of(reader, KENT, "R4").note) == (
        "complete", "Kent signed off")
    assert status_of(reader, WM, "R4").note == "WM drafted"
    kent_history = annotations.progress_history(reader, "R4", area=KENT)
    assert [h["note"] for h in kent_history] == ["Kent signed off", "Kent drafted"]
    assert {h["area"] for h in kent_history} == {KENT} and kent_history[-1]["progress_id"] == first
    assert [h["note"] for h in annotations.progress_history(reader, "R4", area=WM)] == [
        "WM drafted"]
    assert annotations.progress_history(reader, "R4", area=NATIONAL_SLUG) == []
    assert len(annotations.progress_history(reader, "R4")) == 3  # every area


@pytest.mark.parametrize("area", ["atlantis", "region-west-midlands", "", "KENT"])
def test_progress_for_an_unknown_area_is_refused_and_nothing_is_written(
        empty_db: Path, reader: Reader, area: str) -> None:
    before = database_digest(empty_db)
    with pytest.raises(ValueError, match="unknown force"):
        annotations.record_progress(empty_db, "R2", "in progress", "Note", "Ana", area=area)
    assert database_digest(empty_db) == before
    with pytest.raises(ValueError, match="unknown force"):
        annotations.recommendation_status(reader, BEFORE_DEADLINES, area)


# ------------------------------------------------------------------------------ service


def denials(service: FlightDeckService) -> list[security.AuditEvent]:
    return service.security.events(event=security.ACCESS_DENIED)


def test_a_kent_account_cannot_record_for_west_midlands_and_the_refusal_is_audited(
        empty_db: Path) -> None:
    base = FlightDeckService(empty_db)
    kent = base.for_principal(KENT_ANALYST, "10.0.0.7")
    try:
        before = database_digest(empty_db)
        with pytest.raises(AccessDenied, match=r"limited to Kent.*for West Midlands"):
            kent.record_progress("R2", "complete", "Not ours to record", area=WM)
        [refusal] = denials(base)
        assert (refusal.username, refusal.address) == ("ka", "10.0.0.7")
        assert "West Midlands" in refusal.detail and WM in refusal.detail
        # National notes need an account covering every force (audited too).
        with pytest.raises(AccessDenied, match="national"):
            kent.record_progress("R2", "complete", "For everyone")
        assert len(denials(base)) == 2 and "England and Wales" in denials(base)[0].detail
        # Nor may it read another force's progress.
        with pytest.raises(AccessDenied, match="limited to Kent"):
            kent.recommendation_status(BEFORE_DEADLINES, WM)
        assert len(denials(base)) == 3 and "West Midlands" in denials(base)[0].detail
        assert database_digest(empty_db) == before
    finally:
        base.close()


@pytest.mark.slow  # three writes through the service (over a second)
def test_each_account_records_and_reads_what_its_scope_allows(empty_db: Path) -> None:
    base = FlightDeckService(empty_db)
    kent = base.for_principal(KENT_ANALYST)
    try:
        # Its own force a Kent account may record for, signed with the account's name.
        kent.record_progress("R2", "in progress", "Kent pilot", author="Typed Name", area=KENT)
        own = by_id(kent.recommendation_status(BEFORE_DEADLINES, KENT))["R2"]
        assert (own.status, own.note, own.author) == ("in progress", "Kent pilot",
                                                      "Kent Analyst")
        # With no area it reads the national notes (as the packs ask), and there are none.
        assert by_id(kent.recommendation_status(BEFORE_DEADLINES))["R2"].note is None
        # An analyst covering every force records for any force and nationally.
        everyone = base.for_principal(ANALYST)
        everyone.record_progress("R2", "complete", "WM done", area=WM)
        everyone.record_progress("R2", "in progress", "National pilot")
        wm = by_id(everyone.recommendation_status(BEFORE_DEADLINES, WM))["R2"]
        assert (wm.status, wm.note, wm.author, wm.national_note) == (
            "complete", "WM done", "National Analyst", "National pilot")
        kent_view = by_id(kent.recommendation_status(BEFORE_DEADLINES, KENT))["R2"]
        assert (kent_view.note, kent_view.national_note) == ("Kent pilot", "National pilot")
        assert denials(base) == []
    finally:
        base.close()


# ------------------------------------------------------------------------------ upgrade


@DUCKDB_FILE_ONLY  # an older version's file
def test_a_version_5_file_keeps_its_notes_as_national_notes(empty_db: Path) -> None:
    make_version_5(empty_db)
    # Two notes as version 5 wrote them: no area.
    raw(empty_db, "INSERT INTO recommendation_progress (progress_id, rec_id, status, note, "
        "author, noted_at) VALUES (1, 'R2', 'in progress', 'Started', 'Ana', "
        "TIMESTAMP '2025-06-02 12:00:00'), (2, 'R4', 'complete', 'Signed off', 'Ben', "
        "TIMESTAMP '2025-06-03 12:00:00')")
    assert raw_meta(empty_db)["schema_version"] == "5"
    with open_store(empty_db) as store:
        with store.connect() as conn:
            assert get_meta(conn, "schema_version") == "7"
        history = annotations.progress_history(store)
        assert [(h["rec_id"], h["area"], h["note"]) for h in history] == [
            ("R4", NATIONAL_SLUG, "Signed off"), ("R2", NATIONAL_SLUG, "Started")]
        national = status_of(store, NATIONAL_SLUG)
        assert (national.status, national.note, national.author, national.noted_at) == (
            "in progress", "Started", "Ana", NOON)
        kent = status_of(store, KENT, "R4")
        assert (kent.status, kent.note, kent.national_note, kent.national_author) == (
            None, None, "Signed off", "Ben")
    # New notes carry on after the old ones, for a force.
    assert annotations.record_progress(empty_db, "R2", "complete", "Kent done", "Kay",
                                       area=KENT) == 3
    reader = open_store(empty_db)
    try:
        assert status_of(reader, KENT).note == "Kent done"
        assert status_of(reader, NATIONAL_SLUG).note == "Started"
    finally:
        reader.close()


# ------------------------------------------------------------------------------ the page

TITLES = {k.kpi_id: k.title for k in read_catalogue(CATALOGUE_FILE).kpis}
R2_KPIS = ("repeat_suspects_identified", "repeat_suspects_managed")
PERIOD = "2025-06"
# Each area's variation at June 2025 in the demonstration data (seeded): repeat
# suspects identified is a special cause for West Midlands and England and Wales and
# common cause for Kent, so a page showing another area's icon fails.
IMPROVING = "Special cause improvement, high"
VARIATION = {
    WM: {"repeat_suspects_identified": IMPROVING, "repeat_suspects_managed": IMPROVING},
    KENT: {"repeat_suspects_identified": "Common cause variation",
           "repeat_suspects_managed": IMPROVING},
    NATIONAL_SLUG: {"repeat_suspects_identified": IMPROVING,
                    "repeat_suspects_managed": IMPROVING},
}


@pytest.fixture(scope="module")
def page_app(demo_db_readonly: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[dash.Dash, Path]]:
    """The app over a demonstration database with a West Midlands and a national note."""
    from web.context import SERVICE_KEY

    db = tmp_path_factory.mktemp("recs") / "flightdeck.duckdb"
    shutil.copyfile(demo_db_readonly, db)
    annotations.record_progress(db, "R2", "in progress", "West Midlands pilot in two OCUs",
                                "Wyn", now=NOON, area=WM)
    annotations.record_progress(db, "R2", "complete", "National definition issued", "Nat",
                                now=NOON - dt.timedelta(days=30))
    app = app_over(db)
    yield app, db
    app.server.config[SERVICE_KEY].close()


@pytest.fixture(scope="module")
def client(page_app: tuple[dash.Dash, Path]) -> FlaskClient:
    return page_app[0].server.test_client()


def texts(tree: Any) -> str:
    """Every string in a rendered component tree, joined."""
    if isinstance(tree, str):
        return tree
    if isinstance(tree, list):
        return " ".join(texts(item) for item in tree)
    if isinstance(tree, dict):
        return " ".join(texts(value) for key, value in tree.items()
                        if key in ("props", "children", "response") or isinstance(value, dict))
    return ""


def find(tree: Any, element_id: str) -> Any:
    """The component with ``element_id`` in a rendered tree (None: not there)."""
    if isinstance(tree, list):
        for item in tree:
            found = find(item, element_id)
            if found is not None:
                return found
    elif isinstance(tree, dict):
        if isinstance(tree.get("props"), dict) and tree["props"].get("id") == element_id:
            return tree
        for value in tree.values():
            found = find(value, element_id)
            if found is not None:
                return found
    return None


@pytest.mark.parametrize("area", [WM, KENT, NATIONAL_SLUG])
def test_the_page_shows_linked_kpis_by_title_with_the_forces_icon(
        client: FlaskClient, area: str) -> None:
    page = render_page(client, "/recommendations", f"?force={area}&period={PERIOD}")
    for kpi_id in R2_KPIS:
        item = find(page, f"rec-kpi-R2-{kpi_id}")
        assert item is not None, kpi_id
        [link] = components(item, "Link")
        assert link["children"] == TITLES[kpi_id] != kpi_id
        assert link["href"] == f"/kpi/{kpi_id}?force={area}&period={PERIOD}&comparator=national"
        [icon] = components(item, "Img")
        assert icon["alt"] == VARIATION[area][kpi_id]
        assert icon["src"].startswith("data:image/svg+xml")


def test_the_page_shows_the_forces_note_and_the_national_note_beside_it(
        client: FlaskClient) -> None:
    wm = find(render_page(client, "/recommendations", f"?force={WM}"), "rec-row-R2")
    words = texts(wm)
    assert "West Midlands pilot in two OCUs" in words and "Wyn" in words
    assert "National note" in words and "National definition issued" in words
    # Its own status (past the 31 July 2025 deadline on this clock: overdue), not the
    # national "complete".
    assert "Overdue" in words and "Deadline passed; recorded as in progress" in words
    assert "Complete" not in words
    kent_page = render_page(client, "/recommendations", f"?force={KENT}")
    assert "Recommendations: Kent" in texts(kent_page)
    kent = texts(find(kent_page, "rec-row-R2"))
    assert "West Midlands pilot" not in kent and "No progress recorded for Kent yet" in kent
    assert "National note" in kent and "National definition issued" in kent
    national = texts(find(render_page(client, "/recommendations", f"?force={NATIONAL_SLUG}"),
                          "rec-row-R2"))
    assert "National definition issued" in national and "West Midlands pilot" not in national
    assert "National note" not in national  # the national view's own note
    assert "No progress recorded" in texts(find(
        render_page(client, "/recommendations", f"?force={WM}"), "rec-row-R1"))


def record_request(app: dash.Dash, search: str, rec_id: str, note: str) -> dict[str, Any]:
    """The progress form's callback, as the browser sends it."""
    output = next(name for name in app.callback_map if "recommendations-table-holder" in name)
    values = {"progress-recommendation": rec_id, "progress-status": "in progress",
              "progress-note": note, "progress-author": "Dee"}
    return {
        "output": output,
        "outputs": [{"id": "recommendations-table-holder", "property": "children"},
                    {"id": "progress-message", "property": "children"},
                    {"id": "progress-note", "property": "value"}],
        "inputs": [{"id": "progress-submit", "property": "n_clicks", "value": 1}],
        "state": [*({"id": key, "property": "value", "value": value}
                    for key, value in values.items()),
                  {"id": "url", "property": "search", "value": search}],
        "changedPropIds": ["progress-submit.n_clicks"],
    }


def test_the_form_records_for_the_pages_force(page_app: tuple[dash.Dash, Path],
                                              client: FlaskClient) -> None:
    app, db = page_app
    response = client.post("/_dash-update-component", json=record_request(
        app, "?force=durham&period=2025-09", "R3", "Durham bail checks started"))
    assert response.status_code == 200, response.data[:500]
    body = json.loads(response.data)["response"]
    assert "Recorded R3 as in progress for Durham" in texts(body["progress-message"])
    assert "Durham bail checks started" in texts(body["recommendations-table-holder"])
    reader = open_store(db)
    try:
        [row] = annotations.progress_history(reader, "R3")
        assert (row["area"], row["note"], row["author"]) == (
            "durham", "Durham bail checks started", "Dee")
        assert status_of(reader, NATIONAL_SLUG, "R3").note is None
    finally:
        reader.close()

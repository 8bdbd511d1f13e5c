"""Definitions managed in the dashboard: a draft version checked by the file's rules,
published, audited, and the catalogue exported to YAML and loaded back unchanged."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kpis.cli import main
from kpis.domain.access import AccessDenied, Principal, Role
from kpis.domain.catalogue import CatalogueError, parse_catalogue, read_catalogue
from kpis.domain.catalogue_edits import (
    draft_version,
    edited_catalogue,
    latest_version,
    published_catalogue,
    version_changes,
)
from kpis.domain.catalogue_yaml import dump_catalogue
from kpis.service import FlightDeckService
from kpis.settings import CATALOGUE_FILE
from kpis.storage.backend import open_store
from kpis.storage.catalogue_store import fetch_catalogue
from kpis.storage.security import SecurityStore, security_db_path
from tests.backends import demo_db_on_both  # noqa: F401 (fixtures: both backends)

TODAY = dt.date(2026, 12, 2)
ADMIN = Principal("admin", Role.ADMIN)
NEW_TITLE = "Police referrals to the Crown Prosecution Service"


def stored(db: Path):  # type: ignore[no-untyped-def]
    with open_store(db).connect() as conn:
        return fetch_catalogue(conn)


def test_the_shipped_catalogue_round_trips_through_yaml() -> None:
    shipped = read_catalogue(CATALOGUE_FILE)
    assert parse_catalogue(dump_catalogue(shipped)) == shipped


def test_an_edit_is_a_new_draft_version_then_published() -> None:
    shipped = read_catalogue(CATALOGUE_FILE)
    before = latest_version(shipped, "cps_referrals")
    assert before.status == "published" and before.version == 1
    edited, draft = edited_catalogue(shipped, "cps_referrals",
                                     {"title": NEW_TITLE, "target": "30"}, TODAY)
    assert (draft.version, draft.status, draft.title, draft.target) == (2, "draft", NEW_TITLE,
                                                                        30.0)
    assert draft.effective_from == dt.date(2026, 12, 1)
    # The draft sits beside the version it revises; the published one is still in force.
    assert [k.kpi_id for k in edited.published()] == [k.kpi_id for k in shipped.published()]
    assert next(k for k in edited.published() if k.kpi_id == "cps_referrals") == before
    # Editing again changes the draft itself, not a third version.
    again, draft = edited_catalogue(edited, "cps_referrals", {"target": ""}, TODAY)
    assert (draft.version, draft.target) == (2, None)
    assert len([k for k in again.kpis if k.kpi_id == "cps_referrals"]) == 2
    published, kpi = published_catalogue(again, "cps_referrals", 2)
    assert kpi.status == "published" and draft_version(published, "cps_referrals") is None
    shown = next(k for k in published.published() if k.kpi_id == "cps_referrals")
    assert shown.title == NEW_TITLE and shown.version == 2
    assert ("title", before.title, NEW_TITLE) in version_changes(before, kpi)


def test_an_edit_the_files_rules_refuse_names_every_problem() -> None:
    shipped = read_catalogue(CATALOGUE_FILE)
    with pytest.raises(CatalogueError) as refused:
        edited_catalogue(shipped, "suspect_contact_30d",
                         {"numerator": "no_such_measure", "polarity": "up", "target": "1.5"},
                         TODAY)
    rules = {(p.field, p.rule) for p in refused.value.problems}
    assert ("numerator", "unknown measure") in rules
    assert ("polarity", "must be one of higher, lower, neutral") in rules
    assert ("target", "a percent target is a fraction from 0 to 1") in rules
    with pytest.raises(CatalogueError, match="cannot be changed here"):
        edited_catalogue(shipped, "suspect_contact_30d", {"kpi_id": "x"}, TODAY)
    with pytest.raises(KeyError):
        edited_catalogue(shipped, "no_such_kpi", {"title": "x"}, TODAY)
    with pytest.raises(CatalogueError, match="not the KPI's draft"):
        published_catalogue(shipped, "suspect_contact_30d", 1)


def test_the_service_saves_publishes_and_audits_for_national_admins_only(demo_db: Path
                                                                         ) -> None:
    admin = FlightDeckService(demo_db, ADMIN)
    draft = admin.save_definition_draft("cps_referrals", {"title": NEW_TITLE}, TODAY)
    assert draft.version == 2
    assert latest_version(stored(demo_db), "cps_referrals").status == "draft"
    assert admin.dataset().kpis["cps_referrals"].title != NEW_TITLE  # not yet in force
    admin.publish_definition("cps_referrals", 2)
    assert admin.dataset().kpis["cps_referrals"].title == NEW_TITLE
    assert admin.dataset().kpis["cps_referrals"].version == 2
    for who in (Principal("viewer", Role.VIEWER), Principal("kent-admin", Role.ADMIN, "kent"),
                Principal("analyst", Role.ANALYST)):
        with pytest.raises(AccessDenied):
            admin.for_principal(who).save_definition_draft("cps_referrals", {"title": "x"},
                                                           TODAY)
    assert latest_version(stored(demo_db), "cps_referrals").title == NEW_TITLE
    store = SecurityStore(security_db_path(demo_db))
    try:
        drafted = store.events(event="definition drafted")
        published = store.events(event="definition published")
        denied = [e for e in store.events(event="access denied")
                  if "edit KPI definitions" in e.detail or "national" in e.detail]
    finally:
        store.close()
    assert [e.username for e in drafted] == ["admin"]
    assert f"title: Police referrals to CPS -> {NEW_TITLE}" in drafted[0].detail
    assert [e.username for e in published] == ["admin"]
    assert len(denied) == 3
    admin.close()


def test_catalogue_export_then_load_gives_an_identical_catalogue(
        demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    FlightDeckService(demo_db, ADMIN).save_definition_draft(
        "cps_referrals", {"description": "Referrals, counted when the file is sent."}, TODAY)
    before = stored(demo_db)
    out = tmp_path / "catalogue.yaml"
    assert main(["catalogue", "export", "--db", str(demo_db), "--out", str(out)]) == 0
    assert read_catalogue(out) == before  # the draft included
    assert main(["catalogue", "load", "--db", str(demo_db), "--file", str(out)]) == 0
    assert stored(demo_db) == before
    capsys.readouterr()
    assert main(["catalogue", "export", "--db", str(demo_db)]) == 0
    assert parse_catalogue(capsys.readouterr().out) == before

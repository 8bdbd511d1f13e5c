"""The preview of a load: what it would add, replace or withdraw (old value beside the
new) and which KPIs would change their SPC state or assurance, worked out without
writing anything; ``flightdeck load --dry-run`` prints it and writes nothing."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from kpis.cli import main
from kpis.domain.access import Principal, Role
from kpis.engine.measures import flight_deck_table
from kpis.ingest.loader import load_files, quiet
from kpis.ingest.preview import LoadPreview
from kpis.service import FlightDeckService
from kpis.storage.backend import open_store
from kpis.uploads import UploadJob, check_job
from tests.backends import demo_db_on_both  # noqa: F401 (fixtures: both backends)
from tests.conftest import database_digest, dataset_of
from tests.test_plausibility import (
    FORCE,
    clean_return,
    stored_values,
    suspect_return,
)


def fingerprint(db: Path) -> tuple[str, str, int, int]:
    """The database's digest, its data version and how many observations and loads it holds."""
    digest = database_digest(db)
    with open_store(db) as store, store.connect() as conn:
        version = conn.exec_driver_sql(
            "SELECT value FROM meta WHERE key = 'data_version'").fetchone()
        observations = conn.exec_driver_sql("SELECT count(*) FROM observations").fetchone()
        loads = conn.exec_driver_sql("SELECT count(*) FROM loads").fetchone()
    assert version and observations and loads
    return digest, str(version[0]), int(observations[0]), int(loads[0])


def file_cells(path: Path) -> dict[tuple[str, dt.date], float]:
    """A wide return's filled cells: (measure, month) -> value."""
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return {(measure, dt.date.fromisoformat(row[1] + "-01")): float(text)
            for row in rows[2:] for measure, text in zip(rows[0][2:], row[2:], strict=True)
            if text}


def latest_states(db: Path, kpis: list[str], force: str) -> dict[str, tuple[str, str]]:
    """Each KPI's variation and assurance at the force's latest point, from the file."""
    table = flight_deck_table(dataset_of(db), kpis, [force])
    table = table[table["value"].notna()].sort_values("period_start").groupby("kpi").tail(1)
    return {str(k): ("" if pd.isna(v) else str(v), "" if pd.isna(a) else str(a))
            for k, v, a in zip(table["kpi"], table["variation"], table["assurance"],
                               strict=True)}


def test_the_preview_lists_each_value_beside_the_one_it_replaces_and_writes_nothing(
    demo_db: Path, tmp_path: Path
) -> None:
    path = suspect_return(demo_db, tmp_path / "kent.csv")
    before = fingerprint(demo_db)
    preview = FlightDeckService(demo_db).preview_load([path])
    assert fingerprint(demo_db) == before
    stored = stored_values(demo_db)
    cells = file_cells(path)
    expected = {(FORCE, measure, month, stored.get((measure, month)), value)
                for (measure, month), value in cells.items()
                if stored.get((measure, month)) != value}
    assert {(c.force_slug, c.measure_id, c.period_start, c.old, c.new)
            for c in preview.changes} == expected
    assert preview.unchanged == len(cells) - len(expected)
    replaced = [c for c in preview.changes if c.old is not None]
    assert len(replaced) == 4  # three months of rape reports, September's audited cases
    assert preview.changes[:4] == replaced  # a changed figure is listed first
    assert preview.would_load and preview.forces == ["Kent"]
    assert preview.headline() == "No errors, but 9 warnings: check them before loading."
    assert preview.summary() == (f"adds {len(expected) - 4} values, replaces 4 stored "
                                 f"values, leaves {preview.unchanged} as they are (the same "
                                 "figures)")


def assert_preview_matches_the_load(db: Path, files: list[Path]) -> LoadPreview:
    """The KPI states the preview says would change are those that change when the
    files load (the load itself done here, on ``db``, after the preview)."""
    preview = FlightDeckService(db).preview_load(files)
    kpis = list(dataset_of(db).kpis)
    then = latest_states(db, kpis, FORCE)
    load_files(db, files, user="test")
    now = latest_states(db, kpis, FORCE)
    moved = {k for k in kpis if then.get(k) != now.get(k)}
    assert moved  # the files change some KPI's state, or the test proves nothing
    assert {k.kpi_id for k in preview.kpi_changes} == moved
    for change in preview.kpi_changes:
        assert change.force_slug == FORCE
        assert (change.before_variation or "", change.before_assurance or "") == then[
            change.kpi_id]
        assert (change.after_variation or "", change.after_assurance or "") == now[
            change.kpi_id]
    return preview


@pytest.mark.slow  # previews, then loads, and computes the KPI table twice (over 2 s)
def test_the_kpis_whose_state_would_change_are_those_that_change_when_it_loads(
    demo_db: Path, tmp_path: Path
) -> None:
    preview = assert_preview_matches_the_load(
        demo_db, [suspect_return(demo_db, tmp_path / "kent.csv")])
    assert {c.after_period for c in preview.kpi_changes} == {dt.date(2025, 10, 1)}


def test_a_clean_return_of_new_months_says_what_is_ready_to_load(
    demo_db_readonly: Path, tmp_path: Path
) -> None:
    path = clean_return(demo_db_readonly, tmp_path / "kent.csv")
    preview = FlightDeckService(demo_db_readonly).preview_load([path])
    values = len(file_cells(path))
    assert preview.headline() == (f"No problems found: {values:,} values for Kent, "
                                  "October to December 2025 are ready to load.")
    assert all(c.kind == "added" and c.old is None for c in preview.changes)
    assert len(preview.changes) == values


@pytest.mark.slow  # previews, then loads, and computes the KPI table twice (over 2 s)
def test_a_home_office_release_shows_the_values_it_replaces_and_withdraws(
    demo_db: Path, tmp_path: Path
) -> None:
    """A release republishes its year: a quarter it no longer holds is withdrawn."""
    release = tmp_path / "recorded.csv"
    release.write_text(
        "Financial Year,Financial Quarter,Force Name,Offence Description,Offence Group,"
        "Offence Subgroup,Offence Code,Number of Offences\n"
        "2025/26,1,Kent,Rape,Sexual offences,Rape,19C,5000\n", encoding="utf-8")
    stored = stored_values(demo_db)
    q1, q2 = dt.date(2025, 4, 1), dt.date(2025, 7, 1)
    preview = assert_preview_matches_the_load(demo_db, [release])
    assert [(c.measure_id, c.when, c.old, c.new, c.kind) for c in preview.changes] == [
        ("ho_rape_offences", "2025/26 Q1", stored[("ho_rape_offences", q1)], 5000.0,
         "replaced"),
        ("ho_rape_offences", "2025/26 Q2", stored[("ho_rape_offences", q2)], None,
         "withdrawn"),
    ]
    assert preview.summary() == "replaces 1 stored value, withdraws 1"


def test_a_force_scoped_analyst_previews_their_own_force_only(
    demo_db_readonly: Path, tmp_path: Path
) -> None:
    durham = tmp_path / "durham.csv"
    durham.write_text("force,month,measure,value\ndurham,2025-09,rape_reports,30\n",
                      encoding="utf-8")
    kent = Principal("kent analyst", Role.ANALYST, force=FORCE)
    service = FlightDeckService(demo_db_readonly, kent)
    preview = service.preview_load([durham])
    assert not preview.would_load and preview.changes == [] and preview.kpi_changes == []
    assert "may load figures for Kent only" in preview.report.summary()
    assert "cannot be loaded" in preview.headline()
    # No plausibility warning either: it would quote Durham's stored figures, which
    # an analyst who covers every force is shown.
    assert [f for f in preview.report.findings if f.check] == []
    every_force = FlightDeckService(demo_db_readonly, Principal("ana", Role.ANALYST))
    assert {"outlier", "home_office"} <= {
        f.check for f in every_force.preview_load([durham]).report.findings}


def test_the_upload_check_job_carries_the_preview_as_json(
    demo_db_readonly: Path, tmp_path: Path
) -> None:
    path = suspect_return(demo_db_readonly, tmp_path / "kent.csv")
    job = UploadJob(str(demo_db_readonly), str(tmp_path / "security.duckdb"),
                    Principal("ana", Role.ANALYST), "", (str(path),))
    result = json.loads(json.dumps(check_job(quiet, job)))  # what the status file holds
    shown = result["preview"]
    assert shown["would_load"] and shown["headline"].startswith("No errors, but 9 warnings")
    stored = stored_values(demo_db_readonly)
    assert shown["cells"][0] == {
        "force": "Kent", "measure": "rape_reports",
        "title": "RASSO reports received in the month", "when": "July 2025",
        "old": stored[("rape_reports", dt.date(2025, 7, 1))],
        "new": stored[("rape_reports", dt.date(2025, 7, 1))] * 5, "kind": "replaced"}
    assert len(shown["cells"]) + shown["more_cells"] == sum(shown["counts"].values())
    assert {k["kpi_id"] for k in shown["kpis"]}
    assert {f["check"] for f in result["findings"]} >= {"outlier", "share", "vanished",
                                                        "home_office"}


def test_load_dry_run_prints_the_preview_and_writes_nothing(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = suspect_return(demo_db, tmp_path / "kent.csv")
    before = fingerprint(demo_db)
    assert main(["load", "--db", str(demo_db), "--dry-run", str(path)]) == 0
    out, err = capsys.readouterr()
    assert fingerprint(demo_db) == before
    stored = stored_values(demo_db)
    july = stored[("rape_reports", dt.date(2025, 7, 1))]
    assert f"  Kent, rape_reports, July 2025: {july:,.0f} -> {july * 5:,.0f}" in out
    assert "KPIs whose SPC state or assurance would change:" in out
    assert out.rstrip().endswith("dry run: nothing was written")
    assert "implausible value? Kent, RASSO reports received in the month" in err


def test_load_dry_run_of_a_refused_file_exits_as_the_load_would(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("force,month,measure,value\nkent,2025-09,rape_reports,-3\n",
                   encoding="utf-8")
    before = fingerprint(demo_db)
    assert main(["load", "--db", str(demo_db), "--dry-run", str(bad)]) == 1
    _, err = capsys.readouterr()
    assert "negative values are not allowed" in err
    assert fingerprint(demo_db) == before
    # The same exit, loading (refused: the database unchanged).
    assert main(["load", "--db", str(demo_db), str(bad)]) == 1
    assert fingerprint(demo_db) == before

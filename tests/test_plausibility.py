"""Plausibility checks on every load of a force return: warnings, never refusals, each
naming the force, measure, month and value, against what the database already holds.

The returns are the template (``kpis.ingest.template``) filled in from the
demonstration database itself: a force's own figures, so a clean return is one whose
values the test knows to be plausible, and a suspect one changes exactly the cells
whose warnings the test expects."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa

from kpis.domain.catalogue import (
    CatalogueError,
    HomeOfficeComparison,
    PlausibilityRules,
    load_yaml,
    parse_catalogue,
    read_catalogue,
)
from kpis.ingest import plausibility
from kpis.ingest.context import build_context
from kpis.ingest.loader import check_files, load_files
from kpis.ingest.problems import Finding
from kpis.ingest.template import template_rows
from kpis.settings import CATALOGUE_FILE
from kpis.storage import schema
from kpis.storage.backend import get_meta, open_store
from kpis.storage.catalogue_store import fetch_catalogue
from kpis.storage.database import reload_catalogue
from tests.backends import demo_db_on_both, empty_db_on_both  # noqa: F401 (fixtures: both backends)
from tests.conftest import DUCKDB_FILE_ONLY

FORCE = "kent"
JULY, SEPTEMBER, OCTOBER = dt.date(2025, 7, 1), dt.date(2025, 9, 1), dt.date(2025, 10, 1)
Value = Callable[[str, dt.date], "float | None"]


# ------------------------------------------------------------------------ helpers


def stored_values(db: Path, force: str = FORCE) -> pd.Series:
    """The force's stored values, by (measure id, month)."""
    obs = schema.observations.c
    with open_store(db) as store:
        frame = store.frame(sa.select(obs.measure_id, obs.period_start, obs.value)
                            .where(obs.force_slug == force))
    frame["period_start"] = pd.to_datetime(frame["period_start"]).dt.date
    return frame.set_index(["measure_id", "period_start"])["value"]


def typical_values(db: Path, before: dt.date, force: str = FORCE) -> dict[str, float]:
    """Each measure's lower median over the 24 months before ``before``: a figure the
    force itself reported (whole, as a count must be), inside its own process limits
    and never breaking a share (an order statistic keeps numerator <= denominator)."""
    values = stored_values(db, force).reset_index()
    start = (pd.Timestamp(before) - pd.DateOffset(months=24)).date()
    recent = values[(values["period_start"] < before) & (values["period_start"] >= start)]
    return recent.groupby("measure_id")["value"].quantile(0.5, interpolation="lower").to_dict()


def write_return(db: Path, path: Path, first: dt.date, last: dt.date, value: Value,
                 force: str = FORCE) -> Path:
    """The template for ``force`` from ``first`` to ``last``, each cell ``value(measure,
    month)`` (None: left blank), as a CSV."""
    with open_store(db) as store, store.connect() as conn:
        ctx = build_context(conn)
    rows = template_rows(ctx, force, first, last)
    for row in rows[2:]:
        month = dt.date.fromisoformat(row[1] + "-01")
        for column, measure_id in enumerate(rows[0][2:], start=2):
            given = value(measure_id, month)
            row[column] = "" if given is None else f"{given:g}"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def suspect_return(db: Path, path: Path) -> Path:
    """Kent, July to October 2025: July to September as stored and October at its
    typical values, except that every rape report is multiplied by five (so the quarter
    disagrees with the Home Office's recorded rapes); in September the cases audited
    for the Victims' Code are one fewer than the compliant cases already stored (the
    compliant cell left blank); and October leaves out repeat suspects identified."""
    stored = stored_values(db)
    typical = typical_values(db, JULY)

    def value(measure_id: str, month: dt.date) -> float | None:
        if measure_id == "repeat_suspects_identified" and month == OCTOBER:
            return None
        if month == SEPTEMBER and measure_id == "vcop_cases_compliant":
            return None
        if month == SEPTEMBER and measure_id == "vcop_cases_audited":
            return stored[("vcop_cases_compliant", month)] - 1
        base = typical[measure_id] if month == OCTOBER else stored[(measure_id, month)]
        return base * 5 if measure_id == "rape_reports" else base

    return write_return(db, path, JULY, OCTOBER, value)


def clean_return(db: Path, path: Path, force: str = FORCE) -> Path:
    """Three new months, October to December 2025, at the force's typical values."""
    typical = typical_values(db, OCTOBER, force)
    return write_return(db, path, OCTOBER, dt.date(2025, 12, 1),
                        lambda measure_id, _: typical.get(measure_id), force)


def checks(findings: list[Finding]) -> set[tuple[str, str, str, str]]:
    """(check, force, measure, month) of each plausibility finding."""
    return {(str(f.check), str(f.force), str(f.measure), str(f.period))
            for f in findings if f.check is not None}


SUSPECT_WARNINGS = {
    ("outlier", FORCE, "rape_reports", "2025-07"),
    ("outlier", FORCE, "rape_reports", "2025-08"),
    ("outlier", FORCE, "rape_reports", "2025-09"),
    ("outlier", FORCE, "rape_reports", "2025-10"),
    ("home_office", FORCE, "rape_reports", "2025-07"),
    ("share", FORCE, "vcop_cases_compliant", "2025-09"),
    ("vanished", FORCE, "repeat_suspects_identified", "2025-10"),
}


# ------------------------------------------------------------------------ the checks


@pytest.mark.slow  # checks, then loads, a return (about 2 s)
def test_a_suspect_return_gets_exactly_its_warnings_and_no_refusal(
    demo_db_readonly: Path, tmp_path: Path
) -> None:
    path = suspect_return(demo_db_readonly, tmp_path / "kent.csv")
    _, report = check_files(demo_db_readonly, [path])
    assert report.errors == []
    assert checks(report.findings) == SUSPECT_WARNINGS
    found = {(f.check, f.period): f for f in report.findings if f.check}
    assert all(f.severity == "warning" and f.file == "kent.csv" for f in found.values())
    # Each names the force, measure and month in words, and the value and its cell.
    july = found[("outlier", "2025-07")]
    stored = stored_values(demo_db_readonly)
    assert july.row == 3 and july.column == "rape_reports"
    assert july.value == f"{stored[('rape_reports', JULY)] * 5:,.0f}"
    for words in ("Kent", "RASSO reports received in the month", "July 2025",
                  "outside the recent process limits", "times the recent median"):
        assert words in july.rule
    quarter = found[("home_office", "2025-07")]
    total = sum(stored[("rape_reports", dt.date(2025, m, 1))] for m in (7, 8, 9)) * 5
    assert quarter.value == f"{total:,.0f}"
    assert "July to September 2025" in quarter.rule and "Home Office" in quarter.rule
    share = found[("share", "2025-09")]
    assert share.column == "vcop_cases_audited" and "September 2025" in share.rule
    assert "the numerator is the figure already stored" in share.rule
    gone = found[("vanished", "2025-10")]
    assert gone.row is None and gone.column == "repeat_suspects_identified"
    assert "July to September 2025" in gone.rule and "October 2025" in gone.rule
    # Warnings never refuse: the same file loads, and its load records them.
    copy = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_db_readonly, copy)
    result = load_files(copy, [path], user="test")
    assert checks(result.report.findings) == SUSPECT_WARNINGS
    assert stored_values(copy)[("rape_reports", JULY)] == stored[("rape_reports", JULY)] * 5


@pytest.mark.slow  # checks three forces' returns (about 2 s)
def test_a_clean_return_gets_no_warning(demo_db_readonly: Path, tmp_path: Path) -> None:
    for force in (FORCE, "durham", "city-of-london"):
        path = clean_return(demo_db_readonly, tmp_path / f"{force}.csv", force)
        _, report = check_files(demo_db_readonly, [path])
        assert report.findings == [], (force, report.summary())


def test_a_resubmission_of_the_stored_figures_is_not_judged(
    demo_db_readonly: Path, tmp_path: Path
) -> None:
    """A value already stored is not news, however it sits against its history."""
    stored = stored_values(demo_db_readonly)
    path = write_return(demo_db_readonly, tmp_path / "again.csv", dt.date(2024, 10, 1),
                        SEPTEMBER, lambda m, month: stored.get((m, month)))
    _, report = check_files(demo_db_readonly, [path])
    assert checks(report.findings) == set()


@pytest.mark.slow  # loads a correction, then checks a return (over a second)
def test_a_month_that_breaks_a_long_run_is_a_warning(demo_db: Path, tmp_path: Path) -> None:
    # Twelve months of no section 63G applications, loaded as a correction ...
    zeros = tmp_path / "zeros.csv"
    zeros.write_text("force,month,measure,value\n" + "".join(
        f"{FORCE},{month:%Y-%m},s63g_applications,0\n{FORCE},{month:%Y-%m},s63g_granted,0\n"
        for month in pd.date_range("2024-10-01", "2025-09-01", freq="MS").date),
        encoding="utf-8")
    load_files(demo_db, [zeros], user="test")
    typical = typical_values(demo_db, OCTOBER)
    # ... then October: 6 applications after a year of none, and not one day of sickness
    # after years of them (0 against a median far from 0, too).
    path = write_return(demo_db, tmp_path / "october.csv", OCTOBER, OCTOBER,
                        lambda m, _: {"s63g_applications": 6.0, "s63g_granted": 5.0,
                                      "sickness_days": 0.0}.get(m, typical[m]))
    _, report = check_files(demo_db, [path])
    assert checks(report.findings) == {
        ("run", FORCE, "s63g_applications", "2025-10"),
        ("run", FORCE, "s63g_granted", "2025-10"),
        # (and both beyond anything of the 24 months before)
        ("outlier", FORCE, "s63g_applications", "2025-10"),
        ("outlier", FORCE, "s63g_granted", "2025-10"),
        ("run", FORCE, "sickness_days", "2025-10"),
        ("outlier", FORCE, "sickness_days", "2025-10"),
    }
    runs = {f.measure: f.rule for f in report.findings if f.check == "run"}
    assert "6 after 12 or more months in a row of 0" in runs["s63g_applications"]
    assert "0 after 12 or more months in a row of figures above 0" in runs["sickness_days"]
    assert "0 against a recent median of" in next(
        f.rule for f in report.findings
        if f.check == "outlier" and f.measure == "sickness_days")


def test_a_home_office_table_in_the_same_load_is_compared(
    demo_db_readonly: Path, tmp_path: Path
) -> None:
    """The Home Office figure a return is compared with may arrive in the same load."""
    stored = stored_values(demo_db_readonly)
    path = write_return(demo_db_readonly, tmp_path / "kent.csv", JULY, SEPTEMBER,
                        lambda m, month: stored.get((m, month)) * (
                            2 if m == "rape_reports" else 1))
    # The return doubled is twice the stored Home Office figure; a release that says
    # the same doubled figure agrees with it.
    doubled = sum(stored[("rape_reports", dt.date(2025, m, 1))] for m in (7, 8, 9)) * 2
    release = tmp_path / "recorded.csv"
    release.write_text(
        "Financial Year,Financial Quarter,Force Name,Offence Description,Offence Group,"
        "Offence Subgroup,Offence Code,Number of Offences\n"
        f"2025/26,2,Kent,Rape,Sexual offences,Rape,19C,{doubled:.0f}\n", encoding="utf-8")
    _, alone = check_files(demo_db_readonly, [path])
    assert ("home_office", FORCE, "rape_reports", "2025-07") in checks(alone.findings)
    _, together = check_files(demo_db_readonly, [path, release])
    assert ("home_office", FORCE, "rape_reports", "2025-07") not in checks(together.findings)


def test_the_history_is_read_in_one_query_whatever_the_file_holds(
    demo_db_readonly: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries: list[str] = []
    real = plausibility.query_frame

    def counted(conn, statement):  # type: ignore[no-untyped-def]
        queries.append(str(statement))
        return real(conn, statement)

    monkeypatch.setattr(plausibility, "query_frame", counted)
    files = [clean_return(demo_db_readonly, tmp_path / f"{f}.csv", f)
             for f in (FORCE, "durham", "essex")]
    parsed, report = check_files(demo_db_readonly, files)
    assert sum(len(item.observations) for item in parsed) > 300
    assert len(queries) == 1 and report.findings == []


# ------------------------------------------------------------------------ the thresholds


@pytest.mark.slow  # reloads the catalogue, then checks a return (over a second)
def test_the_thresholds_are_the_catalogues_and_a_reload_changes_them(
    demo_db: Path, tmp_path: Path
) -> None:
    shipped = read_catalogue(CATALOGUE_FILE).plausibility
    assert shipped.home_office == (HomeOfficeComparison("rape_reports", "ho_rape_offences",
                                                        0.1),)
    with open_store(demo_db) as store, store.connect() as conn:
        assert fetch_catalogue(conn).plausibility == shipped
    path = suspect_return(demo_db, tmp_path / "kent.csv")
    # Rape reports five times over are 400% more than the Home Office's figure: a
    # tolerance of 500% lets that pass, and a factor of 6 the median test.
    text = CATALOGUE_FILE.read_text(encoding="utf-8")
    edited = tmp_path / "catalogue.yaml"
    edited.write_text(text.replace("tolerance: 0.1}", "tolerance: 5}")
                      .replace("\n  factor: 5\n", "\n  factor: 6\n"), encoding="utf-8")
    assert reload_catalogue(demo_db, edited).plausibility.home_office[0].tolerance == 5
    _, report = check_files(demo_db, [path])
    assert checks(report.findings) == SUSPECT_WARNINGS - {
        ("home_office", FORCE, "rape_reports", "2025-07")}
    assert not any("times the recent median" in f.rule for f in report.findings)


@pytest.mark.parametrize(("edit", "message"), [
    ({"factor": 1}, "field 'factor' = 1: must be a number above 1"),
    ({"run_length": 0}, "field 'run_length' = 0: must be a whole number from 2 to 120"),
    ({"min_history": 30}, "field 'min_history' = 30: must be at most history_months (24)"),
    ({"months": 3}, "field 'months' = 3: unknown threshold"),
    ({"home_office": [{"return_measure": "ho_rape_offences",
                       "home_office_measure": "rape_reports", "tolerance": 0.1}]},
     "field 'return_measure' = 'ho_rape_offences': must be a monthly measure from "
     "force_return"),
    ({"home_office": [{"return_measure": "rape_reports", "home_office_measure": "nope",
                       "tolerance": 0.1}]}, "field 'home_office_measure' = 'nope': unknown"),
    ({"home_office": [{"return_measure": "rape_reports",
                       "home_office_measure": "ho_rape_offences", "tolerance": -1}]},
     "field 'tolerance' = -1: must be a share from 0 to 10"),
])
def test_a_bad_plausibility_block_is_refused_naming_the_threshold(
    edit: dict[str, object], message: str
) -> None:
    raw = shipped_raw()
    raw["plausibility"].update(edit)
    with pytest.raises(CatalogueError) as refused:
        parse_catalogue(dumped(raw))
    assert message in str(refused.value)


def test_a_catalogue_without_a_plausibility_block_takes_the_defaults() -> None:
    raw = shipped_raw()
    del raw["plausibility"]
    assert parse_catalogue(dumped(raw)).plausibility == PlausibilityRules()


def shipped_raw() -> dict[str, object]:
    return load_yaml(CATALOGUE_FILE.read_text(encoding="utf-8"))


def dumped(raw: dict[str, object]) -> str:
    import yaml

    return yaml.dump(raw, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
                     sort_keys=False)


@DUCKDB_FILE_ONLY  # an older version's file
def test_a_version_6_database_takes_the_shipped_thresholds(empty_db: Path) -> None:
    conn = duckdb.connect(str(empty_db))
    try:
        conn.execute("DROP TABLE plausibility_settings")
        conn.execute("DROP TABLE plausibility_comparisons")
        conn.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
        conn.execute("CHECKPOINT")
    finally:
        conn.close()
    with open_store(empty_db) as store, store.connect() as conn:
        assert get_meta(conn, "schema_version") == "7"
        assert fetch_catalogue(conn).plausibility == read_catalogue(
            CATALOGUE_FILE).plausibility

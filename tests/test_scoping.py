"""Force scoping in the data layer: a user limited to one force sees that force and the
aggregates, and nothing force-level about any other force, whatever they ask for.

Expected numbers are worked out here from the raw observations, not by the engine.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from kpis.domain.access import AccessDenied, Principal, Role
from kpis.domain.periods import add_months
from kpis.engine.dataset import Dataset
from kpis.engine.measures import arrays_of, latest_period
from kpis.engine.views import force_rows, kpi_funnel
from kpis.service import FlightDeckService
from kpis.settings import NATIONAL_SLUG
from kpis.storage import schema
from kpis.storage.coverage import cached_submissions, coverage
from kpis.storage.duckdb_file import Reader, query_frame
from tests.conftest import DEMO_END

KENT = "kent"
MONTH = DEMO_END  # September 2025
KENT_VIEWER = Principal("kv", Role.VIEWER, force=KENT)
KENT_ANALYST = Principal("ka", Role.ANALYST, force=KENT, display_name="Kent Analyst")


def raw(db: Path, measure_id: str, month: dt.date) -> pd.Series:
    """One measure's value per force for one month, straight from the observations."""
    reader = Reader(db)
    try:
        with reader.connect() as conn:
            obs = schema.observations.c
            frame = query_frame(conn, sa.select(obs.force_slug, obs.value).where(
                obs.measure_id == measure_id, obs.period_start == month))
    finally:
        reader.close()
    return frame.set_index("force_slug")["value"]


@pytest.fixture(scope="module")
def kent_view(demo_dataset: Dataset) -> Dataset:
    return demo_dataset.scoped(KENT)


def test_a_scoped_table_shows_the_force_and_aggregates_with_hand_worked_values(
        kent_view: Dataset, demo_db_readonly: Path) -> None:
    from kpis.engine.measures import flight_deck_table

    referrals = raw(demo_db_readonly, "cps_referrals", MONTH)
    table = flight_deck_table(kent_view, ["cps_referrals"], None, MONTH, MONTH, spc=None)
    areas = set(table["area"])
    assert KENT in areas and NATIONAL_SLUG in areas
    assert not areas & (set(kent_view.forces["slug"]) - {KENT})
    row = table.set_index("area")
    # Kent's own count is its return; England and Wales sums every force, Kent included.
    assert row.loc[KENT, "value"] == referrals[KENT]
    assert row.loc[NATIONAL_SLUG, "value"] == pytest.approx(referrals.sum())
    assert row.loc[NATIONAL_SLUG, "forces_reporting"] == len(referrals)
    region = kent_view.region_of[KENT]
    in_region = kent_view.members.loc[kent_view.members["area_id"] == region, "force_slug"]
    assert row.loc[region, "value"] == pytest.approx(referrals[list(in_region)].sum())


def test_asking_for_another_force_by_name_returns_nothing(kent_view: Dataset) -> None:
    from kpis.engine.measures import flight_deck_table

    table = flight_deck_table(kent_view, None, ["essex", "surrey"], spc=None)
    assert table.empty
    arrays = arrays_of(kent_view, "cps_referrals")
    essex = kent_view.cube.area_index["essex"]
    assert not arrays.present[essex].any() and np.isnan(arrays.value[essex]).all()
    assert np.isnan(kent_view.cube.values[:, list(kent_view.forces["slug"]).index("essex")]
                    ).all()


def test_the_scoped_force_keeps_its_rank_among_all_forces(demo_dataset: Dataset,
                                                          kent_view: Dataset) -> None:
    # August: September's national figure is incomplete (late returns), so unranked.
    august = add_months(MONTH, -1)
    everyone = force_rows(demo_dataset, "cps_referrals", august).set_index("area")
    scoped = force_rows(kent_view, "cps_referrals", august)
    assert list(scoped["area"]) == [KENT]
    # Rank 1 is the most referrals per 100,000 people: count the forces with more.
    higher = int((everyone["comparison"] > everyone.loc[KENT, "comparison"]).sum())
    assert scoped.iloc[0]["rank"] == higher + 1
    assert scoped.iloc[0]["ranked_forces"] == len(everyone)


def test_a_funnel_plot_shows_only_the_scoped_force_against_the_national_share(
        demo_dataset: Dataset, kent_view: Dataset) -> None:
    kpi = kent_view.kpis["ho_rape_charge_rate"]
    period = latest_period(kent_view, kpi.kpi_id, KENT)
    assert period is not None
    scoped = kpi_funnel(kent_view, kpi, period)
    everyone = kpi_funnel(demo_dataset, kpi, period)
    assert scoped is not None and everyone is not None
    assert list(scoped.points["label"]) == [KENT]
    assert scoped.centre == pytest.approx(everyone.centre)


def test_return_coverage_and_load_history_cover_only_the_scoped_force(
        kent_view: Dataset, demo_db_readonly: Path) -> None:
    reader = Reader(demo_db_readonly)
    try:
        frame = coverage(kent_view, cached_submissions(reader, kent_view.data_version),
                         today=dt.date(2025, 11, 1))
    finally:
        reader.close()
    assert set(frame["force_slug"]) == {KENT}
    assert all(set(forces.split(",")) == {KENT} for forces in kent_view.loads["forces"])


def test_the_service_scopes_every_principal_and_shares_the_caches(demo_db: Path) -> None:
    base = FlightDeckService(demo_db)
    kent = base.for_principal(KENT_VIEWER)
    assert kent.dataset().scope == KENT and base.dataset().scope is None
    assert kent.dataset() is base.for_principal(KENT_ANALYST).dataset()
    assert kent.table(["cps_referrals"], ["essex"]).empty
    assert not base.table(["cps_referrals"], ["essex"]).empty
    assert kent.commentary_for("cps_referrals", "essex", MONTH) is None


@pytest.mark.slow  # about a second
def test_a_scoped_analyst_cannot_comment_on_or_export_another_force(demo_db: Path) -> None:
    kent = FlightDeckService(demo_db).for_principal(KENT_ANALYST)
    with pytest.raises(AccessDenied, match="limited to Kent"):
        kent.write_commentary("cps_referrals", "essex", MONTH, "About Essex")
    with pytest.raises(AccessDenied):
        kent.write_commentary("cps_referrals", NATIONAL_SLUG, MONTH, "National")
    with pytest.raises(AccessDenied, match="limited to Kent"):
        kent.authorise_export("pack", "essex")
    written = kent.write_commentary("cps_referrals", KENT, MONTH, "Kent is improving",
                                    author="Typed Name")
    assert written is not None and written.author == "Kent Analyst"
    with pytest.raises(AccessDenied, match="national"):
        kent.record_progress("R1", "in progress", "Started", "")


def test_a_scoped_analyst_cannot_roll_back_a_load_holding_other_forces(demo_db: Path) -> None:
    import hashlib

    kent = FlightDeckService(demo_db).for_principal(KENT_ANALYST)
    everyone = FlightDeckService(demo_db).dataset().loads
    shared = everyone[everyone["forces"].str.contains(",")]
    assert not shared.empty
    before = hashlib.sha256(demo_db.read_bytes()).hexdigest()
    with pytest.raises(AccessDenied, match="other forces than Kent"):
        kent.rollback(int(shared["load_id"].iloc[0]))
    assert hashlib.sha256(demo_db.read_bytes()).hexdigest() == before

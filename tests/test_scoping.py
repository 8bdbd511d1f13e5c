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
from kpis.settings import FORCES_CSV, NATIONAL_SLUG
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
    # Only Home Office open data, published for every force, comes back.
    assert set(table["kpi"]) == {k for k in kent_view.kpis
                                 if kent_view.catalogue.is_open_data(kent_view.kpis[k])}
    assert set(table["area"]) == {"essex", "surrey"}
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
    kpi = kent_view.kpis["suspect_contact_30d"]  # a force-return share
    period = latest_period(kent_view, kpi.kpi_id, KENT)
    assert period is not None
    scoped = kpi_funnel(kent_view, kpi, period)
    everyone = kpi_funnel(demo_dataset, kpi, period)
    assert scoped is not None and everyone is not None
    # Kent's own dot and the South East's (its region): no other force's, whose size
    # would name it; the axes follow from what is shown.
    assert list(scoped.points["label"]) == [KENT, "region-south-east"]
    assert scoped.centre == pytest.approx(everyone.centre)
    own = everyone.points.set_index("label").loc[KENT]
    assert scoped.points.set_index("label").loc[KENT, "value"] == pytest.approx(own["value"])


def test_home_office_open_data_is_shown_for_every_force_to_a_scoped_account(
        demo_dataset: Dataset, kent_view: Dataset) -> None:
    # Published by the Home Office for every force: nothing to protect.
    kpi = kent_view.kpis["ho_rape_charge_rate"]
    assert kent_view.catalogue.is_open_data(kpi)
    period = latest_period(kent_view, kpi.kpi_id, KENT)
    scoped = kpi_funnel(kent_view, kpi, period)
    everyone = kpi_funnel(demo_dataset, kpi, period)
    assert scoped is not None and everyone is not None
    assert sorted(scoped.points["label"]) == sorted(everyone.points["label"])
    assert len(scoped.points) > 40
    np.testing.assert_allclose(arrays_of(kent_view, kpi.kpi_id).value,
                               arrays_of(demo_dataset, kpi.kpi_id).value)


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


# --------------------------------------------------------------------------- differencing


def test_which_forces_a_set_of_aggregates_gives_away_is_worked_out_by_hand() -> None:
    from kpis.engine.disclosure import aggregates_to_withhold, determined_forces

    # Forces 0-4; the regions {0, 1} and {2, 3, 4}; England and Wales, all five.
    membership = np.array([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0],
                           [0, 0, 0, 1, 0], [0, 0, 0, 0, 1],
                           [1, 1, 0, 0, 0], [0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], dtype=float)
    # Force 0's user: region {0, 1} minus force 0 is force 1.
    assert determined_forces(membership, [5, 6, 7], own=0) == [1]
    # Without that region, England and Wales minus {2, 3, 4} is it again; without the
    # other region too, nothing single is left.
    assert determined_forces(membership, [6, 7], own=0) == [1]
    assert determined_forces(membership, [7], own=0) == []
    assert aggregates_to_withhold(membership, [5, 6, 7], 0, [5, 6, 7]) == [5, 6]
    # Force 2's user: {3, 4} and {0, 1} are sums of two; nothing single follows.
    assert determined_forces(membership, [5, 6, 7], own=2) == []


def test_a_metropolitan_user_cannot_subtract_their_way_to_the_city_of_london(
        demo_dataset: Dataset) -> None:
    """London is the Met and the City; England and Wales is the sum of the regions. So
    London, and one more region, are withheld; what is left gives no single force."""
    from kpis.engine.disclosure import determined_forces
    from kpis.engine.measures import flight_deck_table

    met = demo_dataset.scoped("metropolitan")
    assert met.withheld_areas == {"region-london", "region-north-east"}
    assert not met.visible("region-london") and met.visible(NATIONAL_SLUG)
    cube = met.cube
    shown = [cube.area_index[a] for a in cube.area_ids[len(met.forces):]
             if met.visible(str(a))]
    assert determined_forces(cube.membership, shown, cube.area_index["metropolitan"]) == []
    table = flight_deck_table(met, None, None, MONTH, MONTH, spc=None)
    assert not set(table["area"]) & {"region-london", "region-north-east", "city-of-london"}
    # The attack of the red-team pass, on a count: England and Wales minus every region
    # shown minus the Met is the City plus the North East's forces, not the City.
    referrals = flight_deck_table(met, ["cps_referrals"], None, MONTH, MONTH,
                                  spc=None).set_index("area")["value"]
    everyone = flight_deck_table(demo_dataset, ["cps_referrals"], None, MONTH, MONTH,
                                 spc=None).set_index("area")["value"]
    regions = [a for a in referrals.index if str(a).startswith("region-")]
    remainder = referrals[NATIONAL_SLUG] - referrals[regions].sum() - referrals["metropolitan"]
    north_east = everyone["region-north-east"]
    assert remainder == pytest.approx(everyone["city-of-london"] + north_east)
    assert north_east > 0


def test_peer_groups_that_give_a_force_away_are_withheld(demo_db: Path) -> None:
    from tests.conftest import dataset_of, write_peer_groups

    forces = list(pd.read_csv(FORCES_CSV)["slug"])
    write_peer_groups(demo_db, {"All but Kent": [f for f in forces if f != KENT],
                                  "Just Durham": ["durham"],
                                  "Three": [KENT, "essex", "surrey"]})
    ds = dataset_of(demo_db)
    # A Durham user: England and Wales minus "All but Kent" would be Kent.
    durham = ds.scoped("durham")
    assert {"group-all-but-kent"} <= durham.withheld_areas
    assert durham.visible("group-three") and durham.visible(NATIONAL_SLUG)
    # A group of one force is that force: withheld from everyone else.
    assert not ds.scoped(KENT).visible("group-just-durham")
    # Its own force's user may see it (it is their own figures).
    assert ds.scoped("durham").visible("group-just-durham")


@pytest.mark.parametrize(("rows", "message"), [
    (["Pair,kent", "Pair,essex"], "has 2 force(s): a peer group needs at least 3"),
    ([f"Nearly all,{slug}" for slug in pd.read_csv(FORCES_CSV)["slug"] if slug != KENT],
     "differs from 'England and Wales' by 1 force(s) (kent)"),
    # The North East (3 forces) and one more: subtracting gives Kent.
    (["NE and Kent,durham", "NE and Kent,northumbria", "NE and Kent,cleveland",
      "NE and Kent,kent"], "by 1 force(s) (kent)"),
])
def test_a_peer_group_that_would_give_a_force_away_is_refused_on_loading(
        demo_db: Path, tmp_path: Path, rows: list[str], message: str) -> None:
    from kpis.storage.duckdb_file import write_transaction
    from kpis.storage.reference import PeerGroupError, store_peer_groups

    groups = tmp_path / "groups.csv"
    groups.write_text("group,force\n" + "\n".join(rows) + "\n", encoding="utf-8")
    before = demo_db.read_bytes()
    with pytest.raises(PeerGroupError) as refused, write_transaction(demo_db) as conn:
        store_peer_groups(conn, groups)
    assert message in str(refused.value)
    assert demo_db.read_bytes() == before


def test_an_aggregate_that_would_pin_another_force_is_withheld_for_that_month(
        empty_db: Path, tmp_path: Path) -> None:
    # A Durham account. In April the North East is Durham's 7 alone (Cleveland and
    # Northumbria 0): the region minus Durham pins both at 0, so it is withheld; and
    # England and Wales (29) minus the South East (22) minus Durham gives the same 0,
    # so it goes too. In May the North East's other forces have 14 between them (each
    # could be 0 to 14): nothing is withheld. Everyone else sees every figure.
    from kpis.engine.measures import flight_deck_table
    from tests.test_measures import load_return

    april, may = dt.date(2024, 4, 1), dt.date(2024, 5, 1)
    rows = []
    for when, (cleveland, northumbria) in ((april, (0, 0)), (may, (6, 8))):
        rows += [("durham", when, "cps_referrals", 7),
                 ("cleveland", when, "cps_referrals", cleveland),
                 ("northumbria", when, "cps_referrals", northumbria),
                 ("kent", when, "cps_referrals", 10), ("surrey", when, "cps_referrals", 12)]
    ds = load_return(empty_db, tmp_path, rows)
    durham = ds.scoped("durham")
    table = flight_deck_table(durham, ["cps_referrals"], spc=None)
    shown = {(r.area, r.period_start.date()): r.value for r in table.itertuples()}
    assert ("region-north-east", april) not in shown
    assert (NATIONAL_SLUG, april) not in shown
    assert shown[("region-south-east", april)] == 22
    assert shown[("region-north-east", may)] == 21 and shown[(NATIONAL_SLUG, may)] == 43
    assert shown[("durham", april)] == 7
    # The comparator column of Durham's own row says nothing either.
    own = table[(table["area"] == "durham")].set_index("period_start")
    assert np.isnan(own.loc[pd.Timestamp(april), "national_value"])
    assert own.loc[pd.Timestamp(may), "national_value"] == 43
    # Unscoped, every figure is there.
    everyone = flight_deck_table(ds, ["cps_referrals"], spc=None)
    assert len(everyone[everyone["area"] == "region-north-east"]) == 2


def test_a_scoped_accounts_bars_put_its_force_against_its_areas_not_one_force_ranked(
        demo_dataset: Dataset, kent_view: Dataset) -> None:
    from kpis.charts.specs import SCOPED_COMPARE_NOTE, compare_export
    from kpis.engine.measures import flight_deck_table

    august = add_months(MONTH, -1)
    export = compare_export(kent_view, "suspect_contact_30d", august, KENT)
    rows = export.rows
    assert list(rows["area"]) == [KENT, NATIONAL_SLUG, "region-south-east"]
    everyone = flight_deck_table(demo_dataset, ["suspect_contact_30d"],
                                 [KENT, NATIONAL_SLUG, "region-south-east"],
                                 start=august, end=august).set_index("area")
    for area, value in zip(rows["area"], rows["value"], strict=True):
        assert value == pytest.approx(everyone.loc[area, "value"])
    assert "South East (region)" in set(rows["name"])
    assert SCOPED_COMPARE_NOTE in export.summary and "forces ranked" not in export.summary
    # The drawn bars: the same three, nothing of any other force.
    bars = export.figure["data"][0]
    assert bars["y"] == ["Kent", "England and Wales", "South East (region)"]

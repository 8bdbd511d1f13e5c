"""The KPI catalogue file: the shipped one is valid and complete; bad ones are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from kpis.domain.catalogue import CatalogueError, load_yaml, parse_catalogue, read_catalogue
from kpis.domain.formatting import format_value
from kpis.settings import CATALOGUE_FILE
from kpis.storage import schema
from kpis.storage.catalogue_store import fetch_catalogue
from kpis.storage.database import reload_catalogue
from kpis.storage.duckdb_file import Reader

PILLARS = {
    1: "Suspect-focused investigations",
    2: "Identifying and disrupting repeat suspects",
    3: "Procedural justice and victim engagement",
    4: "Officer learning, development and wellbeing",
    5: "Data and performance",
    6: "Digital forensics",
}
HOME_OFFICE_KPIS = {
    "ho_rape_recorded", "ho_rape_charge_rate", "ho_rape_outcome_pending_share",
    "ho_rape_victim_not_supporting_share", "ho_rape_no_suspect_share",
    "ho_rape_evidential_difficulties_share",
}


def shipped() -> dict:
    return load_yaml(CATALOGUE_FILE.read_text(encoding="utf-8"))


def mutated(change) -> str:
    raw = shipped()
    change(raw)
    return yaml.safe_dump(raw, sort_keys=False)


def test_shipped_catalogue_is_valid_with_six_pillars_and_at_least_28_published_kpis() -> None:
    catalogue = read_catalogue(CATALOGUE_FILE)
    assert {p.number: p.name for p in catalogue.pillars} == PILLARS
    published = catalogue.published()
    assert len(published) >= 28
    assert {k.pillar for k in published} == set(PILLARS)


def test_shipped_catalogue_holds_the_home_office_kpis_the_ingest_feeds() -> None:
    ids = {k.kpi_id for k in read_catalogue(CATALOGUE_FILE).published()}
    assert ids >= HOME_OFFICE_KPIS


def test_shipped_catalogue_evidences_every_inspection_recommendation() -> None:
    catalogue = read_catalogue(CATALOGUE_FILE)
    linked = {r for k in catalogue.published() for r in k.recommendations}
    assert linked == {"R1", "R2", "R3", "R4", "R5"}
    titles = " ".join(k.title.lower() for k in catalogue.published())
    for phrase in ("word-on-word", "repeat suspects", "bail", "orders", "63g", "accredited",
                   "charge/summons", "victim does not support"):
        assert phrase in titles, phrase


def test_victim_not_supporting_share_is_outcomes_14_plus_16_over_closed_outcomes() -> None:
    kpi = next(k for k in read_catalogue(CATALOGUE_FILE).published()
               if k.kpi_id == "ho_rape_victim_not_supporting_share")
    assert kpi.numerator == ("ho_rape_outcome14_closed", "ho_rape_outcome16_closed")
    assert kpi.denominator == ("ho_rape_outcomes_closed_all",)


def test_every_kpi_names_its_source_and_status() -> None:
    for kpi in read_catalogue(CATALOGUE_FILE).kpis:
        assert kpi.source
        assert kpi.status in ("draft", "published")


def test_a_draft_revision_does_not_replace_the_published_version() -> None:
    catalogue = read_catalogue(CATALOGUE_FILE)
    versions = [k for k in catalogue.kpis if k.kpi_id == "digital_strategy_share"]
    assert {(k.version, k.status) for k in versions} == {(1, "published"), (2, "draft")}
    published = next(k for k in catalogue.published() if k.kpi_id == "digital_strategy_share")
    assert published.version == 1


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c["kpis"][0].update(pillar=9), "field 'pillar' = 9: unknown pillar"),
        (lambda c: c["kpis"][0].update(numerator=["no_such_measure"]),
         "field 'numerator' = 'no_such_measure': unknown measure"),
        (lambda c: c["kpis"][0].update(denominator=["nonexistent"]),
         "field 'denominator' = 'nonexistent': unknown measure"),
        (lambda c: c["kpis"][0].update(polarity="up"),
         "field 'polarity' = 'up': must be one of higher, lower, neutral"),
        (lambda c: c["kpis"].append(dict(c["kpis"][0])), "duplicate id+version"),
        (lambda c: c["kpis"][0].update(status="live"), "field 'status' = 'live'"),
        (lambda c: c["kpis"][0].update(unit="furlongs"), "field 'unit' = 'furlongs'"),
        (lambda c: c["kpis"][0].update(target=1.5), "a percent target is a fraction"),
        (lambda c: c["kpis"][0].update(effective_from="soon"), "must be a date"),
        (lambda c: c["kpis"][0].pop("denominator"), "a percent KPI needs a denominator"),
        (lambda c: c["kpis"][0].update(periodicity="monthly"), "is quarterly"),
        (lambda c: c["kpis"][0].update(spc_run_length=5),
         "field 'spc_run_length' = 5: must be 6, 7 or 8"),
        (lambda c: c["kpis"][0].update(spc_run_length=True), "must be 6, 7 or 8"),
        (lambda c: c["kpis"][0].update(spc_baseline_points=12),
         "field 'spc_baseline_points' = 12: must be a whole number of 15 or more points"),
        (lambda c: c["kpis"][0].update(spc_baseline_points="24"), "of 15 or more points"),
        (lambda c: c["kpis"][0].update(comparison_base="rape_reports"),
         "field 'comparison_base' = 'rape_reports': only a count KPI has a comparison base"),
        (lambda c: count_kpi(c).update(comparison_base="no_such_measure"),
         "field 'comparison_base' = 'no_such_measure': must be 'population' or a measure id"),
        (lambda c: count_kpi(c).update(comparison_base="ho_rape_offences"),
         "field 'comparison_base' = 'ho_rape_offences': measure ho_rape_offences is quarterly"),
        (lambda c: count_kpi(c).update(comparison_per=0),
         "field 'comparison_per' = 0: must be a whole number of 1 or more"),
    ],
)
@pytest.mark.slow  # a sweep over invalid catalogues (about 4 s)
def test_an_invalid_catalogue_is_refused_naming_the_entry_field_value_and_rule(
    change, expected: str
) -> None:
    with pytest.raises(CatalogueError) as raised:
        parse_catalogue(mutated(change), file_name="edited.yaml")
    message = str(raised.value)
    assert expected in message
    assert "edited.yaml: kpis[" in message


def test_the_spc_run_length_and_a_fixed_baseline_are_catalogue_data() -> None:
    def fixed(c: dict) -> None:
        c["kpis"][0].update(spc_run_length=8, spc_baseline_points=24)

    first = parse_catalogue(mutated(fixed)).kpis[0]
    assert (first.spc_run_length, first.spc_baseline_points) == (8, 24)
    # Left out: Making Data Count's 7, and the NOM re-base.
    second = parse_catalogue(mutated(lambda c: None)).kpis[1]
    assert (second.spc_run_length, second.spc_baseline_points) == (7, None)


def count_kpi(catalogue: dict) -> dict:
    """The shipped catalogue's police referrals to CPS: a monthly count KPI."""
    return next(k for k in catalogue["kpis"] if k["id"] == "cps_referrals")


def test_a_count_kpis_comparison_base_is_catalogue_data() -> None:
    def per_thousand_people(c: dict) -> None:
        count_kpi(c).update(comparison_base="population", comparison_per=1000)

    kpis = {k.kpi_id: k for k in parse_catalogue(mutated(per_thousand_people)).kpis}
    assert kpis["cps_referrals"].comparison_basis == "per 1,000 people"
    assert format_value(kpis["cps_referrals"].compared, 2.25) == "2.2 per 1,000"
    # Shipped: referrals per 100 reports received (a measure: per 100 by default).
    shipped = {k.kpi_id: k for k in read_catalogue(CATALOGUE_FILE).kpis}
    referrals = shipped["cps_referrals"]
    assert (referrals.comparison_base, referrals.comparison_per) == ("rape_reports", 100)
    assert format_value(referrals.compared, 12.84) == (
        "12.8 per 100 RASSO reports received in the month")
    # Every other count, and every rate, is per 100,000 people.
    assert shipped["devices_awaiting_examination"].comparison_basis == "per 100,000 people"
    assert shipped["ho_rape_rate_per_100k"].comparison_basis == "per 100,000 people"
    # A share is compared as it is.
    assert shipped["suspect_contact_30d"].comparison_basis == ""
    assert shipped["suspect_contact_30d"].compared == shipped["suspect_contact_30d"]


def test_every_problem_is_reported_not_just_the_first() -> None:
    def two_faults(c: dict) -> None:
        c["kpis"][0]["pillar"] = 0
        c["kpis"][3]["polarity"] = "sideways"

    with pytest.raises(CatalogueError) as raised:
        parse_catalogue(mutated(two_faults))
    rules = [p.rule for p in raised.value.problems]
    assert len(rules) == 2
    assert any("unknown pillar" in r for r in rules)
    assert any("must be one of higher" in r for r in rules)


def test_text_that_is_not_yaml_is_refused_with_a_clear_error() -> None:
    with pytest.raises(CatalogueError, match="not valid YAML"):
        parse_catalogue("kpis: [unclosed", file_name="broken.yaml")


def test_adding_a_kpi_is_an_edit_of_the_file_and_a_reload(empty_db: Path, tmp_path: Path) -> None:
    def add(c: dict) -> None:
        c["kpis"].append({
            "id": "isva_referrals_count", "version": 1, "status": "published",
            "title": "ISVA referrals", "pillar": 3, "description": "Referrals to an ISVA.",
            "numerator": ["isva_referrals"], "unit": "count", "polarity": "higher",
            "periodicity": "monthly", "source": "Force monthly return",
            "effective_from": "2024-04-01",
        })

    edited = tmp_path / "catalogue.yaml"
    edited.write_text(mutated(add), encoding="utf-8")
    reload_catalogue(empty_db, edited)
    with Reader(empty_db).connect() as conn:
        catalogue = fetch_catalogue(conn)
    added = next(k for k in catalogue.kpis if k.kpi_id == "isva_referrals_count")
    assert (added.pillar, added.unit, added.numerator) == (3, "count", ("isva_referrals",))


def test_a_refused_reload_leaves_the_database_untouched(empty_db: Path, tmp_path: Path) -> None:
    before = empty_db.read_bytes()
    edited = tmp_path / "bad.yaml"
    edited.write_text(mutated(lambda c: c["kpis"][0].update(pillar=42)), encoding="utf-8")
    with pytest.raises(CatalogueError):
        reload_catalogue(empty_db, edited)
    assert empty_db.read_bytes() == before


def test_catalogue_round_trips_through_duckdb(empty_db: Path) -> None:
    original = read_catalogue(CATALOGUE_FILE)
    with Reader(empty_db).connect() as conn:
        stored = fetch_catalogue(conn)
        versions = conn.execute(sa.select(sa.func.count()).select_from(
            schema.kpi_definitions)).scalar_one()
    assert versions == len(original.kpis)
    by_key = {(k.kpi_id, k.version): k for k in stored.kpis}
    for kpi in original.kpis:
        assert by_key[(kpi.kpi_id, kpi.version)] == kpi


def _first_title(db: Path) -> str:
    with Reader(db).connect() as conn:
        return fetch_catalogue(conn).kpis[0].title


def test_a_catalogue_read_is_kept_under_its_digest_until_the_catalogue_changes(
        empty_db: Path, tmp_path: Path) -> None:
    """Kept: a second database holding the same catalogue is not read again. Changed
    by a catalogue load: read again. Without a digest (after an upgrade): read in full."""
    import duckdb

    from kpis.storage.backend import CATALOGUE_DIGEST_KEY

    shipped_title = read_catalogue(CATALOGUE_FILE).kpis[0].title
    assert _first_title(empty_db) == shipped_title

    def raw(sql: str) -> None:
        conn = duckdb.connect(str(empty_db))
        try:
            conn.execute(sql)
        finally:
            conn.close()

    # Rows changed behind the digest's back are not read: the catalogue read is kept.
    first_id = read_catalogue(CATALOGUE_FILE).kpis[0].kpi_id
    raw(f"UPDATE kpi_definitions SET title = 'Changed by hand' WHERE kpi_id = '{first_id}'")
    assert _first_title(empty_db) == shipped_title
    # Without the digest the rows are read in full.
    raw(f"DELETE FROM meta WHERE key = '{CATALOGUE_DIGEST_KEY}'")
    assert _first_title(empty_db) == "Changed by hand"
    # A catalogue load stores a new digest: its catalogue is what is read.
    edited = tmp_path / "catalogue.yaml"
    edited.write_text(mutated(lambda c: c["kpis"][0].update(title="Loaded title")),
                      encoding="utf-8")
    reload_catalogue(empty_db, edited)
    assert _first_title(empty_db) == "Loaded title"
    # Each read gets lists of its own: changing one leaves the kept catalogue alone.
    with Reader(empty_db).connect() as conn:
        fetch_catalogue(conn).kpis.clear()
    assert _first_title(empty_db) == "Loaded title"

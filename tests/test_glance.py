"""The flight deck at a glance: Making Data Count icons, the matrix's order and the
headline's counts (kpis.charts.icons, kpis.charts.glance), worked by hand."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import replace

import pandas as pd
import pytest

from kpis.charts.glance import CONCERN, FAILING, MISSING, OTHER, glance_rows, headline
from kpis.charts.icons import assurance_icon, special_cause_side, variation_icon
from kpis.engine.dataset import Dataset

SEPTEMBER = dt.date(2025, 9, 1)


@pytest.mark.parametrize(("variation", "side", "limits", "name", "code"), [
    ("concern", "low", "limits", "Special cause concern, low", "concern-low"),
    ("improvement", "high", "limits", "Special cause improvement, high", "improvement-high"),
    ("neither", "high", "trial", "Special cause variation, high", "neither-high"),
    ("common", None, "limits", "Common cause variation", "common"),
    (None, None, "too_few", "Not enough data for SPC", "too-few"),
    (None, None, None, "No SPC for this period", "none"),
])
def test_variation_icons_are_named_in_words(variation, side, limits, name, code):
    icon = variation_icon(variation, side, limits)
    assert (icon.name, icon.code) == (name, code)
    svg = ET.fromstring(icon.svg)  # well-formed SVG, 24 x 24
    assert svg.get("width") == svg.get("height") == "24"
    assert icon.data_uri.startswith("data:image/svg+xml;utf8,") and "#" not in icon.data_uri


def test_a_high_or_low_letter_follows_the_side_of_the_centre_line():
    assert special_cause_side({"value": 12.0, "spc_mean": 10.0}) == "high"
    assert special_cause_side({"value": 8.0, "spc_mean": 10.0}) == "low"
    assert special_cause_side({"value": 10.0, "spc_mean": 10.0}) is None
    assert special_cause_side({"value": 8.0, "spc_mean": float("nan")}) is None
    assert ">H<" in variation_icon("concern", "high").svg
    assert ">L<" in variation_icon("improvement", "low").svg


def test_assurance_icons_and_their_names():
    assert assurance_icon("fail", True).name == "Consistently failing the target"
    assert ">F<" in assurance_icon("fail", True).svg
    assert assurance_icon("pass", True).name == "Consistently passing the target"
    assert assurance_icon("hit_and_miss", True).name == "Hit and miss against the target"
    assert assurance_icon(None, True, "too_few").name == "Not enough data for assurance"
    assert assurance_icon("fail", False) is None  # no target, no assurance
    assert variation_icon("concern", "low", withheld=True).name.startswith("SPC withheld")


def row(variation: str, assurance: str | None = None, period: dt.date = SEPTEMBER,
        value: float = 5.0, mean: float = 4.0) -> dict[str, object]:
    return {"variation": variation, "assurance": assurance, "spc_limits": "limits",
            "period_start": pd.Timestamp(period), "value": value, "spc_mean": mean,
            "suppressed_parts": ""}


def test_concerns_then_failing_targets_then_missing_returns_come_first(
        demo_dataset: Dataset):
    kpis = [k for k in demo_dataset.kpis.values() if k.pillar == 1][:5]
    kpis = [replace(k, target=0.5) for k in kpis]
    a, b, c, d, e = (k.kpi_id for k in kpis)
    own = {a: row("common", "pass"), b: row("improvement", "fail"),
           c: row("concern", "pass", value=3.0), d: row("common", None, dt.date(2025, 8, 1))}
    expected = {k.kpi_id: SEPTEMBER for k in kpis}
    pillar = glance_rows(kpis, own, {}, expected)[1]
    assert [line.kpi.kpi_id for line in pillar] == [c, b, d, e, a]
    assert [line.attention for line in pillar] == [CONCERN, FAILING, MISSING, MISSING, OTHER]
    assert pillar[0].variation.name == "Special cause concern, low"
    head = headline({1: pillar})
    assert [r.kpi.kpi_id for r in head.concerns] == [c]
    assert [r.kpi.kpi_id for r in head.failing] == [b]
    assert [r.kpi.kpi_id for r in head.missing] == [d, e]  # August only; no data at all
    assert head.data_to == SEPTEMBER


def test_the_data_is_as_fresh_as_the_forces_last_load(demo_dataset: Dataset) -> None:
    from kpis.engine.views import last_loaded

    loads = demo_dataset.loads
    kent = [t for t, forces in zip(loads["loaded_at"], loads["forces"], strict=True)
            if "kent" in forces.split(",")]
    assert last_loaded(demo_dataset, "kent") == max(kent).date()
    assert last_loaded(demo_dataset, "england-and-wales") == loads["loaded_at"].max().date()


def test_a_change_says_whether_it_is_better_or_worse(demo_dataset: Dataset) -> None:
    from kpis.domain.formatting import change_direction, period_unit

    share = demo_dataset.kpis["suspect_contact_30d"]  # higher is better
    assert share.polarity == "higher"
    assert change_direction(share, 0.031) == "better"
    assert change_direction(share, -0.031) == "worse"
    assert change_direction(share, 0.00001) == ""  # rounds to no change
    assert change_direction(replace(share, polarity="lower"), 0.031) == "worse"
    assert change_direction(replace(share, polarity="neutral"), 0.031) == ""
    assert change_direction(share, float("nan")) == ""
    rate = next(k for k in demo_dataset.kpis.values() if k.unit == "per_100k")
    assert period_unit(rate) == ("per 100,000 people, in the month"
                                 if rate.periodicity == "monthly"
                                 else "per 100,000 people, in the quarter")
    assert period_unit(share) == ""


def glance_table(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    """A KPI table's four columns that matter here: kpi, area, period (YYYY-MM), value."""
    return pd.DataFrame({
        "kpi": [r[0] for r in rows], "area": [r[1] for r in rows],
        "period_start": pd.to_datetime([f"{r[2]}-01" for r in rows]),
        "value": [r[3] for r in rows]})


# Two KPIs of Kent and its region, as the engine orders a table: by KPI, each area's
# periods together, oldest first. Kent's k2 stops in May, its region's goes on to June.
GLANCE_ROWS = [
    ("k1", "kent", "2025-04", 1.0), ("k1", "kent", "2025-05", 2.0),
    ("k1", "kent", "2025-06", 3.0),
    ("k1", "region", "2025-04", 10.0), ("k1", "region", "2025-05", 20.0),
    ("k1", "region", "2025-06", 30.0),
    ("k2", "kent", "2025-04", 4.0), ("k2", "kent", "2025-05", 5.0),
    ("k2", "region", "2025-05", 50.0), ("k2", "region", "2025-06", 60.0),
]


def test_each_kpis_latest_row_and_its_history_oldest_first() -> None:
    from kpis.charts.glance import latest_and_history, latest_rows

    table = glance_table(GLANCE_ROWS)
    latest, history = latest_and_history(table, "kent")
    assert {k: (r["period_start"].month, r["value"]) for k, r in latest.items()} == {
        "k1": (6, 3.0), "k2": (5, 5.0)}
    assert history == {"k1": [1.0, 2.0, 3.0], "k2": [4.0, 5.0]}
    assert latest_rows(table, "region")["k2"]["value"] == 60.0
    # A KPI's rows apart (not as the engine writes them): still its last row.
    apart = glance_table([GLANCE_ROWS[0], GLANCE_ROWS[6], GLANCE_ROWS[1]])
    assert latest_rows(apart, "kent")["k1"]["value"] == 2.0
    assert latest_and_history(table, "durham") == ({}, {})


def test_the_comparator_is_taken_at_each_kpis_own_period_never_a_later_one() -> None:
    from kpis.charts.glance import at_periods, latest_rows

    table = glance_table(GLANCE_ROWS)
    other = at_periods(table, "region", latest_rows(table, "kent"))
    # k1 at June (Kent's June: the region's 30), k2 at May (Kent's last: 50, not June's 60).
    assert {k: r["value"] for k, r in other.items()} == {"k1": 30.0, "k2": 50.0}
    # A KPI the comparator has no row for at that period is left out.
    assert at_periods(table, "region", {"k2": {"period_start": pd.Timestamp("2025-04-01")}}
                      ) == {}


@pytest.mark.parametrize("suppress", [False, True])
def test_records_are_the_dicts_to_dict_gives(demo_dataset: Dataset, suppress: bool) -> None:
    """Every value of every row, of every column's type: floats, ints, bools, strings,
    Timestamps, and NaN and NaT where a cell is missing or withheld."""
    from kpis.charts.records import records
    from kpis.engine.measures import flight_deck_table

    table = flight_deck_table(demo_dataset, areas=["kent", "region-south-east", "durham"],
                              end=dt.date(2025, 9, 1), suppress=suppress)
    expected, got = table.to_dict("records"), records(table)
    assert len(got) == len(expected) == len(table) > 1000
    assert [list(r) for r in got] == [list(r) for r in expected]  # the columns, in order
    for mine, theirs in zip(got, expected, strict=True):
        assert [type(v) for v in mine.values()] == [type(v) for v in theirs.values()]
        assert pd.Series(mine).equals(pd.Series(theirs))
    assert any(pd.isna(v) for r in got for v in r.values())  # missing cells were compared
    assert records(table.iloc[:0]) == []


def test_records_give_to_dicts_values_for_every_kind_of_column() -> None:
    from kpis.charts.records import records

    frame = pd.DataFrame({
        "count": pd.array([1, None], dtype="Int64"), "label": pd.Categorical(["a", None]),
        "text": pd.array(["x", None], dtype="string"), "share": [1.5, float("nan")],
        "n": [1, 2], "flag": [True, False], "when": pd.to_datetime(["2025-01-01", None]),
        "utc": pd.to_datetime(["2025-01-01", None]).tz_localize("UTC"),
        "day": [dt.date(2025, 1, 1), None], "maybe": pd.array([True, None], dtype="boolean"),
        "rate": pd.array([1.5, None], dtype="Float64"), 7: [1, 2]})
    expected, got = frame.to_dict("records"), records(frame)
    assert [list(r) for r in got] == [list(r) for r in expected]
    for mine, theirs in zip(got, expected, strict=True):
        assert [type(v) for v in mine.values()] == [type(v) for v in theirs.values()]
    assert got[1]["count"] is None and got[1]["text"] is None and got[1]["maybe"] is None
    assert got[0] == expected[0] and got[0]["count"] == 1 and got[0]["rate"] == 1.5
    assert frame["count"].isna().tolist() == [False, True]  # the frame left as it was

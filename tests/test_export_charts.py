"""Chart export: PNG, SVG, PDF and CSV files from the real renderer (Debian's Chromium)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pandas as pd
import pytest

from kpis.charts.specs import (
    chart_rows,
    compare_export,
    funnel_export,
    spc_export,
    trend_export,
)
from kpis.cli import main
from kpis.domain.vocabulary import SUPPRESSED_LABEL
from kpis.engine.dataset import Dataset
from kpis.engine.measures import flight_deck_table
from kpis.engine.views import force_rows
from kpis.exports import render
from kpis.exports.cells import neutralise
from kpis.exports.charts import chart_bytes, write_chart
from kpis.exports.render import RendererUnavailable, chart_csv, resize

PERIOD = dt.date(2025, 9, 1)
MARKING = "OFFICIAL-SENSITIVE"

def test_the_chart_is_the_kpi_pages_spc_chart_with_marking_and_demo_label(
        demo_dataset: Dataset) -> None:
    chart = spc_export(demo_dataset, "suspect_contact_30d", "kent", PERIOD, marking=MARKING)
    assert chart.figure is not None
    layout = chart.figure["layout"]
    assert layout["title"]["text"].startswith("Suspect arrested or interviewed within 30 days")
    assert "Kent, April 2019 to September 2025" in chart.text.subtitle
    notes = [a["text"] for a in layout["annotations"]]
    assert MARKING in notes
    assert "DEMONSTRATION DATA" in notes
    assert any(n.startswith("Source: Force monthly return") for n in notes)
    assert chart.summary.startswith("Kent: Suspect arrested or interviewed within 30 days was")
    # Print layout: the marking is drawn at the top and again at the bottom.
    printed = resize(chart.figure, 675, MARKING)
    assert [a["text"] for a in printed["layout"]["annotations"]].count(MARKING) == 2
    assert printed["layout"]["height"] == 675


def test_suppressed_points_are_not_drawn(demo_dataset: Dataset) -> None:
    raw = flight_deck_table(demo_dataset, ["bail_breaches_responded"], ["city-of-london"],
                            end=PERIOD)
    hidden = raw[(raw["numerator"] > 0) & (raw["numerator"] < 5)]
    assert not hidden.empty
    chart = spc_export(demo_dataset, "bail_breaches_responded", "city-of-london", PERIOD,
                       suppress=True)
    assert chart.figure is not None
    dates = {d.date().isoformat() for d in pd.DatetimeIndex(hidden["period_start"])}
    for trace in chart.figure["data"]:
        if trace["name"] == "England and Wales":  # another area's figure, shown in tables
            continue
        for x, y in zip(trace["x"], trace["y"], strict=True):
            if x in dates:
                assert y is None, (trace["name"], x)
        if trace["mode"] == "markers":
            assert not dates & set(trace["x"])
    assert "suppressed" in chart.text.subtitle
    assert "suppressed to protect victims" in chart.summary
    rows = chart_rows(chart)
    shown = rows[rows["period_start"].isin(dates)]
    assert set(shown["numerator"]) == {SUPPRESSED_LABEL}
    assert set(shown["value"]) == {SUPPRESSED_LABEL}


def test_csv_is_plain_with_labels_on_every_row_and_neutralises_formula_like_cells() -> None:
    frame = pd.DataFrame({"name": ["=HYPERLINK(\"x\")", "+1+2", "@SUM(A1)", "-2+3", "plain"],
                          "value": [-0.25, 1.5, None, 3.0, 0.1]})
    text = chart_csv(frame, {"marking": "OFFICIAL", "data_label": "DEMONSTRATION DATA"})
    assert not text.startswith("#")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["name", "value", "marking", "data_label"]
    assert [r[0] for r in rows[1:]] == ["'=HYPERLINK(\"x\")", "'+1+2", "'@SUM(A1)", "'-2+3",
                                        "plain"]
    assert [r[1] for r in rows[1:]] == ["-0.25", "1.5", "", "3", "0.1"]  # numbers stay numbers
    assert {(r[2], r[3]) for r in rows[1:]} == {("OFFICIAL", "DEMONSTRATION DATA")}
    assert neutralise("\t=1") == "'\t=1"
    assert chart_csv(frame).splitlines()[0] == "name,value"  # no labels: none added


def test_chart_csv_from_the_cli(demo_db_readonly: Path, tmp_path: Path) -> None:
    out = tmp_path / "chart.csv"
    code = main(["chart", "--db", str(demo_db_readonly), "--kpi", "suspect_contact_30d",
                 "--force", "kent", "--period", "2025-09", "--format", "csv", "--marking",
                 "OFFICIAL", "--out", str(out)])
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows[-1]["period_start"] == "2025-09-01"
    assert len(rows) == 78  # April 2019 to September 2025
    assert {(r["marking"], r["data_label"]) for r in rows} == {("OFFICIAL",
                                                                 "DEMONSTRATION DATA")}


@pytest.mark.slow  # draws images with headless Chromium (kaleido)
@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_each_image_format(demo_dataset: Dataset, tmp_path: Path, fmt: str) -> None:
    chart = spc_export(demo_dataset, "suspect_contact_30d", "kent", PERIOD, marking=MARKING)
    out = write_chart(chart, fmt, tmp_path / f"chart.{fmt}")
    data = out.read_bytes()
    if fmt == "png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width = int.from_bytes(data[16:20], "big")
        height = int.from_bytes(data[20:24], "big")
        assert (width, height) == (3600, 2025)  # print resolution
        assert len(data) > 50_000
    elif fmt == "pdf":
        assert data[:5] == b"%PDF-"
        assert len(data) > 5_000
    else:
        text = data.decode("utf-8")
        assert text.lstrip().startswith("<svg")
        assert "Suspect arrested or interviewed within 30 days" in text
        assert MARKING in text
        assert "DEMONSTRATION DATA" in text
        assert len(data) > 5_000


@pytest.mark.slow  # draws images with headless Chromium (kaleido)
def test_chart_png_from_the_cli(demo_db_readonly: Path, tmp_path: Path) -> None:
    out = tmp_path / "chart.png"
    code = main(["chart", "--db", str(demo_db_readonly), "--kpi", "ho_rape_charge_rate",
                 "--force", "kent", "--period", "2025-09", "--format", "png", "--suppress",
                 "--out", str(out)])
    assert code == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_a_missing_browser_gives_a_plain_error(demo_db_readonly: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FLIGHTDECK_CHROMIUM", str(tmp_path / "no-chromium"))
    render.shutdown()
    try:
        with pytest.raises(RendererUnavailable, match="no Chromium browser at"):
            render.render({"data": [], "layout": {}})
        code = main(["chart", "--db", str(demo_db_readonly), "--kpi", "suspect_contact_30d",
                     "--force", "kent", "--period", "2025-09", "--format", "png",
                     "--out", str(tmp_path / "x.png")])
        assert code == 3
        assert "no Chromium browser" in capsys.readouterr().err
    finally:
        monkeypatch.undo()
        render.shutdown()


def test_unknown_kpi_or_force_is_refused(demo_db_readonly: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["chart", "--db", str(demo_db_readonly), "--kpi", "nope", "--force", "kent",
                 "--period", "2025-09", "--format", "csv", "--out", str(tmp_path / "x.csv")])
    assert code == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.slow  # draws images with headless Chromium (kaleido)
def test_the_warm_renderer_does_not_carry_one_chart_into_the_next(demo_dataset: Dataset
                                                                  ) -> None:
    first = spc_export(demo_dataset, "suspect_contact_30d", "kent", PERIOD, marking="FIRST")
    second = spc_export(demo_dataset, "ho_rape_charge_rate", "essex", PERIOD, marking="SECOND")
    assert first.figure is not None and second.figure is not None
    render.render(first.figure, "svg", marking="FIRST")
    svg = render.render(second.figure, "svg", marking="SECOND").decode("utf-8")
    assert "Rape charge/summons rate" in svg and "Essex" in svg and "SECOND" in svg
    assert "Suspect arrested" not in svg and "FIRST" not in svg


# --- the other charts of the pages --------------------------------------------------------


def test_a_trend_chart_draws_the_comparators_rolling_year_but_not_a_count_of_another_area(
        demo_dataset: Dataset) -> None:
    share = trend_export(demo_dataset, "suspect_contact_30d", "kent", PERIOD,
                         "region-south-east", marking=MARKING)
    assert share.figure is not None and share.kind == "trend"
    assert "by month and rolling year" in share.text.subtitle
    assert [t["name"] for t in share.figure["data"]][-1] == "South East, rolling year"
    assert set(chart_rows(share)["area"]) == {"kent", "region-south-east"}
    count = trend_export(demo_dataset, "cps_referrals", "kent", PERIOD, "region-south-east")
    assert set(chart_rows(count)["area"]) == {"kent"}
    assert "denominator" not in chart_rows(count).columns


def test_compare_charts_as_bars_and_as_a_funnel(demo_dataset: Dataset) -> None:
    members = set(demo_dataset.members.loc[
        demo_dataset.members["area_id"] == "region-south-east", "force_slug"])
    bars = compare_export(demo_dataset, "suspect_contact_30d", PERIOD, "kent",
                          "region-south-east", "bars", marking=MARKING)
    rows = chart_rows(bars)
    assert set(rows["area"]) <= members and "kent" in set(rows["area"])
    assert bars.text.title == "Suspect arrested or interviewed within 30 days: South East"
    funnel = compare_export(demo_dataset, "suspect_contact_30d", PERIOD, "kent",
                            "region-south-east", "funnel")
    assert funnel.figure is not None
    assert "Kent" in [t["name"] for t in funnel.figure["data"]]  # the highlighted force
    # A count is funnelled per 100,000 people; days per device cannot be.
    assert compare_export(demo_dataset, "cps_referrals", PERIOD, view="funnel").figure
    assert compare_export(demo_dataset, "device_return_days", PERIOD,
                          view="funnel").figure is None
    with pytest.raises(KeyError, match="atlantis"):
        compare_export(demo_dataset, "suspect_contact_30d", PERIOD, group="atlantis")


def test_the_kpi_pages_funnel_and_a_chart_with_nothing_to_draw(demo_dataset: Dataset) -> None:
    funnel = funnel_export(demo_dataset, "suspect_contact_30d", PERIOD, "kent")
    assert funnel.text.title.endswith(": all forces")
    assert funnel.summary.startswith("Funnel plot for September 2025:")
    assert {"area", "numerator", "denominator", "value", "centre", "position"} <= set(
        chart_rows(funnel).columns)
    not_a_share = funnel_export(demo_dataset, "device_return_days", PERIOD, "kent")
    assert not_a_share.figure is None
    with pytest.raises(ValueError, match="neither"):
        chart_bytes(not_a_share, "png")


def test_a_count_is_funnelled_per_100000_people_with_poisson_limits(
        demo_dataset: Dataset) -> None:
    august = dt.date(2025, 8, 1)
    export = funnel_export(demo_dataset, "repeat_suspects_identified", august, "kent")
    assert "Poisson 95% and 99.8% limits" in export.text.subtitle
    assert "all forces' count over all forces' population" in export.text.subtitle
    rows = force_rows(demo_dataset, "repeat_suspects_identified", august).set_index("area")
    points = export.series.set_index("label")
    # Each force: its repeat suspects per 100,000 of its population, worked out here.
    kent = rows.loc["kent"]
    assert points.loc["kent", "value"] == pytest.approx(
        kent["numerator"] / kent["population"] * 100_000)
    # The centre: every force's repeat suspects over every force's population (pooled).
    pooled = rows["numerator"].sum() / rows["population"].sum() * 100_000
    assert export.series["centre"].iloc[0] == pytest.approx(pooled)
    assert export.figure["layout"]["xaxis"]["title"]["text"] == "Population"


def test_a_count_with_a_catalogue_base_is_compared_per_100_of_it(
        demo_dataset: Dataset) -> None:
    # The shipped catalogue compares police referrals to CPS per 100 RASSO reports
    # received (comparison_base: rape_reports), not per 100,000 people.
    august = dt.date(2025, 8, 1)
    kpi = demo_dataset.kpis["cps_referrals"]
    assert kpi.comparison_basis == "per 100 RASSO reports received in the month"
    reports = demo_dataset.cube.measure("rape_reports")[
        :, list(demo_dataset.cube.periods).index(pd.Timestamp(august))]
    rows = force_rows(demo_dataset, "cps_referrals", august).set_index("area")
    kent, durham = rows.loc["kent"], rows.loc["durham"]
    kent_reports = reports[list(demo_dataset.forces["slug"]).index("kent")]
    assert kent["rate_base"] == kent_reports
    assert kent["comparison"] == pytest.approx(kent["numerator"] / kent_reports * 100)
    # England and Wales: every force's referrals over every force's reports.
    assert kent["national_comparison"] == pytest.approx(
        rows["numerator"].sum() / reports.sum() * 100)
    # Ranked by the rate per 100 reports, best (highest) first.
    better = rows["comparison"] > kent["comparison"]
    assert kent["rank"] == better.sum() + 1
    assert (durham["rank"] < kent["rank"]) == (durham["comparison"] > kent["comparison"])
    funnel = funnel_export(demo_dataset, "cps_referrals", august, "kent")
    assert "all forces' count over all forces' base" in (
        funnel.text.subtitle)
    assert funnel.figure["layout"]["xaxis"]["title"]["text"] == (
        "RASSO reports received in the month")
    points = funnel.series.set_index("label")
    assert points.loc["kent", "value"] == pytest.approx(kent["comparison"])
    bars = compare_export(demo_dataset, "cps_referrals", august, "kent")
    assert "per 100 RASSO reports received in the month" in bars.text.subtitle
    assert bars.text.y_title == "Per 100 RASSO reports received in the month"
    table = chart_rows(bars).set_index("area")
    assert table.loc["kent", "rape_reports"] == kent_reports
    # City of London received no reports in some months: no rate, so not ranked.
    assert bars.summary.startswith(f"{len(rows)} forces ranked: ")
    assert "no data" not in bars.summary


def test_a_force_chart_draws_england_and_wales_on_the_same_scale(demo_dataset: Dataset) -> None:
    rate = spc_export(demo_dataset, "bail_breaches_responded", "kent", PERIOD)
    table = flight_deck_table(demo_dataset, ["bail_breaches_responded"], ["kent"], end=PERIOD)
    lines = {t["name"]: t for t in rate.figure["data"]}
    assert lines["England and Wales"]["y"] == pytest.approx(
        table["national_value"].astype(float).tolist())
    # A count is compared as a rate per its base: the line is the count Kent would have
    # at England and Wales' rate. Worked by hand for the latest month: the national rate
    # per 100 reports times Kent's reports, over 100.
    count = spc_export(demo_dataset, "cps_referrals", "kent", PERIOD)
    kpi = demo_dataset.kpis["cps_referrals"]
    rows = flight_deck_table(demo_dataset, ["cps_referrals"], ["kent"], end=PERIOD)
    latest = rows.iloc[-1]
    expected = latest["national_comparison"] * latest["rate_base"] / kpi.comparison_per
    line = {t["name"]: t for t in count.figure["data"]}["England and Wales rate at Kent's size"]
    assert line["y"][-1] == pytest.approx(expected)
    national_rate = rows["national_comparison"].iloc[-1]
    assert line["y"][-1] / latest["rate_base"] * kpi.comparison_per == pytest.approx(
        national_rate)
    # England and Wales' own chart has nothing to compare with itself.
    national = spc_export(demo_dataset, "bail_breaches_responded", "england-and-wales", PERIOD)
    assert not [t for t in national.figure["data"] if "England and Wales" in t["name"]]

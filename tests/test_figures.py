"""Tests for kpis.charts.figures: plain figure dicts that Plotly accepts, carrying their words.

The builders write Plotly's JSON schema directly, without graph_objects, so every
figure is checked here by ``plotly.graph_objects.Figure``, which validates each
property and raises on anything Plotly does not know.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from kpis.charts.figures import (
    DARK_BLUE,
    DARK_PINK,
    DEMO_LABEL,
    ORANGE,
    TURQUOISE,
    VARIATION_STYLE,
    ChartText,
    axis_format,
    dress,
    funnel_chart,
    ranked_bars,
    sparkline,
    spc_chart,
    trend_chart,
    y_axis_title,
)

TEXT = ChartText(title="Charge rate", subtitle="Durham, January 2024 to June 2024",
                 source="Source: Home Office", y_title="Per cent")
MARKED = ChartText(title="Charge rate", subtitle="Durham", source="Source: Home Office",
                   y_title="Per cent", demo=True, marking="OFFICIAL-SENSITIVE")


def spc_frame(rebased: bool = False) -> pd.DataFrame:
    """Six months; ``rebased``: new limits from March 2024, at NOM adoption."""
    frame = pd.DataFrame({
        "period_start": pd.date_range("2024-01-01", periods=6, freq="MS"),
        "value": [0.10, 0.12, np.nan, 0.30, 0.02, 0.11],
        "spc_mean": [0.11] * 6,
        "spc_lower": [0.05] * 6,
        "spc_upper": [0.17] * 6,
        "spc_rule": ["", "", "", "outside", "outside,shift", ""],
        "variation": ["common", "common", "common", "improvement", "concern", "common"],
        "spc_from": [pd.Timestamp("2024-01-01")] * 6,
        "spc_limits": ["limits"] * 6,
        "spc_basis": ["whole_series"] * 6,
    })
    if rebased:
        frame.loc[2:, "spc_from"] = pd.Timestamp("2024-03-01")
        frame.loc[2:, "spc_mean"] = 0.2
        frame["spc_basis"] = ["before_nom"] * 2 + ["nom_adoption"] * 4
    return frame


def trend_frame(start: float = 0.1) -> pd.DataFrame:
    return pd.DataFrame({
        "period_start": pd.date_range("2024-01-01", periods=4, freq="MS"),
        "value": [start, start + 0.02, np.nan, start + 0.01],
        "rolling_value": [np.nan, start, start + 0.01, start + 0.01],
    })


def funnel_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    points = pd.DataFrame({
        "label": ["durham", "kent", "gwent"],
        "name": ["Durham", "Kent", "Gwent"],
        "denominator": [100.0, 400.0, 60.0],
        "value": [0.30, 0.20, 0.05],
        "position": ["above", "inside", "below"],
    })
    n = np.array([1.0, 10.0, 100.0, 500.0])
    half = 1.96 * np.sqrt(0.2 * 0.8 / n)
    curve = pd.DataFrame({
        "n": n, "centre": 0.2,
        "lower95": np.clip(0.2 - half, 0, 1), "upper95": np.clip(0.2 + half, 0, 1),
        "lower998": np.clip(0.2 - 1.5 * half, 0, 1), "upper998": np.clip(0.2 + 1.5 * half, 0, 1),
    })
    return points, curve


def bars_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "area": ["durham", "kent", "gwent"],
        "name": ["Durham", "Kent", "Gwent"],
        "value": [0.30, 0.20, np.nan],
        "rank": [1.0, 2.0, np.nan],
    })


BUILDERS: dict[str, Callable[[ChartText], dict[str, Any]]] = {
    "spc": lambda text: spc_chart(spc_frame(rebased=True), "percent", text, target=0.15),
    "trend": lambda text: trend_chart(trend_frame(), "percent", text, "Durham",
                                      trend_frame(0.2), "England and Wales"),
    "trend_count": lambda text: trend_chart(trend_frame(), "count", text, "Durham",
                                            trend_frame(0.2), "England and Wales"),
    "funnel": lambda text: funnel_chart(*funnel_frames(), text, highlight="kent"),
    "bars": lambda text: ranked_bars(bars_frame(), "percent", text, 0.25, "kent"),
}


def annotation_texts(figure: dict[str, Any]) -> list[str]:
    return [a["text"] for a in figure["layout"].get("annotations", [])]


def traces(figure: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [t for t in figure["data"] if t.get("name") == name]


@pytest.mark.parametrize("dark", [False, True])
@pytest.mark.parametrize("text", [TEXT, MARKED], ids=["plain", "demo-marked"])
@pytest.mark.parametrize("builder", list(BUILDERS))
def test_every_builder_makes_a_valid_plain_json_figure(builder: str, text: ChartText,
                                                       dark: bool) -> None:
    figure = BUILDERS[builder](text) if not dark else _dark(builder, text)
    assert isinstance(figure, dict)
    go.Figure(figure)  # raises on any property Plotly does not know
    json.dumps(figure, allow_nan=False)  # plain JSON: no NaN, no numpy or pandas values
    # The template is spelt out, so an export does not fill in Plotly's default one.
    assert "template" in figure["layout"]


def _dark(builder: str, text: ChartText) -> dict[str, Any]:
    if builder == "spc":
        return spc_chart(spc_frame(), "percent", text, target=0.15, dark=True)
    if builder.startswith("trend"):
        return trend_chart(trend_frame(), "count" if builder == "trend_count" else "percent",
                           text, "Durham", trend_frame(0.2), "England and Wales", dark=True)
    if builder == "funnel":
        return funnel_chart(*funnel_frames(), text, highlight="kent", dark=True)
    return ranked_bars(bars_frame(), "percent", text, 0.25, "kent", dark=True)


@pytest.mark.parametrize("builder", list(BUILDERS))
def test_a_chart_carries_its_title_subtitle_and_source(builder: str) -> None:
    figure = BUILDERS[builder](TEXT)
    title = figure["layout"]["title"]["text"]
    assert title.startswith("Charge rate<br>")
    assert "Durham, January 2024 to June 2024" in title
    texts = annotation_texts(figure)
    assert "Source: Home Office" in texts
    assert not any("DEMONSTRATION" in t for t in texts)
    assert "OFFICIAL-SENSITIVE" not in texts


@pytest.mark.parametrize("builder", list(BUILDERS))
def test_demonstration_data_and_marking_are_labelled(builder: str) -> None:
    texts = annotation_texts(BUILDERS[builder](MARKED))
    assert f"Source: Home Office  |  {DEMO_LABEL}" in texts
    assert "DEMONSTRATION DATA" in texts
    assert "OFFICIAL-SENSITIVE" in texts


def test_dress_puts_the_legend_under_the_plot_in_paper_units() -> None:
    # 460 px high, 90 px top margin, 165 px bottom: a 205 px plot; the legend sits
    # 45 px under it, and 22 px further down when the x axis has a title.
    plain = dress({"data": [], "layout": {}}, TEXT)
    assert plain["layout"]["legend"]["y"] == pytest.approx(-45 / 205)
    titled = dress({"data": [], "layout": {"xaxis": {"title": {"text": "n"}}}}, TEXT)
    assert titled["layout"]["legend"]["y"] == pytest.approx(-67 / 205)
    assert titled["layout"]["xaxis"]["title"]["text"] == "n"  # merged, not replaced
    assert titled["layout"]["yaxis"]["title"]["text"] == "Per cent"
    marked = dress({"data": [], "layout": {}}, MARKED, legend=False)
    assert marked["layout"]["margin"] == {"l": 70, "r": 30, "t": 110, "b": 95}
    assert marked["layout"]["showlegend"] is False


def test_spc_chart_has_one_marker_trace_per_variation_present() -> None:
    figure = spc_chart(spc_frame(), "percent", TEXT)
    markers = [t for t in figure["data"] if t["mode"] == "markers"]
    assert [t["name"] for t in markers] == [VARIATION_STYLE[v][0]
                                            for v in ("common", "improvement", "concern")]
    for trace, variation in zip(markers, ("common", "improvement", "concern"), strict=True):
        _, colour, symbol = VARIATION_STYLE[variation]
        assert trace["marker"]["symbol"] == symbol
        assert trace["marker"]["color"] == colour
        assert trace["name"] in trace["hovertemplate"]
    common, improvement, concern = markers
    assert common["x"] == ["2024-01-01", "2024-02-01", "2024-03-01", "2024-06-01"]
    assert common["y"] == [0.10, 0.12, None, 0.11]
    assert improvement["customdata"] == [["Rule: a point outside the process limits"]]
    assert concern["customdata"] == [[
        "Rule: a point outside the process limits; "
        "a run of points on one side of the centre line"]]
    assert common["customdata"][0] == ["No special-cause rule"]
    assert figure["layout"]["yaxis"]["tickformat"] == axis_format("percent")
    assert "shapes" not in figure["layout"]  # no target, no re-base


def test_spc_chart_draws_the_target_and_the_rebase() -> None:
    figure = spc_chart(spc_frame(rebased=True), "percent", TEXT, target=0.15)
    # The mean line breaks at the re-base: a gap (None) between the two segments.
    mean = next(trace for trace in figure["data"] if trace["name"] == "Mean")
    assert mean["y"] == [0.11, 0.11, None, 0.2, 0.2, 0.2, 0.2]
    assert mean["x"][2] == mean["x"][3] == "2024-03-01"
    target, rebase = figure["layout"]["shapes"]
    assert target == {"type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": "y",
                      "y0": 0.15, "y1": 0.15,
                      "line": {"color": DARK_PINK, "width": 2, "dash": "dot"}}
    assert rebase["x0"] == rebase["x1"] == "2024-03-01"
    assert rebase["yref"] == "y domain"
    texts = annotation_texts(figure)
    assert texts[:2] == ["Target", "Limits re-based at NOM adoption"]
    label = figure["layout"]["annotations"][0]
    assert (label["xref"], label["yref"], label["y"]) == ("x domain", "y", 0.15)
    limits = traces(figure, "Process limits")
    assert len(limits) == 1 and limits[0]["showlegend"] is True


def test_trend_chart_for_a_share_draws_the_comparator() -> None:
    figure = trend_chart(trend_frame(), "percent", TEXT, "Durham", trend_frame(0.2),
                         "England and Wales")
    assert [t["name"] for t in figure["data"]] == [
        "Durham", "Durham, rolling year", "England and Wales, rolling year"]
    assert all(t.get("yaxis", "y") == "y" for t in figure["data"])
    assert "yaxis2" not in figure["layout"]
    assert figure["data"][0]["x"] == ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]
    assert figure["data"][1]["y"][0] is None
    assert traces(figure, "England and Wales, rolling year")[0]["line"]["color"] == ORANGE


def test_trend_chart_for_a_count_puts_the_rolling_total_on_the_right() -> None:
    figure = trend_chart(trend_frame(), "count", TEXT, "Durham", trend_frame(0.2),
                         "England and Wales")
    assert [t["name"] for t in figure["data"]] == [
        "Durham", "Durham, rolling year total (right axis)"]
    rolling = figure["data"][1]
    assert rolling["yaxis"] == "y2"
    assert rolling["line"]["color"] == TURQUOISE
    axis = figure["layout"]["yaxis2"]
    assert (axis["overlaying"], axis["side"]) == ("y", "right")
    assert axis["tickformat"] == ",.0f"
    assert figure["layout"]["margin"]["r"] == 80
    go.Figure(figure)


def test_funnel_highlights_the_chosen_force_and_frames_the_forces() -> None:
    figure = funnel_chart(*funnel_frames(), TEXT, highlight="kent")
    star = figure["data"][-1]
    assert star["name"] == "Kent"
    assert star["marker"]["symbol"] == "star"
    assert star["marker"]["color"] == DARK_PINK
    assert (star["x"], star["y"], star["text"]) == ([400.0], [0.20], ["Kent"])
    names = [t["name"] for t in figure["data"]]
    assert names.count("Kent") == 1
    assert {"Within limits", "Above the 95% limit (better)",
            "Below the 95% limit (worse)"} <= set(names)
    # Values run 0.05 to 0.30: a spread of 0.25, padded by 40% each way (floored at 0).
    low, high = figure["layout"]["yaxis"]["range"]
    assert low == pytest.approx(0.0)
    assert high == pytest.approx(0.40)
    (centre,) = figure["layout"]["shapes"]
    assert centre["y0"] == centre["y1"] == pytest.approx(0.2)
    assert "England and Wales" in annotation_texts(figure)
    assert figure["layout"]["xaxis"]["title"]["text"] == "Denominator (number of cases)"


def test_funnel_colours_a_force_above_the_limits_as_worse_when_lower_is_better() -> None:
    figure = funnel_chart(*funnel_frames(), TEXT, polarity="lower")
    above = next(t for t in figure["data"] if t["name"].startswith("Above"))
    below = next(t for t in figure["data"] if t["name"].startswith("Below"))
    assert (above["name"], above["marker"]["color"]) == ("Above the 95% limit (worse)", ORANGE)
    assert (below["name"], below["marker"]["color"]) == ("Below the 95% limit (better)",
                                                         TURQUOISE)
    assert above["marker"]["symbol"] == "triangle-up"


def test_funnel_without_a_highlight_has_no_star() -> None:
    figure = funnel_chart(*funnel_frames(), TEXT)
    assert not any(t["marker"]["symbol"] == "star" for t in figure["data"] if "marker" in t)
    assert not any(t["name"] == "Kent" for t in figure["data"])


def test_ranked_bars_hatch_only_the_highlighted_force() -> None:
    figure = ranked_bars(bars_frame(), "percent", TEXT, 0.25, "kent")
    (bars,) = figure["data"]
    assert bars["type"] == "bar" and bars["orientation"] == "h"
    assert bars["y"] == ["Durham", "Kent", "Gwent"]
    assert bars["x"] == [0.30, 0.20, None]
    assert bars["marker"]["pattern"]["shape"] == ["", "/", ""]
    assert bars["marker"]["color"] == [DARK_BLUE, DARK_PINK, DARK_BLUE]
    assert figure["layout"]["yaxis"]["autorange"] == "reversed"
    assert "title" not in figure["layout"]["yaxis"]  # the bars are labelled by force
    assert figure["layout"]["xaxis"]["title"]["text"] == "Per cent"
    (national,) = figure["layout"]["shapes"]
    assert national["x0"] == national["x1"] == 0.25
    assert "England and Wales" in annotation_texts(figure)
    assert figure["layout"]["height"] == 420


def test_ranked_bars_without_a_national_figure_or_highlight() -> None:
    figure = ranked_bars(bars_frame(), "percent", TEXT, float("nan"))
    assert "shapes" not in figure["layout"]
    assert figure["data"][0]["marker"]["pattern"]["shape"] == ["", "", ""]
    go.Figure(figure)


def test_dark_charts_use_the_dark_colours() -> None:
    figure = spc_chart(spc_frame(), "percent", TEXT, dark=True)
    layout = figure["layout"]
    assert layout["paper_bgcolor"] == layout["plot_bgcolor"] == "#212529"
    assert layout["font"]["color"] == "#f8f9fa"
    assert figure["data"][0]["line"]["color"] == "#9ec5fe"
    light = spc_chart(spc_frame(), "percent", TEXT)
    assert light["layout"]["paper_bgcolor"] == "white"
    assert light["data"][0]["line"]["color"] == DARK_BLUE


def test_a_sparkline_is_a_path_whose_gaps_lift_the_pen() -> None:
    spark = sparkline([1.0, 3.0, float("nan"), 2.0])
    assert spark is not None
    # 160 x 36 with 2 px margins: x steps of 156 / 3 = 52; 1 at the bottom (y = 34),
    # 3 at the top (y = 2), 2 half way (y = 18), after the gap a new stroke.
    assert spark.line == "M2.0,34.0 L54.0,2.0 M158.0,18.0"
    assert spark.guides == ()
    assert sparkline([1.0]) is None
    assert sparkline([1.0, float("nan")]) is None
    assert sparkline([]) is None


def test_axis_helpers() -> None:
    assert axis_format("percent") == ".1%"
    assert axis_format("unknown") == ",.2f"
    assert y_axis_title("count", "Referrals") == "Number"
    assert y_axis_title("other", "Referrals") == "Referrals"


def test_a_tile_sparkline_draws_the_mean_and_limits_on_its_scale() -> None:
    # Values 4..6 with limits 0 and 10: the scale takes in the limits, so on a 40 px
    # high line (2 px margins) the lower limit sits at the bottom (y = 38), the upper at
    # the top (y = 2) and the mean of 5 in the middle (y = 20).
    spark = sparkline([4.0, 5.0, 6.0], width=100, height=40, mean=5.0, lower=0.0,
                      upper=10.0)
    assert spark is not None
    assert spark.guides == (("M2,20.0H98", "4 3"), ("M2,38.0H98", "1 3"),
                            ("M2,2.0H98", "1 3"))  # the mean dashed, the limits dotted
    # The line: 4 at y = 38 - 4/10 * 36 = 23.6, 5 at 20, 6 at 16.4.
    assert spark.line == "M2.0,23.6 L50.0,20.0 L98.0,16.4"
    # Without lines, as before: the line fills the height.
    plain = sparkline([4.0, 6.0], width=100, height=40)
    assert plain is not None and plain.line == "M2.0,38.0 L98.0,2.0" and plain.guides == ()

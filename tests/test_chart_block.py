"""layouts._shell.chart_block: the place a chart keeps on the page before it is drawn."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from layouts._shell import chart_block


@pytest.mark.parametrize("live", [False, True])
def test_a_chart_keeps_the_height_its_figure_asks_for_before_it_is_drawn(live: bool) -> None:
    as_dict = chart_block("a", {"data": [], "layout": {"height": 460}}, "Summary", live=live)
    as_figure = chart_block("b", go.Figure(layout={"height": 380}), "Summary", live=live)
    assert as_dict.children[0].style == {"minHeight": "460px"}
    assert as_figure.children[0].style == {"minHeight": "380px"}


def test_a_figure_with_no_height_of_its_own_reserves_none() -> None:
    for figure in ({"data": []}, {"data": [], "layout": {}}, go.Figure()):
        assert getattr(chart_block("c", figure, "Summary").children[0], "style", None) is None

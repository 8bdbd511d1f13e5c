"""Pure figure builders: data in, Plotly figure out. Shared by pages and exports.

Every chart carries a title, a subtitle naming the force and period, axis units, a
source line and, for demonstration data, a visible label. Colours are the UK
Government Analysis Function palette; SPC states are also carried by marker shape and
by name in the legend and hover text, never by colour alone.

Figures are plain dicts in Plotly's JSON schema (``{"data": [...], "layout": {...}}``),
built directly: ``plotly.graph_objects`` validates every property it is given, which
cost 60-75 ms a chart, several times a page's budget. ``dcc.Graph`` and
``plotly.io.write_image``/``to_image`` take the dicts as they are, and the tests check
each one with ``plotly.graph_objects.Figure``. Values are plain JSON: dates as ISO
strings, numbers as floats with gaps as None.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kpis.domain.vocabulary import DEMO_LABEL, VARIATION_PHRASE, rule_phrases

FigureDict = dict[str, Any]

DARK_BLUE = "#12436D"
TURQUOISE = "#28A197"
DARK_PINK = "#801650"
ORANGE = "#F46A25"
DARK_GREY = "#3D3D3D"
LIGHT_PURPLE = "#A285D1"
DARK_PURPLE = "#5B3F8C"  # the comparator: 8:1 on white, apart from every signal colour
MID_GREY = "#6F777B"

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif"

# Variation -> (legend name, colour, marker symbol)
VARIATION_STYLE = {
    "common": (VARIATION_PHRASE["common"], MID_GREY, "circle"),
    "improvement": (VARIATION_PHRASE["improvement"], TURQUOISE, "triangle-up"),
    "concern": (VARIATION_PHRASE["concern"], ORANGE, "triangle-down"),
    "neither": (VARIATION_PHRASE["neither"], LIGHT_PURPLE, "diamond"),
}
# Funnel position -> (legend name, colour, marker symbol)
FUNNEL_STYLE = {
    "inside": ("Within limits", MID_GREY, "circle"),
    "above": ("Above the 95% limit", TURQUOISE, "triangle-up"),
    "below": ("Below the 95% limit", ORANGE, "triangle-down"),
}


@dataclass(frozen=True)
class ChartText:
    title: str
    subtitle: str
    source: str
    y_title: str
    demo: bool = False
    marking: str | None = None  # protective marking, e.g. OFFICIAL-SENSITIVE
    open_data: bool = False  # only Home Office open data: published, never suppressed


PROVISIONAL_LEGEND = "Provisional (outcomes still being assigned; not used for SPC)"


def axis_format(unit: str) -> str:
    """A d3 tick format for a KPI unit (shares are stored as fractions)."""
    return {"percent": ".1%", "count": ",.0f", "per_100k": ",.1f", "days": ",.0f",
            "ratio": ",.2f"}.get(unit, ",.2f")


def y_axis_title(unit: str, title: str, basis: str = "") -> str:
    """The value axis's title; ``basis`` ('per 100,000 people', 'per 100 reports ...')
    titles a rate."""
    if unit == "per_100k" and basis:
        return basis[:1].upper() + basis[1:]
    return {
        "percent": "Per cent",
        "count": "Number",
        "per_100k": "Per 100,000 population",
        "days": "Days (mean)",
        "ratio": "Ratio",
    }.get(unit, title)


# --- plain JSON values -----------------------------------------------------------------


def _numbers(values: pd.Series | Iterable[Any]) -> list[float | None]:
    """Floats for JSON, with NaN, NA and None as None (JSON has no NaN)."""
    if isinstance(values, pd.Series | pd.Index):
        array = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        array = np.asarray(list(values), dtype=float)
    numbers: list[float | None] = array.tolist()
    if np.isnan(array).any():
        numbers = [None if v != v else v for v in numbers]
    return numbers


def _number(value: float | None) -> float | None:
    if value is None or value != value:
        return None
    return float(value)


def _dates(values: pd.Series | Iterable[Any]) -> list[str | None]:
    """ISO dates ("2025-06-01"), or date-times where a value has a time of day."""
    index = pd.DatetimeIndex(values)
    if index.tz is not None:
        index = index.tz_localize(None)  # Plotly draws wall-clock time
    array = index.to_numpy()
    missing = np.isnat(array)
    days = array.astype("datetime64[D]")
    whole_days = bool((days[~missing] == array[~missing]).all())
    text = np.datetime_as_string(days if whole_days else array.astype("datetime64[s]"))
    dates: list[str | None] = text.tolist()
    if missing.any():
        dates = [None if gap else d for d, gap in zip(dates, missing, strict=True)]
    return dates


def _date(value: Any) -> str | None:
    return _dates([value])[0]


def _strings(values: pd.Series | Iterable[Any]) -> list[str]:
    return ["" if v is None or v != v else str(v) for v in values]


def _merge(target: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Merge ``update`` into ``target`` recursively, as Plotly's update_layout does."""
    for key, value in update.items():
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            _merge(current, value)
        else:
            target[key] = value
    return target


def _new_figure(data: list[dict[str, Any]] | None = None,
                layout: dict[str, Any] | None = None) -> FigureDict:
    return {"data": data if data is not None else [], "layout": layout or {}}


def _no_template() -> dict[str, Any]:
    """Plotly's "none" template, spelt out: a named one would be copied in on export."""
    return {"data": {"scatter": [{"type": "scatter"}]}}


def _hline(figure: FigureDict, y: float | None, line: dict[str, Any], text: str,
           position: str) -> None:
    """A full-width horizontal line with a label, as ``Figure.add_hline`` draws one."""
    layout = figure["layout"]
    layout.setdefault("shapes", []).append({
        "type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": "y",
        "y0": _number(y), "y1": _number(y), "line": line,
    })
    right = position.endswith("right")
    layout.setdefault("annotations", []).append({
        "text": text, "showarrow": False, "xref": "x domain", "x": 1 if right else 0,
        "xanchor": "right" if right else "left", "yref": "y", "y": _number(y),
        "yanchor": "top" if position.startswith("bottom") else "bottom",
    })


def _vline(figure: FigureDict, x: Any, line: dict[str, Any]) -> None:
    """A full-height vertical line, as ``Figure.add_vline`` draws one."""
    figure["layout"].setdefault("shapes", []).append({
        "type": "line", "xref": "x", "x0": x, "x1": x, "yref": "y domain", "y0": 0, "y1": 1,
        "line": line,
    })


# --- dressing --------------------------------------------------------------------------


def dress(figure: FigureDict, text: ChartText, dark: bool = False, height: int = 460,
          legend: bool = True) -> FigureDict:
    """Title, subtitle, source line, marking and demo label, in a consistent layout.

    Updates the figure dict in place and returns it.
    """
    layout = figure.setdefault("layout", {})
    # Positions in pixels, turned into the paper fractions Plotly wants: the legend
    # sits under the x axis (above the plot it collides with the subtitle), the
    # source line at the foot.
    top = 110 if text.marking else 90
    bottom = 165 if legend else 95
    plot_height = max(height - top - bottom, 1)
    x_title = layout.get("xaxis", {}).get("title", {})
    x_title = x_title.get("text") if isinstance(x_title, dict) else x_title
    legend_y = -(45 + (22 if x_title else 0)) / plot_height
    footer = text.source
    if text.demo:
        footer = f"{footer}  |  {DEMO_LABEL}"
    annotations = [
        dict(text=footer, xref="paper", yref="paper", x=0, y=0, yshift=-(bottom - 22),
             xanchor="left", yanchor="top", showarrow=False,
             font=dict(size=11, color=_muted(dark))),
    ]
    if text.demo:
        annotations.append(dict(
            text="DEMONSTRATION DATA", xref="paper", yref="paper", x=1, y=1.02,
            xanchor="right", yanchor="bottom", showarrow=False,
            font=dict(size=11, color=ORANGE if not dark else "#ffb38a"),
        ))
    if text.marking:
        annotations.append(dict(
            text=text.marking, xref="paper", yref="paper", x=0.5, y=1.16, xanchor="center",
            yanchor="bottom", showarrow=False, font=dict(size=12, color=_text(dark)),
        ))
    _merge(layout, dict(
        # No named template: plotly's built-in ones are large, and every colour that
        # matters is set here anyway. Spelt out so an export does not add the default.
        template=_no_template(),
        title=dict(
            text=f"{text.title}<br><span style='font-size:13px'>{text.subtitle}</span>",
            x=0, xanchor="left", font=dict(size=17),
        ),
        font=dict(family=FONT, size=13, color=_text(dark)),
        margin=dict(l=70, r=30, t=top, b=bottom),
        height=height,
        showlegend=legend,
        legend=dict(orientation="h", yanchor="top", y=legend_y, x=0, xanchor="left"),
        hoverlabel=dict(font=dict(family=FONT)),
        paper_bgcolor="#212529" if dark else "white",
        plot_bgcolor="#212529" if dark else "white",
    ))
    # Appended: the chart may already have annotations, such as a target line's label.
    layout.setdefault("annotations", []).extend(annotations)
    axis = dict(gridcolor="#444" if dark else "#e5e5e5", linecolor=_muted(dark),
                zerolinecolor=_muted(dark), tickcolor=_muted(dark), automargin=True)
    _merge(layout.setdefault("yaxis", {}), dict(title=dict(text=text.y_title), **axis))
    _merge(layout.setdefault("xaxis", {}), axis)
    return figure


def _text(dark: bool) -> str:
    return "#f8f9fa" if dark else "#0b0c0c"


def _muted(dark: bool) -> str:
    return "#ced4da" if dark else "#505a5f"


# --- charts ----------------------------------------------------------------------------


def _segments(series: pd.DataFrame) -> list[int]:
    """Row positions where a new set of limits starts (after the first row)."""
    if "spc_from" not in series or len(series) < 2:
        return []
    starts = pd.DatetimeIndex(series["spc_from"])
    return [i for i in range(1, len(series)) if starts[i] != starts[i - 1]
            and not (pd.isna(starts[i]) and pd.isna(starts[i - 1]))]


def _broken(x: list[Any], y: list[Any], breaks: list[int]) -> tuple[list[Any], list[Any]]:
    """``x`` and ``y`` with a gap (None) before each break, so a line is not joined."""
    out_x, out_y = [], []
    for i, (xi, yi) in enumerate(zip(x, y, strict=True)):
        if i in breaks:
            out_x.append(xi)
            out_y.append(None)
        out_x.append(xi)
        out_y.append(yi)
    return out_x, out_y


def spc_chart(series: pd.DataFrame, unit: str, text: ChartText, target: float | None = None,
              dark: bool = False, comparator: Iterable[Any] | None = None,
              comparator_name: str = "") -> FigureDict:
    """XmR chart: values, mean, process limits, special-cause points by rule and target.

    ``series`` has period_start, value, spc_mean, spc_lower, spc_upper, spc_rule,
    variation and (optionally) spc_from, spc_limits and spc_basis: the lines break where
    the limits are re-based, and trial limits are drawn dotted. ``comparator``: the
    comparator's value at each period (None where it is not shown), drawn as a thin line
    named ``comparator_name``.
    """
    fmt = axis_format(unit)
    x = _dates(series["period_start"])
    values = _numbers(series["value"])
    breaks = _segments(series)
    trial = "spc_limits" in series and (series["spc_limits"] == "trial").any()
    line_colour = "#9ec5fe" if dark else DARK_BLUE
    mean_x, mean_y = _broken(x, _numbers(series["spc_mean"]), breaks)
    data: list[dict[str, Any]] = [
        dict(type="scatter", x=x, y=values, mode="lines", name="Value",
             line=dict(color=line_colour, width=2), hoverinfo="skip"),
        dict(type="scatter", x=mean_x, y=mean_y, mode="lines", name="Mean",
             line=dict(color=_text(dark), width=1.5), connectgaps=False,
             hovertemplate=f"Mean %{{y:{fmt}}}<extra></extra>"),
    ]
    compared = _numbers(comparator) if comparator is not None else []
    if any(v is not None for v in compared):
        data.append(dict(
            type="scatter", x=x, y=compared, mode="lines", name=comparator_name,
            line=dict(color=DARK_PURPLE if not dark else "#c9b6ff", width=2, dash="dashdot"),
            connectgaps=False,
            hovertemplate=f"{comparator_name} %{{y:{fmt}}}<extra></extra>"))
    limits_name = "Trial process limits" if trial else "Process limits"
    for column, name, legend_name in (
            ("spc_upper", "Upper process limit", limits_name),
            ("spc_lower", "Lower process limit", "Lower process limit")):
        line_x, line_y = _broken(x, _numbers(series[column]), breaks)
        data.append(dict(
            type="scatter", x=line_x, y=line_y, mode="lines", name=legend_name,
            line=dict(color=MID_GREY, width=1.5, dash="dot" if trial else "dash"),
            hovertemplate=f"{name} %{{y:{fmt}}}<extra></extra>", connectgaps=False,
            showlegend=column == "spc_upper", legendgroup="limits",
        ))
    variations = series["variation"].to_numpy()
    rules = series["spc_rule"].tolist()
    for variation, (name, colour, symbol) in VARIATION_STYLE.items():
        rows = np.flatnonzero(variations == variation).tolist()
        if not rows:
            continue
        data.append(dict(
            type="scatter", x=[x[i] for i in rows], y=[values[i] for i in rows],
            mode="markers", name=name,
            marker=dict(color=colour, symbol=symbol, size=10 if variation != "common" else 7,
                        line=dict(color=_text(dark), width=1)),
            customdata=[[_rule_words(rules[i])] for i in rows],
            hovertemplate=(f"%{{x|%b %Y}}: %{{y:{fmt}}}<br>{name}"
                           "<br>%{customdata[0]}<extra></extra>"),
        ))
    if "complete" in series:
        # An aggregate month missing a force's return: drawn open, and left out of SPC.
        partial = np.flatnonzero(~series["complete"].to_numpy(dtype=bool)).tolist()
        if partial:
            counts = [f"{int(series['forces_reporting'].iloc[i])} of "
                      f"{int(series['forces_in_area'].iloc[i])} forces" for i in partial]
            data.append(dict(
                type="scatter", x=[x[i] for i in partial], y=[values[i] for i in partial],
                mode="markers", name="Incomplete (not every force's return is in)",
                marker=dict(color=MID_GREY, symbol="circle-open", size=10,
                            line=dict(width=2)),
                customdata=[[c] for c in counts],
                hovertemplate=(f"%{{x|%b %Y}}: %{{y:{fmt}}}<br>Incomplete: "
                               "%{customdata[0]}; not used for SPC<extra></extra>"),
            ))
    if "provisional" in series:
        # A recorded-basis Home Office quarter with many outcomes still to be assigned.
        early = np.flatnonzero(series["provisional"].to_numpy(dtype=bool)).tolist()
        if early:
            data.append(dict(
                type="scatter", x=[x[i] for i in early], y=[values[i] for i in early],
                mode="markers", name=PROVISIONAL_LEGEND,
                marker=dict(color=MID_GREY, symbol="diamond-open", size=11,
                            line=dict(width=2)),
                hovertemplate=(f"%{{x|%b %Y}}: %{{y:{fmt}}}<br>Provisional: outcomes "
                               "still being assigned; not used for SPC<extra></extra>"),
            ))
    figure = _new_figure(data, dict(yaxis=dict(tickformat=fmt)))
    if target is not None:
        _hline(figure, target, dict(color=DARK_PINK, width=2, dash="dot"), "Target",
               "top left")
    basis = series["spc_basis"].tolist() if "spc_basis" in series else []
    for i in breaks:
        when = x[i]
        _vline(figure, when, dict(color=DARK_GREY, width=1, dash="dot"))
        words = ("Limits re-based at NOM adoption" if basis and basis[i] == "nom_adoption"
                 else "Limits re-based")
        figure["layout"].setdefault("annotations", []).append(dict(
            x=when, y=1, yref="paper", text=words, showarrow=False,
            xanchor="left", yanchor="bottom", font=dict(size=11),
        ))
    return dress(figure, text, dark=dark)


def _rule_words(rules: str) -> str:
    if not rules:
        return "No special-cause rule"
    return "Rule: " + "; ".join(rule_phrases(rules))


def trend_chart(series: pd.DataFrame, unit: str, text: ChartText, force_name: str,
                comparator: pd.DataFrame | None = None, comparator_name: str = "",
                dark: bool = False) -> FigureDict:
    """The force's value and rolling year, with the comparator's rolling year, over time.

    Each frame has period_start, value and rolling_value. For a count the rolling year
    is a 12-month total, so it gets its own axis on the right, and a comparator's
    count (another area's size) is not drawn against the force's.
    """
    fmt = axis_format(unit)
    counts = unit == "count"
    own = "#9ec5fe" if dark else DARK_BLUE
    x = _dates(series["period_start"])
    # An aggregate month missing a force's return is drawn as an open marker.
    # A provisional Home Office quarter as an open diamond.
    symbols: str | list[str] = "circle"
    partial = ("complete" in series and not series["complete"].all())
    early = "provisional" in series and series["provisional"].any()
    if partial or early:
        done = (series["complete"].to_numpy(dtype=bool) if "complete" in series
                else np.ones(len(series), dtype=bool))
        later = (series["provisional"].to_numpy(dtype=bool) if "provisional" in series
                 else np.zeros(len(series), dtype=bool))
        symbols = ["diamond-open" if p else "circle" if d else "circle-open"
                   for d, p in zip(done, later, strict=True)]
    data: list[dict[str, Any]] = [
        dict(type="scatter", x=x, y=_numbers(series["value"]), mode="lines+markers",
             name=force_name, line=dict(color=own, width=1.5),
             marker=dict(size=5 if symbols == "circle" else 7, symbol=symbols),
             hovertemplate=f"{force_name} %{{x|%b %Y}}: %{{y:{fmt}}}<extra></extra>"),
        dict(type="scatter", x=x, y=_numbers(series["rolling_value"]), mode="lines",
             name=f"{force_name}, rolling year" + (" total (right axis)" if counts else ""),
             line=dict(color=TURQUOISE if counts else own, width=3),
             yaxis="y2" if counts else "y",
             hovertemplate=(f"{force_name} rolling year to %{{x|%b %Y}}: "
                            f"%{{y:{fmt}}}<extra></extra>")),
    ]
    if comparator is not None and not comparator.empty and not counts:
        data.append(dict(
            type="scatter", x=_dates(comparator["period_start"]),
            y=_numbers(comparator["rolling_value"]), mode="lines",
            name=f"{comparator_name}, rolling year",
            line=dict(color=ORANGE, width=3, dash="dash"),
            hovertemplate=(f"{comparator_name} rolling year to %{{x|%b %Y}}: "
                           f"%{{y:{fmt}}}<extra></extra>"),
        ))
    figure = dress(_new_figure(data, dict(yaxis=dict(tickformat=fmt))), text, dark=dark)
    if counts:
        layout = figure["layout"]
        layout["yaxis2"] = dict(overlaying="y", side="right", tickformat=fmt, showgrid=False,
                                title=dict(text="Rolling 12-month total"))
        layout["margin"]["r"] = 80
    return figure


def funnel_style(polarity: str) -> dict[str, tuple[str, str, str]]:
    """Position -> (legend name, colour, symbol): above is good only if higher is better."""
    if polarity == "neutral":
        return {**FUNNEL_STYLE, "above": ("Above the 95% limit", LIGHT_PURPLE, "triangle-up"),
                "below": ("Below the 95% limit", LIGHT_PURPLE, "triangle-down")}
    if polarity == "lower":
        return {**FUNNEL_STYLE,
                "above": ("Above the 95% limit (worse)", ORANGE, "triangle-up"),
                "below": ("Below the 95% limit (better)", TURQUOISE, "triangle-down")}
    return {**FUNNEL_STYLE, "above": ("Above the 95% limit (better)", TURQUOISE, "triangle-up"),
            "below": ("Below the 95% limit (worse)", ORANGE, "triangle-down")}


def funnel_chart(points: pd.DataFrame, curve: pd.DataFrame, text: ChartText,
                 highlight: str | None = None, dark: bool = False,
                 polarity: str = "higher", unit: str = "percent", per: int = 100_000,
                 noun: str = "people") -> FigureDict:
    """Funnel plot: each force's proportion (or rate per ``per`` ``noun``, ``unit``
    "per_100k") against its denominator (or its rate's base), with 95%/99.8% limits.

    ``points`` has label, name, denominator, value, position; ``curve`` has n and limits.
    ``polarity`` decides whether a force above the limits is shown as better or worse.
    """
    rate = unit == "per_100k"
    centre = float(curve["centre"].iloc[0]) if "centre" in curve else np.nan
    n = _numbers(curve["n"])
    data: list[dict[str, Any]] = []
    for column, name, dash in (("upper998", "99.8% limits", "dash"), ("lower998", None, "dash"),
                               ("upper95", "95% limits", "dot"), ("lower95", None, "dot")):
        data.append(dict(
            type="scatter", x=n, y=_numbers(curve[column]), mode="lines", name=name or "",
            showlegend=name is not None, line=dict(color=MID_GREY, width=1.2, dash=dash),
            hoverinfo="skip", legendgroup=column[-3:],
        ))
    marker_line = dict(color=_text(dark), width=1)
    hover = (f"%{{text}}: %{{y:,.1f}} per {per:,} of %{{x:,.0f}} {noun}<extra></extra>"
             if rate
             else "%{text}: %{y:.1%} of %{x:,.0f}<extra></extra>")
    positions = points["position"].to_numpy()
    denominators = _numbers(points["denominator"])
    values = _numbers(points["value"])
    names = _strings(points["name"])
    for position, (name, colour, symbol) in funnel_style(polarity).items():
        rows = np.flatnonzero(positions == position).tolist()
        if not rows:
            continue
        data.append(dict(
            type="scatter", x=[denominators[i] for i in rows], y=[values[i] for i in rows],
            mode="markers", name=name,
            marker=dict(color=colour, symbol=symbol, size=9, line=marker_line),
            text=[names[i] for i in rows], hovertemplate=hover,
        ))
    if highlight is not None:
        rows = np.flatnonzero(points["label"].to_numpy() == highlight).tolist()
        if rows:
            data.append(dict(
                type="scatter", x=[denominators[i] for i in rows],
                y=[values[i] for i in rows], mode="markers+text", name=names[rows[0]],
                text=[names[i] for i in rows], textposition="top center",
                marker=dict(color=DARK_PINK, symbol="star", size=16, line=marker_line),
                hovertemplate=hover,
            ))
    yaxis: dict[str, Any] = dict(tickformat=axis_format(unit))
    # Frame the forces, not the funnel's mouth at n = 1, where the limits run 0 to 100%.
    present = [v for v in values if v is not None]
    if present:
        low, high = min(present), max(present)
        spread = max(high - low, 0.01 * (high if rate else 1) or 0.01)
        yaxis["range"] = [max(0.0, low - spread * 0.4), high + spread * 0.4]
    figure = _new_figure(data, dict(
        yaxis=yaxis,
        xaxis=dict(title=dict(text=("Population" if noun == "people" else
                                    noun[:1].upper() + noun[1:]) if rate
                              else "Denominator (number of cases)"),
                   tickformat=",.0f", rangemode="tozero"),
    ))
    _hline(figure, centre, dict(color=_text(dark), width=1.5), "England and Wales",
           "top right")
    return dress(figure, text, dark=dark)


def ranked_bars(frame: pd.DataFrame, unit: str, text: ChartText, national: float | None,
                highlight: str | None = None, dark: bool = False) -> FigureDict:
    """Every force's value as a ranked horizontal bar, with the England and Wales line.

    ``frame`` has area, name, value and rank (1 = best), already in rank order.
    """
    fmt = axis_format(unit)
    areas = frame["area"].tolist()
    colours = [DARK_PINK if a == highlight else ("#9ec5fe" if dark else DARK_BLUE)
               for a in areas]
    patterns = ["/" if a == highlight else "" for a in areas]
    bars = dict(
        type="bar", x=_numbers(frame["value"]), y=_strings(frame["name"]), orientation="h",
        marker=dict(
            color=colours,
            # The chosen force is hatched as well as coloured: readable in greyscale.
            pattern=dict(shape=patterns, fgcolor="#ffffff", bgcolor=colours, solidity=0.3)),
        customdata=_numbers(frame["rank"]),
        # An area without a rank (an aggregate beside a scoped account's force) says none.
        hovertemplate=[f"%{{y}}: %{{x:{fmt}}}" + (" (rank %{customdata:.0f})"
                                                   if pd.notna(r) else "") + "<extra></extra>"
                       for r in frame["rank"]],
        name="Forces", showlegend=False,
    )
    figure = _new_figure([bars], dict(
        yaxis=dict(autorange="reversed", tickfont=dict(size=11)),
        xaxis=dict(tickformat=fmt, title=dict(text=text.y_title)),
    ))
    if national is not None and not np.isnan(national):
        _vline(figure, float(national), dict(color=ORANGE, width=2, dash="dash"))
        figure["layout"].setdefault("annotations", []).append(dict(
            text="England and Wales", showarrow=False, xref="x", x=float(national),
            xanchor="center", yref="y domain", y=1, yanchor="bottom",
        ))
    figure = dress(figure, text, dark=dark, height=max(420, 22 * len(frame) + 200),
                   legend=False)
    del figure["layout"]["yaxis"]["title"]  # the bars are labelled by force
    return figure


GUIDE_COLOUR = "#6c757d"
MEAN_DASH, LIMIT_DASH = "4 3", "1 3"


@dataclass(frozen=True)
class Sparkline:
    """A tiny line for a tile: ``line`` is its path (``d``; a gap lifts the pen) and
    ``guides`` the mean (dashed) and process limits (dotted) across it, each as its
    path and dash pattern, on a ``width`` x ``height`` view box.

    Pages draw it as inline SVG (layouts/flight_deck.py), not as an image: a switch of
    force changes every tile's line, and an image's new SVG document costs the browser
    some 1.5 ms a tile to load and decode, against a changed attribute for an inline
    path (bench/bench_switch.py: some 55 ms of a flight deck switch's 145).
    """

    width: int
    height: int
    colour: str
    line: str
    guides: tuple[tuple[str, str], ...]


def sparkline(values: list[float], width: int = 160, height: int = 36,
              colour: str = DARK_BLUE, mean: float | None = None,
              lower: float | None = None, upper: float | None = None) -> Sparkline | None:
    """The sparkline of ``values`` (None: fewer than two points to draw).

    ``mean`` (dashed) and the process limits ``lower`` and ``upper`` (dotted) are drawn
    across it when given, and the scale takes them in.
    """
    # math.isnan, not np.isnan: a flight deck draws 36 of these, and NumPy's call on a
    # Python float costs ten times as much.
    drawn = [v is not None and not math.isnan(v) for v in values]
    points = [v for v, shown in zip(values, drawn, strict=True) if shown]
    if len(points) < 2:
        return None
    lines = [v for v in (mean, lower, upper) if v is not None and not math.isnan(v)]
    low, high = min(points + lines), max(points + lines)
    span = (high - low) or 1.0
    step = (width - 4) / (len(values) - 1)

    def y_of(value: float) -> float:
        return height - 2 - (value - low) / span * (height - 4)

    path = []
    pen = "M"
    for index, (value, shown) in enumerate(zip(values, drawn, strict=True)):
        if not shown:
            pen = "M"
            continue
        x = 2 + index * step
        path.append(f"{pen}{x:.1f},{y_of(value):.1f}")
        pen = "L"
    guides = tuple(
        (f"M2,{y_of(float(value)):.1f}H{width - 2}", dash)
        for value, dash in ((mean, MEAN_DASH), (lower, LIMIT_DASH), (upper, LIMIT_DASH))
        if value is not None and not math.isnan(value))
    return Sparkline(width, height, colour, " ".join(path), guides)

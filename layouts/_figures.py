"""Pure figure builders: data in, Plotly figure out. Shared by pages and exports.

Every chart carries a title, a subtitle naming the force and period, axis units, a
source line and, for demonstration data, a visible label. Colours are the UK
Government Analysis Function palette; SPC states are also carried by marker shape and
by name in the legend and hover text, never by colour alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

DARK_BLUE = "#12436D"
TURQUOISE = "#28A197"
DARK_PINK = "#801650"
ORANGE = "#F46A25"
DARK_GREY = "#3D3D3D"
LIGHT_PURPLE = "#A285D1"
MID_GREY = "#6F777B"

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif"
DEMO_LABEL = "DEMONSTRATION DATA – not real police figures"

# Variation -> (legend name, colour, marker symbol)
VARIATION_STYLE = {
    "common": ("Common cause", MID_GREY, "circle"),
    "improvement": ("Special cause: improvement", TURQUOISE, "triangle-up"),
    "concern": ("Special cause: concern", ORANGE, "triangle-down"),
    "neither": ("Special cause: unusual change", LIGHT_PURPLE, "diamond"),
}
RULE_NAMES = {
    "outside": "a point outside the limits",
    "shift": "a shift of 7 or more points on one side of the mean",
    "trend": "a trend of 7 or more rising or falling points",
    "two_of_three": "two of three points beyond 2 sigma",
}


@dataclass(frozen=True)
class ChartText:
    title: str
    subtitle: str
    source: str
    y_title: str
    demo: bool = False
    marking: str | None = None  # protective marking, e.g. OFFICIAL-SENSITIVE


def axis_format(unit: str) -> str:
    """A d3 tick format for a KPI unit (shares are stored as fractions)."""
    return {"percent": ".1%", "count": ",.0f", "per_100k": ",.1f", "days": ",.0f",
            "ratio": ",.2f"}.get(unit, ",.2f")


def y_axis_title(unit: str, title: str) -> str:
    return {
        "percent": "Per cent",
        "count": "Number",
        "per_100k": "Per 100,000 population",
        "days": "Days (mean)",
        "ratio": "Ratio",
    }.get(unit, title)


def dress(figure: go.Figure, text: ChartText, dark: bool = False, height: int = 460,
          legend: bool = True) -> go.Figure:
    """Title, subtitle, source line, marking and demo label, in a consistent layout."""
    # Positions in pixels, turned into the paper fractions Plotly wants: the legend
    # sits under the x axis (above the plot it collides with the subtitle), the
    # source line at the foot.
    top = 110 if text.marking else 90
    bottom = 165 if legend else 95
    plot_height = max(height - top - bottom, 1)
    x_title = bool(figure.layout.xaxis.title.text)
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
    figure.update_layout(
        # No named template: copying plotly's built-in ones costs ~30 ms a figure, and
        # every colour that matters is set here anyway.
        template="none",
        title=dict(
            text=f"{text.title}<br><span style='font-size:13px'>{text.subtitle}</span>",
            x=0, xanchor="left", font=dict(size=17),
        ),
        font=dict(family=FONT, size=13, color=_text(dark)),
        margin=dict(l=70, r=30, t=top, b=bottom),
        height=height,
        showlegend=legend,
        legend=dict(orientation="h", yanchor="top", y=legend_y, x=0, xanchor="left",
                    title=None),
        hoverlabel=dict(font_family=FONT),
        paper_bgcolor="#212529" if dark else "white",
        plot_bgcolor="#212529" if dark else "white",
    )
    # Added one by one: update_layout(annotations=...) would merge into (and clobber)
    # annotations the chart already has, such as a target line's label.
    for annotation in annotations:
        figure.add_annotation(annotation)
    axis = dict(gridcolor="#444" if dark else "#e5e5e5", linecolor=_muted(dark),
                zerolinecolor=_muted(dark), tickcolor=_muted(dark), automargin=True)
    figure.update_yaxes(title_text=text.y_title, **axis)
    figure.update_xaxes(**axis)
    return figure


def _text(dark: bool) -> str:
    return "#f8f9fa" if dark else "#0b0c0c"


def _muted(dark: bool) -> str:
    return "#ced4da" if dark else "#505a5f"


def sparkline(periods: pd.Series, values: pd.Series, unit: str, dark: bool = False
              ) -> go.Figure:
    """A small line with no axes, for a tile (the tile carries the words)."""
    figure = go.Figure(go.Scatter(
        x=periods, y=values, mode="lines", line=dict(color="#9ec5fe" if dark else DARK_BLUE,
                                                      width=2),
        hovertemplate=f"%{{x|%b %Y}}: %{{y:{axis_format(unit)}}}<extra></extra>",
    ))
    figure.update_layout(
        height=60, margin=dict(l=0, r=0, t=0, b=0), showlegend=False,
        paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
        xaxis=dict(visible=False), yaxis=dict(visible=False),
    )
    return figure


def spc_chart(series: pd.DataFrame, unit: str, text: ChartText, target: float | None = None,
              rebase: pd.Timestamp | None = None, dark: bool = False) -> go.Figure:
    """XmR chart: values, mean, process limits, special-cause points by rule and target.

    ``series`` has period_start, value, spc_mean, spc_lower, spc_upper, spc_rule, variation.
    """
    fmt = axis_format(unit)
    figure = go.Figure()
    x = series["period_start"]
    line_colour = "#9ec5fe" if dark else DARK_BLUE
    figure.add_trace(go.Scatter(
        x=x, y=series["value"], mode="lines", name="Value", line=dict(color=line_colour,
                                                                      width=2),
        hoverinfo="skip",
    ))
    figure.add_trace(go.Scatter(
        x=x, y=series["spc_mean"], mode="lines", name="Mean",
        line=dict(color=_text(dark), width=1.5), hovertemplate=f"Mean %{{y:{fmt}}}<extra></extra>",
    ))
    for column, name in (("spc_upper", "Upper process limit"), ("spc_lower",
                                                                 "Lower process limit")):
        figure.add_trace(go.Scatter(
            x=x, y=series[column], mode="lines", name=name,
            line=dict(color=MID_GREY, width=1.5, dash="dash"),
            hovertemplate=f"{name} %{{y:{fmt}}}<extra></extra>",
            showlegend=column == "spc_upper",
            legendgroup="limits",
        ))
    figure.data[-2].name = "Process limits"
    for variation, (name, colour, symbol) in VARIATION_STYLE.items():
        points = series[series["variation"] == variation]
        if points.empty:
            continue
        reasons = points["spc_rule"].map(_rule_words)
        figure.add_trace(go.Scatter(
            x=points["period_start"], y=points["value"], mode="markers", name=name,
            marker=dict(color=colour, symbol=symbol, size=10 if variation != "common" else 7,
                        line=dict(color=_text(dark), width=1)),
            customdata=np.stack([reasons], axis=-1),
            hovertemplate=(f"%{{x|%b %Y}}: %{{y:{fmt}}}<br>{name}"
                           "<br>%{customdata[0]}<extra></extra>"),
        ))
    if target is not None:
        figure.add_hline(y=target, line=dict(color=DARK_PINK, width=2, dash="dot"),
                         annotation_text="Target", annotation_position="top left")
    if rebase is not None:
        figure.add_vline(x=rebase, line=dict(color=DARK_GREY, width=1, dash="dot"))
        figure.add_annotation(x=rebase, y=1, yref="paper", text="Limits re-based",
                              showarrow=False, xanchor="left", yanchor="bottom",
                              font=dict(size=11))
    figure.update_yaxes(tickformat=fmt)
    return dress(figure, text, dark=dark)


def _rule_words(rules: str) -> str:
    if not rules:
        return "No special-cause rule"
    return "Rule: " + "; ".join(RULE_NAMES.get(r, r) for r in str(rules).split(","))


def trend_chart(series: pd.DataFrame, unit: str, text: ChartText, force_name: str,
                comparator: pd.DataFrame | None = None, comparator_name: str = "",
                dark: bool = False) -> go.Figure:
    """The force's value and rolling year, with the comparator's rolling year, over time.

    Each frame has period_start, value and rolling_value. For a count the rolling year
    is a 12-month total, so it gets its own axis on the right, and a comparator's
    count (another area's size) is not drawn against the force's.
    """
    fmt = axis_format(unit)
    counts = unit == "count"
    figure = go.Figure()
    own = "#9ec5fe" if dark else DARK_BLUE
    figure.add_trace(go.Scatter(
        x=series["period_start"], y=series["value"], mode="lines+markers", name=force_name,
        line=dict(color=own, width=1.5), marker=dict(size=5, symbol="circle"),
        hovertemplate=f"{force_name} %{{x|%b %Y}}: %{{y:{fmt}}}<extra></extra>",
    ))
    figure.add_trace(go.Scatter(
        x=series["period_start"], y=series["rolling_value"], mode="lines",
        name=f"{force_name}, rolling year" + (" total (right axis)" if counts else ""),
        line=dict(color=TURQUOISE if counts else own, width=3),
        yaxis="y2" if counts else "y",
        hovertemplate=f"{force_name} rolling year to %{{x|%b %Y}}: %{{y:{fmt}}}<extra></extra>",
    ))
    if comparator is not None and not comparator.empty and not counts:
        figure.add_trace(go.Scatter(
            x=comparator["period_start"], y=comparator["rolling_value"], mode="lines",
            name=f"{comparator_name}, rolling year",
            line=dict(color=ORANGE, width=3, dash="dash"),
            hovertemplate=(f"{comparator_name} rolling year to %{{x|%b %Y}}: "
                           f"%{{y:{fmt}}}<extra></extra>"),
        ))
    figure.update_yaxes(tickformat=fmt)
    figure = dress(figure, text, dark=dark)
    if counts:
        figure.update_layout(yaxis2=dict(
            overlaying="y", side="right", tickformat=fmt, showgrid=False,
            title=dict(text="Rolling 12-month total"),
        ))
        figure.update_layout(margin=dict(r=80))
    return figure


def funnel_chart(points: pd.DataFrame, curve: pd.DataFrame, text: ChartText,
                 highlight: str | None = None, dark: bool = False) -> go.Figure:
    """Funnel plot: each force's proportion against its denominator, with 95%/99.8% limits.

    ``points`` has label, name, denominator, value, position; ``curve`` has n and limits.
    """
    figure = go.Figure()
    centre = float(curve["centre"].iloc[0]) if "centre" in curve else np.nan
    for column, name, dash in (("upper998", "99.8% limits", "dash"), ("lower998", None, "dash"),
                               ("upper95", "95% limits", "dot"), ("lower95", None, "dot")):
        figure.add_trace(go.Scatter(
            x=curve["n"], y=curve[column], mode="lines", name=name or "",
            showlegend=name is not None, line=dict(color=MID_GREY, width=1.2, dash=dash),
            hoverinfo="skip", legendgroup=column[-3:],
        ))
    figure.add_hline(y=centre, line=dict(color=_text(dark), width=1.5),
                     annotation_text="England and Wales", annotation_position="top right")
    styles = {
        "inside": ("Within limits", MID_GREY, "circle"),
        "above": ("Above the 95% limit", TURQUOISE, "triangle-up"),
        "below": ("Below the 95% limit", ORANGE, "triangle-down"),
    }
    for position, (name, colour, symbol) in styles.items():
        subset = points[points["position"] == position]
        if subset.empty:
            continue
        figure.add_trace(go.Scatter(
            x=subset["denominator"], y=subset["value"], mode="markers", name=name,
            marker=dict(color=colour, symbol=symbol, size=9,
                        line=dict(color=_text(dark), width=1)),
            text=subset["name"],
            hovertemplate="%{text}: %{y:.1%} of %{x:,.0f}<extra></extra>",
        ))
    if highlight is not None:
        chosen = points[points["label"] == highlight]
        if not chosen.empty:
            figure.add_trace(go.Scatter(
                x=chosen["denominator"], y=chosen["value"], mode="markers+text",
                name=str(chosen["name"].iloc[0]), text=chosen["name"],
                textposition="top center",
                marker=dict(color=DARK_PINK, symbol="star", size=16,
                            line=dict(color=_text(dark), width=1)),
                hovertemplate="%{text}: %{y:.1%} of %{x:,.0f}<extra></extra>",
            ))
    # Frame the forces, not the funnel's mouth at n = 1, where the limits run 0 to 100%.
    values = points["value"].dropna()
    if not values.empty:
        spread = max(float(values.max() - values.min()), 0.01)
        figure.update_yaxes(range=[max(0.0, float(values.min()) - spread * 0.4),
                                   float(values.max()) + spread * 0.4])
    figure.update_yaxes(tickformat=".1%")
    figure.update_xaxes(title_text="Denominator (number of cases)", tickformat=",.0f",
                        rangemode="tozero")
    return dress(figure, text, dark=dark)


def ranked_bars(frame: pd.DataFrame, unit: str, text: ChartText, national: float | None,
                highlight: str | None = None, dark: bool = False) -> go.Figure:
    """Every force's value as a ranked horizontal bar, with the England and Wales line.

    ``frame`` has area, name, value and rank (1 = best), already in rank order.
    """
    fmt = axis_format(unit)
    colours = [DARK_PINK if a == highlight else ("#9ec5fe" if dark else DARK_BLUE)
               for a in frame["area"]]
    patterns = ["/" if a == highlight else "" for a in frame["area"]]
    figure = go.Figure(go.Bar(
        x=frame["value"], y=frame["name"], orientation="h", marker=dict(
            color=colours,
            # The chosen force is hatched as well as coloured: readable in greyscale.
            pattern=dict(shape=patterns, fgcolor="#ffffff", bgcolor=colours, solidity=0.3)),
        customdata=frame["rank"],
        hovertemplate=f"%{{y}}: %{{x:{fmt}}} (rank %{{customdata:.0f}})<extra></extra>",
        name="Forces", showlegend=False,
    ))
    if national is not None and not np.isnan(national):
        figure.add_vline(x=national, line=dict(color=ORANGE, width=2, dash="dash"),
                         annotation_text="England and Wales", annotation_position="top")
    figure.update_yaxes(autorange="reversed", title_text=None, tickfont=dict(size=11))
    figure.update_xaxes(tickformat=fmt, title_text=text.y_title)
    figure = dress(figure, text, dark=dark, height=max(420, 22 * len(frame) + 200),
                   legend=False)
    return figure.update_yaxes(title_text=None)  # the bars are labelled by force


def sparkline_svg(values: list[float], width: int = 160, height: int = 36,
                  colour: str = DARK_BLUE) -> str:
    """A tiny SVG line as a data URI, for tiles: dozens per page cost nothing to draw."""
    points = [v for v in values if v is not None and not np.isnan(v)]
    if len(points) < 2:
        return ""
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    step = (width - 4) / (len(values) - 1)
    path = []
    pen = "M"
    for index, value in enumerate(values):
        if value is None or np.isnan(value):
            pen = "M"
            continue
        x = 2 + index * step
        y = height - 2 - (value - low) / span * (height - 4)
        path.append(f"{pen}{x:.1f},{y:.1f}")
        pen = "L"
    svg = (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
           f"viewBox='0 0 {width} {height}'><path d='{' '.join(path)}' fill='none' "
           f"stroke='{colour}' stroke-width='2'/></svg>")
    return "data:image/svg+xml;utf8," + svg.replace("#", "%23")

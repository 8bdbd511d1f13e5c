"""The frame around every page: skip link, navigation, demonstration banner, controls.

The page-wide view controls (force, period, comparator) are drawn by each page from
its URL query and write any change back to the URL, which re-renders the page:
the URL is the single source of truth for what is on screen.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, dcc, html
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from kpis.domain.access import Action, Principal
from kpis.domain.periods import format_month, month_label
from kpis.engine.views import default_period
from kpis.settings import NATIONAL_SLUG
from layouts._cache import render_cached
from layouts._commentary import register_commentary
from layouts._downloads import ChartDownloads, download_menu, download_menu_markup
from layouts._html_block import LiveMarkup
from layouts._live import (
    LIVE_HTML,
    LIVE_PROPS,
    LIVE_VIEW_ARGUMENT,
    live_graph,
    live_html,
    standing_aside,
    switch_view,
)
from layouts._markup import join, tag
from layouts._state import COMPARATOR_NATIONAL, COMPARATOR_REGION, ViewState, merged_query
from web import ids
from web.context import THEME_COOKIE, dataset, is_dark, principal
from web.request_checks import register_request_checks

LOG = logging.getLogger("flightdeck")

DEMO_TEXT = (
    "Demonstration data: generated for illustration, not real police figures."
)
NAV_PAGES = (
    ("Flight deck", "/"),
    ("Compare forces", "/compare"),
    ("Definitions", "/definitions"),
    ("Data", "/data"),
    ("Load data", "/upload"),
    ("Recommendations", "/recommendations"),
    ("Scrutiny", "/scrutiny"),
    ("Board pack", "/board-pack"),
)


THEME_TOGGLE = "theme-toggle"
THEME_STORE = "theme-store"
# window.dash_clientside.flightdeck: the clientside callbacks, in assets/flightdeck.js.
CLIENTSIDE_NAMESPACE = "flightdeck"
__all__ = ["THEME_COOKIE", "chart_block", "control_bar", "empty_state", "is_dark",
           "safe_layout", "shell_layout"]

GRAPH_CONFIG = {"displaylogo": False, "responsive": True,
                "toImageButtonOptions": {"format": "png", "scale": 3}}


def chart_block(figure_id: str, figure: object, summary: str,
                table: Component | None = None,
                downloads: ChartDownloads | None = None,
                table_summary_id: dict[str, str] | None = None,
                live: bool = False) -> html.Figure:
    """A chart with its plain-English summary as caption and accessible name.

    ``table``, if given, is the data behind the chart, offered as a table in a
    disclosure beneath it (an alternative to the picture for screen readers and
    anyone who wants the numbers). The chart is a named group (named by its caption),
    not role="img": the Plotly mode bar inside it holds focusable buttons.
    ``downloads`` (from :func:`layouts._downloads.chart_downloads`) adds links to the
    chart as PNG, SVG, PDF and CSV, drawn on the server with the marking and source
    line. ``table_summary_id`` names the disclosure's summary, for a page that fills
    the table only when it is first opened (by a callback on the summary's clicks).
    ``live``: the figure, caption and links change in place when the view switches
    (layouts/_live.py); the chart's element id is then its wrapper's. The table is not
    a live part: its page keeps it in step with the view.
    """
    caption_id = f"{figure_id}-caption"
    # The chart's height is kept for it before it is drawn (charts off the screen are
    # drawn as they come near it: assets/06-charts-in-view-first.js). Without it an
    # undrawn chart had no height, so the page grew and jumped under the reader as
    # charts were drawn, and a chart scrolled to was pushed away by those drawn above.
    reserved = _figure_height(figure)
    wrapper = {"role": "group", "className": "chart-graph", "aria-labelledby": caption_id,
               **({"style": {"minHeight": f"{reserved}px"}} if reserved else {})}
    if live:
        graph = html.Div(live_graph(figure_id, figure, GRAPH_CONFIG), id=figure_id,
                         **wrapper)
        caption: Component | str = live_html(f"{figure_id}-summary", tag("span", summary))
    else:
        graph = html.Div(dcc.Graph(id=figure_id, figure=figure, config=GRAPH_CONFIG),
                         **wrapper)
        caption = summary
    parts: list[Component] = [
        graph, html.Figcaption(caption, id=caption_id, className="small mt-1 chart-summary"),
    ]
    if downloads is not None:
        parts.append(live_html(f"{figure_id}-downloads", download_menu_markup(downloads))
                     if live else download_menu(downloads))
    if table is not None:
        heading = (html.Summary("Show data as a table", id=table_summary_id)
                   if table_summary_id else html.Summary("Show data as a table"))
        # The same element in every view (a live chart's too: replacing nine tables'
        # subtrees was a seventh of a pillar page's switch); a page that fills its
        # tables when they are opened fills them again after a switch (layouts/pillar.py).
        parts.append(html.Details([heading, table], className="chart-table mt-1"))
    return html.Figure(parts, className="chart-block mb-4")


def _figure_height(figure: object) -> int | None:
    """The height in pixels a figure (a dict or a plotly Figure) asks for, if any."""
    layout = (figure.get("layout") if isinstance(figure, dict)
              else getattr(figure, "layout", None))
    height = (layout.get("height") if isinstance(layout, dict)
              else getattr(layout, "height", None))
    return int(height) if isinstance(height, int | float) and height > 0 else None


def safe_layout(build: Callable[..., Component]) -> Callable[..., Component]:
    """Wrap a page's layout so a fault shows a clear message in the page, never a blank
    screen or a stack trace; the details go to the server log."""

    @functools.wraps(build)
    def layout(**query: str | list[str]) -> Component:
        # Dash passes a key the URL repeats (?force=a&force=b) as a list: the first
        # value counts, as everywhere else the query is read.
        live_view = query.pop(LIVE_VIEW_ARGUMENT, None)
        query = {k: v[0] if isinstance(v, list) else v for k, v in query.items()}
        if standing_aside(build.__module__, query, live_view):
            # The URL changed because a switch drew this view in place already.
            raise PreventUpdate
        try:
            return render_cached(build, query)
        except Exception:
            LOG.exception("page %s failed for %r", build.__module__, query)
            return html.Div([
                html.H1("Something went wrong", className="h3"),
                dbc.Alert(
                    "This view could not be shown. Try another force or period, or reload "
                    "the page; if it keeps happening, tell your analyst team.",
                    color="danger", id=ids.PAGE_ERROR,
                ),
            ])

    return layout


def empty_state(message: str) -> html.Div:
    """A clear message where a chart or table has nothing to show."""
    return html.Div(html.P(message, className="mb-0"), className="empty-state alert alert-light",
                    role="status")


UNSECURED_TEXT = (
    "No sign-in is configured, so this copy answers only on this computer and anyone "
    "using it can change data. Set up accounts before sharing it (README: Security)."
)


def banner(heading: str, text: str, banner_id: str, kind: str = "") -> html.Div:
    """A notice under the navigation bar on every page (demonstration data, no sign-in)."""
    return html.Div([html.Strong(f"{heading} "), html.Span(text)], id=banner_id,
                    className=f"demo-banner {kind}".strip(), role="note")


def account_menu(principal: Principal | None) -> Component | None:
    """Who is signed in, with what role and scope, accounts and the audit log for admins,
    sign out."""
    if principal is None:
        return None
    if principal.demo:
        return html.Span("Not signed in", className="navbar-text small me-3 text-white")
    scope = dataset().area_names.get(principal.force, principal.force) if principal.force \
        else "all forces"
    items: list[Component] = [
        dbc.DropdownMenuItem(f"{principal.label}: {principal.role.value}, {scope}",
                             header=True),
    ]
    if principal.may(Action.EXPORT):
        items.append(dbc.DropdownMenuItem("Board packs by email", href="/subscriptions",
                                          id=ids.SUBSCRIPTIONS_LINK))
        items.append(dbc.DropdownMenuItem("Data feeds and API tokens", href="/data-feeds",
                                          id=ids.FEEDS_LINK))
    if principal.may(Action.MANAGE_USERS):
        items.append(dbc.DropdownMenuItem("Accounts", href="/accounts", id=ids.ACCOUNTS_LINK))
    if principal.may(Action.READ_AUDIT):
        items.append(dbc.DropdownMenuItem("Audit log", href="/audit", id=ids.AUDIT_LINK))
    items.append(html.Form(
        html.Button("Sign out", type="submit", className="dropdown-item", id=ids.SIGN_OUT),
        method="post", action="/logout"))
    return dbc.DropdownMenu(items, label="Account", nav=True, in_navbar=True, align_end=True,
                            id=ids.ACCOUNT_MENU, className="me-2")


def nav_id(href: str) -> str:
    return "nav-" + (href.strip("/").replace("/", "-") or "home")


def navbar() -> dbc.Navbar:
    links = [
        dbc.NavItem(dbc.NavLink(label, href=href, active="exact", id=nav_id(href)))
        for label, href in NAV_PAGES
    ]
    try:
        pillars = dataset().catalogue.pillars
    except Exception:
        pillars = []
    pillar_menu = dbc.DropdownMenu(
        [dbc.DropdownMenuItem(f"{p.number}. {p.name}", href=f"/pillar/{p.number}",
                              id=nav_id(f"/pillar/{p.number}")) for p in pillars],
        label="Pillars", nav=True, in_navbar=True,
    )
    theme_switch = dbc.Switch(
        id=THEME_TOGGLE, label="Dark mode", value=is_dark(),
        className="theme-switch mb-0", persistence=False,
    )
    return dbc.Navbar(
        dbc.Container([
            dbc.NavbarBrand("NOM flight deck", href="/", id=nav_id("/brand")),
            dbc.Nav([links[0], pillar_menu, *links[1:]], navbar=True, className="me-auto"),
            dbc.Nav(account_menu(principal()), navbar=True),
            theme_switch,
        ], fluid=True),
        id=ids.NAVBAR,
        color="primary",
        dark=True,
        className="site-nav",
    )


def shell_layout() -> html.Div:
    """The app layout, built per page load so the demo banner follows the data."""
    try:
        is_demo = dataset().is_demo
    except Exception:
        is_demo = False
    return html.Div([
        html.A("Skip to main content", href=f"#{ids.MAIN}", id=ids.SKIP_LINK,
               className="skip-link"),
        dcc.Location(id=ids.URL, refresh="callback-nav"),
        dcc.Store(id=ids.LIVE_VIEW),
        dcc.Store(id=ids.VIEW_SEARCH),
        LiveMarkup(id=ids.LIVE_MARKUP),
        dcc.Store(id=THEME_STORE, storage_type="local"),
        html.Header([
            navbar(),
            banner("UNSECURED DEMONSTRATION", UNSECURED_TEXT, ids.UNSECURED_BANNER,
                   "unsecured-banner") if getattr(principal(), "demo", False) else None,
            banner("DEMONSTRATION DATA", DEMO_TEXT, ids.DEMO_BANNER) if is_demo else None,
        ]),
        html.Main(
            # A spinner only for work slower than a blink, so quick views don't flicker.
            dcc.Loading(dash.page_container, delay_show=300, type="circle",
                        overlay_style={"visibility": "visible", "opacity": 0.6}),
            id=ids.MAIN, tabIndex="-1", className="container-fluid py-3",
        ),
        html.Footer(
            html.P(
                "Operation Soteria National Operating Model flight deck. Sources: force "
                "monthly returns and Home Office crime outcomes and recorded crime open data.",
                className="small text-body-secondary mb-0",
            ),
            className="container-fluid py-3 border-top",
        ),
    ])


def control_bar(state: ViewState) -> html.Div:
    """Force, period and comparator selectors, initialised from the view state."""
    ds = dataset()
    force_options = [{"label": "England and Wales", "value": NATIONAL_SLUG}] + [
        {"label": name, "value": slug}
        for slug, name in zip(ds.visible_forces["slug"], ds.visible_forces["name"],
                              strict=True)
    ]
    periods = list(reversed(ds.cube.periods))
    period_options = [
        {"label": month_label(p.date()), "value": format_month(p.date())} for p in periods
    ]
    comparator_options = [
        {"label": "England and Wales", "value": COMPARATOR_NATIONAL},
        {"label": "Region", "value": COMPARATOR_REGION},
    ] + [
        {"label": name, "value": area_id}
        for area_id, name, kind in zip(ds.areas["area_id"], ds.areas["name"], ds.areas["kind"],
                                       strict=True)
        if kind == "user"
    ]
    controls = (
        ("Force", ids.FORCE, force_options, state.force, 4),
        ("Period", ids.PERIOD, period_options,
         format_month(state.period) if state.period else None, 3),
        ("Compare with", ids.COMPARATOR, comparator_options, state.comparator, 3),
    )
    columns = [
        dbc.Col([dbc.Label(label, html_for=control),
                 dcc.Dropdown(options, value, id=control, clearable=False)], md=width)
        for label, control, options, value, width in controls
    ]
    opening = default_period(ds)
    note = None
    if state.period is not None and state.period == opening.period:
        note = tag("p", f"{month_label(opening.period)}: {opening.reason}",
                   class_="small text-body-secondary mb-2", id="opening-period")
    notices = (tag("div", [tag("p", text, class_="mb-0") for text in state.notices],
                   class_="alert alert-warning py-2 small mb-2", role="status",
                   id="view-notices")
               if state.notices else None)
    return html.Div([dbc.Row(columns, className="g-3 mb-1"),
                     live_html("view-notes", join([note, notices]))],
                    className="controls mb-2", role="group",
                    **{"aria-label": "View controls"})


def register_shell(app: dash.Dash) -> None:
    """Callbacks of the frame; registered on the app (not globally) so every app has them.

    (The web routes that are not pages, such as chart downloads, are wired by app.py.)
    """
    register_theme(app)
    register_my_force(app)
    register_commentary(app)
    register_request_checks(app)
    hrefs = [href for _, href in NAV_PAGES] + [f"/pillar/{n}" for n in range(1, 7)]

    @app.callback(
        [Output(nav_id(href), "href") for href in hrefs],
        Input(ids.URL, "search"),
    )
    def carry_view_into_links(search: str | None) -> list[str]:
        """Navigation keeps the chosen force, period and comparator."""
        query = parse_qs((search or "").lstrip("?"))
        kept = {k: v[0] for k, v in query.items() if k in ("force", "period", "comparator")}
        suffix = "?" + urlencode(kept) if kept else ""
        return [href + suffix for href in hrefs]

    # The markup blocks' new contents go out as one prop (ids.LIVE_MARKUP); the charts
    # and subtrees as outputs of their own. The blocks on screen are read as state.
    outputs = [kind for kind in LIVE_PROPS if kind != LIVE_HTML]

    @app.callback(
        Output(ids.VIEW_SEARCH, "data"),
        Output(ids.LIVE_VIEW, "data"),
        Output(ids.LIVE_MARKUP, "parts"),
        *[Output({"type": kind, "part": ALL}, LIVE_PROPS[kind]) for kind in outputs],
        Input(ids.FORCE, "value"),
        Input(ids.PERIOD, "value"),
        Input(ids.COMPARATOR, "value"),
        State(ids.URL, "search"),
        State(ids.URL, "pathname"),
        State({"type": LIVE_HTML, "part": ALL}, "id"),
        prevent_initial_call=True,
    )
    def controls_to_url(force: str | None, period: str | None, comparator: str | None,
                        search: str | None, pathname: str | None,
                        blocks: list[Any]) -> tuple[object, ...]:
        """Write the chosen force, period and comparator into the URL (through
        ids.VIEW_SEARCH: after the new view is painted, when it is drawn in place); on a
        page that switches in place (layouts/_live.py), send the parts that change."""
        opening = default_period(dataset()).period
        defaults = {"force": NATIONAL_SLUG, "comparator": COMPARATOR_NATIONAL,
                    "period": format_month(opening) if opening else ""}
        query = merged_query(search, defaults, force=force, period=period,
                             comparator=comparator)
        # The parts on screen, one list per kind in LIVE_PROPS order. The blocks' ids are
        # state as the browser sent it: anything but a list of live-html ids is no page
        # this switch can be drawn on in place (the router then draws it).
        blocks = blocks if _live_block_ids(blocks) else []
        by_kind = {LIVE_HTML: [{"id": block} for block in blocks],
                   **dict(zip(outputs, dash.ctx.outputs_list[3:], strict=True))}
        shown = [by_kind[kind] for kind in LIVE_PROPS]
        if query is None:
            return (dash.no_update, dash.no_update, dash.no_update,
                    *[[dash.no_update] * len(by_kind[kind]) for kind in outputs])
        switch = switch_view(pathname, search, query, shown)
        sent = dict(zip(LIVE_PROPS, switch.parts, strict=True))
        markup = ({block["part"]: html for block, html in zip(blocks, sent[LIVE_HTML],
                                                                strict=True)}
                  if switch.in_place else dash.no_update)
        return ({"search": query, "in_place": switch.in_place}, switch.live_view, markup,
                *[sent[kind] for kind in outputs])

    # The URL follows the view: at once when the router is to draw the new page, after
    # the next paint when the view was drawn in place (Dash's work on a new address
    # would otherwise hold the new view off the screen for a few frames).
    app.clientside_callback(
        clientside("searchAfterPaint"),
        Output(ids.URL, "search", allow_duplicate=True),
        Input(ids.VIEW_SEARCH, "data"),
        prevent_initial_call=True,
    )


def _live_block_ids(value: object) -> bool:
    """Whether ``value`` is a list of live-html block ids (``{"type", "part"}``)."""
    return isinstance(value, list) and all(
        isinstance(block, dict) and block.get("type") == LIVE_HTML
        and isinstance(block.get("part"), str) for block in value)


def register_my_force(app: dash.Dash) -> None:
    """The force a person last chose, remembered in the browser (assets/flightdeck.js:
    rememberForce): a page opened with no force in its address opens on it."""
    app.clientside_callback(
        clientside("rememberForce"),
        Output(ids.URL, "search", allow_duplicate=True),
        Input(ids.FORCE, "value"),
        State(ids.FORCE, "options"),
        State(ids.URL, "search"),
        prevent_initial_call="initial_duplicate",
    )


def register_theme(app: dash.Dash) -> None:
    """The theme switch and the keyboard and screen reader repairs: clientside functions
    in assets/flightdeck.js (the theme is kept in a cookie the layouts read, and in
    local storage; a change reloads the page, drawn on the server for that theme)."""
    app.clientside_callback(clientside("a11y"), Output(ids.MAIN, "data-a11y"),
                            Input(ids.MAIN, "id"))
    app.clientside_callback(
        clientside("theme"),
        Output(THEME_STORE, "data"),
        Input(THEME_TOGGLE, "value"),
        State(THEME_STORE, "data"),
    )


def clientside(function_name: str) -> dash.ClientsideFunction:
    """A function of ``window.dash_clientside.flightdeck``, defined in
    assets/flightdeck.js (served by Dash with the stylesheets: no inline script)."""
    return dash.ClientsideFunction(CLIENTSIDE_NAMESPACE, function_name)

"""Definitions: the KPI catalogue, grouped by pillar and searchable.

Each KPI shows what it counts (numerator and denominator by measure title), how to
read it (unit, polarity, target), where the data comes from, and every version of
its definition, drafts included, so an analyst can see what the Joint Unit is about
to change. Each KPI has an anchor (``/definitions#kpi-<id>``) for links from other
pages, and the search text is kept in the URL (``?q=``) so a filtered list can be
shared and survives a reload.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, dcc, html

from kpis.catalogue import Catalogue, KpiDefinition, Measure, Recommendation
from kpis.formatting import format_value
from layouts._context import dataset

dash.register_page(__name__, path="/definitions", name="Definitions",
                   title="Definitions - NOM flight deck", order=80)

SEARCH = "definitions-search"
RESULT_COUNT = "definitions-count"
DEFINITION_LIST = "definitions-list"
# Pattern-matching ids, so one callback can show or hide however many KPIs there are.
ENTRY = "definition-entry"
PILLAR_GROUP = "definition-pillar"
# The anchor other pages link to: a plain string id, stable across catalogue versions.
ANCHOR = "kpi-{kpi_id}"
KPI_PAGE = "/kpi/{kpi_id}"
# Let a typist finish a word before asking the server to filter.
SEARCH_DEBOUNCE_MS = 250

POLARITY_TEXT = {
    "higher": "Higher is better",
    "lower": "Lower is better",
    "neutral": "Neither higher nor lower is better",
}
UNIT_TEXT = {
    "count": "Count",
    "percent": "Percentage (numerator as a share of the denominator)",
    "per_100k": "Rate per 100,000 resident population",
    "days": "Days (mean per case)",
    "ratio": "Ratio (numerator divided by denominator)",
}
# What stands in for a missing denominator, by unit.
NO_DENOMINATOR_TEXT = {
    "count": "None: the KPI is a count",
    "per_100k": "Resident population of the force area (rate per 100,000)",
}
PERIODICITY_TEXT = {"monthly": "Monthly", "quarterly": "Quarterly"}
STATUS_TEXT = {"published": "Published", "draft": "Draft"}
STATUS_COLOUR = {"published": "success", "draft": "warning"}


@dataclass(frozen=True)
class CatalogueEntry:
    """One KPI as the page shows it: the definition in force and all its versions."""

    kpi_id: str
    shown: KpiDefinition  # the latest published version, else the latest draft
    versions: tuple[KpiDefinition, ...]  # oldest first
    search_text: str  # lower-case words the search box matches against

    @property
    def published(self) -> bool:
        return self.shown.status == "published"


def catalogue_entries(catalogue: Catalogue) -> list[CatalogueEntry]:
    """Every KPI in the catalogue, in catalogue order, with all its versions."""
    pillar_names = {p.number: p.name for p in catalogue.pillars}
    by_id: dict[str, list[KpiDefinition]] = {}
    for kpi in sorted(catalogue.kpis, key=lambda k: k.position):
        by_id.setdefault(kpi.kpi_id, []).append(kpi)
    entries = []
    for kpi_id, versions in by_id.items():
        versions.sort(key=lambda k: k.version)
        published = [k for k in versions if k.status == "published"]
        shown = (published or versions)[-1]
        words = [kpi_id, kpi_id.replace("_", " "), f"pillar {shown.pillar}",
                 pillar_names.get(shown.pillar, "")]
        for version in versions:
            words += [version.title, version.description]
        entries.append(CatalogueEntry(kpi_id, shown, tuple(versions),
                                      " ".join(words).casefold()))
    return entries


def matches(entry: CatalogueEntry, query: str | None) -> bool:
    """True when every word of ``query`` appears in the KPI's id, title, description or pillar."""
    return all(word in entry.search_text for word in (query or "").casefold().split())


def result_text(shown: int, total: int, query: str | None) -> str:
    """What the search found, in words (read out by screen readers as it changes)."""
    text = (query or "").strip()
    if not text:
        return f"Showing all {total} KPIs."
    if shown == 0:
        return f"No KPI matches “{text}”. Try fewer or different words."
    noun = "KPI matches" if shown == 1 else "KPIs match"
    return f"{shown} of {total} {noun} “{text}”."


def long_date(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def status_badge(status: str) -> dbc.Badge:
    return dbc.Badge(STATUS_TEXT.get(status, status), color=STATUS_COLOUR.get(status, "secondary"),
                     text_color="dark" if status == "draft" else None,
                     className="status-badge")


def measure_list(measure_ids: tuple[str, ...], measures: dict[str, Measure]) -> html.Ul:
    """Measure titles with their ids; several measures are added together."""
    return html.Ul([
        html.Li([measures[m].title if m in measures else m, " ", html.Code(m, className="small")])
        for m in measure_ids
    ], className="list-unstyled mb-0 measure-list")


def denominator_text(kpi: KpiDefinition, measures: dict[str, Measure]) -> html.Ul | str:
    if kpi.denominator:
        return measure_list(kpi.denominator, measures)
    return NO_DENOMINATOR_TEXT.get(kpi.unit, "None")


def target_text(kpi: KpiDefinition) -> str:
    return format_value(kpi, kpi.target) if kpi.target is not None else "None set"


def recommendation_list(kpi: KpiDefinition,
                        recommendations: dict[str, Recommendation]) -> html.Ul | str:
    if not kpi.recommendations:
        return "None"
    items = []
    for rec_id in kpi.recommendations:
        rec = recommendations.get(rec_id)
        items.append(html.Li(
            [html.Strong(rec_id), f" (deadline {long_date(rec.deadline)}): {rec.title}"]
            if rec else rec_id
        ))
    return html.Ul(items, className="list-unstyled mb-0")


def fact(term: str, value: object) -> list[html.Dt | html.Dd]:
    return [html.Dt(term, className="col-sm-4"), html.Dd(value, className="col-sm-8")]


def definition_facts(kpi: KpiDefinition, catalogue: Catalogue) -> dbc.Row:
    """Two columns of term/value pairs: what is counted, and how to read it."""
    measures = {m.measure_id: m for m in catalogue.measures}
    recommendations = {r.rec_id: r for r in catalogue.recommendations}
    pillar_names = {p.number: p.name for p in catalogue.pillars}
    counted = html.Dl([
        *fact("KPI id", html.Code(kpi.kpi_id)),
        *fact("Pillar", f"{kpi.pillar}. {pillar_names.get(kpi.pillar, '')}"),
        *fact("Numerator", measure_list(kpi.numerator, measures)),
        *fact("Denominator", denominator_text(kpi, measures)),
        *fact("Unit", UNIT_TEXT.get(kpi.unit, kpi.unit)),
        *fact("Source", kpi.source),
    ], className="row mb-0")
    reading = html.Dl([
        *fact("Polarity", POLARITY_TEXT.get(kpi.polarity, kpi.polarity)),
        *fact("Target", target_text(kpi)),
        *fact("Periodicity", PERIODICITY_TEXT.get(kpi.periodicity, kpi.periodicity)),
        *fact("Status", status_badge(kpi.status)),
        *fact("Effective from", long_date(kpi.effective_from)),
        *fact("Recommendations", recommendation_list(kpi, recommendations)),
    ], className="row mb-0")
    return dbc.Row([dbc.Col(counted, lg=6), dbc.Col(reading, lg=6)], className="g-3")


def version_table(entry: CatalogueEntry) -> dbc.Table:
    """Every version of the definition, drafts included, newest first."""
    rows = [
        html.Tr([
            html.Th(f"Version {kpi.version}", scope="row"),
            html.Td(status_badge(kpi.status)),
            html.Td(long_date(kpi.effective_from)),
            html.Td(target_text(kpi)),
            html.Td([kpi.description,
                     html.Span(" (shown above)", className="text-body-secondary")
                     if kpi is entry.shown else None]),
        ])
        for kpi in reversed(entry.versions)
    ]
    return dbc.Table([
        html.Caption(f"Versions of the definition of {entry.shown.title}"),
        html.Thead(html.Tr([html.Th(h, scope="col") for h in
                            ("Version", "Status", "Effective from", "Target", "Description")])),
        html.Tbody(rows),
    ], bordered=False, striped=True, size="sm", responsive=True, className="version-table mb-0")


def definition_card(entry: CatalogueEntry, catalogue: Catalogue, hidden: bool) -> html.Div:
    kpi = entry.shown
    link = (
        dcc.Link(f"Open the KPI page for {kpi.title}", href=KPI_PAGE.format(kpi_id=entry.kpi_id))
        if entry.published
        else html.Span("Draft only: not yet on the flight deck.", className="text-body-secondary")
    )
    card = html.Article([
        dbc.CardHeader([
            html.H3(kpi.title, className="h5 mb-1"),
            html.Div([status_badge(kpi.status), " ", html.Code(entry.kpi_id, className="small")]),
        ]),
        dbc.CardBody([
            html.P(kpi.description),
            definition_facts(kpi, catalogue),
            html.H4("Versions", className="h6 mt-3"),
            version_table(entry),
            html.P(link, className="mt-3 mb-0"),
        ]),
    ], id=ANCHOR.format(kpi_id=entry.kpi_id), className="card definition mb-3",
        tabIndex="-1", **{"aria-label": kpi.title})
    # The anchor keeps its plain string id; the wrapper carries the pattern id the
    # search callback shows and hides.
    return html.Div(card, id={"type": ENTRY, "kpi": entry.kpi_id}, hidden=hidden)


def pillar_group(number: int, name: str, cards: list[html.Div], hidden: bool) -> html.Section:
    return html.Section(
        [html.H2(f"{number}. {name}", className="h4 mt-4 mb-3"), *cards],
        id={"type": PILLAR_GROUP, "pillar": number},
        hidden=hidden,
        **{"aria-label": f"Pillar {number}: {name}"},
    )


def definition_list(catalogue: Catalogue, query: str | None) -> html.Div:
    entries = catalogue_entries(catalogue)
    groups = []
    for pillar in catalogue.pillars:
        in_pillar = [e for e in entries if e.shown.pillar == pillar.number]
        shown = [matches(e, query) for e in in_pillar]
        cards = [definition_card(e, catalogue, not s) for e, s in zip(in_pillar, shown, strict=True)]
        groups.append(pillar_group(pillar.number, pillar.name, cards, not any(shown)))
    return html.Div(groups, id=DEFINITION_LIST)


def search_box(query: str | None, total: int, shown: int) -> dbc.Row:
    return dbc.Row([
        dbc.Col([
            dbc.Label("Search the definitions", html_for=SEARCH),
            dbc.Input(id=SEARCH, type="search", value=query or "", debounce=SEARCH_DEBOUNCE_MS,
                      placeholder="For example: charge, repeat suspects, pillar 6",
                      autocomplete="off"),
            dbc.FormText("Matches the KPI id, title, description and pillar."),
        ], md=8, lg=6),
        dbc.Col(
            html.P(result_text(shown, total, query), id=RESULT_COUNT, role="status",
                   className="mb-0 mt-md-4 pt-md-2"),
            md=4, lg=6,
        ),
    ], className="g-3 mb-2")


def layout(q: str | None = None, **_: str) -> html.Div:
    catalogue = dataset().catalogue
    entries = catalogue_entries(catalogue)
    shown = sum(matches(e, q) for e in entries)
    version = f" (catalogue version {catalogue.version})" if catalogue.version else ""
    return html.Div([
        html.H1("KPI definitions", className="h3"),
        html.P(
            f"Every KPI in the catalogue{version}, grouped by pillar, with every version "
            "of its definition. Draft versions are proposals and are not used on the "
            "flight deck until they are published.",
            className="text-body-secondary",
        ),
        search_box(q, len(entries), shown),
        definition_list(catalogue, q),
    ])


@dash.callback(
    Output({"type": ENTRY, "kpi": ALL}, "hidden"),
    Output({"type": PILLAR_GROUP, "pillar": ALL}, "hidden"),
    Output(RESULT_COUNT, "children"),
    Input(SEARCH, "value"),
    State({"type": ENTRY, "kpi": ALL}, "id"),
    State({"type": PILLAR_GROUP, "pillar": ALL}, "id"),
    prevent_initial_call=True,  # the layout is already filtered by ?q=
)
def filter_definitions(query: str | None, entry_ids: list[dict[str, str]],
                       group_ids: list[dict[str, int]]) -> tuple[list[bool], list[bool], str]:
    """Show the KPIs matching the search text; hide pillars with none."""
    entries = {e.kpi_id: e for e in catalogue_entries(dataset().catalogue)}
    visible = {kpi_id for kpi_id, e in entries.items() if matches(e, query)}
    pillars_visible = {entries[k].shown.pillar for k in visible}
    return (
        [item["kpi"] not in visible for item in entry_ids],
        [item["pillar"] not in pillars_visible for item in group_ids],
        result_text(len(visible), len(entries), query),
    )


# Keep the search text in the URL without re-rendering the page (which would take
# the focus away from the search box mid-word): replace the history entry in place.
dash.clientside_callback(
    """
    function (value) {
        const url = new URL(window.location.href);
        const query = (value || "").trim();
        if (query) { url.searchParams.set("q", query); } else { url.searchParams.delete("q"); }
        if (url.href !== window.location.href) {
            window.history.replaceState(window.history.state, "", url.href);
        }
    }
    """,
    Input(SEARCH, "value"),
    prevent_initial_call=True,
)

# The browser looks for the #kpi-... anchor before Dash has drawn the page, so
# scroll to it (and move the focus there) once the list is on screen.
dash.clientside_callback(
    """
    function (_) {
        const target = decodeURIComponent(window.location.hash.slice(1));
        const element = target ? document.getElementById(target) : null;
        if (element) {
            element.scrollIntoView();
            element.focus({preventScroll: true});
        }
    }
    """,
    Input(DEFINITION_LIST, "id"),
)

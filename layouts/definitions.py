"""Definitions: the KPI catalogue, grouped by pillar and searchable.

Each KPI shows what it counts (numerator and denominator by measure title), how to
read it (unit, polarity, target), where the data comes from, and every version of
its definition, drafts included, so an analyst can see what the Joint Unit is about
to change. Each KPI has an anchor (``/definitions#kpi-<id>``) for links from other
pages, and the search text is kept in the URL (``?q=``) so a filtered list can be
shared and survives a reload.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, dcc, html

from kpis.domain.access import Action
from kpis.domain.catalogue import Catalogue, KpiDefinition, Measure, Recommendation
from kpis.domain.formatting import format_value
from kpis.domain.periods import long_day
from kpis.domain.vocabulary import POLARITY_PHRASE
from layouts._shell import clientside, safe_layout
from web import request_checks as _inputs
from web.context import dataset, principal

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
WORD = re.compile(r"\w+")

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


# A NamedTuple, not a dataclass: Dash runs page modules before registering them in
# sys.modules, where dataclasses look up string annotations.
class CatalogueEntry(NamedTuple):
    """One KPI as the page shows it: the definition in force and all its versions."""

    kpi_id: str
    shown: KpiDefinition  # the latest published version, else the latest draft
    versions: tuple[KpiDefinition, ...]  # oldest first
    search_words: frozenset[str]  # lower-case words the search box matches against

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
        text = [kpi_id, kpi_id.replace("_", " "), f"pillar {shown.pillar}",
                pillar_names.get(shown.pillar, "")]
        for version in versions:
            text += [version.title, version.description]
        words = frozenset(WORD.findall(" ".join(text).casefold()))
        entries.append(CatalogueEntry(kpi_id, shown, tuple(versions), words))
    return entries


def starts_word(term: str, word: str) -> bool:
    """``term`` begins ``word``; a number only as a whole number ("6" is not "63G")."""
    if not word.startswith(term):
        return False
    return not (term.isdigit() and word[len(term):len(term) + 1].isdigit())


def matches(entry: CatalogueEntry, query: str | None) -> bool:
    """True when every word of ``query`` begins a word of the KPI's id, title,
    description or pillar: "charg" finds "charge", "pillar 6" finds pillar 6's KPIs."""
    return all(any(starts_word(term, word) for word in entry.search_words)
               for term in WORD.findall((query or "").casefold()))


def result_text(shown: int, total: int, query: str | None) -> str:
    """What the search found, in words (read out by screen readers as it changes)."""
    text = (query or "").strip()
    if not text:
        return f"Showing all {total} KPIs."
    if shown == 0:
        return f"No KPI matches “{text}”. Try fewer or different words."
    noun = "KPI matches" if shown == 1 else "KPIs match"
    return f"{shown} of {total} {noun} “{text}”."


def status_badge(status: str) -> dbc.Badge:
    return dbc.Badge(STATUS_TEXT.get(status, status), color=STATUS_COLOUR.get(status, "secondary"),
                     text_color="dark" if status == "draft" else None,
                     className="status-badge")


def measure_text(measure_ids: tuple[str, ...], measures: dict[str, Measure]) -> list[object]:
    """Measure titles with their ids; several measures are added together."""
    parts: list[object] = []
    for index, measure_id in enumerate(measure_ids):
        measure = measures.get(measure_id)
        if index:
            parts.append(" plus ")
        parts += [measure.title if measure else measure_id, " ", html.Code(measure_id)]
    return parts


def target_text(kpi: KpiDefinition) -> str:
    return format_value(kpi, kpi.target) if kpi.target is not None else "None set"


def recommendation_text(kpi: KpiDefinition,
                        recommendations: dict[str, Recommendation]) -> list[object] | str:
    if not kpi.recommendations:
        return "None"
    parts: list[object] = []
    for rec_id in kpi.recommendations:
        rec = recommendations.get(rec_id)
        text = f" (deadline {long_day(rec.deadline)}): {rec.title}" if rec else ""
        parts.append(html.Span([html.Strong(rec_id), text], className="d-block"))
    return parts


def definition_facts(kpi: KpiDefinition, catalogue: Catalogue) -> html.Dl:
    """Term and value pairs: what is counted, then how to read it.

    One flat list laid out by CSS grid (two pairs a row on wide screens): every
    component costs page weight, and the catalogue page draws some forty of these.
    """
    measures = {m.measure_id: m for m in catalogue.measures}
    recommendations = {r.rec_id: r for r in catalogue.recommendations}
    pillar_names = {p.number: p.name for p in catalogue.pillars}
    facts: list[tuple[str, object]] = [
        ("Numerator", measure_text(kpi.numerator, measures)),
        ("Denominator", measure_text(kpi.denominator, measures) if kpi.denominator
         else NO_DENOMINATOR_TEXT.get(kpi.unit, "None")),
        ("Unit", UNIT_TEXT.get(kpi.unit, kpi.unit)),
        ("Polarity", POLARITY_PHRASE.get(kpi.polarity, kpi.polarity)),
        ("Target", target_text(kpi)),
        ("Periodicity", PERIODICITY_TEXT.get(kpi.periodicity, kpi.periodicity)),
        ("Pillar", f"{kpi.pillar}. {pillar_names.get(kpi.pillar, '')}"),
        ("Source", kpi.source),
        ("Status", status_badge(kpi.status)),
        ("Effective from", long_day(kpi.effective_from)),
        ("Recommendations", recommendation_text(kpi, recommendations)),
    ]
    return html.Dl([item for term, value in facts for item in (html.Dt(term), html.Dd(value))],
                   className="definition-facts")


def version_history(entry: CatalogueEntry) -> html.P | dbc.Table:
    """Every version of the definition, drafts included, newest first."""
    if len(entry.versions) == 1:
        kpi = entry.versions[0]
        return html.P([f"Version {kpi.version}, ", status_badge(kpi.status),
                       f", effective from {long_day(kpi.effective_from)}. No other versions."],
                      className="mb-0")
    rows = [
        html.Tr([
            html.Th(f"Version {kpi.version}", scope="row"),
            html.Td(status_badge(kpi.status)),
            html.Td(long_day(kpi.effective_from)),
            html.Td(target_text(kpi)),
            html.Td(kpi.description + (" (shown above)" if kpi is entry.shown else "")),
        ])
        for kpi in reversed(entry.versions)
    ]
    return dbc.Table([
        # The "Versions" heading above says it on screen; the caption names the table
        # for screen readers moving between tables.
        html.Caption(f"Versions of the definition of {entry.shown.title}, newest first",
                     className="visually-hidden"),
        html.Thead(html.Tr([html.Th(h, scope="col") for h in
                            ("Version", "Status", "Effective from", "Target", "Description")])),
        html.Tbody(rows),
    ], striped=True, size="sm", responsive=True, className="version-table mb-0")


def definition_card(entry: CatalogueEntry, catalogue: Catalogue, hidden: bool,
                    editor: bool = False) -> html.Div:
    """``editor``: the person may edit definitions (a link to the edit page)."""
    kpi = entry.shown
    link = (
        dcc.Link(f"Open the KPI page for {kpi.title}", href=KPI_PAGE.format(kpi_id=entry.kpi_id))
        if entry.published
        else "Draft only: not on the flight deck until it is published."
    )
    edit = ([" ", dcc.Link(f"Edit the definition of {kpi.title}",
                           href=f"/definitions/edit?kpi={entry.kpi_id}")]
            if editor else [])
    card = html.Article([
        dbc.CardHeader(html.H3([kpi.title, " ", html.Code(entry.kpi_id)], className="h5 mb-0")),
        dbc.CardBody([
            html.P(kpi.description),
            definition_facts(kpi, catalogue),
            html.H4("Versions", className="h6 mt-3"),
            version_history(entry),
            html.P([link, *edit], className="mt-3 mb-0 definition-links"),
        ]),
    ], id=ANCHOR.format(kpi_id=entry.kpi_id), className="card definition mb-3", tabIndex="-1")
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


def definition_list(catalogue: Catalogue, entries: list[CatalogueEntry],
                    query: str | None) -> html.Div:
    """The KPIs under their pillars; those not matching ``query`` start hidden."""
    who = principal()
    editor = who is not None and who.may(Action.EDIT_DEFINITIONS) and who.force is None
    groups = []
    for pillar in catalogue.pillars:
        in_pillar = [e for e in entries if e.shown.pillar == pillar.number]
        shown = [matches(e, query) for e in in_pillar]
        cards = [definition_card(entry, catalogue, hidden=not match, editor=editor)
                 for entry, match in zip(in_pillar, shown, strict=True)]
        groups.append(pillar_group(pillar.number, pillar.name, cards, hidden=not any(shown)))
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


@safe_layout
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
        definition_list(catalogue, entries, q),
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
    query = _inputs.text(query, "the search text")
    kpi_ids = _inputs.id_keys(entry_ids, "kpi", "the KPI entries")
    pillar_numbers = _inputs.id_keys(group_ids, "pillar", "the pillar groups")
    entries = {e.kpi_id: e for e in catalogue_entries(dataset().catalogue)}
    visible = {kpi_id for kpi_id, e in entries.items() if matches(e, query)}
    pillars_visible = {entries[k].shown.pillar for k in visible}
    return (
        [kpi_id not in visible for kpi_id in kpi_ids],
        [number not in pillars_visible for number in pillar_numbers],
        result_text(len(visible), len(entries), query),
    )


# Keep the search text in the URL without re-rendering the page (which would take
# the focus away from the search box mid-word): replace the history entry in place.
dash.clientside_callback(clientside("searchToUrl"), Input(SEARCH, "value"),
                         prevent_initial_call=True)

# The browser looks for the #kpi-... anchor before Dash has drawn the page, so
# jump to it (and move the focus there) once the list is on screen. Dash runs a
# callback with no output only when its input changes, never on first render, so
# this one records the anchor it went to. (Both functions: assets/flightdeck.js.)
dash.clientside_callback(clientside("jumpToAnchor"), Output(DEFINITION_LIST, "data-anchor"),
                         Input(DEFINITION_LIST, "id"))

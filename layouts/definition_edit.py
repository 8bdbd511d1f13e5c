"""Editing a KPI definition (administrators who cover every force): a draft version,
checked by the catalogue file's rules, then published.

The form starts from the KPI's latest version. *Check* runs the same rules as
``flightdeck catalogue check`` and shows every problem, or what would change; *Save
the draft* saves it (a new version when the latest is published, else the draft
itself); *Publish* makes the draft the definition in force, on the flight deck at once.
Every save and publish is audited with what changed. The database is the source of
truth; ``flightdeck catalogue export`` writes it back to YAML.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from kpis.domain.access import AccessDenied, Action
from kpis.domain.catalogue import POLARITIES, SPC_RUN_LENGTHS, CatalogueError, KpiDefinition
from kpis.domain.catalogue_edits import (
    draft_version,
    edited_catalogue,
    latest_version,
    version_changes,
)
from kpis.domain.catalogue_yaml import kpi_entry
from kpis.domain.periods import long_day
from kpis.domain.vocabulary import POLARITY_PHRASE
from layouts._shell import safe_layout
from web import request_checks as _inputs
from web.context import principal, service

dash.register_page(__name__, path="/definitions/edit", name="Edit a definition",
                   title="Edit a definition - NOM flight deck", order=81)

KPI = "definition-edit-kpi"
FIELDS = {"title": "definition-edit-title", "description": "definition-edit-description",
          "numerator": "definition-edit-numerator",
          "denominator": "definition-edit-denominator", "target": "definition-edit-target",
          "polarity": "definition-edit-polarity",
          "spc_run_length": "definition-edit-run-length", "source": "definition-edit-source",
          "effective_from": "definition-edit-effective"}
CHECK = "definition-edit-check"
SAVE = "definition-edit-save"
PUBLISH = "definition-edit-publish"
RESULT = "definition-edit-result"
HISTORY = "definition-edit-history"
REFUSED = ("Only administrators who cover every force can edit KPI definitions. The "
           "definitions page shows every version.")


def may_edit() -> bool:
    who = principal()
    return who is not None and who.may(Action.EDIT_DEFINITIONS) and who.force is None


def _values(kpi: KpiDefinition) -> dict[str, str]:
    entry = kpi_entry(kpi)
    return {
        "title": kpi.title, "description": kpi.description,
        "numerator": ", ".join(kpi.numerator), "denominator": ", ".join(kpi.denominator),
        "target": "" if kpi.target is None else f"{kpi.target:g}",
        "polarity": kpi.polarity, "spc_run_length": str(kpi.spc_run_length),
        "source": kpi.source, "effective_from": str(entry["effective_from"]),
    }


def history(kpi_id: str) -> html.Div:
    """Every version with what it changed, newest first."""
    catalogue = service().catalogue()
    versions = sorted((k for k in catalogue.kpis if k.kpi_id == kpi_id),
                      key=lambda k: k.version)
    rows = []
    for previous, kpi in zip([None, *versions[:-1]], versions, strict=True):
        changes = version_changes(previous, kpi) if previous is not None else []
        words = ("First version" if previous is None else
                 "; ".join(f"{field}: {old} \u2192 {new}" for field, old, new in changes)
                 or "No change")
        rows.append(html.Tr([html.Th(f"Version {kpi.version}", scope="row"),
                             html.Td(kpi.status.capitalize()),
                             html.Td(long_day(kpi.effective_from)), html.Td(words)]))
    return dbc.Table([
        html.Caption(f"Versions of {versions[-1].title}, with what each changed"),
        html.Thead(html.Tr([html.Th(h, scope="col") for h in
                            ("Version", "Status", "Effective from", "What changed")])),
        html.Tbody(list(reversed(rows))),
    ], size="sm", striped=True, responsive=True, id=HISTORY, className="mt-3")


def _form(kpi: KpiDefinition) -> list[Any]:
    values = _values(kpi)

    def text(field: str, label: str, help_text: str = "", area: bool = False) -> Any:
        control = (dbc.Textarea(id=FIELDS[field], value=values[field], rows=3)
                   if area else dbc.Input(id=FIELDS[field], value=values[field],
                                          maxLength=2000))
        return html.Div([dbc.Label(label, html_for=FIELDS[field]), control,
                         dbc.FormText(help_text) if help_text else None], className="mb-2")

    return [
        text("title", "Title"),
        text("description", "Description", area=True),
        text("numerator", "Numerator", "Measure ids, separated by commas (added together)."),
        text("denominator", "Denominator", "Measure ids; empty for a count."),
        text("target", "Target", "In the KPI's unit (a percentage as a fraction: 0.9 is "
                                 "90%); empty for none."),
        html.Div([dbc.Label("Which direction is better", html_for=FIELDS["polarity"]),
                  dbc.RadioItems([{"label": POLARITY_PHRASE.get(p, p), "value": p}
                                  for p in POLARITIES], values["polarity"],
                                 id=FIELDS["polarity"])], className="mb-2"),
        html.Div([dbc.Label("SPC run length (points in a shift or trend)",
                            html_for=FIELDS["spc_run_length"]),
                  dbc.Select(id=FIELDS["spc_run_length"],
                             options=[{"label": str(n), "value": str(n)}
                                      for n in SPC_RUN_LENGTHS],
                             value=values["spc_run_length"])], className="mb-2"),
        text("source", "Source"),
        text("effective_from", "Effective from", "YYYY-MM-DD; a new version starts from "
                                                 "the first of this month unless changed."),
    ]


@safe_layout
def layout(kpi: str | None = None, **_: str) -> html.Div:
    heading = html.H1("Edit a KPI definition", className="h3")
    if not may_edit():
        return html.Div([heading, dbc.Alert(REFUSED, color="warning")])
    catalogue = service().catalogue()
    known = {k.kpi_id for k in catalogue.kpis}
    if not kpi or kpi not in known:
        return html.Div([heading, html.P("Choose a KPI to edit:"), html.Ul([
            html.Li(dcc.Link(k.title, href=f"/definitions/edit?kpi={k.kpi_id}"))
            for k in catalogue.published()])])
    latest = latest_version(catalogue, kpi)
    draft = draft_version(catalogue, kpi)
    state = (f"Editing the draft, version {draft.version} (not yet published)." if draft
             else f"Version {latest.version} is published: saving makes version "
                  f"{latest.version + 1}, a draft, until it is published.")
    return html.Div([
        heading,
        html.H2([latest.title, " ", html.Code(kpi)], className="h5"),
        html.P(state, className="small"),
        dcc.Store(id=KPI, data=kpi),
        dbc.Row(dbc.Col(_form(latest), lg=8)),
        html.Div([
            dbc.Button("Check", id=CHECK, color="secondary", className="me-2"),
            dbc.Button("Save the draft", id=SAVE, color="primary", className="me-2"),
            dbc.Button(f"Publish version {draft.version}" if draft else "Publish the draft",
                       id=PUBLISH, color="success", disabled=draft is None),
        ], className="mt-2"),
        html.Div(id=RESULT, className="mt-3", role="status", **{"aria-live": "polite"}),
        html.H2("Version history", className="h5 mt-4"),
        html.Div(history(kpi), id=f"{HISTORY}-holder"),
        html.P(dcc.Link("Back to the definitions", href=f"/definitions#kpi-{kpi}"),
               className="mt-3"),
    ])


def _problems(error: CatalogueError) -> dbc.Alert:
    return dbc.Alert([html.P(f"{len(error.problems)} problem(s): nothing was saved.",
                             className="fw-semibold mb-1"),
                      html.Ul([html.Li(f"{p.field}: {p.rule} (given: {p.value!r})")
                               for p in error.problems])], color="danger")


@dash.callback(
    Output(RESULT, "children"),
    Output(f"{HISTORY}-holder", "children"),
    Output(PUBLISH, "disabled"),
    Output(PUBLISH, "children"),
    Input(CHECK, "n_clicks"),
    Input(SAVE, "n_clicks"),
    Input(PUBLISH, "n_clicks"),
    State(KPI, "data"),
    *(State(control, "value") for control in FIELDS.values()),
    prevent_initial_call=True,
)
def act(check: int | None, save: int | None, publish: int | None, kpi_id: str | None,
        *values: Any) -> tuple[Any, Any, Any, Any]:
    """Check, save or publish, as the button pressed says."""
    for clicks in (check, save, publish):
        _inputs.clicks(clicks)
    kpi_id = _inputs.text(kpi_id, "the KPI")
    changes = {field: _inputs.text(value, field) if not isinstance(value, str) else value
               for field, value in zip(FIELDS, values, strict=True)}
    pressed = dash.ctx.triggered_id
    if not kpi_id or pressed not in (CHECK, SAVE, PUBLISH):
        return dash.no_update, dash.no_update, dash.no_update, dash.no_update
    scoped = service()
    try:
        current = scoped.catalogue()
        before = latest_version(current, kpi_id)
        if pressed == CHECK:
            _, draft = edited_catalogue(current, kpi_id, changes, dt.date.today())
            changed = version_changes(before, draft)
            words = ([html.Li(f"{f}: {old} \u2192 {new}") for f, old, new in changed]
                     or [html.Li("Nothing would change.")])
            return (dbc.Alert([html.P(f"No problems: saving would make version "
                                      f"{draft.version} a draft with these changes.",
                                      className="mb-1"), html.Ul(words)], color="info"),
                    dash.no_update, dash.no_update, dash.no_update)
        if pressed == SAVE:
            draft = scoped.save_definition_draft(kpi_id, changes, dt.date.today())
            return (dbc.Alert(f"Saved version {draft.version} as a draft. Publish it to put "
                              "it on the flight deck.", color="success"), history(kpi_id),
                    False, f"Publish version {draft.version}")
        draft = draft_version(current, kpi_id)
        if draft is None:
            return (dbc.Alert("There is no draft to publish: save one first.",
                              color="warning"), dash.no_update, True, "Publish the draft")
        published = scoped.publish_definition(kpi_id, draft.version)
        return (dbc.Alert(f"Published version {published.version}: the flight deck shows "
                          "it now.", color="success"), history(kpi_id), True,
                "Publish the draft")
    except CatalogueError as error:
        return _problems(error), dash.no_update, dash.no_update, dash.no_update
    except AccessDenied as refusal:
        return dbc.Alert(str(refusal), color="danger"), dash.no_update, dash.no_update, \
            dash.no_update
    except KeyError as exc:
        return dbc.Alert(f"Unknown KPI: {exc.args[0]}", color="warning"), dash.no_update, \
            dash.no_update, dash.no_update

"""Plain-English summaries of one KPI, area and period, for captions, alt text and papers.

:func:`summarise` turns one row of :func:`kpis.engine.measures.flight_deck_table` into one or two
sentences built only from the row's numbers: the value and period, the change on the
same period a year earlier, the SPC signal in words, the assurance against any target,
and the position against England and Wales, the peer group and the other forces. For
example::

    Kent: Suspect arrested or interviewed within 30 days was 62.5% (625 of 1,000) in
    September 2025, up 3.1 percentage points on September 2024 (59.4%). This is special
    cause improvement (a run of points above the centre line); it is higher than England
    and Wales (58.0%) and lower than the region, South East (63.0%), ranked 5th of 43
    forces (1st is best).

A row whose figure is withheld by disclosure control says so and prints none of its
numbers; a comparator that is withheld reads "[c]".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pandas as pd

from kpis.domain.catalogue import KpiDefinition
from kpis.domain.formatting import (
    as_date,
    format_change,
    format_number,
    format_period,
    format_value,
    is_finite_number,
    is_missing,
    ordinal,
)
from kpis.domain.periods import add_months
from kpis.domain.vocabulary import (
    ASSURANCE_PHRASE,
    LIMIT_STATE_PHRASE,
    PROVISIONAL_NOTE,
    RULES,
    SERIES_WITHHELD_NOTE,
    SPC_BASIS_PHRASE,
    SUPPRESSED_LABEL,
    SUPPRESSED_REASON,
    VARIATION_PHRASE,
    parse_parts,
    rule_phrases,
)
from kpis.engine.dataset import Dataset
from kpis.settings import NATIONAL_NAME, NATIONAL_SLUG

__all__ = [
    "format_change",
    "format_period",
    "format_value",
    "is_incomplete",
    "limits_phrase",
    "rule_words",
    "summarise",
]

def _get(row: Mapping[str, Any], key: str) -> Any:
    value = row.get(key) if hasattr(row, "get") else None
    return None if is_missing(value) else value


def _comparison(kpi: KpiDefinition, value: float, other: Any, hidden: bool) -> str:
    """'higher than', 'lower than' or 'the same as' (as displayed), or '' if unknown."""
    if hidden or not is_finite_number(other):
        return ""
    shown, other_shown = format_value(kpi, value), format_value(kpi, other)
    if shown == other_shown:
        return "the same as"
    return "higher than" if value > float(other) else "lower than"


def _shown(kpi: KpiDefinition, value: Any, hidden: bool) -> str:
    return SUPPRESSED_LABEL if hidden else format_value(kpi, value)


def is_incomplete(row: Mapping[str, Any], column: str = "complete") -> bool:
    """Is the row's period (or a comparator's, ``national_complete``) incomplete?

    Only an explicit False (or 0, as numpy and CSV give it) counts: a row without the
    column says nothing about completeness.
    """
    value = _get(row, column)
    return value is not None and not bool(value)


def _partial(row: Mapping[str, Any], which: str) -> str:
    """'; incomplete, 1 of 43 forces' for a comparator whose period is incomplete."""
    if not is_incomplete(row, f"{which}_complete"):
        return ""
    reporting, members = _get(row, f"{which}_reporting"), _get(row, f"{which}_in_area")
    if not (is_finite_number(reporting) and is_finite_number(members)):
        return ""
    return f"; incomplete, {int(reporting)} of {int(members)} forces"


def _position(ds: Dataset, kpi: KpiDefinition, row: Mapping[str, Any], value: float) -> str:
    """'it is higher than England and Wales (58.0%) and ..., ranked 5th of 43 forces'.

    A count is compared per its base (its comparison columns), never as a raw count:
    'per 100,000 people (6.4) it is lower than England and Wales (8.4) ..., ranked 5th
    of 43 forces (1st is best)'.
    """
    area = str(_get(row, "area") or "")
    parts = parse_parts(_get(row, "suppressed_parts"))
    per_head = kpi.compared_as_rate
    # A rate's basis is said once, at the start: '(12.8)', not '(12.8 per 100 ...)'.
    shown_kpi = replace(kpi, unit="ratio") if per_head else kpi
    suffix = "comparison" if per_head else "value"
    if per_head:
        own = _get(row, "comparison")
        if not is_finite_number(own):
            return ""
        value = float(own)
    clauses = []
    if area != NATIONAL_SLUG:
        national = _get(row, f"national_{suffix}")
        hidden = "national" in parts
        relation = _comparison(shown_kpi, value, national, hidden)
        if relation:
            clauses.append(f"{relation} {NATIONAL_NAME} ({format_value(shown_kpi, national)}"
                           f"{_partial(row, 'national')})")
        elif hidden:
            clauses.append(f"compared with {NATIONAL_NAME} ({SUPPRESSED_LABEL})")
    peer_group = _get(row, "peer_group")
    if peer_group:
        peer = _get(row, f"peer_{suffix}")
        hidden = "peer" in parts
        name = ds.area_names.get(str(peer_group), str(peer_group))
        relation = _comparison(shown_kpi, value, peer, hidden)
        # A region is "the region"; "peer group" is kept for a most-similar group.
        kind = "the region" if ds.area_kinds.get(str(peer_group)) == "region" else (
            "its peer group")
        if relation:
            clauses.append(f"{relation} {kind}, {name} ({format_value(shown_kpi, peer)}"
                           f"{_partial(row, 'peer')})")
        elif hidden:
            clauses.append(f"compared with {kind}, {name} ({SUPPRESSED_LABEL})")
    text = ""
    if clauses:
        text = "it is " + " and ".join(clauses)
        if per_head:
            text = f"{kpi.comparison_basis} ({format_value(shown_kpi, value)}) {text}"
    rank, ranked = _get(row, "rank"), _get(row, "ranked_forces")
    if is_finite_number(rank) and is_finite_number(ranked):
        basis = f" {kpi.comparison_basis}" if per_head and not text else ""
        ranking = f"ranked {ordinal(int(rank))} of {int(ranked)} forces{basis} (1st is best)"
        text = f"{text}, {ranking}" if text else f"it is {ranking}"
    return text


def limits_phrase(kpi: KpiDefinition, row: Mapping[str, Any]) -> str:
    """Where a point's SPC limits come from, in words ('' when SPC was not computed).

    'Limits from 52 points, June 2021 to September 2025 (re-based at NOM adoption)',
    'Trial limits from 17 points, ...', or 'Not enough data for SPC (12 points)'.
    """
    state = _get(row, "spc_limits")
    if state not in LIMIT_STATE_PHRASE:
        return ""
    points = _get(row, "spc_points")
    count = f"{int(points)} point{'s' if int(points) != 1 else ''}" if is_finite_number(
        points) else "no points"
    if state == "too_few":
        return f"{LIMIT_STATE_PHRASE[state]} ({count})"
    text = f"{LIMIT_STATE_PHRASE[state]} from {count}"
    first, last = _get(row, "spc_from"), _get(row, "spc_to")
    if first is not None and last is not None:
        text += f", {format_period(kpi, first)} to {format_period(kpi, last)}"
    basis = _get(row, "spc_basis")
    if basis in SPC_BASIS_PHRASE:
        text += f" ({SPC_BASIS_PHRASE[basis]})"
    return text


def _signal(kpi: KpiDefinition, row: Mapping[str, Any]) -> str:
    """'This is special cause concern (a point outside the process limits)' or ''.

    Without limits (too few points) it says so; with trial limits it says that too.
    """
    variation = _get(row, "variation")
    if "spc" in parse_parts(_get(row, "suppressed_parts")):
        return f"Its SPC signals are {SERIES_WITHHELD_NOTE} ({SUPPRESSED_LABEL})"
    if _get(row, "spc_limits") == "too_few":
        return limits_phrase(kpi, row)
    if variation not in VARIATION_PHRASE:
        return ""
    text = f"This is {VARIATION_PHRASE[variation].lower()}"
    rules = rule_phrases(_get(row, "spc_rule"))
    if variation != "common" and rules:
        text += f" ({'; '.join(rules)})"
    if _get(row, "spc_limits") == "trial":
        text += " against trial limits"
    assurance = _get(row, "assurance")
    if assurance in ASSURANCE_PHRASE and kpi.target is not None:
        text += (f"; the process is {ASSURANCE_PHRASE[assurance].lower()} of "
                 f"{format_value(kpi, kpi.target)}")
    return text


_COUNT_WORDS = {2: "two", 3: "three", 6: "six", 7: "seven", 8: "eight"}


def rule_words(kpi: KpiDefinition, row: Mapping[str, Any]) -> list[str]:
    """The special-cause rules of a row in plain words, on the side its point lies:
    'seven months in a row above the average', 'two of three months close to the
    upper limit' (the rule's phrase when the side is not known)."""
    codes = [c for c in str(_get(row, "spc_rule") or "").split(",") if c]
    value, mean = _get(row, "value"), _get(row, "spc_mean")
    if not (is_finite_number(value) and is_finite_number(mean)) or value == mean:
        return rule_phrases(",".join(codes))
    high = float(value) > float(mean)
    unit = "month" if kpi.periodicity == "monthly" else "quarter"
    run = _COUNT_WORDS.get(kpi.spc_run_length, str(kpi.spc_run_length))
    words = {
        "outside": f"a {unit} {'above the upper' if high else 'below the lower'} limit",
        "shift": f"{run} {unit}s in a row {'above' if high else 'below'} the average",
        "trend": f"{run} {unit}s in a row {'rising' if high else 'falling'}",
        "two_of_three": f"two of three {unit}s close to the {'upper' if high else 'lower'} "
                        "limit",
    }
    return [words[rule] for rule in RULES if rule in codes]


def _change(kpi: KpiDefinition, row: Mapping[str, Any], period: Any) -> str:
    """', up 3.1 percentage points on September 2024 (59.4%)' or similar."""
    year_ago = format_period(kpi, add_months(as_date(period), -12))
    parts = parse_parts(_get(row, "suppressed_parts"))
    if "prior" in parts:
        return f"; the figure for {year_ago} is withheld ({SUPPRESSED_LABEL})"
    if "spc" in parts:
        return f"; the change on {year_ago} is withheld ({SUPPRESSED_LABEL})"
    prior, change = _get(row, "prior_value"), _get(row, "change")
    if not is_finite_number(prior) or not is_finite_number(change):
        return f"; there is no figure for {year_ago} to compare with"
    shown = format_change(kpi, change)
    prior_text = format_value(kpi, prior)
    if shown == "no change":
        return f", unchanged from {year_ago} ({prior_text})"
    direction = "up" if float(change) > 0 else "down"
    return f", {direction} {shown[1:]} on {year_ago} ({prior_text})"


def _coverage(row: Mapping[str, Any]) -> str:
    reporting, members = _get(row, "forces_reporting"), _get(row, "forces_in_area")
    if (is_finite_number(reporting) and is_finite_number(members) and int(members) > 1
            and int(reporting) < int(members)):
        incomplete = "; incomplete" if is_incomplete(row) else ""
        return f" ({int(reporting)} of {int(members)} forces reporting{incomplete})"
    return ""


def summarise(ds: Dataset, row: Mapping[str, Any], area_name: str | None = None) -> str:
    """One or two plain-English sentences about one row of ``flight_deck_table``.

    ``area_name`` overrides the area's name from the dataset.
    """
    kpi = ds.kpis[str(row["kpi"])]
    area = str(row["area"])
    name = area_name or ds.area_names.get(area, area)
    period = row["period_start"]
    when = format_period(kpi, period)
    if bool(_get(row, "suppressed")):
        return (f"{name}, {kpi.title}, {when}: the figure is suppressed to protect victims: "
                f"{SUPPRESSED_REASON}.")
    value = _get(row, "value")
    if not is_finite_number(value):
        return f"{name}, {kpi.title}, {when}: there is no figure for this period."
    value = float(value)
    detail = ""
    numerator, denominator = _get(row, "numerator"), _get(row, "denominator")
    if kpi.unit == "percent" and is_finite_number(numerator) and is_finite_number(denominator):
        detail = f" ({format_number(float(numerator))} of {format_number(float(denominator))})"
    provisional = f" ({PROVISIONAL_NOTE})" if bool(_get(row, "provisional")) else ""
    first = (f"{name}: {kpi.title} was {format_value(kpi, value)}{detail} in {when}"
             f"{provisional}{_coverage(row)}{_change(kpi, row, period)}.")
    signal = _signal(kpi, row)
    position = _position(ds, kpi, row, value)
    if signal and position:
        return f"{first} {signal}; {position}."
    if signal or position:
        second = signal or position[0].upper() + position[1:]
        return f"{first} {second}."
    return first


def funnel_summary(kpi: KpiDefinition, points: pd.DataFrame, centre: float,
                   period: Any) -> str:
    """A funnel plot in words: how many forces lie outside the 95% limits, and when."""
    outside = points[points["position"] != "inside"]
    return (f"Funnel plot for {format_period(kpi, period)}: {len(outside)} of {len(points)} "
            f"forces lie outside the 95% limits around England and Wales "
            f"({format_value(kpi, centre)}).")


def ranking_summary(kpi: KpiDefinition, rows: pd.DataFrame, national: float) -> str:
    """Ranked bars in words: the first and last force, and England and Wales."""
    best, worst = rows.iloc[0], rows.iloc[-1]
    order = "ranked" if kpi.polarity != "neutral" else "in order of value"
    return (f"{len(rows)} forces {order}: {best['name']} "
            f"{format_value(kpi, best['value'])} to {worst['name']} "
            f"{format_value(kpi, worst['value'])}; England and Wales "
            f"{format_value(kpi, national)}.")

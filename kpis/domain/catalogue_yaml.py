"""The catalogue written back as YAML: the import and export format of the definitions.

The database is the source of truth for what is published (definitions edited in the
dashboard land there); ``flightdeck catalogue export`` writes it out with
:func:`dump_catalogue` in the layout of ``data/catalogue.yaml``, and reading that text
back (:func:`kpis.domain.catalogue.parse_catalogue`) gives an equal catalogue: the round
trip is lossless. Only what the file can say is written: a default (a KPI's run length
of 7, a measure that is not a stock) is left out, as a person would leave it out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml

from kpis.domain.catalogue import DEFAULT_PER, POPULATION_BASE, Catalogue, KpiDefinition, Measure

__all__ = ["HEADER", "dump_catalogue", "kpi_entry"]

HEADER = """\
# NOM flight deck KPI catalogue, exported from the database by
#   flightdeck catalogue export
# Load it back with `flightdeck catalogue load --file FILE`. The fields are described at
# the top of data/catalogue.yaml.
"""


def _measure_entry(measure: Measure) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": measure.measure_id, "title": measure.title,
                             "source": measure.source, "unit": measure.unit,
                             "periodicity": measure.periodicity}
    if measure.stock:
        entry["stock"] = True
    if measure.missing != "gap":
        entry["missing"] = measure.missing
    return entry


def _number(value: float) -> int | float:
    """A whole number as an int (a target of 10 days, not 10.0)."""
    return int(value) if float(value).is_integer() and abs(value) >= 1 else float(value)


def kpi_entry(kpi: KpiDefinition) -> dict[str, Any]:
    """One KPI version as the catalogue file writes it."""
    entry: dict[str, Any] = {
        "id": kpi.kpi_id, "version": kpi.version, "status": kpi.status, "title": kpi.title,
        "pillar": kpi.pillar, "description": kpi.description,
        "numerator": list(kpi.numerator),
    }
    if kpi.denominator:
        entry["denominator"] = list(kpi.denominator)
    entry.update(unit=kpi.unit, polarity=kpi.polarity)
    if kpi.target is not None:
        entry["target"] = _number(kpi.target)
    entry["periodicity"] = kpi.periodicity
    if kpi.spc_run_length != 7:
        entry["spc_run_length"] = kpi.spc_run_length
    if kpi.spc_baseline_points is not None:
        entry["spc_baseline_points"] = kpi.spc_baseline_points
    if kpi.unit == "count":
        if kpi.comparison_base != POPULATION_BASE:
            entry["comparison_base"] = kpi.comparison_base
        if kpi.comparison_per != DEFAULT_PER.get(kpi.comparison_base, 100):
            entry["comparison_per"] = kpi.comparison_per
    if kpi.provisional is not None:
        entry["provisional"] = {"pending": kpi.provisional.pending,
                                "of": kpi.provisional.total,
                                "above": kpi.provisional.above}
    entry.update(source=kpi.source, effective_from=kpi.effective_from)
    if kpi.recommendations:
        entry["recommendations"] = list(kpi.recommendations)
    return entry


class _Dumper(yaml.SafeDumper):
    """Block style, long text folded at spaces, dates as YYYY-MM-DD."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = ">" if len(value) > 80 and "\n" not in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _date(dumper: yaml.SafeDumper, value: dt.date) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:timestamp", value.isoformat())


_Dumper.add_representer(str, _text)
_Dumper.add_representer(dt.date, _date)


def dump_catalogue(catalogue: Catalogue,
                   kpi_entries: list[dict[str, Any]] | None = None) -> str:
    """The whole catalogue (every version of every KPI, drafts included) as YAML;
    ``kpi_entries`` (as :func:`kpi_entry` makes them) in place of its KPIs."""
    data: dict[str, Any] = {
        "catalogue_version": catalogue.version,
        "plausibility": catalogue.plausibility.as_entry(),
        "pillars": [{"number": p.number, "name": p.name} for p in catalogue.pillars],
        "recommendations": [{"id": r.rec_id, "deadline": r.deadline, "title": r.title}
                            for r in catalogue.recommendations],
        "measures": [_measure_entry(m) for m in catalogue.measures],
        "kpis": kpi_entries if kpi_entries is not None else [
            kpi_entry(k) for k in sorted(catalogue.kpis, key=lambda k: k.position)],
    }
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=92,
                     default_flow_style=False)
    return HEADER + "\n" + body

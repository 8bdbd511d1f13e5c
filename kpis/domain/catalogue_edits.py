"""Editing a KPI definition in the dashboard: a new draft version, checked by the same
rules as the catalogue file, then published.

An edit never changes a version in place once it is published: editing a KPI whose
latest version is published makes version N+1 as a draft; editing again changes that
draft. Publishing makes the draft the version in force (the flight deck shows the
latest published version of each KPI). Each step returns a whole new catalogue, which
is checked by writing it as YAML and reading it back with
:func:`kpis.domain.catalogue.parse_catalogue`, so the dashboard cannot publish what
``flightdeck catalogue load`` would refuse.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from kpis.domain.catalogue import Catalogue, CatalogueError, KpiDefinition, Problem, parse_catalogue
from kpis.domain.catalogue_yaml import dump_catalogue, kpi_entry

__all__ = ["EDITABLE_FIELDS", "draft_version", "edited_catalogue", "latest_version",
           "published_catalogue", "version_changes"]

#: What the dashboard's form may change, as the catalogue file names it.
EDITABLE_FIELDS: tuple[str, ...] = ("title", "description", "numerator", "denominator",
                                    "target", "polarity", "spc_run_length", "source",
                                    "effective_from")
EDIT_SOURCE = "the dashboard's edit"
_LIST = re.compile(r"[,\s]+")


def latest_version(catalogue: Catalogue, kpi_id: str) -> KpiDefinition:
    versions = [k for k in catalogue.kpis if k.kpi_id == kpi_id]
    if not versions:
        raise KeyError(f"unknown KPI: {kpi_id}")
    return max(versions, key=lambda k: k.version)


def draft_version(catalogue: Catalogue, kpi_id: str) -> KpiDefinition | None:
    """The KPI's draft waiting to be published, if its latest version is one."""
    latest = latest_version(catalogue, kpi_id)
    return latest if latest.status == "draft" else None


def _clean(field: str, value: Any) -> Any:
    """A form's value as the catalogue file would hold it."""
    if field in ("numerator", "denominator"):
        if isinstance(value, str):
            value = [part for part in _LIST.split(value) if part]
        return list(value or [])
    if field == "target":
        if value in (None, ""):
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            return value  # the parser names the problem
    if field == "spc_run_length":
        try:
            return int(value)
        except (TypeError, ValueError):
            return value
    if field == "effective_from" and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    return value.strip() if isinstance(value, str) else value


def _rebuilt(catalogue: Catalogue, entries: list[dict[str, Any]]) -> Catalogue:
    """``catalogue`` with its KPI entries replaced, checked as the file is."""
    return parse_catalogue(dump_catalogue(catalogue, entries), file_name=EDIT_SOURCE)


def edited_catalogue(catalogue: Catalogue, kpi_id: str, changes: Mapping[str, Any],
                     today: dt.date) -> tuple[Catalogue, KpiDefinition]:
    """The catalogue with ``changes`` saved as the KPI's draft, and that draft.

    Raises KeyError for an unknown KPI, and :class:`CatalogueError` (every problem, as
    ``flightdeck catalogue check`` words it) for changes the file's rules refuse.
    """
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise CatalogueError([Problem(EDIT_SOURCE, kpi_id, field, changes[field],
                                      "cannot be changed here") for field in unknown])
    latest = latest_version(catalogue, kpi_id)
    entry = kpi_entry(latest)
    if latest.status == "published":
        entry["version"] = latest.version + 1
        entry["status"] = "draft"
        entry["effective_from"] = today.replace(day=1)
    for field, value in changes.items():
        value = _clean(field, value)
        if field == "denominator" and not value:
            entry.pop("denominator", None)
        elif field == "target" and value is None:
            entry.pop("target", None)
        else:
            entry[field] = value
    entries = []
    for kpi in sorted(catalogue.kpis, key=lambda k: k.position):
        if kpi.kpi_id == kpi_id and kpi.version == latest.version and latest.status == "draft":
            entries.append(entry)  # the draft, edited again
            continue
        entries.append(kpi_entry(kpi))
        if kpi.kpi_id == kpi_id and kpi.version == latest.version:
            entries.append(entry)  # the new draft, beside the version it revises
    rebuilt = _rebuilt(catalogue, entries)
    return rebuilt, latest_version(rebuilt, kpi_id)


def published_catalogue(catalogue: Catalogue, kpi_id: str, version: int
                        ) -> tuple[Catalogue, KpiDefinition]:
    """The catalogue with the KPI's draft ``version`` published."""
    draft = draft_version(catalogue, kpi_id)
    if draft is None or draft.version != version:
        raise CatalogueError([Problem(EDIT_SOURCE, kpi_id, "version", version,
                                      "is not the KPI's draft waiting to be published")])
    entries = []
    for kpi in sorted(catalogue.kpis, key=lambda k: k.position):
        entry = kpi_entry(kpi)
        if kpi.kpi_id == kpi_id and kpi.version == version:
            entry["status"] = "published"
        entries.append(entry)
    rebuilt = _rebuilt(catalogue, entries)
    return rebuilt, latest_version(rebuilt, kpi_id)


def version_changes(old: KpiDefinition | None, new: KpiDefinition) -> list[tuple[str, str, str]]:
    """(field, before, after) for each field the file would show differently."""
    before = kpi_entry(old) if old is not None else {}
    after = kpi_entry(new)
    changed = []
    for field in after.keys() | before.keys():
        if field in ("version", "status"):
            continue
        if before.get(field) != after.get(field):
            changed.append((field, _shown(before.get(field)), _shown(after.get(field))))
    order = {f: i for i, f in enumerate(after)}
    return sorted(changed, key=lambda c: order.get(c[0], len(order)))


def _shown(value: Any) -> str:
    if value is None:
        return "\u2014"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)

"""The KPI table of ``flightdeck kpis``: one row per KPI, force (or area) and period.

:func:`kpi_table_for_cli` shapes :func:`kpis.engine.measures.flight_deck_table` for export and
:func:`write_table` writes it as CSV or JSON. Conventions:

* ``force`` is the area id: a force slug, ``england-and-wales`` or a peer group id;
* ``period_start`` is ``YYYY-MM-DD`` (the first day of the month or quarter);
* a share or rate is a fraction (0.025, shown elsewhere as 2.5%); counts are whole
  numbers where they are whole;
* ``spc_rule`` is the rule(s) that fired, comma separated, empty if none; ``variation`` is
  one of common, improvement, concern, neither (empty: not assessed); ``assurance`` is
  pass, fail, hit_and_miss or empty. SPC is computed on each whole series and then cut
  to the periods selected, with the baseline asked for (``nom``, the dashboard's, by
  default): ``spc_limits`` (limits, trial, too_few), ``spc_points``, ``spc_from`` and
  ``spc_to`` (the baseline's first and last period) and ``spc_basis`` say where the
  limits come from (docs/spc.md);
* ``complete`` is false for an aggregate period missing a force that reported in the
  year before; ``national_complete``/``national_reporting`` and
  ``peer_complete``/``peer_reporting``/``peer_in_area`` say the same of the comparators;
* ``provisional`` is true for a recorded-basis Home Office value while many of its
  quarter's outcomes are unassigned (and in the latest quarter published): it takes no
  part in SPC;
* with ``suppress``, a withheld cell is empty in CSV and null in JSON, never 0;
  ``suppressed`` is true when the row's own figure is withheld and ``suppressed_parts``
  names every part withheld on the row (value, rolling, prior, national, peer).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, TextIO

import numpy as np
import pandas as pd

from kpis.engine.dataset import Dataset
from kpis.engine.disclosure import DEFAULT_THRESHOLD
from kpis.engine.kpi_spc import DEFAULT_BASELINE, Baseline, SpcOptions
from kpis.engine.measures import flight_deck_table
from kpis.exports.render import neutralise

__all__ = ["CLI_COLUMNS", "FORMATS", "kpi_table_for_cli", "write_table"]

FORMATS = ("csv", "json")

#: Columns of the CLI table, in order.
CLI_COLUMNS: tuple[str, ...] = (
    "kpi", "force", "period_start", "unit", "numerator", "denominator", "value",
    "rolling_numerator", "rolling_denominator", "rolling_value", "prior_value", "change",
    "national_value", "peer_group", "peer_value", "rank", "ranked_forces",
    "spc_mean", "spc_lower", "spc_upper", "spc_rule", "variation", "assurance",
    "suppressed", "suppressed_parts", "forces_reporting", "forces_in_area",
    "spc_limits", "spc_points", "spc_from", "spc_to", "spc_basis", "complete",
    "national_complete", "national_reporting", "peer_complete", "peer_reporting",
    "peer_in_area", "provisional",
)

# Columns that hold counts: written as whole numbers when every value in them is whole.
_WHOLE_WHEN_POSSIBLE = ("numerator", "denominator", "rolling_numerator",
                        "rolling_denominator", "rank", "ranked_forces", "forces_reporting",
                        "forces_in_area", "spc_points", "national_reporting",
                        "peer_reporting", "peer_in_area")
_TEXT = ("kpi", "force", "period_start", "unit", "peer_group", "spc_rule", "variation",
         "assurance", "suppressed_parts", "spc_limits", "spc_basis")
_DATES = ("spc_from", "spc_to")
_FLAGS = ("complete", "national_complete", "peer_complete", "provisional")


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def kpi_table_for_cli(
    ds: Dataset,
    kpi_ids: Sequence[str] | None = None,
    areas: Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    suppress: bool = False,
    fmt: str = "csv",
    threshold: int = DEFAULT_THRESHOLD,
    baseline: Baseline = DEFAULT_BASELINE,
) -> pd.DataFrame:
    """The CLI table (:data:`CLI_COLUMNS`) for the KPIs, areas and periods asked for.

    None means every published KPI, every area (forces, England and Wales, peer groups)
    and the whole period. ``fmt`` ("csv" or "json") is checked here so that a bad format
    fails before any work. Raises KeyError for an unknown KPI or area.
    """
    _check_format(fmt)
    table = flight_deck_table(ds, kpi_ids, areas, start, end, suppress=suppress,
                              threshold=threshold, spc=SpcOptions(baseline=baseline))
    units = {kpi_id: kpi.unit for kpi_id, kpi in ds.kpis.items()}
    out = pd.DataFrame({
        "kpi": table["kpi"].astype(object),
        "force": table["area"].astype(object),
        "period_start": table["period_start"].dt.strftime("%Y-%m-%d").astype(object),
        "unit": table["kpi"].map(units).astype(object),
    })
    for name in CLI_COLUMNS:
        if name in out:
            continue
        column = table[name]
        if name in _WHOLE_WHEN_POSSIBLE:
            values = column.to_numpy(dtype=float)
            finite = values[~np.isnan(values)]
            if np.array_equal(finite, np.round(finite)):
                column = column.astype("Int64")
        elif name in _TEXT:
            column = column.astype(object).where(column.notna(), None)
        elif name in _DATES:
            column = column.dt.strftime("%Y-%m-%d").astype(object).where(column.notna(), None)
        elif name in _FLAGS:
            column = column.astype(bool)
        out[name] = column
    out["spc_rule"] = out["spc_rule"].where(out["spc_rule"].notna(), "")
    out["suppressed"] = table["suppressed"].astype(bool)
    return out.reset_index(drop=True)


def _json_column(column: pd.Series) -> list[Any]:
    """A column as plain Python values for ``json``: None for missing, never NaN."""
    if column.dtype == bool:
        return column.tolist()
    if column.dtype.kind == "f":
        values = column.to_numpy()
        return np.where(np.isnan(values), None, values).tolist()
    return column.astype(object).where(column.notna(), None).tolist()


def write_table(table: pd.DataFrame, stream: TextIO, fmt: str = "csv") -> None:
    """Write a :func:`kpi_table_for_cli` table to a text stream as CSV or JSON.

    CSV: a header row, then one line per row; missing and withheld cells are empty;
    ``suppressed`` is ``true``/``false``. JSON: an array of objects, one per row, with
    null for missing and withheld cells.
    """
    _check_format(fmt)
    if fmt == "csv":
        frame = table.copy()
        for name in ("suppressed", *_FLAGS):
            if name in frame:
                frame[name] = np.where(frame[name].astype(bool), "true", "false")
        # Text cells (peer group ids come from analysts' files) must not run as
        # spreadsheet formulas; numbers are written as numbers.
        for name in frame.columns:
            if frame[name].dtype.kind not in "fiubMm":
                frame[name] = frame[name].map(lambda v: v if pd.isna(v) else neutralise(v))
        frame.to_csv(stream, index=False, lineterminator="\n")
        return
    names = list(table.columns)
    columns = [_json_column(table[name]) for name in names]
    encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
    stream.write("[")
    for i, row in enumerate(zip(*columns, strict=True)):
        stream.write(",\n" if i else "\n")
        stream.write(encode(dict(zip(names, row, strict=True))))
    stream.write("\n]\n" if len(table) else "]\n")

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
  names every part withheld on the row (value, rolling, prior, national, peer);
* given a ``marking``, every row ends with ``marking`` and ``data_label`` (``DEMONSTRATION
  DATA`` for demonstration data, else empty: :mod:`kpis.exports.data_files`). The CSV
  has one header row and no comment lines; :func:`write_xlsx` writes the same table as
  an XLSX with a Notes sheet.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, BinaryIO, TextIO

import numpy as np
import pandas as pd

from kpis.domain.vocabulary import DEMO_LABEL
from kpis.engine.dataset import Dataset
from kpis.engine.disclosure import DEFAULT_THRESHOLD, disclosure_note, open_data_only
from kpis.engine.kpi_spc import DEFAULT_BASELINE, Baseline, SpcOptions
from kpis.engine.measures import flight_deck_table
from kpis.exports.data_files import LABEL_COLUMNS, Notes, labels, xlsx_bytes
from kpis.exports.render import neutralise

__all__ = ["CLI_COLUMNS", "FORMATS", "LABEL_COLUMNS", "kpi_table_for_cli", "table_notes",
           "write_table", "write_xlsx"]

FORMATS = ("csv", "json", "xlsx")
TITLE = "NOM flight deck KPIs"

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
    marking: str | None = None,
) -> pd.DataFrame:
    """The CLI table (:data:`CLI_COLUMNS`) for the KPIs, areas and periods asked for.

    None means every published KPI, every area (forces, England and Wales, peer groups)
    and the whole period. ``fmt`` ("csv", "json" or "xlsx") is checked here so that a
    bad format fails before any work. ``marking``: the file's protective marking, put
    on every row with the data label (:data:`LABEL_COLUMNS`); None leaves them out.
    Raises KeyError for an unknown KPI or area.
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
    if marking is not None:
        for name, value in labels(marking, ds.is_demo).items():
            out[name] = value
    return out.reset_index(drop=True)


def table_notes(ds: Dataset, table: pd.DataFrame, marking: str, suppressed: bool,
                kpi_ids: Sequence[str] | None = None) -> Notes:
    """The Notes sheet of a KPI table's XLSX: what it is, its sources, marking,
    demonstration label, disclosure control, its columns and the KPIs' definitions."""
    chosen = [ds.kpis[k] for k in (kpi_ids if kpi_ids is not None else ds.kpis)]
    sources = list(dict.fromkeys(kpi.source for kpi in chosen))
    about = [("Title", TITLE), ("Source", "; ".join(sources)),
             ("Protective marking", marking)]
    if ds.is_demo:
        about.append(("Demonstration data", DEMO_LABEL))
    about.append(("Disclosure control", disclosure_note(
        suppressed, open_data_only(ds.catalogue, chosen), marking)))
    return Notes(about, [str(c) for c in table.columns],
                 [(kpi.kpi_id, f"{kpi.title}: {kpi.description} Source: {kpi.source}.")
                  for kpi in chosen])


def write_xlsx(table: pd.DataFrame, stream: BinaryIO, notes: Notes) -> None:
    """Write a :func:`kpi_table_for_cli` table as an XLSX: the Data sheet (one header
    row, empty cells where missing or withheld) and the Notes sheet."""
    stream.write(xlsx_bytes(table, notes))


def _neutralised(column: pd.Series) -> pd.Series:
    """A text column with every formula-like cell neutralised: each distinct value is
    checked once (area ids, units and labels repeat on every row)."""
    changed = {value: neutralise(value) for value in column.dropna().unique()}
    changed = {old: new for old, new in changed.items() if old != new}
    return column.replace(changed) if changed else column


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
    if fmt == "xlsx":
        raise ValueError("an XLSX is binary: write it with write_xlsx")
    if fmt == "csv":
        frame = table.copy()
        for name in ("suppressed", *_FLAGS):
            if name in frame:
                frame[name] = np.where(frame[name].astype(bool), "true", "false")
        # Text cells (peer group ids come from analysts' files) must not run as
        # spreadsheet formulas; numbers are written as numbers.
        for name in frame.columns:
            if frame[name].dtype.kind not in "fiubMm":
                frame[name] = _neutralised(frame[name])
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

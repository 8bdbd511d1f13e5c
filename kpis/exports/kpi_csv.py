"""The KPI table of ``flightdeck kpis``: one row per KPI, force (or area) and period.

:func:`kpi_table_for_cli` shapes :func:`kpis.engine.measures.flight_deck_table` for export,
:func:`write_csv` writes it to a CSV file (through DuckDB: the whole catalogue is some
45 MB) and :func:`write_table` to a text stream as CSV or JSON. Conventions:

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
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
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
           "write_csv", "write_table", "write_xlsx"]

FORMATS = ("csv", "json", "xlsx")
_COPY_CHUNK = 1 << 20
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
_ALL_FLAGS = ("suppressed", *_FLAGS)


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

    Text and dates are object columns (None where missing), counts ``Int64`` where
    every value is whole, flags ``bool``.
    """
    _check_format(fmt)
    table = flight_deck_table(ds, kpi_ids, areas, start, end, suppress=suppress,
                              threshold=threshold, spc=SpcOptions(baseline=baseline))
    units = {kpi_id: kpi.unit for kpi_id, kpi in ds.kpis.items()}
    out: dict[str, Any] = {
        "kpi": _text(table["kpi"]),
        "force": _text(table["area"]),
        "period_start": _dates(table["period_start"]),
        "unit": _text(table["kpi"], units),
    }
    for name in CLI_COLUMNS:
        if name in out:
            continue
        column = table[name]
        if name in _WHOLE_WHEN_POSSIBLE:
            out[name] = _whole_if_possible(column)
        elif name in _TEXT:
            out[name] = _text(column)
        elif name in _DATES:
            out[name] = _dates(column)
        elif name in _ALL_FLAGS:
            out[name] = column.to_numpy(dtype=bool)
        else:
            out[name] = column.to_numpy()
    out["spc_rule"] = np.where(pd.isna(out["spc_rule"]), "", out["spc_rule"]).astype(object)
    if marking is not None:
        for name, value in labels(marking, ds.is_demo).items():
            out[name] = np.full(len(table), value, dtype=object)
    # Object arrays as object columns (pandas would infer its string dtype, a copy).
    return pd.DataFrame({name: pd.Series(values, dtype=object, copy=False)
                         if isinstance(values, np.ndarray) and values.dtype == object
                         else values for name, values in out.items()}, copy=False)


def _text(column: pd.Series, mapping: dict[str, str] | None = None) -> np.ndarray:
    """A text column as objects, None where missing (``mapping``: each value replaced by
    what it maps to, as ``Series.map`` would)."""
    if mapping is not None:
        codes, uniques = pd.factorize(column)  # missing: -1, the None at the end
        mapped = np.array([*(mapping.get(u) for u in uniques), None], dtype=object)
        return mapped.take(codes)
    return column.to_numpy(dtype=object, na_value=None)


def _dates(column: pd.Series) -> np.ndarray:
    """Dates as ``YYYY-MM-DD`` objects, None where missing: each distinct date is
    formatted once (a table repeats its few dozen months on every area and KPI)."""
    codes, uniques = pd.factorize(column)  # missing: -1, the None at the end
    texts = np.array([*pd.DatetimeIndex(uniques).strftime("%Y-%m-%d"), None], dtype=object)
    return texts.take(codes)


def _whole_if_possible(column: pd.Series) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """A count column as ``Int64`` (missing as NA) when every value in it is whole, else
    the floats as they are."""
    values = column.to_numpy(dtype=float)
    missing = np.isnan(values)
    finite = values[~missing]
    if not (np.isfinite(finite).all() and np.array_equal(finite, np.round(finite))):
        return values
    return pd.arrays.IntegerArray(np.where(missing, 0, values).astype(np.int64), missing)


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

    CSV (:func:`write_csv`, through a private temporary file): a header row, then one
    line per row; missing and withheld cells are empty; flags are ``true``/``false``.
    JSON: an array of objects, one per row, with null for missing and withheld cells.
    """
    _check_format(fmt)
    if fmt == "xlsx":
        raise ValueError("an XLSX is binary: write it with write_xlsx")
    if fmt == "csv":
        with tempfile.TemporaryDirectory(prefix="flightdeck-csv-") as folder:
            path = Path(folder) / "kpis.csv"
            write_csv(table, path)
            # newline="": the text as written (a quoted carriage return stays one).
            with open(path, encoding="utf-8", newline="") as written:
                shutil.copyfileobj(written, stream, _COPY_CHUNK)
        return
    names = list(table.columns)
    columns = [_json_column(table[name]) for name in names]
    encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
    stream.write("[")
    for i, row in enumerate(zip(*columns, strict=True)):
        stream.write(",\n" if i else "\n")
        stream.write(encode(dict(zip(names, row, strict=True))))
    stream.write("\n]\n" if len(table) else "]\n")


def write_csv(table: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a :func:`kpi_table_for_cli` table to the file at ``path`` as CSV (UTF-8).

    One header row (the column names), then one line per row, ``\\n`` after each;
    fields with a comma, a double quote or a line break are quoted, quotes doubled.
    Numbers are written as Python writes them (``repr``: the shortest text that reads
    back as the same float; counts in ``Int64`` columns as whole numbers), missing and
    withheld cells are empty, flags (bool columns) ``true``/``false``. Every other
    column is text, every cell of it neutralised (:func:`kpis.exports.render.neutralise`:
    text a spreadsheet would run as a formula gets a leading quote), an empty text
    empty. The file is created, or truncated and written in place (as ``open(path,
    "w")`` would: through a symbolic link, keeping an existing file's permissions).

    The file is written by one DuckDB ``COPY`` of the table (its text columns as
    dictionary codes: each distinct value is neutralised once, as a table repeats its
    area ids, units and labels on every row). DuckDB writes a double as ``repr`` does
    (checked on 12 million doubles of every magnitude, and by tests/test_kpi_csv.py).
    """
    import duckdb  # here: the JSON and XLSX writers do without it

    names = [str(name) for name in table.columns]
    frame = pd.DataFrame({
        f"c{i}": _csv_column(table[name].astype(bool) if name in _ALL_FLAGS else table[name])
        for i, name in enumerate(table.columns)}, copy=False)
    select = ", ".join(f"c{i} AS {_identifier(name)}" for i, name in enumerate(names))
    target = os.path.abspath(os.fspath(path))
    # One thread: on this project's 2-core machine DuckDB wrote this file faster on one
    # thread than on two (bench/bench_cli.py times the floor both ways).
    with duckdb.connect(":memory:", config={"threads": 1}) as con:
        con.register("kpi_table", frame)
        con.execute(f"COPY (SELECT {select} FROM kpi_table) TO {_literal(target)} "
                    "(FORMAT csv, HEADER, DELIMITER ',', QUOTE '\"', ESCAPE '\"', "
                    "NULLSTR '', NEW_LINE '\\n', COMPRESSION 'none', USE_TMP_FILE false)")


def _csv_column(column: pd.Series) -> Any:
    """A column as DuckDB should write it: numbers and flags as they are, text as a
    categorical of its distinct values, each neutralised once (empty text: missing)."""
    if column.dtype.kind in "biuf":
        return column
    codes, uniques = pd.factorize(column.to_numpy(dtype=object))  # missing: -1
    texts = np.array([*(neutralise(value) for value in uniques), ""], dtype=object)
    # Two values may neutralise to the same text ("=1+1" and "'=1+1"): one category.
    categories, position = np.unique(texts, return_inverse=True)
    position = np.where(texts == "", -1, position)  # empty text, as missing: no value
    return pd.Categorical.from_codes(position.take(codes), categories=categories)


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"

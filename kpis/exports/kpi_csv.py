"""The KPI table of ``flightdeck kpis``: one row per KPI, force (or area) and period.

:func:`kpi_table_for_cli` shapes :func:`kpis.engine.measures.flight_deck_table` for export,
:func:`write_csv` writes it to a CSV file (through DuckDB: the whole catalogue is some
45 MB) and :func:`write_table` to a text stream as CSV or JSON. ``flightdeck kpis --out``
writes the same bytes faster with :func:`prepare_csv`: the table in chunks of KPIs,
DuckDB writing chunks on two threads while the engine computes the next
(:func:`write_csv_chunks`; tests/test_kpi_csv_chunks.py compares the two byte for byte).
Conventions:

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

import collections
import datetime as dt
import itertools
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import numpy as np
import pandas as pd

from kpis.domain.vocabulary import DEMO_LABEL
from kpis.engine.dataset import Dataset
from kpis.engine.disclosure import DEFAULT_THRESHOLD, disclosure_note, open_data_only
from kpis.engine.kpi_spc import DEFAULT_BASELINE, Baseline, SpcOptions
from kpis.engine.measures import flight_deck_table
from kpis.exports.cells import neutralise
from kpis.exports.csv_files import (
    Part,
    PartFiles,
    append_part,
    copy_options,
    open_in_place,
    sql_identifier,
    sql_literal,
)
from kpis.exports.data_files import LABEL_COLUMNS, Notes, labels, xlsx_bytes

__all__ = ["CLI_COLUMNS", "FORMATS", "LABEL_COLUMNS", "PreparedCsv", "kpi_table_for_cli",
           "prepare_csv", "table_notes", "write_csv", "write_table", "write_xlsx"]

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
    return _cli_table(ds, kpi_ids, areas, start, end, suppress, fmt, threshold, baseline,
                      marking, coded=False)


def _cli_table(ds: Dataset, kpi_ids: Sequence[str] | None, areas: Sequence[str] | None,
               start: dt.date | None, end: dt.date | None, suppress: bool, fmt: str,
               threshold: int, baseline: Baseline, marking: str | None, coded: bool
               ) -> pd.DataFrame:
    """:func:`kpi_table_for_cli`; ``coded``: its text and date columns as Categoricals
    of the same texts (missing: no category), which :func:`write_csv` writes as it
    writes the object columns, without an object per row to make and hash again (the
    CSV of ``flightdeck kpis``: :func:`prepare_csv`)."""
    _check_format(fmt)
    table = flight_deck_table(ds, kpi_ids, areas, start, end, suppress=suppress,
                              threshold=threshold, spc=SpcOptions(baseline=baseline),
                              coded=coded)
    text, dates = (_coded_text, _coded_dates) if coded else (_text, _dates)
    units = {kpi_id: kpi.unit for kpi_id, kpi in ds.kpis.items()}
    out: dict[str, Any] = {
        "kpi": text(table["kpi"]),
        "force": text(table["area"]),
        "period_start": dates(table["period_start"]),
        "unit": text(table["kpi"], units),
    }
    for name in CLI_COLUMNS:
        if name in out:
            continue
        column = table[name]
        if name in _WHOLE_WHEN_POSSIBLE:
            out[name] = _whole_if_possible(column)
        elif name in _TEXT:
            out[name] = text(column)
        elif name in _DATES:
            out[name] = dates(column)
        elif name in _ALL_FLAGS:
            out[name] = column.to_numpy(dtype=bool)
        else:
            out[name] = column.to_numpy()
    if not coded:  # (in a CSV an empty text and a missing one are the same empty cell)
        out["spc_rule"] = np.where(pd.isna(out["spc_rule"]), "", out["spc_rule"]).astype(object)
    if marking is not None:
        for name, value in labels(marking, ds.is_demo).items():
            out[name] = (_categorical(np.zeros(len(table), dtype=np.intp), [value, None])
                         if coded else np.full(len(table), value, dtype=object))
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


def _categorical(codes: np.ndarray, values: Sequence[Any]) -> pd.Categorical:
    """Each row's value, ``values[code]`` (code -1: the last value, which is None), as a
    Categorical: equal values share one category, None is missing."""
    position, uniques = pd.factorize(np.array(values, dtype=object))  # None: -1
    return pd.Categorical.from_codes(position.take(codes), categories=uniques)


def _coded_text(column: pd.Series, mapping: dict[str, str] | None = None) -> pd.Categorical:
    """:func:`_text` as a Categorical (from the engine's Categorical: no hashing of rows)."""
    if mapping is None and isinstance(column.dtype, pd.CategoricalDtype):
        return column.array  # the engine's: distinct categories, missing -1
    codes, uniques = pd.factorize(column)  # missing: -1
    return _categorical(codes, [*(mapping.get(u) if mapping is not None else u
                                  for u in uniques), None])


def _coded_dates(column: pd.Series) -> pd.Categorical:
    """:func:`_dates` as a Categorical."""
    codes, uniques = pd.factorize(column)  # missing: -1
    return _categorical(codes, [*pd.DatetimeIndex(uniques).strftime("%Y-%m-%d"), None])


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
    column is text, every cell of it neutralised (:func:`kpis.exports.cells.neutralise`:
    text a spreadsheet would run as a formula gets a leading quote), an empty text
    empty. The file is created, or truncated and written in place (as ``open(path,
    "w")`` would: through a symbolic link, keeping an existing file's permissions).

    The file is written by one DuckDB ``COPY`` of the table (its text columns as
    dictionary codes: each distinct value is neutralised once, as a table repeats its
    area ids, units and labels on every row). DuckDB writes a double as ``repr`` does
    (checked on 12 million doubles of every magnitude, and by tests/test_kpi_csv.py).
    """
    import duckdb  # here: the JSON and XLSX writers do without it

    frame, select = _csv_frame(table)
    target = os.path.abspath(os.fspath(path))
    # One thread: on this project's 2-core machine DuckDB wrote this file faster on one
    # thread than on two (bench/bench_cli.py times the floor both ways).
    with duckdb.connect(":memory:", config={"threads": 1}) as con:
        con.register("kpi_table", frame)
        con.execute(f"COPY (SELECT {select} FROM kpi_table) TO {sql_literal(target)} "
                    f"{copy_options(header=True)}")


def _csv_frame(table: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The frame DuckDB writes (columns ``c0``, ``c1``, ...: :func:`_csv_column`) and
    the select list that names them as the table's columns."""
    names = [str(name) for name in table.columns]
    frame = pd.DataFrame({
        f"c{i}": _csv_column(table[name].astype(bool) if name in _ALL_FLAGS else table[name])
        for i, name in enumerate(table.columns)}, copy=False)
    return frame, ", ".join(f"c{i} AS {sql_identifier(name)}" for i, name in enumerate(names))


# The pipelined writer (prepare_csv): KPIs in its first chunk (small, so that the
# writers start early) and in each chunk after (enough rows that a COPY's fixed cost
# stays small: the whole catalogue is some 36 KPIs, 3,500 rows each), and chunks
# written at once (two: once the engine is done, both cores write what is left; the
# COPY is the slower side of the pipeline). Timed on the whole catalogue on this
# project's 2-core machine: 4, 8 and 2 wrote it in 0.37 s, 2, 5 and 1 in 0.42 s, one
# chunk in 0.51 s (the engine's time included).
FIRST_CHUNK_KPIS = 4
CHUNK_KPIS = 8
WRITERS = 2


class PreparedCsv:
    """A :func:`kpi_table_for_cli` table to be written as CSV by :meth:`write`, in
    chunks of KPIs (:func:`write_csv_chunks`: while DuckDB writes one chunk, the next is
    computed). Made by :func:`prepare_csv`."""

    def __init__(self, ds: Dataset, chunks: list[list[str]], first: pd.DataFrame,
                 question: dict[str, Any]) -> None:
        self._ds = ds
        self._chunks = chunks
        self._first: pd.DataFrame | None = first
        self._question = question

    def _table(self, kpi_ids: Sequence[str], coded: bool = True) -> pd.DataFrame:
        return _cli_table(self._ds, kpi_ids, coded=coded, **self._question)

    def _tables(self) -> Iterator[pd.DataFrame]:
        for index, kpi_ids in enumerate(self._chunks):
            first, self._first = self._first, None  # not kept once written
            yield first if index == 0 and first is not None else self._table(kpi_ids)

    def write(self, path: str | os.PathLike[str],
              before_writing: Callable[[], None] | None = None) -> None:
        """Write the file at ``path`` exactly as :func:`write_csv` writes the whole
        table: the same bytes, created or truncated in place the same way.
        ``before_writing``: called once, before the file is opened (an exception from
        it: the file is left as it was), as :func:`write_csv_chunks` calls it."""
        ready = _once(before_writing)
        if not write_csv_chunks(self._tables(), path, ready):
            # A count column whole in one chunk and not in another: the whole table
            # writes it as floats throughout (kpi_table_for_cli), so write it whole.
            table = self._table(list(itertools.chain.from_iterable(self._chunks)),
                                coded=False)
            ready()
            write_csv(table, path)


def _once(call: Callable[[], None] | None) -> Callable[[], None]:
    """``call`` (or nothing), made to run at most once however often it is called."""
    done = False

    def once() -> None:
        nonlocal done
        if not done and call is not None:
            call()  # an exception: not done, and raised again by the next call
        done = True

    return once


def write_csv_chunks(chunks: Iterable[pd.DataFrame], path: str | os.PathLike[str],
                     before_writing: Callable[[], None] | None = None) -> bool:
    """Write the chunks of one table (each with the table's columns, in order) to the
    file at ``path`` as :func:`write_csv` writes the whole table, header and all: the
    same bytes, the file created or truncated in place the same way.

    ``before_writing`` is called once, just before the file is opened: when the first
    chunk has been written to its private temporary file and is ready to append (or at
    the end, if there is none). An exception from it leaves the file as it was (not
    created, not emptied) and is raised. ``flightdeck kpis`` waits there for its audit
    row, so that the engine and DuckDB work on while the row is written.

    While DuckDB writes chunks on threads of their own (:data:`WRITERS`; a COPY holds no
    GIL), the next is made (``chunks`` may be a generator computing them), so the
    engine and the writers share the machine's cores (``flightdeck kpis``:
    bench/bench_cli.py). Each chunk is written to a private temporary file and appended
    to the file by the kernel (``sendfile``), in order (:class:`PartFiles`).

    Returns False, the file then not written or written only in part, if a column's
    cells are of one kind in one chunk and of another in a later one (whole numbers in
    one, floats in the next: :func:`kpi_table_for_cli` writes the whole table's column
    as floats), so that the caller writes the whole table instead; a chunk with no
    value in a column writes empty cells whatever its kind.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    import duckdb  # here: the JSON and XLSX writers do without it

    target = os.path.abspath(os.fspath(path))
    kinds: dict[str, str] = {}
    names: list[str] | None = None
    connections: list[Any] = []
    local = threading.local()

    def copy(frame: pd.DataFrame, select: str, part: Part, header: bool) -> Part:
        # On a writer thread, with a DuckDB connection of its own (one DuckDB thread:
        # the other core is the engine's, or the other writer's).
        con = getattr(local, "con", None)
        if con is None:
            con = local.con = duckdb.connect(":memory:", config={"threads": 1})
            connections.append(con)
        con.register("kpi_chunk", frame)
        try:
            con.execute(f"COPY (SELECT {select} FROM kpi_chunk) TO "
                        f"{sql_literal(part.path)} {copy_options(header)}")
        finally:
            con.unregister("kpi_chunk")
        return part

    out: int | None = None

    def opened() -> int:
        nonlocal out
        if out is None:
            if before_writing is not None:
                before_writing()
            out = open_in_place(target)
        return out

    with (PartFiles() as parts,
          ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="csv") as writers):
        try:
            written: collections.deque[Future[Part]] = collections.deque()
            for index, table in enumerate(chunks):
                columns = [str(name) for name in table.columns]
                if names is None:
                    names = columns
                elif columns != names:
                    raise ValueError(f"chunk {index} has the columns {columns}, not {names}")
                if not _same_kinds(table, kinds):
                    return False
                frame, select = _csv_frame(table)
                written.append(writers.submit(copy, frame, select, parts.new(index),
                                              index == 0))
                while written and written[0].done():  # appended in order, as they finish
                    append_part(opened(), written.popleft().result())
            while written:  # raises the first failure
                append_part(opened(), written.popleft().result())
            opened()  # no chunk at all: the file is still created (or emptied)
        finally:
            writers.shutdown(wait=True)
            for con in connections:
                con.close()
            if out is not None:
                os.close(out)
    return True


def _same_kinds(table: pd.DataFrame, kinds: dict[str, str]) -> bool:
    """Whether each column of a chunk holds cells of the kind the chunks before held
    (flags, whole numbers, floats or text; a column with no value in the chunk writes
    empty cells whatever its kind); records the chunk's in ``kinds``."""
    for name in table.columns:
        column = table[name]
        if str(name) in _ALL_FLAGS or column.dtype == bool:
            kind = "flag"
        elif column.dtype.kind in "iuf":  # int64 and Int64 alike are whole numbers
            if not column.notna().any():
                continue
            kind = "float" if column.dtype.kind == "f" else "whole"
        else:
            kind = "text"  # (a text column with no value writes empty cells too)
        if kinds.setdefault(str(name), kind) != kind:
            return False
    return True


def prepare_csv(
    ds: Dataset,
    kpi_ids: Sequence[str] | None = None,
    areas: Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    suppress: bool = False,
    threshold: int = DEFAULT_THRESHOLD,
    baseline: Baseline = DEFAULT_BASELINE,
    marking: str | None = None,
    first_chunk: int = FIRST_CHUNK_KPIS,
    chunk: int = CHUNK_KPIS,
) -> PreparedCsv:
    """:func:`kpi_table_for_cli` (the same arguments and the same KeyError, raised here,
    before anything is written) to be written as CSV: ``prepare_csv(...).write(path)``
    writes the bytes ``write_csv(kpi_table_for_cli(...), path)`` writes, faster
    (:class:`PreparedCsv`). ``first_chunk``, ``chunk``: KPIs per chunk."""
    question: dict[str, Any] = {"areas": areas, "start": start, "end": end,
                                "suppress": suppress, "fmt": "csv", "threshold": threshold,
                                "baseline": baseline, "marking": marking}
    kpi_list = list(kpi_ids) if kpi_ids is not None else list(ds.kpis)
    if not kpi_list or any(k not in ds.kpis for k in kpi_list):
        # The engine's own error for the whole list, raised before any KPI is computed.
        kpi_table_for_cli(ds, kpi_list, **question)
    chunks = [kpi_list[:max(first_chunk, 1)]]
    chunks += [kpi_list[i:i + max(chunk, 1)]
               for i in range(len(chunks[0]), len(kpi_list), max(chunk, 1))]
    # The first chunk now: an unknown area or a bad threshold raises here too.
    return PreparedCsv(ds, chunks, _cli_table(ds, chunks[0], coded=True, **question),
                       question)


def _csv_column(column: pd.Series) -> Any:
    """A column as DuckDB should write it: numbers and flags as they are, text as a
    categorical of its distinct values, each neutralised once (empty text: missing)."""
    if column.dtype.kind in "biuf":
        return column
    if isinstance(column.dtype, pd.CategoricalDtype):  # its distinct values at hand
        codes, uniques = column.array.codes, column.array.categories  # missing: -1
        texts = [neutralise(value) for value in uniques]
        if all(isinstance(value, str) and value and text == value
               for value, text in zip(uniques, texts, strict=True)):
            return column.array  # ids, units, labels: nothing to neutralise or drop
    else:
        codes, uniques = pd.factorize(column.to_numpy(dtype=object))  # missing: -1
        texts = [neutralise(value) for value in uniques]
    texts = np.array([*texts, ""], dtype=object)
    # Two values may neutralise to the same text ("=1+1" and "'=1+1"): one category.
    categories, position = np.unique(texts, return_inverse=True)
    position = np.where(texts == "", -1, position)  # empty text, as missing: no value
    return pd.Categorical.from_codes(position.take(codes), categories=categories)

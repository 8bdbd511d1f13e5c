"""The KPI table's CSV writer (``kpis.exports.kpi_csv.write_csv`` and ``write_table``) on
hand-made tables: every expected line below is worked out by hand from the writer's
rules (the module docstring of kpis/exports/kpi_csv.py), not taken from its output.

Rules pinned: one header row and ``\\n`` after every line; text cells neutralised
(``kpis.exports.render.neutralise``: text a spreadsheet would run as a formula gets a
leading quote; a plain number such as ``-0.012`` is left alone); missing cells empty,
never ``nan``, ``<NA>`` or ``None``; flags ``true``/``false``; counts in ``Int64``
columns as whole numbers; floats as Python's ``repr`` writes them; fields holding a
comma, a quote or a line break quoted, with quotes doubled.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kpis.exports.kpi_csv import write_csv, write_table


def written(table: pd.DataFrame, tmp_path: Path) -> str:
    """The file write_csv writes, read as bytes (no newline translation)."""
    path = tmp_path / "table.csv"
    write_csv(table, path)
    return path.read_bytes().decode("utf-8")


def test_formula_like_text_is_neutralised_in_every_text_column(tmp_path: Path) -> None:
    table = pd.DataFrame({
        "force": ["=HYPERLINK(\"http://x\")", "+44", "-cmd", "@SUM(A1)", "kent", "-0.012"],
        "peer_group": ["group-a", "\tlead", "\rlead", "=1+1", "'=1+1", "+1e5"],
    })
    assert written(table, tmp_path).split("\n") == [
        "force,peer_group",
        # A quote inside the text is doubled and the field quoted.
        "\"'=HYPERLINK(\"\"http://x\"\")\",group-a",
        # "+44" is a plain number: left alone; a tab start is neutralised.
        "+44,'\tlead",
        # A carriage return is a line break: quoted, so a reader keeps the row whole.
        "'-cmd,\"'\rlead\"",
        # "=1+1" neutralised is "'=1+1", the same as the next row's own text.
        "'@SUM(A1),'=1+1",
        "kent,'=1+1",
        "-0.012,+1e5",
        "",
    ]


def test_missing_cells_are_empty_and_flags_are_true_or_false(tmp_path: Path) -> None:
    table = pd.DataFrame({
        "kpi": ["a", None, "", np.nan],
        "value": [0.5, np.nan, 2.0, np.nan],
        "numerator": pd.array([5, None, 0, 12], dtype="Int64"),
        "suppressed": [False, True, False, True],
        "complete": np.array([True, True, False, False]),
    })
    assert written(table, tmp_path) == (
        "kpi,value,numerator,suppressed,complete\n"
        "a,0.5,5,false,true\n"
        ",,,true,true\n"
        ",2.0,0,false,false\n"
        ",,12,true,false\n")


def test_counts_are_whole_numbers_and_floats_are_written_as_python_writes_them(
        tmp_path: Path) -> None:
    table = pd.DataFrame({
        "denominator": pd.array([40, 1234567, 0], dtype="Int64"),
        "forces_reporting": np.array([43, 1, 5], dtype=np.int64),
        # 1/3 and 2/3 to 17 significant digits; 1e-05 and 1e+16 in exponent form, as
        # repr() writes them (below 1e-4, from 1e16 up); a whole float keeps its ".0".
        "value": [1 / 3, 0.025, 1e-05],
        "change": [2 / 3, -0.0, 1e16],
        "rolling_value": [3.0, 123456.789, 0.1 + 0.2],
    })
    assert written(table, tmp_path) == (
        "denominator,forces_reporting,value,change,rolling_value\n"
        "40,43,0.3333333333333333,0.6666666666666666,3.0\n"
        "1234567,1,0.025,-0.0,123456.789\n"
        "0,5,1e-05,1e+16,0.30000000000000004\n")


def test_fields_with_commas_quotes_and_newlines_are_quoted(tmp_path: Path) -> None:
    table = pd.DataFrame({
        "spc_rule": ["shift,trend", "", "outside"],
        "marking": ['OFFICIAL "SENSITIVE"', "OFFICIAL\nSENSITIVE", "OFFICIAL, x"],
    })
    assert written(table, tmp_path) == (
        "spc_rule,marking\n"
        "\"shift,trend\",\"OFFICIAL \"\"SENSITIVE\"\"\"\n"
        ",\"OFFICIAL\nSENSITIVE\"\n"
        "outside,\"OFFICIAL, x\"\n")


def test_a_table_with_no_rows_is_its_header_line(tmp_path: Path) -> None:
    table = pd.DataFrame({"kpi": pd.Series([], dtype=object),
                          "value": pd.Series([], dtype=float),
                          "suppressed": pd.Series([], dtype=bool)})
    assert written(table, tmp_path) == "kpi,value,suppressed\n"


def test_write_table_writes_the_same_text_to_a_stream(tmp_path: Path) -> None:
    table = pd.DataFrame({
        "kpi": ["=x", "b\r"], "value": [1.5, np.nan],
        "rank": pd.array([None, 3], dtype="Int64"), "provisional": [True, False],
    })
    out = io.StringIO()
    write_table(table, out, "csv")
    assert out.getvalue() == written(table, tmp_path) == (
        "kpi,value,rank,provisional\n'=x,1.5,,true\n\"b\r\",,3,false\n")


def an_older_file_behind_a_link(folder: Path) -> tuple[Path, Path, int]:
    """A longer file with its own mode (0640), a symbolic link to it, and its inode: what
    a writer must empty in place, through the link, keeping the file and its mode."""
    path = folder / "table.csv"
    path.write_text("an older, longer file\n" * 100)
    path.chmod(0o640)
    link = folder / "link.csv"
    link.symlink_to(path)
    return path, link, path.stat().st_ino


def test_write_csv_empties_an_existing_file_in_place(tmp_path: Path) -> None:
    path, link, inode = an_older_file_behind_a_link(tmp_path)
    write_csv(pd.DataFrame({"kpi": ["a"]}), link)
    # Written through the link into the same file, as open(path, "w") would.
    assert link.is_symlink() and path.read_text() == "kpi\na\n"
    assert path.stat().st_ino == inode and path.stat().st_mode & 0o777 == 0o640


def test_write_table_still_refuses_xlsx_and_unknown_formats() -> None:
    with pytest.raises(ValueError, match="binary"):
        write_table(pd.DataFrame({"kpi": ["a"]}), io.StringIO(), "xlsx")
    with pytest.raises(ValueError, match="format"):
        write_table(pd.DataFrame({"kpi": ["a"]}), io.StringIO(), "xml")

"""The pipelined CSV writer of ``flightdeck kpis --out`` (``kpis.exports.kpi_csv``:
``write_csv_chunks`` and ``prepare_csv``) against the reference, ``write_csv`` of the
whole table: byte for byte, on hand-made tables with every awkward cell (missing
values, negatives, text a spreadsheet would run as a formula, CR and LF, quotes and
commas, non-ASCII text, chunks with no rows) cut into chunks every way, and on the
demonstration database's whole catalogue (as written, with disclosure control, for
some areas and periods). If the fast path's output ever differs from the reference,
these fail."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kpis.engine.dataset import Dataset
from kpis.engine.disclosure import default_marking
from kpis.engine.kpi_spc import Baseline
from kpis.exports import csv_files, kpi_csv
from kpis.exports.kpi_csv import kpi_table_for_cli, prepare_csv, write_csv, write_csv_chunks
from tests.conftest import PROJECT_ROOT
from tests.test_kpi_csv import an_older_file_behind_a_link


def reference(table: pd.DataFrame, tmp_path: Path) -> bytes:
    path = tmp_path / "reference.csv"
    write_csv(table, path)
    return path.read_bytes()


def chunked(chunks: list[pd.DataFrame], tmp_path: Path) -> tuple[bool, bytes | None]:
    """Whether the chunks were written, and the file's bytes (None: no file)."""
    path = tmp_path / "chunked.csv"
    done = write_csv_chunks(iter(chunks), path)
    return done, path.read_bytes() if path.exists() else None


def awkward() -> pd.DataFrame:
    """Every kind of cell the KPI table has, and the text cells that need care."""
    return pd.DataFrame({
        "kpi": ["=HYPERLINK(\"http://x\")", "+44", "-cmd", "@SUM(A1)", "kent", "-0.012",
                None, "", "line\nbreak", "carriage\rreturn", "both\r\nends", "a,b",
                'say "hi"', "Ynys Môn", "\tlead"],
        "numerator": pd.array([5, None, 0, -3, 12, None, 7, 1, 2, 3, 4, 5, 6, 7, 8],
                              dtype="Int64"),
        "value": [1 / 3, np.nan, -0.0, -2.5, 1e-05, 1e16, 0.1 + 0.2, np.inf, -np.inf,
                  3.0, 123456.789, -1e-300, np.nan, 2.0, 0.025],
        "rank": np.arange(15, dtype=np.int64) - 7,
        "suppressed": [False, True] * 7 + [False],
        "complete": np.array([True, False, True] * 5),
        "peer_group": ["=1+1", "'=1+1", None, "region-x", "", "+1e5", "-", "=", "@", "+",
                       "ok", "\r", "\n", '"', ","],
        "spc_from": ["2024-01-01", None] * 7 + ["2025-03-01"],
        "marking": ["OFFICIAL-SENSITIVE"] * 15,
    })


def test_the_reference_writes_the_awkward_cells_as_the_rules_say(tmp_path: Path) -> None:
    # A few lines of the reference itself, worked out by hand (tests/test_kpi_csv.py
    # pins the rules), so that the comparisons below compare with the right thing.
    lines = reference(awkward(), tmp_path).decode("utf-8").split("\n")
    assert lines[0] == "kpi,numerator,value,rank,suppressed,complete,peer_group,spc_from,marking"
    assert lines[1] == ("\"'=HYPERLINK(\"\"http://x\"\")\",5,0.3333333333333333,-7,false,true,"
                        "'=1+1,2024-01-01,OFFICIAL-SENSITIVE")
    assert lines[2] == "+44,,,-6,true,false,'=1+1,,OFFICIAL-SENSITIVE"
    assert lines[3] == "'-cmd,0,-0.0,-5,false,true,,2024-01-01,OFFICIAL-SENSITIVE"
    assert lines[8] == ",1,inf,0,true,false,'=,,OFFICIAL-SENSITIVE"
    assert lines[9:11] == ['"line', "break\",2,-inf,1,false,true,'@,2024-01-01,OFFICIAL-SENSITIVE"]


@pytest.mark.parametrize("size", [1, 2, 4, 7, 15, 20])
def test_chunks_of_any_size_write_the_reference_bytes(tmp_path: Path, size: int) -> None:
    table = awkward()
    chunks = [table.iloc[i:i + size].reset_index(drop=True) for i in range(0, len(table), size)]
    assert chunked(chunks, tmp_path) == (True, reference(table, tmp_path))


def open_descriptors() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("in_memory", [True, False])
def test_the_chunks_files_are_removed_written_or_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_memory: bool) -> None:
    # In memory (Linux: memfd) or, where there are none, in a temporary folder: the
    # same bytes, and nothing left behind, whether the chunks were written or refused.
    if in_memory and not csv_files.memory_files():
        pytest.fail("this system has no memory files: the in-memory case is not tested")
    monkeypatch.setattr(csv_files, "memory_files", lambda: in_memory)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    before = open_descriptors()
    table = awkward()
    chunks = [table.iloc[i:i + 4].reset_index(drop=True) for i in range(0, len(table), 4)]
    assert chunked(chunks, tmp_path) == (True, reference(table, tmp_path))
    first = pd.DataFrame({"numerator": pd.array([1, 2], dtype="Int64")})
    refused = tmp_path / "refused"
    refused.mkdir()
    assert chunked([first, first, pd.DataFrame({"numerator": [0.5]})], refused)[0] is False
    assert list(scratch.iterdir()) == []
    assert open_descriptors() == before


def test_chunks_with_no_rows_anywhere_write_the_reference_bytes(tmp_path: Path) -> None:
    table = awkward()
    empty = table.iloc[0:0]
    chunks = [empty, table.iloc[:3], empty, empty, table.iloc[3:], empty]
    assert chunked(chunks, tmp_path) == (True, reference(table, tmp_path))
    assert chunked([empty], tmp_path) == (True, reference(empty, tmp_path))
    assert chunked([empty], tmp_path)[1] == (
        b"kpi,numerator,value,rank,suppressed,complete,peer_group,spc_from,marking\n")


def test_a_chunk_with_no_value_in_a_column_is_written_as_the_whole_table(
        tmp_path: Path) -> None:
    # The first chunk's numerator all missing (Int64), the second's floats: the same
    # empty cells whatever the first chunk's kind, so no fallback is needed.
    first = pd.DataFrame({"numerator": pd.array([None, None], dtype="Int64"), "kpi": ["a", "b"]})
    second = pd.DataFrame({"numerator": [0.5, np.nan], "kpi": ["c", None]})
    whole = pd.DataFrame({"numerator": [np.nan, np.nan, 0.5, np.nan],
                          "kpi": ["a", "b", "c", None]})
    assert chunked([first, second], tmp_path) == (True, reference(whole, tmp_path))


def test_a_column_whole_in_one_chunk_and_floats_in_another_is_refused(tmp_path: Path) -> None:
    first = pd.DataFrame({"numerator": pd.array([1, 2], dtype="Int64")})
    second = pd.DataFrame({"numerator": [0.5, 2.0]})
    # Refused at the second chunk, before the first went into the file: no file at all.
    assert chunked([first, second], tmp_path) == (False, None)
    with pytest.raises(ValueError, match="columns"):
        write_csv_chunks(iter([first, pd.DataFrame({"other": [1]})]), tmp_path / "x.csv")


def test_chunks_empty_an_existing_file_in_place(tmp_path: Path) -> None:
    path, link, inode = an_older_file_behind_a_link(tmp_path)
    assert write_csv_chunks(iter([pd.DataFrame({"kpi": ["a"]}), pd.DataFrame({"kpi": ["b"]})]),
                            link)
    assert link.is_symlink() and path.read_text() == "kpi\na\nb\n"
    assert path.stat().st_ino == inode and path.stat().st_mode & 0o777 == 0o640


class Refused(Exception):
    pass


def test_the_file_is_opened_only_once_before_writing_has_returned(tmp_path: Path) -> None:
    path, link, inode = an_older_file_behind_a_link(tmp_path)
    before = path.read_bytes()
    chunks = [pd.DataFrame({"kpi": ["a"]}), pd.DataFrame({"kpi": ["b"]})]

    def refuse() -> None:
        assert path.read_bytes() == before  # not yet emptied when it is asked
        raise Refused

    with pytest.raises(Refused):
        write_csv_chunks(iter(chunks), link, refuse)
    assert path.read_bytes() == before and path.stat().st_ino == inode
    calls: list[bytes] = []
    assert write_csv_chunks(iter(chunks), link, lambda: calls.append(path.read_bytes()))
    assert calls == [before] and path.read_text() == "kpi\na\nb\n"


def test_no_chunk_at_all_still_asks_and_empties_the_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("old\n")
    calls: list[str] = []
    assert write_csv_chunks(iter([]), path, lambda: calls.append("asked"))
    assert calls == ["asked"] and path.read_bytes() == b""


QUESTIONS = [
    pytest.param({}, id="whole-catalogue"),
    pytest.param({"suppress": True}, id="suppressed"),
    pytest.param({"kpi_ids": ["ho_rape_charge_rate", "cps_referrals", "suspect_contact_30d",
                              "cps_referrals"], "areas": ["kent", "england-and-wales"],
                  "start": pd.Timestamp("2024-04-01").date(),
                  "end": pd.Timestamp("2025-03-01").date(),
                  "baseline": Baseline.parse("all")}, id="some-kpis-areas-periods"),
]


@pytest.mark.parametrize("question", QUESTIONS)
@pytest.mark.parametrize("sizes", [(kpi_csv.FIRST_CHUNK_KPIS, kpi_csv.CHUNK_KPIS), (1, 1),
                                   (1, 100)])
def test_prepare_csv_writes_the_reference_bytes_for_the_demonstration_data(
        demo_dataset: Dataset, tmp_path: Path, question: dict[str, object],
        sizes: tuple[int, int]) -> None:
    marking = "OFFICIAL-SENSITIVE"
    table = kpi_table_for_cli(demo_dataset, marking=marking, **question)  # type: ignore[arg-type]
    path = tmp_path / "chunked.csv"
    prepare_csv(demo_dataset, marking=marking, first_chunk=sizes[0], chunk=sizes[1],
                **question).write(path)  # type: ignore[arg-type]
    assert path.read_bytes() == reference(table, tmp_path)


def test_prepare_csv_falls_back_to_the_whole_table_when_chunks_disagree(
        demo_dataset: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A chunk whose numerator is not whole (as a KPI over a non-count measure could
    # make it): the whole table then writes the column as floats; so does the writer.
    kpis = list(demo_dataset.kpis)[:3]
    real = kpi_csv._cli_table

    def halves(ds: Dataset, kpi_ids: list[str], *args: object, **kwargs: object
               ) -> pd.DataFrame:
        table = real(ds, kpi_ids, *args, **kwargs)  # type: ignore[arg-type]
        if kpis[1] in kpi_ids:
            table["numerator"] = table["numerator"].astype(float) + np.where(
                table["kpi"] == kpis[1], 0.5, 0.0)
        return table

    monkeypatch.setattr(kpi_csv, "_cli_table", halves)
    path = tmp_path / "chunked.csv"
    calls: list[str] = []
    prepare_csv(demo_dataset, kpis, first_chunk=1, chunk=1).write(
        path, lambda: calls.append("asked"))
    assert calls == ["asked"]  # once, whether the chunks or the whole table wrote it
    whole = kpi_table_for_cli(demo_dataset, kpis)
    assert whole["numerator"].dtype == float
    assert path.read_bytes() == reference(whole, tmp_path)


def test_text_as_categoricals_writes_the_same_bytes_as_text_as_objects(
        tmp_path: Path) -> None:
    # The writer's two ways in: object columns (kpi_table_for_cli) and Categoricals
    # (the chunks prepare_csv makes), every awkward cell, missing values included.
    table = awkward()
    coded = table.assign(**{name: table[name].astype("category")
                            for name in ("kpi", "peer_group", "spc_from", "marking")})
    assert reference(coded, tmp_path) == reference(table, tmp_path)


def test_prepare_csv_raises_what_kpi_table_for_cli_raises_before_writing(
        demo_dataset: Dataset, tmp_path: Path) -> None:
    first = next(iter(demo_dataset.kpis))
    for kwargs in ({"kpi_ids": [first, "nonsense", "other"]}, {"kpi_ids": []},
                   {"areas": ["atlantis"]}, {"kpi_ids": [first] * 3, "areas": ["atlantis"]}):
        with pytest.raises(KeyError) as expected:
            kpi_table_for_cli(demo_dataset, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(KeyError) as raised:
            prepare_csv(demo_dataset, first_chunk=1, chunk=1, **kwargs)  # type: ignore[arg-type]
        assert raised.value.args == expected.value.args


@pytest.mark.slow  # a fresh interpreter computing every KPI
def test_flightdeck_kpis_in_a_process_of_its_own_writes_the_reference_bytes(
        demo_db_readonly: Path, demo_dataset: Dataset, tmp_path: Path) -> None:
    # The command as an analyst runs it: its own process (the file read with duckdb
    # alone, OpenBLAS on one thread, the chunks written by two threads), against the
    # reference writer here, in this process.
    out = tmp_path / "kpis.csv"
    subprocess.run([sys.executable, "-m", "kpis.cli", "kpis", "--db", str(demo_db_readonly),
                    "--out", str(out)], cwd=PROJECT_ROOT, check=True, capture_output=True)
    marking = default_marking(demo_dataset.catalogue, list(demo_dataset.kpis.values()))
    assert out.read_bytes() == reference(kpi_table_for_cli(demo_dataset, marking=marking),
                                         tmp_path)

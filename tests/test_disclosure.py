"""Tests for kpis.engine.disclosure: small-count suppression and its knock-on to rates."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpis.engine.disclosure import (
    DEFAULT_THRESHOLD,
    SUPPRESSED_LABEL,
    format_suppressed,
    is_suppressed_count,
    suppress_frame,
)


def test_default_threshold_hides_one_to_four():
    assert DEFAULT_THRESHOLD == 5
    assert [is_suppressed_count(x) for x in range(7)] == [
        False,  # 0 is kept: it identifies nobody
        True,
        True,
        True,
        True,  # 1..4 hidden
        False,  # 5 kept
        False,
    ]


def test_missing_counts_are_not_suppressed():
    assert is_suppressed_count(None) is False
    assert is_suppressed_count(math.nan) is False
    assert is_suppressed_count(pd.NA) is False


def test_threshold_is_configurable():
    assert is_suppressed_count(9, threshold=10)
    assert not is_suppressed_count(10, threshold=10)
    assert not is_suppressed_count(1, threshold=1)  # threshold 1 hides nothing
    with pytest.raises(ValueError, match="threshold"):
        is_suppressed_count(1, threshold=0)


def test_numpy_scalars_give_plain_bools():
    assert is_suppressed_count(np.int64(3)) is True


def _frame() -> pd.DataFrame:
    # charges / offences = charge rate; one row per force.
    return pd.DataFrame(
        {
            "force": ["A", "B", "C", "D", "E"],
            "charges": [0, 3, 12, 5, 40],
            "offences": [80, 90, 4, 100, 400],
            "rate": [0 / 80, 3 / 90, 12 / 4, 5 / 100, 40 / 400],
        }
    )


def test_suppress_frame_hides_small_counts_and_their_rates():
    out = suppress_frame(_frame(), ["charges", "offences"], ["rate"])
    # A: 0 charges kept. B: 3 charges hidden. C: 4 offences hidden (so its rate goes even
    # though 12 charges are kept). D: 5 kept. E: nothing small.
    assert out["charges"].tolist()[0] == 0
    assert math.isnan(out["charges"].iloc[1])
    assert out["charges"].iloc[2] == 12
    assert math.isnan(out["offences"].iloc[2])
    assert out["rate"].isna().tolist() == [False, True, True, False, False]
    assert out["suppressed"].tolist() == [False, True, True, False, False]
    assert out["rate"].iloc[0] == 0.0 and out["rate"].iloc[3] == pytest.approx(0.05)


def test_suppressed_cells_are_missing_never_zero():
    frame = _frame()
    out = suppress_frame(frame, ["charges", "offences"], ["rate"])
    # The cells that held 1..4 (B's 3 charges, C's 4 offences) and the rates on their
    # rows are missing, not 0.
    for column in ("charges", "offences"):
        small = ((frame[column] > 0) & (frame[column] < 5)).to_numpy()
        assert out.loc[small, column].isna().all()
    hidden_rows = out["suppressed"].to_numpy()
    assert out.loc[hidden_rows, "rate"].isna().all()
    # The only zeros left are the ones that were there before (A's 0 charges and rate).
    assert (out[frame.columns] == 0).sum().sum() == (frame == 0).sum().sum() == 2


def test_suppress_frame_leaves_input_untouched():
    frame = _frame()
    suppress_frame(frame, ["charges", "offences"], ["rate"])
    pd.testing.assert_frame_equal(frame, _frame())


def test_suppress_frame_threshold_is_configurable():
    out = suppress_frame(_frame(), ["charges"], ["rate"], threshold=13)
    # 3, 12 and 5 are now below 13; 0 and 40 are kept.
    assert out["charges"].isna().tolist() == [False, True, True, True, False]
    assert out["suppressed"].tolist() == [False, True, True, True, False]


def test_existing_suppressed_flags_are_kept():
    frame = _frame().assign(suppressed=[False, False, False, False, True])
    out = suppress_frame(frame, ["charges", "offences"], ["rate"])
    assert out["suppressed"].tolist() == [False, True, True, False, True]
    # The OR only adds the flag; it does not hide E's values (that was done upstream).
    assert out["rate"].iloc[4] == pytest.approx(0.1)


def test_nullable_integer_counts_become_na():
    frame = pd.DataFrame({"n": pd.array([0, 2, None, 7], dtype="Int64"), "share": [0.0] * 4})
    out = suppress_frame(frame, ["n"], ["share"])
    assert out["n"].isna().tolist() == [False, True, True, False]
    assert out["suppressed"].tolist() == [False, True, False, False]  # NA is not hidden
    assert out["share"].isna().tolist() == [False, True, False, False]


def test_duplicate_index_is_handled_by_position():
    frame = _frame().set_axis([0, 0, 1, 1, 1])
    out = suppress_frame(frame, ["charges", "offences"], ["rate"])
    assert out["suppressed"].tolist() == [False, True, True, False, False]


def test_unknown_column_is_an_error():
    with pytest.raises(KeyError, match="victims"):
        suppress_frame(_frame(), ["victims"], ["rate"])


def test_format_suppressed_uses_ons_confidential_marker():
    assert SUPPRESSED_LABEL == "[c]"
    assert format_suppressed(3, True) == "[c]"
    assert format_suppressed(0.125, False, "{:.1%}".format) == "12.5%"
    assert format_suppressed(0, False) == "0"


# --- properties ---------------------------------------------------------------------------

counts = st.one_of(st.integers(0, 50), st.just(None))


@given(st.lists(st.tuples(counts, counts), min_size=0, max_size=40), st.integers(1, 20))
def test_suppress_frame_never_leaves_a_count_in_the_hidden_range(rows, threshold):
    frame = pd.DataFrame(rows, columns=["numerator", "denominator"], dtype=float)
    frame["rate"] = frame["numerator"] / frame["denominator"]
    out = suppress_frame(frame, ["numerator", "denominator"], ["rate"], threshold=threshold)
    for column in ("numerator", "denominator"):
        values = out[column].dropna()
        assert not ((values > 0) & (values < threshold)).any()
    # Every row with a hidden count is flagged and has no rate; no other row loses data.
    small = (
        frame[["numerator", "denominator"]].apply(lambda c: (c > 0) & (c < threshold)).any(axis=1)
    )
    assert out["suppressed"].tolist() == small.tolist()
    assert out.loc[small.to_numpy(), "rate"].isna().all()
    kept = ~small.to_numpy()
    pd.testing.assert_series_equal(out.loc[kept, "rate"], frame.loc[kept, "rate"])

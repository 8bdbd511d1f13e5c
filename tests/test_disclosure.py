"""Tests for the disclosure rule (kpis.engine.disclosure) as the product applies it.

The rule itself is :func:`small_counts`; its application to every part of a row is
:func:`kpis.engine.measures.flight_deck_table` with ``suppress=True`` (more cases in
tests/test_measures.py and tests/test_measures_properties.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpis.domain.vocabulary import SUPPRESSED_LABEL
from kpis.engine.dataset import Dataset
from kpis.engine.disclosure import DEFAULT_THRESHOLD, small_counts
from kpis.engine.measures import flight_deck_table


def test_default_threshold_hides_one_to_four():
    assert DEFAULT_THRESHOLD == 5
    assert small_counts(np.arange(7.0)).tolist() == [
        False,  # 0 is kept: it identifies nobody
        True, True, True, True,  # 1..4 hidden
        False, False,  # 5 and more kept
    ]


def test_missing_counts_are_not_suppressed():
    assert small_counts(np.array([math.nan, np.nan])).tolist() == [False, False]


def test_threshold_is_configurable_and_checked():
    assert small_counts(np.array([0, 2, 3, 12, 13.0]), threshold=13).tolist() == [
        False, True, True, True, False]
    assert not small_counts(np.array([1.0, 2.0]), threshold=1).any()  # 1 hides nothing
    with pytest.raises(ValueError, match="at least 1"):
        small_counts(np.array([1.0]), threshold=0)


def test_fractional_counts_in_the_range_are_hidden():
    assert small_counts(np.array([0.5, 4.99, 5.0])).tolist() == [True, True, False]


def test_the_ons_confidential_marker():
    assert SUPPRESSED_LABEL == "[c]"


def test_the_product_hides_small_counts_and_their_rates(demo_dataset: Dataset):
    # City of London's bail figures rest on small counts in the demonstration data.
    raw = flight_deck_table(demo_dataset, ["bail_breaches_responded"], ["city-of-london"])
    out = flight_deck_table(demo_dataset, ["bail_breaches_responded"], ["city-of-london"],
                            suppress=True)
    small = (small_counts(raw["numerator"].to_numpy())
             | small_counts(raw["denominator"].to_numpy()))
    assert small.any() and (~small).any()
    # Rows resting on a small count: the rate is missing, never 0, and flagged; so is
    # each small count itself.
    hidden = out[small]
    assert hidden["value"].isna().all() and hidden["suppressed"].all()
    assert hidden["suppressed_parts"].str.contains("value").all()
    for column in ("numerator", "denominator"):
        assert out.loc[small_counts(raw[column].to_numpy()), column].isna().all()
    # A figure shown is the true figure; complementary suppression may hide more, but
    # never a count that is not there.
    shown = ~out["value"].isna()
    np.testing.assert_allclose(out.loc[shown, "value"], raw.loc[shown, "value"])
    assert not out.loc[shown, "suppressed"].any()


@given(st.lists(st.one_of(st.integers(0, 50), st.just(None)), max_size=40),
       st.integers(1, 20))
def test_no_count_in_the_hidden_range_survives(values, threshold):
    grid = np.array([np.nan if v is None else v for v in values], dtype=float)
    hidden = small_counts(grid, threshold)
    shown = grid[~hidden]
    assert not ((shown > 0) & (shown < threshold)).any()
    # Nothing else is hidden: zeros, large counts and gaps are all shown.
    assert not hidden[(grid == 0) | (grid >= threshold) | np.isnan(grid)].any()

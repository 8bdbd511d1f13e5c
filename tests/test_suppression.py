"""Complementary suppression and its audit (kpis.engine.suppression), worked by hand.

The areas here are four forces A, B (region R1) and C, D (region R2), the regions and
England and Wales. More cases through the product in tests/test_measures.py, the
property test in tests/test_suppression_properties.py.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from kpis.engine.suppression import feasible_ranges, protect

FORCES = 4
# Rows: A, B, C, D, England and Wales, R1, R2 (columns: the forces).
MEMBERSHIP = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1],
                       [1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 1, 1]], dtype=float)
A, B, C, D, EW, R1, R2 = range(7)


def grid_of(*months: tuple[float, float, float, float]) -> np.ndarray:
    """Every area's count from the forces' (A, B, C, D) of each month."""
    return MEMBERSHIP @ np.array(months, dtype=float).T


def suppress(grid: np.ndarray) -> np.ndarray:
    return protect(grid, np.ones(grid.shape, bool), MEMBERSHIP, FORCES,
                   (grid > 0) & (grid < 5), width=5)


def test_a_lone_small_count_gets_the_smallest_partner_in_its_region():
    # Month 1: A = 3 is small; R1 = 13 minus B = 10 would give it, so B goes too.
    # Month 2: C = 2; R2 = 32 minus D = 30 would give it, so D goes.
    grid = grid_of((3, 10, 0, 20), (0, 7, 2, 30))
    hidden = suppress(grid)
    assert np.flatnonzero(hidden[:, 0]).tolist() == [A, B]
    assert np.flatnonzero(hidden[:, 1]).tolist() == [C, D]
    # A and B add up to 13 (R1 shown): each can be anything from 0 to 13.
    low, high = feasible_ranges(grid, np.ones(grid.shape, bool), MEMBERSHIP, FORCES, hidden)
    assert (low[[A, B], 0] == 0).all() and (high[[A, B], 0] == 13).all()
    assert (low[[C, D], 1] == 0).all() and (high[[C, D], 1] == 32).all()


def test_a_partner_that_would_be_given_away_is_protected_in_turn():
    # A = 3 in R1 with B = 0, so R1 = 3 is hidden as well, and England and Wales (32)
    # minus B, C and D would give A. Hiding B (0) protects nothing, so C (9, the
    # smallest count elsewhere) partners A; R2 (29) minus D would give C, so D goes; then
    # A = 32 - 0 - 29 still follows from R2, so England and Wales goes too.
    grid = grid_of((3, 0, 9, 20))
    hidden = suppress(grid)[:, 0]
    assert np.flatnonzero(hidden).tolist() == [A, C, D, EW, R1]
    low, high = feasible_ranges(grid, np.ones(grid.shape, bool), MEMBERSHIP, FORCES,
                                hidden[:, None])
    assert low[A, 0] == 0 and high[A, 0] == np.inf  # nothing caps it any more
    assert low[C, 0] == 0 and high[C, 0] == 29  # C + D = R2
    assert (high[hidden, 0] - low[hidden, 0] >= 5).all()


def test_a_protected_pattern_is_left_alone():
    # A = 3 and B = 4: R1's 7 protects both (each 0 to 7); nothing more is hidden.
    grid = grid_of((3, 4, 10, 20))
    assert np.flatnonzero(suppress(grid)[:, 0]).tolist() == [A, B]


def test_too_narrow_a_pair_is_widened():
    # A = 1 and B = 2: R1 = 3 is itself small, so hidden; A + B = 33 - 30 = 3 from
    # England and Wales: each 0 to 3, too narrow, so R2's smaller force C goes as well.
    grid = grid_of((1, 2, 10, 20))
    hidden = suppress(grid)[:, 0]
    assert hidden[[A, B, R1]].all() and hidden[C]
    low, high = feasible_ranges(grid, np.ones(grid.shape, bool), MEMBERSHIP, FORCES,
                                hidden[:, None])
    assert (high[hidden, 0] - low[hidden, 0] >= 5).all()


def test_a_scoped_reader_loses_an_aggregate_whose_remainder_pins_a_force():
    # Five forces: A, B, E in R1 and C, D in R2. A reader limited to A (12) sees the
    # aggregates. If B + E = R1 - 12 = 0, both are pinned at 0 (counts are never
    # negative): R1 is withheld, and then England and Wales minus R2 minus A would give
    # B + E back, so it goes too. With B = 4 and E = 5, B and E trade freely (each 0 to
    # 9): nothing is withheld. Rows: A, B, C, D, E, England and Wales, R1, R2.
    membership = np.array([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0],
                           [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [1, 1, 1, 1, 1],
                           [1, 1, 0, 0, 1], [0, 0, 1, 1, 0]], dtype=float)
    present = np.ones((8, 1), bool)
    unknown = np.zeros((8, 1), bool)
    unknown[1:5] = True  # the other forces
    candidates = np.zeros((8, 1), bool)
    candidates[5:] = True  # only aggregates may be withheld

    def withheld(b: float, e: float) -> list[int]:
        grid = membership @ np.array([[12, b, 10, 20, e]], dtype=float).T
        out = protect(grid, present, membership, 5, np.zeros((8, 1), bool), width=5,
                      unknown=unknown, need=unknown, candidates=candidates)
        return np.flatnonzero(out[:, 0]).tolist()

    assert withheld(0, 0) == [5, 6]
    assert withheld(4, 5) == []
    assert withheld(1, 2) == [5, 6]  # B + E = 3: each 0 to 3, too narrow


def test_the_solver_writes_nothing_on_standard_output():
    # HiGHS prints a banner the first time a process makes a model; a CSV written to
    # standard output (flightdeck kpis --suppress) must not get it.
    script = ("import numpy as np\n"
              "from tests.test_suppression import grid_of, suppress\n"
              "suppress(grid_of((1, 2, 10, 20)))\n"
              "print('done')\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert out.stdout == "done\n"

"""The two-round strength grid finds the boundary a bisection of as many steps finds, in two calls."""

from __future__ import annotations

import numpy as np
import pytest

from diverfuzz.fuzzer.search.strength_grid import grid_boundary, round_bits


def _bisect(passes, bits: int, strongest: bool) -> float:
    """The sequential bisection the grid replaces (the old repair and shrink loops)."""
    lo, hi = 0.0, 1.0
    for _ in range(bits):
        mid = (lo + hi) / 2
        if passes(mid) == strongest:
            lo = mid
        else:
            hi = mid
    return lo if strongest else hi


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("strongest", [True, False])
def test_grid_equals_bisection_on_monotone_predicates(bits, strongest):
    thresholds = np.random.default_rng(bits).random(40).tolist() + [0.0, 1.0, 0.5, 0.25, 1 / 2**bits]
    calls: list[int] = []

    def test(trials):
        calls.append(len(trials))
        return np.array([(t <= thresholds[c]) if strongest else (t >= thresholds[c]) for c, t in trials])

    got = grid_boundary(test, len(thresholds), bits, strongest=strongest)
    want = [_bisect(lambda t, thr=thr: (t <= thr) if strongest else (t >= thr), bits, strongest) for thr in thresholds]
    assert got == want
    assert len(calls) == len(round_bits(bits)) <= 2


def test_no_bits_or_no_candidates_makes_no_call():
    def never(trials):
        raise AssertionError("called")

    assert grid_boundary(never, 3, 0, strongest=True) == [0.0, 0.0, 0.0]
    assert grid_boundary(never, 2, 0, strongest=False) == [1.0, 1.0]
    assert grid_boundary(never, 0, 5, strongest=True) == []


def test_round_bits_splits_the_resolution_over_two_rounds():
    assert [round_bits(k) for k in range(6)] == [(), (1,), (1, 1), (2, 1), (2, 2), (3, 2)]

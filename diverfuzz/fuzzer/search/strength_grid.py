"""Find a strength boundary per candidate with a few batched evaluations instead of a sequential bisection.

Validity repair looks for the strongest scaling ``t`` of a rejected candidate that the
validity rule accepts; shrinking looks for the weakest scaling ``alpha`` of a step that
still diverges. A bisection of ``k`` steps reaches a resolution of ``2**-k`` with ``k``
sequential rounds, each a separate (small) batch: at small inputs every round costs a
relation pass and a model call whose fixed overhead dwarfs the rows. :func:`grid_boundary`
reaches the same resolution in two rounds: a grid of ``2**a - 1`` strengths, then a grid
of ``2**b - 1`` strengths inside the winning cell (``a + b = k``), each round one batch
over every candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def round_bits(resolution_bits: int) -> tuple[int, ...]:
    """How :func:`grid_boundary` splits ``resolution_bits`` over its rounds: two rounds, the first the larger.

    >>> round_bits(5), round_bits(1), round_bits(0)
    ((3, 2), (1,), ())
    """
    if resolution_bits <= 0:
        return ()
    first = (resolution_bits + 1) // 2
    return (first, resolution_bits - first) if resolution_bits > first else (first,)


def grid_boundary(
    test: Callable[[Sequence[tuple[int, float]]], np.ndarray],
    count: int,
    resolution_bits: int,
    *,
    strongest: bool,
) -> list[float]:
    """For each of ``count`` candidates, the grid strength at the boundary of ``test``, in two batched rounds.

    Parameters
    ----------
    test : callable
        ``test([(candidate, t), ...]) -> bool array``: whether candidate ``candidate`` scaled
        to strength ``t`` in ``(0, 1)`` passes. Called once per round with every candidate's
        grid points (at most two calls).
    count : int
        Number of candidates (indices ``0 .. count - 1``).
    resolution_bits : int
        The result lies on the grid ``j / 2**resolution_bits`` (>= 0; 0: no call, every
        candidate gets its default).
    strongest : bool
        True: the largest passing ``t`` (passing is expected for small ``t``; default 0.0,
        i.e. none passed); False: the smallest passing ``t`` (passing expected for large
        ``t``; default 1.0).

    Returns
    -------
    list of float
        One strength per candidate, ``j / 2**resolution_bits``.

    Notes
    -----
    Round 1 tests ``t = j / 2**a`` (``j = 1 .. 2**a - 1``); the best passing point and its
    neighbour towards the failing side bound a cell, and round 2 tests the ``2**b - 1``
    interior points of that cell. When passing is monotone in ``t`` this finds the same
    boundary as a bisection of ``a + b`` steps; when it is not, the grid may find a passing
    point bisection skipped.
    """
    lo = [0.0 if strongest else 1.0] * count  # the best passing strength so far
    if count == 0:
        return lo
    low_edge, width = [0.0] * count, 1.0
    for bits in round_bits(resolution_bits):
        points = 2**bits
        step = width / points
        trials = [(c, low_edge[c] + j * step) for c in range(count) for j in range(1, points)]
        passed = np.asarray(test(trials), dtype=bool)
        for (c, t), ok in zip(trials, passed):
            if ok and (t > lo[c] if strongest else t < lo[c]):
                lo[c] = t
        for c in range(count):
            # The next cell lies between the best passing strength (or the cell's edge on
            # the passing side when none passed) and its failing neighbour.
            low_edge[c] = max(lo[c], low_edge[c]) if strongest else lo[c] - step
        width = step
    return lo

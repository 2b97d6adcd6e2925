"""Fitness functions of the strategies, computed from both models' probabilities.

The evaluator hands every strategy the two models' softmax outputs
(:class:`diverfuzz.fuzzer.search.evaluate.BatchResult`); each strategy turns them into the
objective its paper describes. Rows the validity constraint rejected hold
NaN probabilities and get :func:`penalised` fitness instead.
"""

from __future__ import annotations

import numpy as np

from diverfuzz.fuzzer.search.evaluate import INVALID_FITNESS
from diverfuzz.oracles.fitness import disagreement_margin

#: Re-exported: the margin lives in :mod:`diverfuzz.oracles.fitness`, shared with the evaluator.
__all__ = [
    "decisive",
    "disagreement_margin",
    "k_uncertainty",
    "probability_gap",
    "top_probability_gap",
    "penalised",
    "score",
]


def k_uncertainty(reference_probs: np.ndarray, candidate_probs: np.ndarray, *, k: int = 2) -> np.ndarray:
    """DiffChaser's k-uncertainty fitness, ``(N,)`` in ``[-1, 0]`` (higher is better).

    ``-(p_1 - p_k)`` of the candidate, where ``p_1`` and ``p_k`` are its
    top-1 and k-th largest probabilities: the fitness pushes the two
    together, so a small further change can swap them (Xie et al.,
    "DiffChaser: Detecting Disagreements for Deep Neural Networks", IJCAI
    2019; ``k = 2`` by default).
    """
    srt = np.sort(candidate_probs, axis=1)[:, ::-1]
    return -(srt[:, 0] - srt[:, min(k, srt.shape[1]) - 1])


def top_probability_gap(reference_probs: np.ndarray, candidate_probs: np.ndarray) -> np.ndarray:
    """DFlare's fitness, ``(N,)`` in ``[-1, 1]``: each model's own top-1 probability, subtracted.

    ``max(p_r) - max(p_c)``: the reference's top-1 probability minus the
    candidate's top-1 probability (``org_result.prob[0] - cps_result.prob[0]``
    in the authors' ``test_gen_main.py``, where ``prob`` is the probability of
    the model's own label; while both models agree it is the same class).
    Tian et al., "Finding Deviated Behaviors of the Compressed DNN Models for
    Image Classifications", ACM TOSEM 2023, Sec. 3.4.
    """
    return reference_probs.max(axis=1) - candidate_probs.max(axis=1)


def probability_gap(reference_probs: np.ndarray, candidate_probs: np.ndarray) -> np.ndarray:
    """Reference-label probability gap, ``(N,)`` in ``[-1, 1]`` (not DFlare's fitness).

    ``p_r[r] - p_c[r]`` for the reference's label ``r``: how much less the
    candidate believes the reference's answer. It equals DFlare's
    :func:`top_probability_gap` while both models agree and differs once they
    do not (then the candidate's own top-1 is another class); DFlare uses
    :func:`top_probability_gap`.
    """
    r = reference_probs.argmax(axis=1)
    rows = np.arange(len(r))
    return reference_probs[rows, r] - candidate_probs[rows, r]


def penalised(fitness: np.ndarray, valid: np.ndarray, violation: np.ndarray) -> np.ndarray:
    """Grade rejected rows by how far they miss the validity constraint.

    Valid rows keep ``fitness``; rejected rows get ``-1 - min(1, violation)``,
    in ``[INVALID_FITNESS, -1)``: below every valid candidate (so an invalid
    one is never preferred, nor reported), but higher the nearer it lies to
    the boundary, so the search can walk back to it.
    """
    out = np.array(fitness, dtype=np.float64, copy=True)
    bad = ~np.asarray(valid, dtype=bool)
    out[bad] = np.maximum(INVALID_FITNESS, -1.0 - np.minimum(1.0, np.nan_to_num(violation[bad], nan=1.0, posinf=1.0)))
    return out


def decisive(fitness: np.ndarray, reference_probs: np.ndarray, min_margin: float) -> np.ndarray:
    """Fitness that pursues decisive divergences: ``min(fitness, m_r - min_margin)``.

    ``m_r`` is the reference's top-1 minus top-2 probability. With ``min_margin`` 0 the
    fitness is unchanged; otherwise a candidate scores positive only where the objective
    does *and* the reference is at least ``min_margin`` sure, so the search is pulled away
    from near-ties (where any rounding flips the answer) towards disagreements where the
    reference is sure.
    """
    if min_margin <= 0:
        return fitness
    top = np.partition(reference_probs, -2, axis=1)[:, -2:]
    return np.minimum(fitness, (top[:, 1] - top[:, 0]) - min_margin)


def score(result, objective) -> np.ndarray:
    """``objective`` on a :class:`~diverfuzz.fuzzer.search.evaluate.BatchResult`, INVALID_FITNESS where rejected."""
    n = len(result.chains)
    out = np.full(n, INVALID_FITNESS)
    idx = np.flatnonzero(result.valid)
    if len(idx):
        out[idx] = objective(result.reference_probs[idx], result.candidate_probs[idx])
    return out

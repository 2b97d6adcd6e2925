"""Continuous fitness: how close an input is to a top-1 divergence."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oracles.divergence import softmax


@dataclass(frozen=True)
class MarginFitness:
    """Negative decision margin of the candidate on the reference's label.

    For an input with reference label ``r = argmax reference(x)`` and
    candidate probabilities ``p``, the fitness is
    ``max_{j != r} p[j] - p[r]``, in ``[-1, 1]``. It rises as the candidate's
    confidence in the reference's label falls towards its best other class,
    and is positive exactly when the candidate's top-1 differs from ``r``
    (the divergence), so a search maximising it walks towards divergences.

    Notes
    -----
    DiverGet (Yahmed et al., 2022) and DiffChaser (Xie et al., 2019) both
    guide their genetic search with such a probability margin between the
    label the reference gives and the counterpart's best competitor.
    """

    def __call__(self, reference_logits: np.ndarray, candidate_logits: np.ndarray) -> np.ndarray:
        """Fitness ``(N,)`` float64, higher is closer to a divergence."""
        ref_label = np.argmax(reference_logits, axis=1)
        p = softmax(candidate_logits)
        rows = np.arange(len(p))
        p_ref = p[rows, ref_label]
        others = p.copy()
        others[rows, ref_label] = -np.inf
        return others.max(axis=1) - p_ref

"""Divergence tests: decide whether the two models disagree on an input."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(N, classes)`` logits, computed stably in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class TopOneDisagreement:
    """The two models' top-1 classes differ.

    Notes
    -----
    The divergence criterion of DiffChaser (Xie et al., ISSTA 2019) and
    DiverGet (Yahmed et al., 2022): an input diverges when
    ``argmax reference(x) != argmax candidate(x)``. Ties resolve to the lowest
    class index, as ``numpy.argmax`` does, for both models alike.
    """

    def __call__(self, reference_logits: np.ndarray, candidate_logits: np.ndarray) -> np.ndarray:
        """Boolean mask ``(N,)``: True where the top-1 labels differ."""
        return np.argmax(reference_logits, axis=1) != np.argmax(candidate_logits, axis=1)

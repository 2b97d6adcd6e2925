"""Margins: how close an input is to a top-1 divergence (the one margin module).

Both the evaluator's recorded fitness (:class:`MarginFitness`, on logits) and
the genetic search's objective (:func:`disagreement_margin`, on
probabilities) are built on :func:`label_margin`; the search imports them
from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diverfuzz.oracles.divergence import softmax


def label_margin(p: np.ndarray, label: np.ndarray) -> np.ndarray:
    """``max_{j != label} p[j] - p[label]`` per row, ``(N,)``.

    Parameters
    ----------
    p : ndarray, float, (N, K)
        Probabilities (or any scores) per class.
    label : ndarray, int, (N,)
        The class each row is measured against.

    Returns
    -------
    ndarray, float64, (N,)
        In ``[-1, 1]`` for probabilities: negative while ``label`` is the
        top-1, positive once another class beats it.
    """
    rows = np.arange(len(p))
    others = p.copy()
    others[rows, label] = -np.inf
    return others.max(axis=1) - p[rows, label]


def disagreement_margin(reference_probs: np.ndarray, candidate_probs: np.ndarray) -> np.ndarray:
    """Margin fitness across both models, ``(N,)`` in ``[-1, 1]``.

    ``(m_c + m_r) / 2`` where ``m_c = max_{j != r} p_c[j] - p_c[r]`` is how
    far the candidate is from leaving the reference's label ``r`` and
    ``m_r = max_{j != c} p_r[j] - p_r[c]`` how far the reference is from
    leaving the candidate's label ``c``. While the models agree both terms
    are <= 0; once their top-1 labels differ both are > 0, so the fitness is
    positive exactly at a divergence (ties aside). Unlike DiverGet's margin
    (``m_c`` alone, :class:`MarginFitness`) it also rewards inputs that bring
    the reference to its decision boundary, where the counterpart's rounding
    decides the label; unlike ``max(m_c, m_r)`` it keeps a slope in both terms.
    """
    r = reference_probs.argmax(axis=1)
    c = candidate_probs.argmax(axis=1)
    return 0.5 * (label_margin(candidate_probs, r) + label_margin(reference_probs, c))


@dataclass(frozen=True)
class MarginFitness:
    """Negative decision margin of the candidate on the reference's label.

    For an input with reference label ``r = argmax reference(x)`` and
    candidate probabilities ``p``, the fitness is
    ``max_{j != r} p[j] - p[r]`` (:func:`label_margin`), in ``[-1, 1]``. It
    rises as the candidate's confidence in the reference's label falls
    towards its best other class, and is positive exactly when the
    candidate's top-1 differs from ``r`` (the divergence), so a search
    maximising it walks towards divergences.

    Notes
    -----
    DiverGet (Yahmed et al., 2022) and DiffChaser (Xie et al., 2019) both
    guide their genetic search with such a probability margin between the
    label the reference gives and the counterpart's best competitor.
    """

    def __call__(self, reference_logits: np.ndarray, candidate_logits: np.ndarray) -> np.ndarray:
        """Fitness ``(N,)`` float64, higher is closer to a divergence."""
        return label_margin(softmax(candidate_logits), np.argmax(reference_logits, axis=1))


__all__ = ["MarginFitness", "disagreement_margin", "label_margin"]

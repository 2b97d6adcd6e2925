"""Uncertainty quantifiers: softmax outputs to scores, higher meaning more uncertain.

The set is the one uncertainty-wizard offers (Weiss and Tonella [1]):

=====================  =========  ===============================================
name                   input      score (higher = more uncertain)
=====================  =========  ===============================================
``max_softmax``        point      ``1 - max_k p_k`` (Hendrycks and Gimpel [2])
``margin``             point      ``1 - (p_(1) - p_(2))``: one minus the
                                  prediction confidence score (PCS) [1]
``entropy``            point      softmax entropy ``-sum_k p_k ln p_k`` (nats)
``deepgini``           point      ``1 - sum_k p_k^2`` (Feng et al. [3])
``variation_ratio``    sampled    ``1 - (votes of the modal label) / S`` [1, 4]
``predictive_entropy`` sampled    entropy of the mean softmax [4]
``mutual_information`` sampled    predictive entropy minus mean entropy [4]
``mean_softmax``       sampled    ``1 - max_k mean_s p_sk``: max softmax of the
                                  mean prediction [1]
=====================  =========  ===============================================

Point quantifiers take ``(N, K)`` probabilities, sampled ones ``(S, N, K)``
(MC-dropout passes or ensemble members). Scores are oriented so that a
supervisor rejects inputs scoring above its threshold.

References
----------
.. [1] M. Weiss and P. Tonella, "Uncertainty-Wizard: Fast and User-Friendly
   Neural Network Uncertainty Quantification", ICST 2021 (tool paper), and
   "Fail-Safe Execution of Deep Learning based Systems through Uncertainty
   Monitoring", ICST 2021.
.. [2] D. Hendrycks and K. Gimpel, "A Baseline for Detecting Misclassified and
   Out-of-Distribution Examples in Neural Networks", ICLR 2017.
.. [3] Y. Feng, Q. Shi, X. Gao, J. Wan, C. Fang and Z. Chen, "DeepGini:
   Prioritizing Massive Tests to Enhance the Robustness of Deep Neural
   Networks", ISSTA 2020.
.. [4] Y. Gal, "Uncertainty in Deep Learning", PhD thesis, Cambridge, 2016
   (variation ratio, predictive entropy, mutual information).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from diverfuzz.common.errors import DiverfuzzError


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax along the last axis (numerically stable)."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def entropy(p: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) along the last axis."""
    return -(p * np.log(np.clip(p, 1e-300, None))).sum(axis=-1)


def max_softmax(p: np.ndarray) -> np.ndarray:
    """``1 - max_k p_k`` of ``(N, K)`` probabilities."""
    return 1.0 - p.max(axis=-1)


def margin(p: np.ndarray) -> np.ndarray:
    """``1 - (p_(1) - p_(2))``: one minus the prediction confidence score."""
    top2 = np.sort(p, axis=-1)[..., -2:]
    return 1.0 - (top2[..., 1] - top2[..., 0])


def deepgini(p: np.ndarray) -> np.ndarray:
    """``1 - sum_k p_k^2`` (Gini impurity)."""
    return 1.0 - (p * p).sum(axis=-1)


def variation_ratio(probs: np.ndarray) -> np.ndarray:
    """``1 - (votes of the modal label) / S`` of ``(S, N, K)`` samples."""
    s, n, k = probs.shape
    labels = probs.argmax(axis=2)
    counts = np.zeros((n, k), dtype=np.int64)
    for row in labels:
        counts[np.arange(n), row] += 1
    return 1.0 - counts.max(axis=1) / s if n else np.zeros(0)


def predictive_entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy of the mean of ``(S, N, K)`` samples."""
    return entropy(probs.mean(axis=0))


def mutual_information(probs: np.ndarray) -> np.ndarray:
    """Predictive entropy minus the mean per-sample entropy (>= 0 up to rounding)."""
    return entropy(probs.mean(axis=0)) - entropy(probs).mean(axis=0)


def mean_softmax(probs: np.ndarray) -> np.ndarray:
    """``1 - max_k`` of the mean softmax of ``(S, N, K)`` samples."""
    return 1.0 - probs.mean(axis=0).max(axis=-1)


#: Quantifiers of one softmax output ``(N, K) -> (N,)``.
POINT_QUANTIFIERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "max_softmax": max_softmax,
    "margin": margin,
    "entropy": entropy,
    "deepgini": deepgini,
}

#: Quantifiers of sampled softmax outputs ``(S, N, K) -> (N,)``.
SAMPLED_QUANTIFIERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "variation_ratio": variation_ratio,
    "predictive_entropy": predictive_entropy,
    "mutual_information": mutual_information,
    "mean_softmax": mean_softmax,
}


def point_quantity(p: np.ndarray, name: str) -> np.ndarray:
    """``POINT_QUANTIFIERS[name](p)``, with a clear error for an unknown name."""
    if name not in POINT_QUANTIFIERS:
        raise DiverfuzzError(f"quantifier={name!r} is not one of {', '.join(POINT_QUANTIFIERS)}")
    return POINT_QUANTIFIERS[name](p)


def sampled_quantity(probs: np.ndarray, name: str) -> np.ndarray:
    """``SAMPLED_QUANTIFIERS[name](probs)``, with a clear error for an unknown name."""
    if name not in SAMPLED_QUANTIFIERS:
        raise DiverfuzzError(f"quantity={name!r} is not one of {', '.join(SAMPLED_QUANTIFIERS)}")
    return SAMPLED_QUANTIFIERS[name](probs)


__all__ = [
    "POINT_QUANTIFIERS",
    "SAMPLED_QUANTIFIERS",
    "deepgini",
    "entropy",
    "margin",
    "max_softmax",
    "mean_softmax",
    "mutual_information",
    "point_quantity",
    "predictive_entropy",
    "sampled_quantity",
    "softmax",
    "variation_ratio",
]

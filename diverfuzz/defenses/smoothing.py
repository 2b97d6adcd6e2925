"""Randomized smoothing (Cohen et al. 2019): predict and certify an L2 radius.

The smoothed classifier ``g(x) = argmax_c P(f(x + e) = c)``, ``e ~ N(0, sigma^2 I)``,
is certified robust at ``x`` within L2 radius ``sigma * Phi^-1(p_A)`` whenever
the top class has probability ``p_A > 1/2``. :func:`predict` and
:func:`certify` are the paper's PREDICT and CERTIFY (Algorithms in Section
3.2), with Monte Carlo noise from a ``numpy.random.Generator``; the base
classifier is any model (the reference or its reduced-precision counterpart,
side by side). :class:`SmoothedModel` is a deterministic stand-in that can be
fuzzed and quantized: the log of the mean softmax over a fixed, seeded bank
of noise draws.

References
----------
.. [1] J. Cohen, E. Rosenfeld and J. Z. Kolter, "Certified Adversarial
   Robustness via Randomized Smoothing", ICML 2019 (arXiv:1902.02918).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
from scipy.stats import beta, binomtest, norm
from torch import nn

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.inference import batched_logits

#: The label :func:`predict` and :func:`certify` return when they abstain.
ABSTAIN = -1

#: Cohen et al.'s defaults ([1], Section 4): n0 = 100, n = 100,000, alpha = 0.001.
DEFAULT_N0 = 100
DEFAULT_N = 100_000
DEFAULT_ALPHA = 0.001

Model = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SmoothedCertificate:
    """CERTIFY's answer for one input.

    Attributes
    ----------
    label : int
        The certified class, or :data:`ABSTAIN` (-1).
    radius : float
        Certified L2 radius ``sigma * Phi^-1(p_A_lower)`` (0 when abstaining).
    p_lower : float
        One-sided ``(1 - alpha)`` Clopper-Pearson lower bound on ``p_A``.
    """

    label: int
    radius: float
    p_lower: float

    def to_dict(self) -> dict:
        return asdict(self)


def _check(sigma: float, n: int, alpha: float) -> None:
    if not (isinstance(sigma, (int, float)) and 0 < sigma < math.inf):
        raise DiverfuzzError(f"sigma={sigma!r} must be a finite number > 0 (Cohen et al.: 0.12 to 1.0)")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise DiverfuzzError(f"n={n!r} must be an int >= 1 (Cohen et al.: 100,000)")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise DiverfuzzError(f"alpha={alpha!r} must be in (0, 1) (Cohen et al.: 0.001)")


def sample_counts(
    model: Model,
    x: np.ndarray,
    sigma: float,
    n: int,
    rng: np.random.Generator,
    *,
    batch_size: int = 1000,
) -> np.ndarray:
    """Votes of ``model`` on ``n`` Gaussian-noised copies of each input.

    Parameters
    ----------
    model : nn.Module or callable
        Base classifier: batch -> logits.
    x : ndarray, float32, (N, *input_shape)
    sigma : float
        Noise standard deviation, ``> 0``.
    n : int
        Noise draws per input.
    rng : numpy.random.Generator
        Source of the noise (the only randomness).
    batch_size : int, optional
        Noisy copies sent to the model at once (default 1000).

    Returns
    -------
    ndarray of int64, (N, classes)
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    counts = None
    for i, row in enumerate(x):
        done = 0
        while done < n:
            m = min(batch_size, n - done)
            noisy = row[None] + rng.normal(0.0, sigma, (m, *row.shape)).astype(np.float32)
            labels = batched_logits(model, noisy, batch_size=batch_size).argmax(axis=1)
            if counts is None:
                k = batched_logits(model, row[None]).shape[1]
                counts = np.zeros((len(x), k), dtype=np.int64)
            counts[i] += np.bincount(labels, minlength=counts.shape[1])
            done += m
    return counts if counts is not None else np.zeros((0, 0), dtype=np.int64)


def lower_confidence_bound(k: int | np.ndarray, n: int, alpha: float) -> np.ndarray:
    """One-sided ``(1 - alpha)`` Clopper-Pearson lower bound on a binomial proportion ``k / n``.

    ``Beta(alpha; k, n - k + 1)`` quantile (0 when ``k = 0``): Cohen et al.'s
    ``LowerConfBound`` ([1], Algorithm 1).
    """
    k = np.asarray(k)
    return np.where(k > 0, beta.ppf(alpha, np.maximum(k, 1), n - k + 1), 0.0)


def predict(
    model: Model,
    x: np.ndarray,
    sigma: float,
    n: int,
    alpha: float,
    rng: np.random.Generator,
    *,
    batch_size: int = 1000,
) -> np.ndarray:
    """Cohen et al.'s PREDICT: the smoothed label, or :data:`ABSTAIN`.

    Parameters
    ----------
    model, x, sigma, n, rng, batch_size
        As for :func:`sample_counts`.
    alpha : float
        Probability of returning a wrong (non-abstain) label, in ``(0, 1)``.

    Returns
    -------
    ndarray of int64, (N,)
        The top class when a two-sided binomial test of its count against
        the runner-up's (``binomtest(n_A, n_A + n_B, 0.5)``) rejects at
        ``alpha``; :data:`ABSTAIN` otherwise. With ``n`` draws the smallest
        p-value is ``2^(1 - n)``, so ``n < 1 - log2(alpha)`` always abstains
        (``n = 10`` at ``alpha = 0.001``).
    """
    _check(sigma, n, alpha)
    counts = sample_counts(model, x, sigma, n, rng, batch_size=batch_size)
    out = np.full(len(counts), ABSTAIN, dtype=np.int64)
    for i, c in enumerate(counts):
        order = np.argsort(-c, kind="stable")
        n_a, n_b = int(c[order[0]]), int(c[order[1]]) if len(c) > 1 else 0
        if binomtest(n_a, n_a + n_b, 0.5).pvalue <= alpha:
            out[i] = order[0]
    return out


def certify(
    model: Model,
    x: np.ndarray,
    sigma: float,
    n0: int,
    n: int,
    alpha: float,
    rng: np.random.Generator,
    *,
    batch_size: int = 1000,
) -> list[SmoothedCertificate]:
    """Cohen et al.'s CERTIFY: a label and an L2 radius it is robust within, or abstain.

    Parameters
    ----------
    model, x, sigma, rng, batch_size
        As for :func:`sample_counts`.
    n0 : int
        Draws that select the candidate top class (paper: 100).
    n : int
        Fresh draws that estimate its probability (paper: 100,000).
    alpha : float
        Failure probability of the certificate (paper: 0.001).

    Returns
    -------
    list of SmoothedCertificate
        Radius ``sigma * Phi^-1(p_A_lower)`` where ``p_A_lower`` is the
        one-sided Clopper-Pearson lower bound; abstains (label -1, radius 0)
        when ``p_A_lower <= 1/2``. A unanimous vote of ``n = 10,000`` at
        ``alpha = 0.001`` certifies ``3.20 sigma``.
    """
    _check(sigma, n, alpha)
    _check(sigma, n0, alpha)
    guess = sample_counts(model, x, sigma, n0, rng, batch_size=batch_size).argmax(axis=1)
    counts = sample_counts(model, x, sigma, n, rng, batch_size=batch_size)
    n_a = counts[np.arange(len(counts)), guess]
    p_lower = lower_confidence_bound(n_a, n, alpha)
    out = []
    for label, p in zip(guess, p_lower):
        if p <= 0.5:
            out.append(SmoothedCertificate(ABSTAIN, 0.0, float(p)))
        else:
            out.append(SmoothedCertificate(int(label), float(sigma * norm.ppf(p)), float(p)))
    return out


def certified_accuracy(certificates: list[SmoothedCertificate], y: np.ndarray, radius: float = 0.0) -> float:
    """Fraction of inputs certified with the correct label at L2 radius ``>= radius`` ([1], Section 4)."""
    ok = [c.label == int(t) and c.label != ABSTAIN and c.radius >= radius for c, t in zip(certificates, y)]
    return float(np.mean(ok)) if ok else float("nan")


class GaussianAugment(nn.Module):
    """Adds ``N(0, sigma^2)`` noise in training mode only (seeded ``torch.Generator``).

    Cohen et al. train the base classifier with Gaussian noise augmentation at
    the ``sigma`` it is smoothed with ([1], Section 4); put this module first
    in the network and train with :func:`diverfuzz.models.training.train_classifier`.
    In eval mode it is the identity.
    """

    def __init__(self, sigma: float, *, seed: int = 0) -> None:
        super().__init__()
        _check(sigma, 1, 0.5)
        self.sigma = float(sigma)
        self.generator = torch.Generator().manual_seed(int(seed))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        return x + torch.randn(x.shape, generator=self.generator).to(x.dtype) * self.sigma


class SmoothedModel(nn.Module):
    """Deterministic Monte Carlo smoothed classifier: ``log mean_i softmax(f(x + e_i))``.

    Parameters
    ----------
    base : nn.Module
        The base classifier (not copied).
    sigma : float
        Noise standard deviation, ``> 0``.
    draws : int
        Noise draws averaged per prediction (default 16).
    input_shape : tuple of int
        One input's shape (no batch axis).
    seed : int
        Seeds the fixed noise bank (a ``numpy.random.Generator``), stored as
        a buffer, so the model is a deterministic function of its input, can
        be fuzzed, replayed, and exported for quantization.

    Notes
    -----
    The argmax of the output estimates the smoothed classifier ``g`` of [1]
    from ``draws`` fixed draws; certificates come from :func:`certify` on
    ``base``.
    """

    def __init__(self, base: nn.Module, sigma: float, *, input_shape: tuple[int, ...], draws: int = 16, seed: int = 0) -> None:
        super().__init__()
        _check(sigma, draws, 0.5)
        self.base, self.sigma, self.draws = base, float(sigma), int(draws)
        noise = np.random.default_rng(seed).normal(0.0, sigma, (draws, *input_shape)).astype(np.float32)
        self.register_buffer("noise", torch.from_numpy(noise), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        noisy = (x.unsqueeze(0) + self.noise.unsqueeze(1)).reshape(self.draws * b, *x.shape[1:])
        probs = torch.softmax(self.base(noisy), dim=-1).reshape(self.draws, b, -1).mean(dim=0)
        return torch.log(probs.clamp_min(1e-30))


__all__ = [
    "ABSTAIN",
    "GaussianAugment",
    "DEFAULT_ALPHA",
    "DEFAULT_N",
    "DEFAULT_N0",
    "SmoothedCertificate",
    "SmoothedModel",
    "certified_accuracy",
    "certify",
    "lower_confidence_bound",
    "predict",
    "sample_counts",
]

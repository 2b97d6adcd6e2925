"""How often two models disagree: a rate over seeds, with an interval that respects the seeds.

Draws of one seed are not independent: a seed near the decision boundary disagrees under
many distortions, one far from it under none. The interval is therefore computed over
seeds, the unit that was sampled (Field and Welsh, 2007, on the cluster bootstrap):

- every seed contributes one draw (the clean, severity-0 column; ``--samples 1``): the
  exact Clopper-Pearson interval over seeds (Clopper and Pearson, 1934);
- every seed gives the same rate (no disagreement at all, or disagreement on every draw):
  the bootstrap over seeds has nothing to resample, and the exact interval over all draws
  is given, whose upper bound with no disagreement is about ``3.7 / draws`` (the two-sided
  "rule of three");
- otherwise: the BCa bootstrap over seeds (Efron, 1987; ``scipy.stats.bootstrap``,
  paired resampling of each seed's disagreements and draws, statistic
  ``sum(disagreements) / sum(draws)``).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy import stats

from diverfuzz.common.errors import DiverfuzzError

#: Interval methods, as recorded in :attr:`Rate.method`.
METHODS = ("exact-seeds", "exact-draws", "bootstrap-seeds")

#: Bootstrap resamples (B) of :func:`seed_rate` by default.
RESAMPLES = 2000


@dataclass(frozen=True)
class Rate:
    """A disagreement rate and its interval.

    Attributes
    ----------
    disagreements : int
        Draws on which the two labels differ.
    samples : int
        Draws in all (over every seed).
    seeds : int
        Seeds the draws came from.
    probability : float
        ``disagreements / samples`` in ``[0, 1]`` (0 without draws).
    low, high : float
        The interval's bounds, ``0 <= low <= probability <= high <= 1``.
    method : str
        One of :data:`METHODS` (see the module docstring).
    """

    disagreements: int
    samples: int
    seeds: int
    probability: float
    low: float
    high: float
    method: str

    def to_dict(self) -> dict:
        return asdict(self)


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact binomial interval of ``k`` successes in ``n`` trials.

    Parameters
    ----------
    k : int
        Successes, ``0 <= k <= n``.
    n : int
        Trials, ``>= 0``; with none, the interval is ``(0, 1)``.
    confidence : float, optional
        In ``(0, 1)``; default 0.95.

    Examples
    --------
    >>> low, high = clopper_pearson(0, 1000)
    >>> low, round(high, 5)
    (0.0, 0.00368)
    """
    if n == 0:
        return 0.0, 1.0
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


def _ratio(k: np.ndarray, n: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sum(k, axis=axis) / np.sum(n, axis=axis)


def seed_rate(
    disagreements: Sequence[int] | np.ndarray,
    draws: Sequence[int] | np.ndarray,
    *,
    confidence: float = 0.95,
    resamples: int = RESAMPLES,
    rng: np.random.Generator | int | None = 0,
) -> Rate:
    """The disagreement rate over seeds, with a ``confidence`` interval over seeds.

    Parameters
    ----------
    disagreements : sequence of int
        For each seed, its draws on which the labels differ (``0 <= k_i <= n_i``).
    draws : sequence of int
        For each seed, its draws (``n_i >= 1``), same length.
    confidence : float, optional
        In ``(0, 1)``; default 0.95.
    resamples : int, optional
        Bootstrap resamples, ``>= 100``; default :data:`RESAMPLES`.
    rng : Generator or int, optional
        Source of the bootstrap's resampling (default 0: the same interval every call).

    Returns
    -------
    Rate
        Method chosen as the module docstring says.

    Examples
    --------
    >>> seed_rate([0, 0, 0], [100, 100, 100]).method
    'exact-draws'
    >>> seed_rate([1, 0, 1, 1], [1, 1, 1, 1]).method
    'exact-seeds'
    """
    k = np.asarray(disagreements, dtype=np.int64)
    n = np.asarray(draws, dtype=np.int64)
    if k.shape != n.shape or k.ndim != 1:
        raise DiverfuzzError(
            f"disagreements and draws: expected two 1-D arrays of one length, got {k.shape} and {n.shape}"
        )
    if np.any(n < 1) or np.any(k < 0) or np.any(k > n):
        raise DiverfuzzError("disagreements and draws: expected 0 <= disagreements <= draws and draws >= 1 per seed")
    if not 0.0 < confidence < 1.0:
        raise DiverfuzzError(f"confidence={confidence!r}: expected a value in (0, 1), e.g. 0.95")
    if resamples < 100:
        raise DiverfuzzError(f"resamples={resamples!r}: expected at least 100 bootstrap resamples")
    seeds, total, hits = len(n), int(n.sum()), int(k.sum())
    if seeds == 0:
        return Rate(0, 0, 0, 0.0, 0.0, 1.0, "exact-draws")
    p = hits / total
    if np.all(n == 1):
        low, high = clopper_pearson(hits, total, confidence)
        method = "exact-seeds"
    elif np.all(k * n[0] == n * k[0]) or seeds == 1:
        # Every seed at the same rate: nothing to resample (and one seed alone cannot show its spread).
        low, high = clopper_pearson(hits, total, confidence)
        method = "exact-draws"
    else:
        with warnings.catch_warnings():  # BCa's own notes on small samples; the interval stands
            warnings.simplefilter("ignore")
            res = stats.bootstrap(
                (k, n), _ratio, paired=True, vectorized=True, n_resamples=resamples,
                confidence_level=confidence, method="BCa", random_state=rng,
            )
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if not (np.isfinite(low) and np.isfinite(high)):  # a degenerate BCa: the percentile interval
            res = stats.bootstrap(
                (k, n), _ratio, paired=True, vectorized=True, n_resamples=resamples,
                confidence_level=confidence, method="percentile", random_state=rng,
            )
            low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        method = "bootstrap-seeds"
    return Rate(hits, total, seeds, p, max(0.0, min(low, p)), min(1.0, max(high, p)), method)

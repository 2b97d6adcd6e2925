"""Noise relations, seeded and deterministic.

Randomness comes only from the integer ``seed`` parameter, passed to
``np.random.default_rng`` (the draws of ``skimage.util.random_noise`` with
``rng=seed``, for the two original relations), so a :class:`~diverfuzz.relations.Step`
fully determines its output. The draws come from the memo of
:mod:`diverfuzz.relations.draws` (the same values bit for bit, drawn once per seed and
shape: the search re-applies a chain with its levels scaled but its seeds
kept).

``RELATIONS`` holds the original two (registry positions 5 and 6);
``SENSOR_RELATIONS`` the later speckle and Poisson (shot) noise.
"""

from __future__ import annotations

import numpy as np

from . import draws
from .relation import ParamSpec, Relation

__all__ = [
    "gaussian_noise",
    "salt_pepper",
    "speckle_noise",
    "poisson_noise",
    "RELATIONS",
    "SENSOR_RELATIONS",
    "SEED_SPEC",
]

SEED_SPEC = ParamSpec(0, 2**31 - 1, 0, integer=True, doc="noise seed")
"""Integer seed in ``[0, 2**31 - 1]``; identity ``0`` (irrelevant when the noise level is 0)."""


def gaussian_noise(x: np.ndarray, *, sigma: float, seed: int) -> np.ndarray:
    """Add i.i.d. Gaussian noise to every element.

    Parameters
    ----------
    x : np.ndarray
        Image ``(C, H, W)``, float32 in ``[0, 1]``.
    sigma : float
        Noise standard deviation in ``[0, 0.2]``; identity ``0``.
    seed : int
        Seed in ``[0, 2**31 - 1]``; identity ``0``.

    Notes
    -----
    ``skimage.util.random_noise(mode="gaussian", var=sigma**2, clip=True)``:
    the same draws and arithmetic, computed here directly (tested equal).
    Sensor noise as a natural distortion, as in DeepHunter (Xie et al., 2019).
    """
    return np.clip(x + _gaussian_draw(sigma, seed, x.shape), 0.0, 1.0).astype(np.float32)


def _gaussian_draw(sigma: float, seed: int, shape: tuple[int, ...], out: np.ndarray | None = None) -> np.ndarray:
    # random_noise(mode="gaussian", mean=0.0, var=sigma**2): float64 normal draws.
    return draws.normal((sigma**2) ** 0.5, seed, shape, out)


def _gaussian_noise_batch(xs: np.ndarray, params: list[dict]) -> np.ndarray:
    noise = np.empty(xs.shape, dtype=np.float64)
    for i, p in enumerate(params):
        _gaussian_draw(p["sigma"], p["seed"], xs.shape[1:], noise[i])
    return np.clip(xs + noise, 0.0, 1.0).astype(np.float32)


def salt_pepper(x: np.ndarray, *, amount: float, seed: int) -> np.ndarray:
    """Set a random fraction of elements to 0 or 1 (salt-and-pepper noise).

    Parameters
    ----------
    x : np.ndarray
        Image ``(C, H, W)``, float32 in ``[0, 1]``.
    amount : float
        Fraction of elements replaced, in ``[0, 0.2]``; identity ``0``.
    seed : int
        Seed in ``[0, 2**31 - 1]``; identity ``0``.

    Notes
    -----
    ``skimage.util.random_noise(mode="s&p", salt_vs_pepper=0.5)``: the same
    draws, computed here directly (tested equal); elements (not whole
    pixels) are drawn independently in every channel.
    """
    return _salt_pepper_batch(x[None], [{"amount": amount, "seed": seed}])[0]


def _salt_pepper_masks(amount: float, seed: int, shape: tuple[int, ...], flipped: np.ndarray, salted: np.ndarray) -> None:
    # skimage.util.noise._bernoulli twice on one generator, no draw at p = 0 or 1:
    # flipped = u1 <= amount, salted = u2 <= 0.5, where u1, u2 are the first two
    # rng.random(shape) draws; at amount 0 or 1 salted takes the first draw (at
    # amount 0 nothing is flipped, so salted does not matter and is not drawn).
    if amount == 0:
        flipped[...] = False
        salted[...] = False
        return
    u1, u2 = draws.uniform_pair(seed, shape)
    if amount == 1:
        flipped[...] = True
        np.less_equal(u1, 0.5, out=salted)
        return
    np.less_equal(u1, amount, out=flipped)
    np.less_equal(u2, 0.5, out=salted)


def _salt_pepper_batch(xs: np.ndarray, params: list[dict]) -> np.ndarray:
    flipped, salted = np.empty((2,) + xs.shape, dtype=bool)
    for i, p in enumerate(params):
        _salt_pepper_masks(p["amount"], p["seed"], xs.shape[1:], flipped[i], salted[i])
    out = xs.astype(np.float32, copy=True)
    out[flipped & salted] = 1
    out[flipped & ~salted] = 0.0
    return out


RELATIONS: tuple[Relation, ...] = (
    Relation(
        "gaussian_noise",
        frozenset({"image", "spectral"}),
        {"sigma": ParamSpec(0.0, 0.2, 0.0, doc="noise standard deviation"), "seed": SEED_SPEC},
        gaussian_noise,
        identity_params=("sigma",),
        batch_func=_gaussian_noise_batch,
    ),
    Relation(
        "salt_pepper",
        frozenset({"image", "spectral"}),
        {"amount": ParamSpec(0.0, 0.2, 0.0, doc="fraction of elements replaced"), "seed": SEED_SPEC},
        salt_pepper,
        identity_params=("amount",),
        batch_func=_salt_pepper_batch,
    ),
)


def speckle_noise(x: np.ndarray, *, sigma: float, seed: int) -> np.ndarray:
    """Multiplicative noise: ``x + x * n`` with ``n ~ N(0, sigma^2)``.

    Parameters
    ----------
    x : np.ndarray
        ``(C, H, W)``, float32 in ``[0, 1]``.
    sigma : float
        Noise standard deviation in ``[0, 0.3]``; identity ``0``.
    seed : int
        Seed in ``[0, 2**31 - 1]``; identity ``0`` (irrelevant when
        ``sigma`` is 0).

    Notes
    -----
    ImageNet-C "speckle noise" (Hendrycks & Dietterich, 2019); also the
    coherent noise of radar and ultrasound sensors. ``n`` is drawn from
    ``np.random.default_rng(seed)`` in float64.
    """
    n = draws.normal(sigma, seed, x.shape)
    return (x + x * n).astype(np.float32)


def _speckle_noise_batch(xs: np.ndarray, params: list[dict]) -> np.ndarray:
    n = np.empty(xs.shape, dtype=np.float64)
    for i, p in enumerate(params):
        draws.normal(p["sigma"], p["seed"], xs.shape[1:], n[i])
    return (xs + xs * n).astype(np.float32)


def poisson_noise(x: np.ndarray, *, level: float, seed: int) -> np.ndarray:
    """Shot noise: photon counts ``Poisson(x * lam) / lam``.

    Parameters
    ----------
    x : np.ndarray
        ``(C, H, W)``, float32 in ``[0, 1]``.
    level : float
        Noise level in ``[0, 1]``; identity ``0``. The photon budget is
        ``lam = 1 / (0.3 * level)^2``, so the noise standard deviation at
        ``x = 1`` is ``0.3 * level`` (``lam`` is capped at ``1e12``).
    seed : int
        Seed in ``[0, 2**31 - 1]``; identity ``0`` (irrelevant when
        ``level`` is 0).

    Notes
    -----
    ImageNet-C "shot noise" (Hendrycks & Dietterich, 2019), which uses 3
    to 60 photons at full scale; ``level = 1`` gives about 11.
    Computed by the batched implementation on one row: the counts are
    ``np.random.default_rng(seed).poisson(x.astype(np.float64) * lam)``
    as before, so the result is unchanged, bit for bit.
    """
    return _poisson_noise_batch(x[None], [{"level": level, "seed": seed}])[0]


def _poisson_lam(level: float) -> float:
    std = 0.3 * level
    return 1e12 if std < 1e-6 else min(1.0 / std**2, 1e12)


def _poisson_noise_batch(xs: np.ndarray, params: list[dict]) -> np.ndarray:
    # The draws depend on the row's values, so each row has its own generator
    # call (draws as before); the scaling around them is elementwise, batched.
    out = np.empty(xs.shape, dtype=np.float32)
    step = max(1, 2**16 // xs[0].size)  # large inputs: a few rows at a time (float64 temporaries stay in cache)
    for start in range(0, len(xs), step):
        rows = params[start : start + step]
        lam = np.array([_poisson_lam(p["level"]) for p in rows], dtype=np.float64)[:, None, None, None]
        rates = xs[start : start + step].astype(np.float64) * lam
        counts = np.empty(rates.shape, dtype=np.int64)
        for i, p in enumerate(rows):
            counts[i] = np.random.default_rng(p["seed"]).poisson(rates[i])
        out[start : start + step] = counts / lam  # float64 rounded to float32, as astype
    return out


SENSOR_RELATIONS: tuple[Relation, ...] = (
    Relation(
        "speckle_noise",
        frozenset({"image", "spectral"}),
        {"sigma": ParamSpec(0.0, 0.3, 0.0, doc="multiplicative noise std"), "seed": SEED_SPEC},
        speckle_noise,
        identity_params=("sigma",),
        batch_func=_speckle_noise_batch,
    ),
    Relation(
        "poisson_noise",
        frozenset({"image", "spectral"}),
        {"level": ParamSpec(0.0, 1.0, 0.0, doc="shot-noise level"), "seed": SEED_SPEC},
        poisson_noise,
        identity_params=("level",),
        batch_func=_poisson_noise_batch,
    ),
)

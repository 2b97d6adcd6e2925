"""Noise relations, seeded and deterministic.

Randomness comes only from the integer ``seed`` parameter, which is passed to
``skimage.util.random_noise`` as ``rng`` (it builds
``np.random.default_rng(seed)`` locally), so a :class:`~relations.Step` fully
determines its output.
"""

from __future__ import annotations

import numpy as np
from skimage.util import random_noise

from .base import ParamSpec, Relation

__all__ = ["gaussian_noise", "salt_pepper", "RELATIONS", "SEED_SPEC"]

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
    ``skimage.util.random_noise(mode="gaussian", var=sigma**2, clip=True)``.
    Sensor noise as a natural distortion, as in DeepHunter (Xie et al., 2019).
    """
    out = random_noise(x, mode="gaussian", rng=seed, clip=True, mean=0.0, var=sigma**2)
    return out.astype(np.float32)


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
    ``skimage.util.random_noise(mode="s&p", salt_vs_pepper=0.5)``; elements
    (not whole pixels) are drawn independently in every channel.
    """
    out = random_noise(x, mode="s&p", rng=seed, clip=True, amount=amount, salt_vs_pepper=0.5)
    return out.astype(np.float32)


RELATIONS: tuple[Relation, ...] = (
    Relation(
        "gaussian_noise",
        frozenset({"image"}),
        {"sigma": ParamSpec(0.0, 0.2, 0.0, doc="noise standard deviation"), "seed": SEED_SPEC},
        gaussian_noise,
        identity_params=("sigma",),
    ),
    Relation(
        "salt_pepper",
        frozenset({"image"}),
        {"amount": ParamSpec(0.0, 0.2, 0.0, doc="fraction of elements replaced"), "seed": SEED_SPEC},
        salt_pepper,
        identity_params=("amount",),
    ),
)

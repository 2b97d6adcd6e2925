"""Pixel-level mutations of the DiffChaser / DFlare baselines, as seeded relations.

DiffChaser (Xie et al., IJCAI 2019) and DFlare (Tian et al., TOSEM 2023)
mutate input values directly. Written as relations with an integer ``seed``
parameter, each mutation is a :class:`~diverfuzz.relations.Step` that replays bit for
bit, so a baseline's mutant is still a chain. Values are in ``[0, 1]``; the
papers' 0..255 constants are divided by 255.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .noise import SEED_SPEC
from .relation import ParamSpec, Relation

__all__ = ["pixel_change", "pixel_perturb", "multiplicative_noise", "median_blur", "RELATIONS"]


def pixel_change(x: np.ndarray, *, count: int, seed: int) -> np.ndarray:
    """Set ``count`` randomly chosen elements to random grey levels.

    Parameters
    ----------
    x : np.ndarray
        Input, float32 in ``[0, 1]``, any shape.
    count : int
        Elements changed, in ``[0, 9]``; identity ``0``.
    seed : int
        Seed in ``[0, 2**31 - 1]``; identity ``0``.

    Notes
    -----
    DFlare's "random pixel change" operator (``image_pixel_change`` in the
    authors' ``myLib/img_mutations.py``): indices drawn with replacement,
    values uniform over the 256 levels ``0/255 .. 255/255``.
    """
    rng = np.random.default_rng(seed)
    out = np.array(x, dtype=np.float32, copy=True, order="C")  # reshape(-1) must be a view
    flat = out.reshape(-1)
    idx = rng.integers(0, flat.size, int(count))
    flat[idx] = rng.integers(0, 256, int(count)).astype(np.float32) / 255.0
    return out


def pixel_perturb(x: np.ndarray, *, rate: float, magnitude: float, seed: int) -> np.ndarray:
    """Add uniform noise in ``[-magnitude, magnitude]`` to a random fraction ``rate`` of elements.

    Parameters
    ----------
    x : np.ndarray
        Input, float32 in ``[0, 1]``, any shape.
    rate : float
        Probability that an element is mutated, in ``[0, 1]``; identity ``0``.
    magnitude : float
        Largest change of a mutated element, in ``[0, 1]``; identity ``0``.
    seed : int
        Seed in ``[0, 2**31 - 1]``; identity ``0``.

    Notes
    -----
    The pixel-level mutation of DiffChaser's genetic algorithm (Xie et al.,
    IJCAI 2019, Algorithm 1, ``mutate(X[i], r2)``) as this project reads
    it: every pixel of a chromosome mutates independently with the mutation
    rate, by a uniform change of at most ``magnitude`` (the paper's exact
    operator could not be checked). Output clipped to ``[0, 1]``.
    """
    rng = np.random.default_rng(seed)
    mask = rng.random(x.shape) < rate
    delta = rng.uniform(-magnitude, magnitude, x.shape)
    return np.clip(x + mask * delta, 0.0, 1.0).astype(np.float32)


def multiplicative_noise(x: np.ndarray, *, mean: float, sigma: float, seed: int) -> np.ndarray:
    """``x + x * n`` with ``n ~ N(mean, sigma**2)`` per element (speckle with a bias).

    Parameters
    ----------
    x : np.ndarray
        Input, float32 in ``[0, 1]``, any shape.
    mean : float
        Mean of ``n``, in ``[-0.5, 0.5]``; identity ``0``.
    sigma : float
        Standard deviation of ``n``, in ``[0, 0.25]``; identity ``0``.
    seed : int
        Seed in ``[0, 2**31 - 1]``; identity ``0``.

    Notes
    -----
    DFlare's multiplicative noise (``image_noise_ml``): the authors draw
    ``mean ~ U(-0.5, 0.5)`` and variance ``0.05 * U(0, 1)`` per call (so
    ``sigma <= 0.224``). Output clipped to ``[0, 1]``.
    """
    rng = np.random.default_rng(seed)
    n = rng.normal(mean, sigma, x.shape)
    return np.clip(x + x * n, 0.0, 1.0).astype(np.float32)


def median_blur(x: np.ndarray, *, radius: int) -> np.ndarray:
    """Median filter over a ``(2r + 1) x (2r + 1)`` window, per channel.

    Parameters
    ----------
    x : np.ndarray
        ``(C, H, W)``, float32 in ``[0, 1]``.
    radius : int
        Window radius in pixels, in ``[0, 3]`` (kernels 1, 3, 5, 7); identity ``0``.

    Notes
    -----
    DFlare's median blur (``cv2.medianBlur``, kernel 1, 3, 5 or 7), here
    ``scipy.ndimage.median_filter`` with replicated borders as in OpenCV.
    """
    size = 2 * int(radius) + 1
    return ndimage.median_filter(x, size=(1, size, size), mode="nearest").astype(np.float32)


_ANY = frozenset({"image", "spectral", "signal"})

RELATIONS: tuple[Relation, ...] = (
    Relation(
        "pixel_change",
        _ANY,
        {"count": ParamSpec(0, 9, 0, integer=True, doc="elements set to random levels"), "seed": SEED_SPEC},
        pixel_change,
        identity_params=("count",),
    ),
    Relation(
        "pixel_perturb",
        _ANY,
        {
            "rate": ParamSpec(0.0, 1.0, 0.0, doc="fraction of elements mutated"),
            "magnitude": ParamSpec(0.0, 1.0, 0.0, doc="largest change of a mutated element"),
            "seed": SEED_SPEC,
        },
        pixel_perturb,
        identity_params=("rate",),
    ),
    Relation(
        "multiplicative_noise",
        _ANY,
        {
            "mean": ParamSpec(-0.5, 0.5, 0.0, doc="mean of the multiplicative factor"),
            "sigma": ParamSpec(0.0, 0.25, 0.0, doc="spread of the multiplicative factor"),
            "seed": SEED_SPEC,
        },
        multiplicative_noise,
        identity_params=("mean", "sigma"),
    ),
    Relation(
        "median_blur",
        frozenset({"image", "spectral"}),
        {"radius": ParamSpec(0, 3, 0, integer=True, doc="window radius in pixels")},
        median_blur,
    ),
)

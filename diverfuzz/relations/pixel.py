"""Pixel-level mutations of the DiffChaser / DFlare baselines, as seeded relations.

DiffChaser (Xie et al., IJCAI 2019) and DFlare (Tian et al., TOSEM 2023)
mutate input values directly. Written as relations with an integer ``seed``
parameter, each mutation is a :class:`~diverfuzz.relations.Step` that replays bit for
bit, so a baseline's mutant is still a chain. Values are in ``[0, 1]``; the
papers' 0..255 constants are divided by 255, except in the ``dflare_*`` relations,
which reproduce DFlare's 8-bit arithmetic: ``x * 255`` rounded to levels, the
operator in 0..255 units, clip to ``[0, 255]``, truncation by ``astype(np.uint8)``,
division by 255.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .noise import SEED_SPEC
from .relation import ParamSpec, Relation

__all__ = [
    "pixel_change",
    "pixel_perturb",
    "multiplicative_noise",
    "median_blur",
    "to_levels",
    "from_levels",
    "dflare_gaussian_noise",
    "dflare_salt_pepper",
    "dflare_multiplicative_noise",
    "dflare_pixel_change",
    "RELATIONS",
]


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


def to_levels(x: np.ndarray) -> np.ndarray:
    """The 8-bit image DFlare mutates: ``x * 255`` rounded to the nearest level, float64.

    Exact for inputs that are 8-bit images divided by 255 (``k / 255`` in float32 gives
    back ``k``); other inputs are quantized to the nearest of the 256 levels, as DFlare's
    inputs are 8-bit images.
    """
    return np.rint(np.asarray(x, dtype=np.float64) * 255.0)


def from_levels(v: np.ndarray) -> np.ndarray:
    """Back to ``[0, 1]``: clip to ``[0, 255]``, truncate with ``astype(np.uint8)``, divide by 255.

    The authors' noise operators end in ``noisy.astype(np.uint8)`` (truncation towards
    zero), then ``np.clip(., 0, 255)`` (``MutationP.mut``). Here the clip comes first, so a
    value outside ``[0, 255]`` saturates; in the authors' order it wraps around modulo 256
    on x86 (a float-to-uint8 cast out of range is undefined in C, NumPy warns).
    """
    return np.clip(v, 0.0, 255.0).astype(np.uint8).astype(np.float32) / np.float32(255.0)


def dflare_gaussian_noise(x: np.ndarray, *, sigma: float, seed: int) -> np.ndarray:
    """DFlare's Gaussian additive noise on the 8-bit image: ``uint8(levels + N(0, sigma**2))``.

    Parameters
    ----------
    x : np.ndarray
        Input, float32 in ``[0, 1]``, any shape.
    sigma : float
        Noise std in 8-bit levels (0..255 units), in ``[0, 51]``; identity ``0``.
        DFlare's value: ``sqrt(0.1) = 0.316`` (variance 0.1).
    seed : int
        Seed in ``[0, 2**31 - 1]``; identity ``0``.

    Notes
    -----
    ``image_noise_gd`` in the authors' ``myLib/img_mutations.py``: ``img + gauss`` with
    ``gauss ~ N(0, 0.1)`` then ``astype(np.uint8)``. At variance 0.1 the noise itself is
    tiny, but truncation lowers by one level every element whose noise is negative
    (about half of them); :func:`to_levels` / :func:`from_levels` give the arithmetic.
    """
    n = np.random.default_rng(seed).normal(0.0, sigma, x.shape)
    return from_levels(to_levels(x) + n)


def dflare_salt_pepper(x: np.ndarray, *, amount: float, seed: int) -> np.ndarray:
    """DFlare's salt-and-pepper noise: ``ceil(amount * size / 2)`` elements to 255, as many to 0.

    Parameters
    ----------
    x : np.ndarray
        Input, float32 in ``[0, 1]``, any shape.
    amount : float
        Fraction of elements hit, in ``[0, 0.2]``; identity ``0``. DFlare's value: 0.004.
    seed : int
        Seed in ``[0, 2**31 - 1]``; identity ``0``.

    Notes
    -----
    ``image_noise_rp`` in the authors' code: a fixed count (not a Bernoulli draw per
    element, as :func:`~diverfuzz.relations.noise.salt_pepper`), the coordinates drawn
    per axis with replacement, salt first, then pepper (which wins where they meet).
    """
    rng = np.random.default_rng(seed)
    out = to_levels(x)
    num = int(np.ceil(amount * x.size * 0.5))
    salt = tuple(rng.integers(0, d, num) for d in x.shape)
    out[salt] = 255.0
    pepper = tuple(rng.integers(0, d, num) for d in x.shape)
    out[pepper] = 0.0
    return from_levels(out)


def dflare_multiplicative_noise(x: np.ndarray, *, mean: float, sigma: float, seed: int) -> np.ndarray:
    """DFlare's multiplicative noise on the 8-bit image: ``uint8(v + v * n)``, ``n ~ N(mean, sigma**2)``.

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
    ``image_noise_ml`` in the authors' code, which draws ``mean ~ U(-0.5, 0.5)`` and
    variance ``0.05 * U(0, 1)`` per call (the DFlare search draws them into the step's
    parameters), then ``astype(np.uint8)``.
    """
    n = np.random.default_rng(seed).normal(mean, sigma, x.shape)
    v = to_levels(x)
    return from_levels(v + v * n)


def dflare_pixel_change(x: np.ndarray, *, count: int, seed: int) -> np.ndarray:
    """DFlare's random pixel change on the 8-bit image: ``count`` elements set to random levels.

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
    ``image_pixel_change`` in the authors' code: ``count`` flat indices drawn with
    replacement, then each set in turn to a level drawn from ``0..255`` (a repeated
    index keeps its last value).
    """
    rng = np.random.default_rng(seed)
    out = to_levels(x).reshape(-1)
    idx = rng.integers(0, out.size, int(count))
    levels = rng.integers(0, 256, int(count))
    for i, v in zip(idx, levels):
        out[i] = v
    return from_levels(out.reshape(x.shape))


_ANY = frozenset({"image", "spectral", "signal"})
#: The float and the 8-bit multiplicative noise take the same parameters.
_MULTIPLICATIVE_PARAMS = {
    "mean": ParamSpec(-0.5, 0.5, 0.0, doc="mean of the multiplicative factor"),
    "sigma": ParamSpec(0.0, 0.25, 0.0, doc="spread of the multiplicative factor"),
    "seed": SEED_SPEC,
}

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
        _MULTIPLICATIVE_PARAMS,
        multiplicative_noise,
        identity_params=("mean", "sigma"),
    ),
    Relation(
        "median_blur",
        frozenset({"image", "spectral"}),
        {"radius": ParamSpec(0, 3, 0, integer=True, doc="window radius in pixels")},
        median_blur,
    ),
    # DFlare's operators on 8-bit images (0..255 arithmetic ending in a uint8 cast).
    Relation(
        "dflare_gaussian_noise",
        frozenset({"image", "spectral"}),
        {"sigma": ParamSpec(0.0, 51.0, 0.0, doc="noise std in 8-bit levels"), "seed": SEED_SPEC},
        dflare_gaussian_noise,
        identity_params=("sigma",),
    ),
    Relation(
        "dflare_salt_pepper",
        frozenset({"image", "spectral"}),
        {"amount": ParamSpec(0.0, 0.2, 0.0, doc="fraction of elements set to 0 or 255"), "seed": SEED_SPEC},
        dflare_salt_pepper,
        identity_params=("amount",),
    ),
    Relation(
        "dflare_multiplicative_noise",
        _ANY,
        _MULTIPLICATIVE_PARAMS,
        dflare_multiplicative_noise,
        identity_params=("mean", "sigma"),
    ),
    Relation(
        "dflare_pixel_change",
        _ANY,
        {"count": ParamSpec(0, 9, 0, integer=True, doc="elements set to random 8-bit levels"), "seed": SEED_SPEC},
        dflare_pixel_change,
        identity_params=("count",),
    ),
)

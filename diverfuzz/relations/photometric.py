"""Photometric relations: pixel-value changes and blur.

These follow the "linear" (brightness, contrast) and "convolution" (blur)
transformations of DeepTest (Tian et al., ICSE 2018) used by DiverGet-style
differential testers. All act on every channel the same way and work for
any channel count.
"""

from __future__ import annotations

import numpy as np

from .convolve import gaussian_weights, separable_rows
from .relation import ParamSpec, Relation

__all__ = ["brightness", "contrast", "gamma", "gaussian_blur", "RELATIONS"]


def brightness(x: np.ndarray, *, delta: float) -> np.ndarray:
    """Add a constant to every value: ``x + delta``.

    Parameters
    ----------
    x : np.ndarray
        Image ``(C, H, W)``, float32 in ``[0, 1]``.
    delta : float
        Offset in ``[-0.3, 0.3]``; identity ``0``.

    Returns
    -------
    np.ndarray
        Unclipped result; :meth:`Relation.apply` clips to ``[0, 1]``.

    Notes
    -----
    DeepTest "brightness" (Tian et al., 2018), on the [0, 1] scale.
    """
    return x + np.float32(delta)


def contrast(x: np.ndarray, *, factor: float) -> np.ndarray:
    """Scale deviations from each channel's mean: ``(x - mean) * factor + mean``.

    Parameters
    ----------
    x : np.ndarray
        Image ``(C, H, W)``, float32 in ``[0, 1]``.
    factor : float
        Contrast factor in ``[0.5, 1.5]``; identity ``1``.

    Notes
    -----
    DeepTest "contrast" (Tian et al., 2018); the mean is taken per channel
    over ``H`` and ``W``.
    """
    mean = x.mean(axis=(1, 2), keepdims=True, dtype=np.float64)
    return ((x - mean) * factor + mean).astype(np.float32)


def gamma(x: np.ndarray, *, gamma: float) -> np.ndarray:
    """Gamma correction ``x ** gamma`` (``skimage.exposure.adjust_gamma``).

    Parameters
    ----------
    x : np.ndarray
        Image ``(C, H, W)``, float32 in ``[0, 1]``.
    gamma : float
        Exponent in ``[0.5, 2.0]``; identity ``1``. Values above 1 darken.

    Notes
    -----
    Computed by the batched implementation on one row; equal bit for bit
    (tolerance 0) to ``skimage.exposure.adjust_gamma(x, gamma, gain=1)``.
    """
    return _gamma_batch(x[None], [{"gamma": gamma}])[0]


def gaussian_blur(x: np.ndarray, *, sigma: float) -> np.ndarray:
    """Gaussian blur of each channel (``skimage.filters.gaussian``).

    Parameters
    ----------
    x : np.ndarray
        Image ``(C, H, W)``, float32 in ``[0, 1]``.
    sigma : float
        Standard deviation in pixels, in ``[0, 2.0]``; identity ``0``.

    Notes
    -----
    DeepTest "blur" (Tian et al., 2018). Channels are not mixed
    (``channel_axis=0``), borders use ``mode="nearest"`` and the value range
    is kept (``preserve_range=True``). Computed by the batched
    implementation on one row (a separable float32 correlation with SciPy's
    kernel, radius ``int(4 sigma + 0.5)``); within ``5e-7`` (max abs) of
    ``skimage.filters.gaussian(x, sigma, mode="nearest",
    preserve_range=True, channel_axis=0)``, which rounds to float32 between
    the two passes.
    """
    return _gaussian_blur_batch(x[None], [{"sigma": sigma}])[0]


def _brightness_batch(xs: np.ndarray, params: list[dict]) -> np.ndarray:
    # Same float32 additions as brightness(), one row per input.
    delta = np.array([p["delta"] for p in params], dtype=np.float32)
    return xs + delta.reshape((-1,) + (1,) * (xs.ndim - 1))


def _contrast_batch(xs: np.ndarray, params: list[dict]) -> np.ndarray:
    # Means row by row (a reduction over other axes could sum in another
    # order); the rest is elementwise float64 arithmetic, as in contrast().
    mean = np.stack([x.mean(axis=(1, 2), keepdims=True, dtype=np.float64) for x in xs])
    factor = np.array([p["factor"] for p in params], dtype=np.float64).reshape(-1, 1, 1, 1)
    return ((xs - mean) * factor + mean).astype(np.float32)


def _gamma_batch(xs: np.ndarray, params: list[dict]) -> np.ndarray:
    # One float32 power per row with a Python-float exponent, exactly as
    # adjust_gamma computes it (NumPy has fast paths for scalar exponents
    # such as 2.0 and 0.5, and a vectorised power with a broadcast exponent
    # could take another SIMD path); N cheap NumPy calls, no skimage checks.
    out = np.empty(xs.shape, np.float32)
    for i, (x, p) in enumerate(zip(xs, params)):
        out[i] = x.astype(np.float32, copy=False) ** float(p["gamma"])
    return out


def _gaussian_blur_batch(xs: np.ndarray, params: list[dict]) -> np.ndarray:
    # Separable per-row kernels (rows along H, then columns along W, as SciPy
    # does), fixed-order tap sums: rows are exact whatever the batch (see
    # diverfuzz/relations/convolve.py).
    weights = gaussian_weights([p["sigma"] for p in params])
    out = separable_rows(xs, weights)
    return out.astype(np.float32)


RELATIONS: tuple[Relation, ...] = (
    Relation(
        "brightness",
        frozenset({"image", "spectral"}),
        {"delta": ParamSpec(-0.3, 0.3, 0.0, doc="added offset")},
        brightness,
        batch_func=_brightness_batch,
    ),
    Relation(
        "contrast",
        frozenset({"image", "spectral"}),
        {"factor": ParamSpec(0.5, 1.5, 1.0, doc="contrast factor about the channel mean")},
        contrast,
        batch_func=_contrast_batch,
    ),
    Relation(
        "gamma",
        frozenset({"image", "spectral"}),
        {"gamma": ParamSpec(0.5, 2.0, 1.0, doc="gamma exponent")},
        gamma,
        batch_func=_gamma_batch,
    ),
    Relation(
        "gaussian_blur",
        frozenset({"image", "spectral"}),
        {"sigma": ParamSpec(0.0, 2.0, 0.0, doc="blur standard deviation in pixels")},
        gaussian_blur,
        batch_func=_gaussian_blur_batch,
    ),
)

"""Spectral relations for multi- and hyperspectral cubes ``(C, H, W)``, ``C`` bands.

Sensor faults and acquisition effects of imaging spectrometers: lost bands,
band-dependent noise, spectral calibration shifts and smoothing, dropped
and striped scan lines or detector columns, and regions lost in some bands.

Notes
-----
These are the natural perturbations that metamorphic testers of
remote-sensing classifiers apply (e.g. DeepHyperion-style and DiverGet
hyperspectral experiments; destriping and band-loss models of Rasti et al.,
"Noise reduction in hyperspectral imagery", IEEE GRSM 2018). All keep the
value range; noise-type ones take an integer ``seed``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .noise import SEED_SPEC
from .occlusion import occlusion_box
from .relation import ParamSpec, Relation, RelationError

__all__ = [
    "band_loss",
    "spectral_noise",
    "spectral_shift",
    "spectral_smoothing",
    "line_dropout",
    "column_dropout",
    "line_striping",
    "column_striping",
    "band_region_dropout",
    "RELATIONS",
]


def band_loss(x: np.ndarray, *, band: float, count: int) -> np.ndarray:
    """Lose ``count`` adjacent bands; fill them with the mean of the neighbour bands.

    Parameters
    ----------
    x : np.ndarray
        Cube ``(C, H, W)`` with ``C >= 2`` bands, float32 in ``[0, 1]``.
    band : float
        Position of the first lost band as a fraction of the valid starts,
        in ``[0, 1]``; identity ``0.5`` (irrelevant when ``count`` is 0).
        The first lost band is ``round(band * (C - n))``.
    count : int
        Number of lost bands in ``[0, 4]``; identity ``0``. At most
        ``C - 1`` bands are lost.

    Raises
    ------
    RelationError
        If ``C < 2`` (a lone band has no neighbour).

    Notes
    -----
    Dead or noisy bands (water absorption, detector failure) are replaced
    by the mean of the nearest intact band on each side (one side at the
    spectrum's ends), the usual repair in hyperspectral pipelines.
    """
    c = x.shape[0]
    if c < 2:
        raise RelationError(f"x.shape={x.shape}: band_loss needs C >= 2 bands")
    n = min(int(count), c - 1)
    start = int(round(band * (c - n)))
    neighbours = [b for b in (start - 1, start + n) if 0 <= b < c]
    fill = np.mean(x[neighbours].astype(np.float64), axis=0).astype(np.float32)
    out = x.copy()
    out[start : start + n] = fill
    return out


def spectral_noise(x: np.ndarray, *, sigma: float, seed: int) -> np.ndarray:
    """Band-dependent Gaussian noise: each band gets its own noise level.

    Parameters
    ----------
    x : np.ndarray
        Cube ``(C, H, W)``, float32 in ``[0, 1]``.
    sigma : float
        Largest per-band standard deviation in ``[0, 0.1]``; identity ``0``.
        Band ``b`` uses ``sigma * u_b`` with ``u_b ~ U(0.25, 1)``.
    seed : int
        Seed in ``[0, 2**31 - 1]``; identity ``0`` (irrelevant when
        ``sigma`` is 0).

    Notes
    -----
    Hyperspectral sensors have band-dependent SNR (Rasti et al., 2018).
    """
    rng = np.random.default_rng(seed)
    level = sigma * rng.uniform(0.25, 1.0, (x.shape[0], 1, 1))
    return (x + level * rng.standard_normal(x.shape)).astype(np.float32)


def spectral_shift(x: np.ndarray, *, shift: float) -> np.ndarray:
    """Shift every spectrum by a fractional number of bands.

    Parameters
    ----------
    x : np.ndarray
        Cube ``(C, H, W)``, float32 in ``[0, 1]``.
    shift : float
        Shift in bands in ``[-2, 2]``; identity ``0``. Positive moves
        features to higher band indices; ends repeat the edge band.

    Notes
    -----
    A spectral calibration error (wavelength shift of the
    spectrometer), linear interpolation between neighbouring bands.
    """
    c = x.shape[0]
    pos = np.clip(np.arange(c) - shift, 0, c - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, c - 1)
    frac = (pos - lo).reshape(-1, 1, 1)
    return ((1.0 - frac) * x[lo] + frac * x[hi]).astype(np.float32)


def spectral_smoothing(x: np.ndarray, *, sigma: float) -> np.ndarray:
    """Gaussian smoothing along the band axis.

    Parameters
    ----------
    x : np.ndarray
        Cube ``(C, H, W)``, float32 in ``[0, 1]``.
    sigma : float
        Standard deviation in bands, in ``[0, 2]``; identity ``0``. Values
        below ``1e-3`` have no visible effect and return the input.

    Notes
    -----
    A broader spectral response function (lower spectral resolution),
    ``scipy.ndimage.gaussian_filter1d(axis=0, mode="nearest")``.
    """
    if sigma < 1e-3:
        return x.copy()
    return ndimage.gaussian_filter1d(x, sigma, axis=0, mode="nearest")


def _pick(n_total: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    n = min(n_total, max(1, int(round(rate * n_total))))
    return np.sort(rng.choice(n_total, size=n, replace=False))


def line_dropout(x: np.ndarray, *, rate: float, seed: int) -> np.ndarray:
    """Set random scan lines (rows) to 0 in every band.

    Parameters
    ----------
    x : np.ndarray
        Cube ``(C, H, W)``, float32 in ``[0, 1]``.
    rate : float
        Fraction of rows lost in ``[0, 0.25]``; identity ``0``. At least
        one row is lost when ``rate > 0``.
    seed : int
        Seed in ``[0, 2**31 - 1]``; identity ``0``.

    Notes
    -----
    Missing scan lines of whisk-broom sensors (e.g. Landsat dropped lines).
    """
    out = x.copy()
    out[:, _pick(x.shape[1], rate, np.random.default_rng(seed)), :] = 0.0
    return out


def column_dropout(x: np.ndarray, *, rate: float, seed: int) -> np.ndarray:
    """Set random columns to 0 in every band (dead detector elements).

    Parameters
    ----------
    x : np.ndarray
        Cube ``(C, H, W)``, float32 in ``[0, 1]``.
    rate : float
        Fraction of columns lost in ``[0, 0.25]``; identity ``0``.
    seed : int
        Seed in ``[0, 2**31 - 1]``; identity ``0``.

    Notes
    -----
    Dead pixels of a push-broom sensor's detector array lose whole columns.
    """
    out = x.copy()
    out[:, :, _pick(x.shape[2], rate, np.random.default_rng(seed))] = 0.0
    return out


def line_striping(x: np.ndarray, *, strength: float, seed: int) -> np.ndarray:
    """Add a random offset to every row of every band (horizontal stripes).

    Parameters
    ----------
    x : np.ndarray
        Cube ``(C, H, W)``, float32 in ``[0, 1]``.
    strength : float
        Offset standard deviation in ``[0, 0.1]``; identity ``0``.
    seed : int
        Seed in ``[0, 2**31 - 1]``; identity ``0``.

    Notes
    -----
    Striping noise from unequal detector calibration (Rasti et al., 2018).
    """
    offsets = np.random.default_rng(seed).normal(0.0, strength, (x.shape[0], x.shape[1], 1))
    return (x + offsets).astype(np.float32)


def column_striping(x: np.ndarray, *, strength: float, seed: int) -> np.ndarray:
    """Add a random offset to every column of every band (vertical stripes).

    Parameters
    ----------
    x : np.ndarray
        Cube ``(C, H, W)``, float32 in ``[0, 1]``.
    strength : float
        Offset standard deviation in ``[0, 0.1]``; identity ``0``.
    seed : int
        Seed in ``[0, 2**31 - 1]``; identity ``0``.

    Notes
    -----
    Push-broom striping: each detector element has its own gain error
    (Rasti et al., 2018).
    """
    offsets = np.random.default_rng(seed).normal(0.0, strength, (x.shape[0], 1, x.shape[2]))
    return (x + offsets).astype(np.float32)


def band_region_dropout(
    x: np.ndarray, *, size: float, cx: float, cy: float, band: float, span: float
) -> np.ndarray:
    """Zero a rectangular region in a contiguous range of bands.

    Parameters
    ----------
    x : np.ndarray
        Cube ``(C, H, W)``, float32 in ``[0, 1]``.
    size : float
        Region side as a fraction of the image side, in ``[0, 0.5]``;
        identity ``0`` (the other parameters are then irrelevant).
    cx, cy : float
        Region centre as fractions of width and height, in ``[0, 1]``;
        identity ``0.5``.
    band : float
        First band of the range as a fraction of the valid starts, in
        ``[0, 1]``; identity ``0``.
    span : float
        Fraction of the bands covered, in ``[0, 1]``; identity ``1``. At
        least one band is covered.

    Notes
    -----
    Saturated or lost regions that affect only part of the spectrum (e.g.
    a cloud edge or a detector module fault), the spectral analogue of the
    occlusion relation; the region is :func:`diverfuzz.relations.occlusion.occlusion_box`.
    """
    c, h, w = x.shape
    nb = min(c, max(1, math.ceil(span * c - 1e-9)))
    b0 = int(round(band * (c - nb)))
    rows, cols = occlusion_box((h, w), size=size, cx=cx, cy=cy)
    out = x.copy()
    out[b0 : b0 + nb, rows, cols] = 0.0
    return out


_SPECTRAL = frozenset({"spectral"})

RELATIONS: tuple[Relation, ...] = (
    Relation(
        "band_loss",
        _SPECTRAL,
        {
            "band": ParamSpec(0.0, 1.0, 0.5, doc="position of the first lost band"),
            "count": ParamSpec(0, 4, 0, integer=True, doc="number of lost bands"),
        },
        band_loss,
        identity_params=("count",),
    ),
    Relation(
        "spectral_noise",
        _SPECTRAL,
        {"sigma": ParamSpec(0.0, 0.1, 0.0, doc="largest per-band noise std"), "seed": SEED_SPEC},
        spectral_noise,
        identity_params=("sigma",),
    ),
    Relation(
        "spectral_shift",
        _SPECTRAL,
        {"shift": ParamSpec(-2.0, 2.0, 0.0, doc="shift in bands")},
        spectral_shift,
    ),
    Relation(
        "spectral_smoothing",
        _SPECTRAL,
        {"sigma": ParamSpec(0.0, 2.0, 0.0, doc="smoothing std in bands")},
        spectral_smoothing,
    ),
    Relation(
        "line_dropout",
        _SPECTRAL,
        {"rate": ParamSpec(0.0, 0.25, 0.0, doc="fraction of rows lost"), "seed": SEED_SPEC},
        line_dropout,
        identity_params=("rate",),
    ),
    Relation(
        "column_dropout",
        _SPECTRAL,
        {"rate": ParamSpec(0.0, 0.25, 0.0, doc="fraction of columns lost"), "seed": SEED_SPEC},
        column_dropout,
        identity_params=("rate",),
    ),
    Relation(
        "line_striping",
        _SPECTRAL,
        {"strength": ParamSpec(0.0, 0.1, 0.0, doc="row offset std"), "seed": SEED_SPEC},
        line_striping,
        identity_params=("strength",),
    ),
    Relation(
        "column_striping",
        _SPECTRAL,
        {"strength": ParamSpec(0.0, 0.1, 0.0, doc="column offset std"), "seed": SEED_SPEC},
        column_striping,
        identity_params=("strength",),
    ),
    Relation(
        "band_region_dropout",
        _SPECTRAL,
        {
            "size": ParamSpec(0.0, 0.5, 0.0, doc="region side, fraction of the image side"),
            "cx": ParamSpec(0.0, 1.0, 0.5, doc="region centre, fraction of width"),
            "cy": ParamSpec(0.0, 1.0, 0.5, doc="region centre, fraction of height"),
            "band": ParamSpec(0.0, 1.0, 0.0, doc="first band, fraction of the valid starts"),
            "span": ParamSpec(0.0, 1.0, 1.0, doc="fraction of the bands covered"),
        },
        band_region_dropout,
        identity_params=("size",),
    ),
)

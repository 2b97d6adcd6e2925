"""Signal relations for multi-channel time series ``(C, T)``.

Data augmentations of wearable-sensor windows (accelerometer, gyroscope):
additive jitter, per-channel scaling, smooth magnitude and time warps,
crop-and-resize, sensor drop-out and baseline drift. Inputs are 2-D
``(C, T)`` arrays with values in ``[0, 1]`` (normalise raw sensor values
first); outputs keep the shape and are clipped to ``[0, 1]``.

Notes
-----
Jitter, scaling, magnitude warping, time warping and window slicing are the
augmentations of Um et al., "Data augmentation of wearable sensor data for
Parkinson's disease monitoring using convolutional neural networks" (ICMI
2017) and Le Guennec et al., "Data augmentation for time series
classification using convolutional neural networks" (2016); drop-out and
drift are common sensor faults.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline

from . import draws
from .noise import SEED_SPEC
from .relation import ParamSpec, Relation

__all__ = [
    "jitter",
    "scaling",
    "magnitude_warp",
    "time_warp",
    "window_slice",
    "channel_dropout",
    "baseline_drift",
    "knot_curves",
    "RELATIONS",
]


def knot_curves(
    c: int, t: int, knots: int, values: np.ndarray
) -> np.ndarray:
    """Cubic splines through ``values`` (``(c, knots + 2)``) at evenly spaced times.

    Returns a ``(c, t)`` float64 array evaluated at ``0 .. t - 1``.
    """
    at = np.linspace(0.0, max(t - 1, 1), knots + 2)
    return CubicSpline(at, values, axis=1)(np.arange(t, dtype=np.float64))


def jitter(x: np.ndarray, *, sigma: float, seed: int) -> np.ndarray:
    """Additive Gaussian noise on every sample.

    Parameters
    ----------
    x : np.ndarray
        Signal ``(C, T)``, float32 in ``[0, 1]``.
    sigma : float
        Noise standard deviation in ``[0, 0.1]``; identity ``0``.
    seed : int
        Seed in ``[0, 2**31 - 1]``; identity ``0`` (irrelevant when
        ``sigma`` is 0).

    Notes
    -----
    "Jittering" of Um et al. (2017): sensor noise. The draws are
    ``np.random.default_rng(seed).normal(0.0, sigma, x.shape)``, bit for
    bit, from the memo of :mod:`diverfuzz.relations.draws`.
    """
    return (x + draws.normal(sigma, seed, x.shape)).astype(np.float32)


def scaling(x: np.ndarray, *, sigma: float, seed: int) -> np.ndarray:
    """Multiply each channel by a random factor ``~ N(1, sigma^2)``.

    Parameters
    ----------
    x : np.ndarray
        Signal ``(C, T)``, float32 in ``[0, 1]``.
    sigma : float
        Standard deviation of the factors in ``[0, 0.3]``; identity ``0``.
    seed : int
        Seed in ``[0, 2**31 - 1]``; identity ``0``.

    Notes
    -----
    "Scaling" of Um et al. (2017): sensor gain / placement differences.
    """
    factors = np.random.default_rng(seed).normal(1.0, sigma, (x.shape[0], 1))
    return (x * factors).astype(np.float32)


def magnitude_warp(x: np.ndarray, *, sigma: float, knots: int, seed: int) -> np.ndarray:
    """Multiply each channel by a smooth random curve around 1.

    Parameters
    ----------
    x : np.ndarray
        Signal ``(C, T)``, float32 in ``[0, 1]``.
    sigma : float
        Standard deviation of the curve's knot values (mean 1) in
        ``[0, 0.3]``; identity ``0``.
    knots : int
        Number of inner knots in ``[1, 8]``; identity ``4``.
    seed : int
        Seed in ``[0, 2**31 - 1]``; identity ``0``.

    Notes
    -----
    "Magnitude warping" of Um et al. (2017): a cubic spline through
    ``knots + 2`` evenly spaced values ``~ N(1, sigma^2)`` per channel.
    """
    c, t = x.shape
    values = np.random.default_rng(seed).normal(1.0, sigma, (c, knots + 2))
    return (x * knot_curves(c, t, knots, values)).astype(np.float32)


def time_warp(x: np.ndarray, *, sigma: float, knots: int, seed: int) -> np.ndarray:
    """Smoothly speed up and slow down time (same warp for all channels).

    Parameters
    ----------
    x : np.ndarray
        Signal ``(C, T)``, float32 in ``[0, 1]``.
    sigma : float
        Standard deviation of the local speed (mean 1) in ``[0, 0.3]``;
        identity ``0``.
    knots : int
        Number of inner knots of the speed curve in ``[1, 8]``; identity
        ``4``.
    seed : int
        Seed in ``[0, 2**31 - 1]``; identity ``0``.

    Notes
    -----
    "Time warping" of Um et al. (2017): a smooth speed curve (cubic spline,
    floored at 0.1) is integrated into a monotone time map from ``0`` to
    ``T - 1``, and each channel is resampled on it with ``np.interp``.
    """
    c, t = x.shape
    if t < 2:
        return x.copy()
    values = np.random.default_rng(seed).normal(1.0, sigma, (1, knots + 2))
    speed = np.maximum(knot_curves(1, t, knots, values)[0], 0.1)
    warped = np.concatenate([[0.0], np.cumsum(speed[:-1])])
    warped *= (t - 1) / warped[-1]
    grid = np.arange(t, dtype=np.float64)
    return np.stack([np.interp(warped, grid, ch) for ch in x]).astype(np.float32)


def window_slice(x: np.ndarray, *, ratio: float, start: float) -> np.ndarray:
    """Crop a window of ``ratio * T`` samples and stretch it back to ``T``.

    Parameters
    ----------
    x : np.ndarray
        Signal ``(C, T)``, float32 in ``[0, 1]``.
    ratio : float
        Window length as a fraction of ``T`` in ``[0.7, 1]``; identity
        ``1``. The window has ``max(2, round(ratio * T))`` samples.
    start : float
        Window start as a fraction of the slack ``T - L`` in ``[0, 1]``;
        identity ``0`` (irrelevant when ``ratio`` is 1).

    Notes
    -----
    "Window slicing" (Le Guennec et al., 2016), i.e. crop-and-resize with
    linear interpolation.
    """
    c, t = x.shape
    length = min(t, max(2, int(round(ratio * t))))
    s0 = int(round(start * (t - length)))
    window = x[:, s0 : s0 + length].astype(np.float64)
    at = np.linspace(0.0, length - 1, t)
    grid = np.arange(length, dtype=np.float64)
    return np.stack([np.interp(at, grid, ch) for ch in window]).astype(np.float32)


def channel_dropout(x: np.ndarray, *, rate: float, seed: int) -> np.ndarray:
    """Set whole random channels to 0 (a sensor that stops reporting).

    Parameters
    ----------
    x : np.ndarray
        Signal ``(C, T)``, float32 in ``[0, 1]``.
    rate : float
        Fraction of channels dropped in ``[0, 0.5]``; identity ``0``. At
        least one channel is dropped when ``rate > 0``, and at most
        ``C - 1`` when ``C > 1``.
    seed : int
        Seed in ``[0, 2**31 - 1]``; identity ``0``.

    Notes
    -----
    Sensor drop-out, as in robustness studies of human-activity recognition
    models (e.g. Ordóñez & Roggen's DeepConvLSTM sensor-failure analysis).
    """
    c = x.shape[0]
    n = max(1, int(round(rate * c)))
    if c > 1:
        n = min(n, c - 1)
    out = x.copy()
    out[np.random.default_rng(seed).choice(c, size=n, replace=False)] = 0.0
    return out


def baseline_drift(x: np.ndarray, *, amplitude: float, seed: int) -> np.ndarray:
    """Add a slow random baseline wander to each channel.

    Parameters
    ----------
    x : np.ndarray
        Signal ``(C, T)``, float32 in ``[0, 1]``.
    amplitude : float
        Largest drift in ``[-0.2, 0.2]``; identity ``0``.
    seed : int
        Seed in ``[0, 2**31 - 1]``; identity ``0``.

    Notes
    -----
    Baseline wander (ECG/IMU sensor drift): a cubic spline through 4
    random knots ``~ N(0, 1)`` per channel, shifted to start at 0 and
    scaled so its largest absolute value is ``|amplitude|``.
    """
    c, t = x.shape
    values = np.random.default_rng(seed).normal(0.0, 1.0, (c, 4))
    curve = knot_curves(c, t, 2, values)
    curve -= curve[:, :1]
    peak = np.abs(curve).max(axis=1, keepdims=True)
    curve = np.divide(curve, peak, out=np.zeros_like(curve), where=peak > 1e-12)
    return (x + amplitude * curve).astype(np.float32)


_SIGNAL = frozenset({"signal"})
_KNOTS = ParamSpec(1, 8, 4, integer=True, doc="inner spline knots")

RELATIONS: tuple[Relation, ...] = (
    Relation(
        "jitter",
        _SIGNAL,
        {"sigma": ParamSpec(0.0, 0.1, 0.0, doc="noise std"), "seed": SEED_SPEC},
        jitter,
        identity_params=("sigma",),
    ),
    Relation(
        "scaling",
        _SIGNAL,
        {"sigma": ParamSpec(0.0, 0.3, 0.0, doc="std of per-channel factors"), "seed": SEED_SPEC},
        scaling,
        identity_params=("sigma",),
    ),
    Relation(
        "magnitude_warp",
        _SIGNAL,
        {
            "sigma": ParamSpec(0.0, 0.3, 0.0, doc="std of the curve knots"),
            "knots": _KNOTS,
            "seed": SEED_SPEC,
        },
        magnitude_warp,
        identity_params=("sigma",),
    ),
    Relation(
        "time_warp",
        _SIGNAL,
        {
            "sigma": ParamSpec(0.0, 0.3, 0.0, doc="std of the local speed"),
            "knots": _KNOTS,
            "seed": SEED_SPEC,
        },
        time_warp,
        identity_params=("sigma",),
    ),
    Relation(
        "window_slice",
        _SIGNAL,
        {
            "ratio": ParamSpec(0.7, 1.0, 1.0, doc="window length, fraction of T"),
            "start": ParamSpec(0.0, 1.0, 0.0, doc="window start, fraction of the slack"),
        },
        window_slice,
        identity_params=("ratio",),
    ),
    Relation(
        "channel_dropout",
        _SIGNAL,
        {"rate": ParamSpec(0.0, 0.5, 0.0, doc="fraction of channels dropped"), "seed": SEED_SPEC},
        channel_dropout,
        identity_params=("rate",),
    ),
    Relation(
        "baseline_drift",
        _SIGNAL,
        {"amplitude": ParamSpec(-0.2, 0.2, 0.0, doc="largest drift"), "seed": SEED_SPEC},
        baseline_drift,
        identity_params=("amplitude",),
    ),
)

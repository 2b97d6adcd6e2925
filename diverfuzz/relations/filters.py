"""Filter corruptions: motion and defocus blur, sharpening, pixelation, JPEG.

Each acts on every channel the same way (channels are never mixed), so all
work for any channel count ``C`` of a ``(C, H, W)`` image or spectral cube.

Notes
-----
Blur, pixelation and JPEG artefacts are corruptions of ImageNet-C
(Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common
Corruptions and Perturbations", ICLR 2019), implemented here with NumPy so
that they need no PIL or ImageMagick and work for any ``C``.

Each relation is defined by its batched implementation (``_*_batch``, one
parameter dict per row of an ``(N, C, H, W)`` stack); the single-input
function is the batched one on a stack of one, so a row of a batch equals
the single-input result bit for bit (see :mod:`diverfuzz.relations.convolve`).
The SciPy / scikit-image calls the relations were first written with are the
test oracle, within the tolerance stated in each docstring
(``tests/relations/test_batched_filters.py``).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.fft import dctn, idctn

from .convolve import correlate2d_rows, correlate_rows, gaussian_weights, pad_kernels, separable_rows
from .relation import ParamSpec, Relation

__all__ = [
    "motion_blur",
    "box_blur",
    "sharpen",
    "pixelate",
    "jpeg",
    "motion_kernel",
    "JPEG_LUMINANCE",
    "RELATIONS",
]


def motion_kernel(length: float, angle: float) -> np.ndarray:
    """Normalised line kernel of ``length`` pixels at ``angle`` degrees.

    Points along the segment (4 per pixel) are splatted bilinearly onto an
    odd-sized square grid, so sub-pixel lengths give a soft kernel.
    """
    half = math.ceil(length / 2.0) + 1
    size = 2 * half + 1
    n = max(2, math.ceil(length * 4) + 1)
    theta = math.radians(angle)
    cos, sin = math.cos(theta), math.sin(theta)
    # Plain Python floats (float64, like NumPy scalars), splats added in the
    # order (point, dr, dc); cheaper than NumPy calls for <= 17 points.
    cells = [0.0] * (size * size)
    for t in np.linspace(-length / 2.0, length / 2.0, n).tolist():
        col = half + t * cos
        row = half - t * sin
        r0, c0 = math.floor(row), math.floor(col)
        fr, fc = row - r0, col - c0
        for dr, wr in ((0, 1 - fr), (1, fr)):
            for dc, wc in ((0, 1 - fc), (1, fc)):
                cells[(r0 + dr) * size + c0 + dc] += wr * wc
    kernel = np.array(cells, np.float64).reshape(size, size)
    return kernel / kernel.sum()


def motion_blur(x: np.ndarray, *, length: float, angle: float) -> np.ndarray:
    """Linear motion blur along a direction.

    Parameters
    ----------
    x : np.ndarray
        ``(C, H, W)``, float32 in ``[0, 1]``.
    length : float
        Blur length in pixels, in ``[0, 4]``; identity ``0``.
    angle : float
        Direction in degrees counter-clockwise from the x axis, in
        ``[-90, 90]``; identity ``0`` (irrelevant when ``length`` is 0).

    Notes
    -----
    ImageNet-C "motion blur" (Hendrycks & Dietterich, 2019) with a line
    kernel (:func:`motion_kernel`) convolved per channel, borders
    ``mode="nearest"``. Computed by the batched implementation on one row
    (float32 taps summed in raster order); within ``5e-7`` (max abs) of
    ``scipy.ndimage.convolve(x.astype(float64), kernel[None],
    mode="nearest")``.

    Examples
    --------
    >>> x = np.zeros((1, 9, 9), np.float32); x[0, 4, 4] = 1
    >>> y = motion_blur(x, length=3.0, angle=0.0)
    >>> bool(y[0, 4].sum() > 0.99)  # spread along the row only
    True
    """
    return _motion_blur_batch(x[None], [{"length": length, "angle": angle}])[0]


def box_blur(x: np.ndarray, *, radius: int) -> np.ndarray:
    """Defocus blur with a ``(2r + 1) x (2r + 1)`` box filter.

    Parameters
    ----------
    x : np.ndarray
        ``(C, H, W)``, float32 in ``[0, 1]``.
    radius : int
        Box radius in pixels, in ``[0, 3]``; identity ``0``.

    Notes
    -----
    ImageNet-C "defocus blur" (Hendrycks & Dietterich, 2019) uses a disk
    kernel; a box (``scipy.ndimage.uniform_filter``, ``mode="nearest"``) is
    its separable, cheaper cousin and agrees with it for radius 1. Computed
    by the batched implementation on one row (separable float32 taps);
    within ``5e-7`` (max abs) of ``scipy.ndimage.uniform_filter(x,
    size=(1, 2 r + 1, 2 r + 1), mode="nearest")``.
    """
    return _box_blur_batch(x[None], [{"radius": radius}])[0]


def sharpen(x: np.ndarray, *, amount: float, sigma: float) -> np.ndarray:
    """Unsharp mask: ``x + amount * (x - gaussian(x, sigma))``.

    Parameters
    ----------
    x : np.ndarray
        ``(C, H, W)``, float32 in ``[0, 1]``.
    amount : float
        Strength in ``[0, 2]``; identity ``0``.
    sigma : float
        Blur radius of the mask in pixels, in ``[0.5, 2]``; identity ``1``
        (irrelevant when ``amount`` is 0).

    Notes
    -----
    Over-sharpening by camera pipelines (unsharp masking, as in
    ``skimage.filters.unsharp_mask``); the blur is
    ``skimage.filters.gaussian`` per channel, ``mode="nearest"``. Computed
    by the batched implementation on one row (the blur of
    :func:`~diverfuzz.relations.photometric.gaussian_blur`, the rest in
    float32); within ``1e-6`` (max abs) of the float32 expression
    ``x + amount * (x - gaussian(x, sigma, mode="nearest",
    preserve_range=True, channel_axis=0))``.
    """
    return _sharpen_batch(x[None], [{"amount": amount, "sigma": sigma}])[0]


def pixelate(x: np.ndarray, *, factor: float) -> np.ndarray:
    """Downsample by ``factor`` (area average), then upsample (nearest).

    Parameters
    ----------
    x : np.ndarray
        ``(C, H, W)``, float32 in ``[0, 1]``.
    factor : float
        Downsampling factor in ``[1, 4]``; identity ``1``. The small image
        has ``max(1, round(H / factor))`` rows (likewise columns).

    Notes
    -----
    ImageNet-C "pixelate" (Hendrycks & Dietterich, 2019): box downsampling
    then nearest-neighbour upsampling, as ``skimage.transform.resize``
    (``order=1, mode="edge", anti_aliasing=True`` down, ``order=0`` up).
    Computed by the batched implementation on one row: the anti-aliasing
    Gaussian (sigma ``(H / h - 1) / 2`` per axis, as skimage), then per
    output pixel the two linear-interpolation taps of the small pixel it
    copies (SciPy's ``zoom`` coordinates, ``grid_mode=True``), in float32;
    within ``5e-7`` (max abs) of the two ``resize`` calls.
    """
    return _pixelate_batch(x[None], [{"factor": factor}])[0]


JPEG_LUMINANCE = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.float64,
)
"""Quality-50 luminance quantisation table of the JPEG standard (ITU T.81, Annex K)."""


def jpeg(x: np.ndarray, *, quality: int) -> np.ndarray:
    """JPEG-like artefacts: quantise the 8x8 block DCT of every channel.

    Parameters
    ----------
    x : np.ndarray
        ``(C, H, W)``, float32 in ``[0, 1]``, any ``C``.
    quality : int
        JPEG quality in ``[5, 100]``; identity ``100`` (no quantisation;
        real JPEG at 100 still rounds, this relation does not).

    Notes
    -----
    The lossy core of baseline JPEG (Wallace, 1992; ImageNet-C "JPEG",
    Hendrycks & Dietterich, 2019): values are scaled to ``[-128, 127]``,
    each channel is padded (edge mode) to a multiple of 8, every 8x8 block
    is transformed with the orthonormal DCT-II (``scipy.fft.dctn``, equal
    to the JPEG FDCT), divided by the luminance table scaled by the IJG
    quality rule (``5000 / q`` below 50, ``200 - 2 q`` above), rounded and
    transformed back. No colour conversion or chroma subsampling, so any
    channel count works. Computed by the batched implementation on one row,
    which is this computation row by row (tolerance 0 to it).
    """
    return _jpeg_batch(x[None], [{"quality": quality}])[0]


@lru_cache(maxsize=128)
def _jpeg_table(q: int) -> np.ndarray:
    scale = 5000.0 / q if q < 50 else 200.0 - 2.0 * q
    table = np.maximum(np.floor((JPEG_LUMINANCE * scale + 50.0) / 100.0), 1.0)
    table.flags.writeable = False
    return table


def _jpeg_one(x: np.ndarray, quality: int) -> np.ndarray:
    c, h, w = x.shape
    table = _jpeg_table(int(quality))
    ph, pw = -h % 8, -w % 8
    padded = np.pad(x.astype(np.float64) * 255.0 - 128.0, ((0, 0), (0, ph), (0, pw)), mode="edge")
    hb, wb = padded.shape[1] // 8, padded.shape[2] // 8
    blocks = padded.reshape(c, hb, 8, wb, 8)
    coeffs = dctn(blocks, axes=(2, 4), norm="ortho")
    coeffs = np.round(coeffs / table[:, None, :]) * table[:, None, :]
    back = idctn(coeffs, axes=(2, 4), norm="ortho").reshape(padded.shape)
    return ((back[:, :h, :w] + 128.0) / 255.0).astype(np.float32)


def _motion_blur_batch(xs: np.ndarray, params: list[dict]) -> np.ndarray:
    # Convolution = correlation with the flipped kernel; kernels of
    # different sizes are centred in the largest one (zero taps are exact,
    # see diverfuzz/relations/convolve.py).
    kernels = pad_kernels([motion_kernel(p["length"], p["angle"])[::-1, ::-1] for p in params])
    return correlate2d_rows(xs, kernels)


def _box_weights(radii: list[int]) -> np.ndarray:
    big = max(radii)
    weights = np.zeros((len(radii), 2 * big + 1), np.float64)
    for i, r in enumerate(radii):
        weights[i, big - r : big + r + 1] = 1.0 / (2 * r + 1)
    return weights


def _box_blur_batch(xs: np.ndarray, params: list[dict]) -> np.ndarray:
    weights = _box_weights([int(p["radius"]) for p in params])
    out = separable_rows(xs, weights)
    return out.astype(np.float32)


def _sharpen_batch(xs: np.ndarray, params: list[dict]) -> np.ndarray:
    weights = gaussian_weights([p["sigma"] for p in params])
    blurred = separable_rows(xs, weights)
    amount = np.array([p["amount"] for p in params], np.float32).reshape(-1, 1, 1, 1)
    return xs + amount * (xs - blurred)


@lru_cache(maxsize=1024)
def _pixelate_taps(size: int, small: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two source indices and weights per output pixel along one axis.

    Output pixel ``p`` copies small pixel ``j`` (``scipy.ndimage.zoom``
    order 0, ``grid_mode=True``: ``floor(cc + 0.5)`` with
    ``cc = (p + 0.5) * small / size - 0.5``), which interpolates linearly
    (order 1) between source pixels ``floor(c)`` and ``floor(c) + 1`` at
    ``c = (j + 0.5) * size / small - 0.5``, borders clamped.
    """
    p = np.arange(size, dtype=np.float64)
    j = np.clip(np.floor((p + 0.5) * (small / size) - 0.5 + 0.5), 0, small - 1)
    c = (j + 0.5) * (size / small) - 0.5
    i0 = np.floor(c)
    f = c - i0
    lo = np.clip(i0, 0, size - 1).astype(np.intp)
    hi = np.clip(i0 + 1, 0, size - 1).astype(np.intp)
    taps = (lo, hi, 1.0 - f, f)
    for a in taps:
        a.flags.writeable = False
    return taps


def _gather_rows(xs: np.ndarray, taps: list[tuple], axis: int) -> np.ndarray:
    # out[i, ..., p, ...] = w0[i, p] * xs[i, ..., lo[i, p], ...] + w1[i, p] * xs[i, ..., hi[i, p], ...]
    # in float32, through flat indices (elementwise, so rows are independent).
    n, c, h, w = xs.shape
    lo, hi, w0, w1 = (np.stack(t) for t in zip(*taps))
    flat = np.ascontiguousarray(xs, np.float32).reshape(-1)
    base = (np.arange(n * c).reshape(n, c, 1, 1)) * (h * w)
    if axis == 2:
        lo, hi = lo[:, None, :, None] * w, hi[:, None, :, None] * w
        w0, w1 = w0[:, None, :, None], w1[:, None, :, None]
        base = base + np.arange(w)
    else:
        lo, hi = lo[:, None, None, :], hi[:, None, None, :]
        w0, w1 = w0[:, None, None, :], w1[:, None, None, :]
        base = base + np.arange(h)[:, None] * w
    return w0.astype(np.float32) * flat[base + lo] + w1.astype(np.float32) * flat[base + hi]


def _pixelate_batch(xs: np.ndarray, params: list[dict]) -> np.ndarray:
    _, _, h, w = xs.shape
    smalls = [(max(1, round(h / p["factor"])), max(1, round(w / p["factor"]))) for p in params]
    blurred = xs
    for axis, size, k in ((2, h, 0), (3, w, 1)):
        sigmas = [max(0.0, (size / s[k] - 1.0) / 2.0) for s in smalls]
        if any(s > 1e-15 for s in sigmas):
            blurred = correlate_rows(blurred, gaussian_weights(sigmas), axis=axis, symmetric=True)
    out = _gather_rows(blurred, [_pixelate_taps(h, s[0]) for s in smalls], axis=2)
    out = _gather_rows(out, [_pixelate_taps(w, s[1]) for s in smalls], axis=3)
    return out.astype(np.float32)


def _jpeg_batch(xs: np.ndarray, params: list[dict]) -> np.ndarray:
    # Row by row on purpose: scipy.fft (pocketfft) transforms several lines
    # at once in SIMD lanes and the rest one by one, so a vectorised DCT over
    # the stack could round a row differently from the same row alone. The
    # per-row work is plain NumPy / SciPy with no scikit-image overhead.
    return np.stack([_jpeg_one(x, p["quality"]) for x, p in zip(xs, params)])


_ANY = frozenset({"image", "spectral"})

RELATIONS: tuple[Relation, ...] = (
    Relation(
        "motion_blur",
        _ANY,
        {
            "length": ParamSpec(0.0, 4.0, 0.0, doc="blur length in pixels"),
            "angle": ParamSpec(-90.0, 90.0, 0.0, doc="direction in degrees"),
        },
        motion_blur,
        batch_func=_motion_blur_batch,
        identity_params=("length",),
    ),
    Relation(
        "box_blur",
        _ANY,
        {"radius": ParamSpec(0, 3, 0, integer=True, doc="box radius in pixels")},
        box_blur,
        batch_func=_box_blur_batch,
    ),
    Relation(
        "sharpen",
        _ANY,
        {
            "amount": ParamSpec(0.0, 2.0, 0.0, doc="unsharp-mask strength"),
            "sigma": ParamSpec(0.5, 2.0, 1.0, doc="mask blur in pixels"),
        },
        sharpen,
        batch_func=_sharpen_batch,
        identity_params=("amount",),
    ),
    Relation(
        "pixelate",
        _ANY,
        {"factor": ParamSpec(1.0, 4.0, 1.0, doc="downsampling factor")},
        pixelate,
        batch_func=_pixelate_batch,
    ),
    Relation(
        "jpeg",
        frozenset({"image"}),
        {"quality": ParamSpec(5, 100, 100, integer=True, doc="JPEG quality (100: none)")},
        jpeg,
        batch_func=_jpeg_batch,
    ),
)

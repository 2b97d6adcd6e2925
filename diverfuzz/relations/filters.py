"""Filter corruptions: motion and defocus blur, sharpening, pixelation, JPEG.

Each acts on every channel the same way (channels are never mixed), so all
work for any channel count ``C`` of a ``(C, H, W)`` image or spectral cube.

Notes
-----
Blur, pixelation and JPEG artefacts are corruptions of ImageNet-C
(Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common
Corruptions and Perturbations", ICLR 2019), implemented here with SciPy so
that they need no PIL or ImageMagick and work for any ``C``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from scipy.fft import dctn, idctn
from skimage.filters import gaussian
from skimage.transform import resize

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
    kernel = np.zeros((size, size), np.float64)
    n = max(2, math.ceil(length * 4) + 1)
    theta = math.radians(angle)
    for t in np.linspace(-length / 2.0, length / 2.0, n):
        col = half + t * math.cos(theta)
        row = half - t * math.sin(theta)
        r0, c0 = math.floor(row), math.floor(col)
        fr, fc = row - r0, col - c0
        for dr, wr in ((0, 1 - fr), (1, fr)):
            for dc, wc in ((0, 1 - fc), (1, fc)):
                kernel[r0 + dr, c0 + dc] += wr * wc
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
    ``mode="nearest"``.

    Examples
    --------
    >>> x = np.zeros((1, 9, 9), np.float32); x[0, 4, 4] = 1
    >>> y = motion_blur(x, length=3.0, angle=0.0)
    >>> bool(y[0, 4].sum() > 0.99)  # spread along the row only
    True
    """
    kernel = motion_kernel(length, angle)
    return ndimage.convolve(x.astype(np.float64), kernel[None], mode="nearest").astype(np.float32)


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
    its separable, cheaper cousin and agrees with it for radius 1.
    """
    size = 2 * int(radius) + 1
    return ndimage.uniform_filter(x, size=(1, size, size), mode="nearest")


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
    ``skimage.filters.gaussian`` per channel, ``mode="nearest"``.
    """
    blurred = gaussian(x, sigma=sigma, mode="nearest", preserve_range=True, channel_axis=0)
    return (x + amount * (x - blurred)).astype(np.float32)


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
    then nearest-neighbour upsampling, via ``skimage.transform.resize``
    (``anti_aliasing=True`` down, ``order=0`` up).
    """
    c, h, w = x.shape
    small = (c, max(1, round(h / factor)), max(1, round(w / factor)))
    down = resize(x, small, order=1, mode="edge", anti_aliasing=True, preserve_range=True)
    up = resize(down, x.shape, order=0, mode="edge", anti_aliasing=False, preserve_range=True)
    return up.astype(np.float32)


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
    channel count works.
    """
    c, h, w = x.shape
    q = int(quality)
    scale = 5000.0 / q if q < 50 else 200.0 - 2.0 * q
    table = np.maximum(np.floor((JPEG_LUMINANCE * scale + 50.0) / 100.0), 1.0)
    ph, pw = -h % 8, -w % 8
    padded = np.pad(x.astype(np.float64) * 255.0 - 128.0, ((0, 0), (0, ph), (0, pw)), mode="edge")
    hb, wb = padded.shape[1] // 8, padded.shape[2] // 8
    blocks = padded.reshape(c, hb, 8, wb, 8)
    coeffs = dctn(blocks, axes=(2, 4), norm="ortho")
    coeffs = np.round(coeffs / table[:, None, :]) * table[:, None, :]
    back = idctn(coeffs, axes=(2, 4), norm="ortho").reshape(padded.shape)
    return ((back[:, :h, :w] + 128.0) / 255.0).astype(np.float32)


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
        identity_params=("length",),
    ),
    Relation(
        "box_blur",
        _ANY,
        {"radius": ParamSpec(0, 3, 0, integer=True, doc="box radius in pixels")},
        box_blur,
    ),
    Relation(
        "sharpen",
        _ANY,
        {
            "amount": ParamSpec(0.0, 2.0, 0.0, doc="unsharp-mask strength"),
            "sigma": ParamSpec(0.5, 2.0, 1.0, doc="mask blur in pixels"),
        },
        sharpen,
        identity_params=("amount",),
    ),
    Relation(
        "pixelate",
        _ANY,
        {"factor": ParamSpec(1.0, 4.0, 1.0, doc="downsampling factor")},
        pixelate,
    ),
    Relation(
        "jpeg",
        frozenset({"image"}),
        {"quality": ParamSpec(5, 100, 100, integer=True, doc="JPEG quality (100: none)")},
        jpeg,
    ),
)

"""CLAHE on a 2-D image with every contextual region at once, bit for bit ``skimage.exposure.equalize_adapthist``.

scikit-image's ``_clahe`` clips and redistributes the histogram of each
contextual region in a Python loop (``np.apply_along_axis``), which costs
most of the ``clahe`` relation's time on small images (about 0.7 ms for
one 28x28 digit, 16 regions). :func:`equalize_adapthist` runs the same
integer histogram arithmetic on all regions together and the same
floating-point interpolation, so its output is identical to scikit-image's
(``np.array_equal``; tested against it). Pre- and post-scaling use
scikit-image's own ``img_as_uint`` and the operations of its
``rescale_intensity``. :func:`equalize_adapthist_stack` does the same for
a stack of images of one size (e.g. every channel of a batch) at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from skimage.util import img_as_uint

__all__ = ["equalize_adapthist", "equalize_adapthist_stack"]

#: Grey levels of the CLAHE algorithm (``skimage.exposure._adapthist.NR_OF_GRAY``).
NR_OF_GRAY = 2**14

#: Pixels of the images :func:`equalize_adapthist_stack` processes together (more: in chunks).
_CHUNK_PIXELS = 2**16


def equalize_adapthist(image: np.ndarray, kernel_size: int, clip_limit: float, nbins: int = 256) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of one 2-D image.

    Parameters
    ----------
    image : np.ndarray
        ``(H, W)`` float64 in ``[0, 1]``, not constant.
    kernel_size : int
        Side of the contextual regions in pixels (>= 1).
    clip_limit : float
        Normalised clip limit (0 or >= 1: no clipping).
    nbins : int, optional
        Grey bins of the histograms (default 256).

    Returns
    -------
    np.ndarray
        ``(H, W)`` float64 in ``[0, 1]``, equal to
        ``skimage.exposure.equalize_adapthist(image, kernel_size, clip_limit, nbins)``.

    Notes
    -----
    Zuiderveld, "Contrast limited adaptive histogram equalization",
    Graphics Gems IV, 1994, as implemented by scikit-image 0.26.
    :func:`equalize_adapthist_stack` on one image.
    """
    return equalize_adapthist_stack(np.asarray(image)[None], kernel_size, [clip_limit], nbins)[0]


def equalize_adapthist_stack(
    images: np.ndarray, kernel_size: int, clip_limits: Sequence[float], nbins: int = 256
) -> np.ndarray:
    """:func:`equalize_adapthist` of every image of a stack, all at once.

    Parameters
    ----------
    images : np.ndarray
        ``(M, H, W)`` float64 in ``[0, 1]``.
    kernel_size : int
        Side of the contextual regions in pixels (>= 1), the same for all.
    clip_limits : sequence of float
        One normalised clip limit per image (0 or >= 1: no clipping).
    nbins : int, optional
        Grey bins of the histograms (default 256).

    Returns
    -------
    np.ndarray
        ``(M, H, W)`` float64; image ``m`` is bit for bit
        ``skimage.exposure.equalize_adapthist(images[m], kernel_size,
        clip_limits[m], nbins)`` (every operation is per image: elementwise
        arithmetic, exact integer histograms and per-image minima and
        maxima, so the result of an image does not depend on the others).
    """
    images = np.asarray(images)
    if len(clip_limits) != len(images):
        raise ValueError(f"{len(clip_limits)} clip limits for {len(images)} images")
    step = max(1, _CHUNK_PIXELS // max(1, images[0].size))
    if len(images) > step:  # large images: a few at a time, so the temporaries stay in cache
        return np.concatenate(
            [
                equalize_adapthist_stack(images[i : i + step], kernel_size, clip_limits[i : i + step], nbins)
                for i in range(0, len(images), step)
            ]
        )
    image = img_as_uint(images)  # elementwise
    scaled = _rescale(image.astype(np.float64), 0.0, float(NR_OF_GRAY - 1))
    image = np.round(scaled).astype(np.min_scalar_type(NR_OF_GRAY))
    out = _clahe(image, (int(kernel_size),) * 2, clip_limits, nbins)
    return _rescale(out.astype(np.float64, copy=False), 0.0, 1.0)


def _rescale(images: np.ndarray, omin: float, omax: float) -> np.ndarray:
    """``skimage.exposure.rescale_intensity(image, out_range=...)`` of each float64 image of a stack.

    In-range the image's own minimum and maximum; the output range
    ``(omin, omax)`` (``(0, 1)`` is what ``out_range="dtype"`` gives for
    non-negative float64 images). The same operations as scikit-image 0.26,
    elementwise with per-image scalars; constant images are clipped to the
    output range.
    """
    imin = images.min(axis=(-2, -1), keepdims=True)
    imax = images.max(axis=(-2, -1), keepdims=True)
    clipped = np.minimum(np.maximum(images, imin), imax)  # np.clip (no NaN here)
    flat = imin == imax
    span = np.where(flat, 1.0, imax - imin)
    out = ((clipped - imin) / span) * (omax - omin) + omin
    if flat.any():
        out = np.where(flat, np.clip(clipped, omin, omax), out)
    return out


@dataclass(frozen=True)
class _Geometry:
    """Index arrays and interpolation weights of :func:`_clahe` for one image shape and kernel."""

    rows: np.ndarray  # reflect-padded row indices into the image
    cols: np.ndarray  # reflect-padded column indices
    ns_hist: tuple[int, int]  # contextual regions per axis
    ns_proc: tuple[int, int]  # interpolation blocks per axis
    map_rows: np.ndarray  # edge-padded region indices (rows) of the mappings
    map_cols: np.ndarray
    edge_coeffs: tuple[np.ndarray, ...]  # weight of each of the 4 neighbouring mappings
    crop: tuple[slice, slice]  # undoes the padding


@lru_cache(maxsize=64)
def _geometry(shape: tuple[int, int], kernel_size: tuple[int, int]) -> _Geometry:
    """What :func:`_clahe` needs that depends only on the shape and kernel (scikit-image's arithmetic)."""
    pad_start = [k // 2 for k in kernel_size]
    pad_end = [(k - s % k) % k + int(np.ceil(k / 2.0)) for k, s in zip(kernel_size, shape)]
    rows, cols = (np.pad(np.arange(n), (a, b), mode="reflect") for n, a, b in zip(shape, pad_start, pad_end))
    padded = (len(rows), len(cols))
    ns_hist = tuple(int(s / k) - 1 for s, k in zip(padded, kernel_size))
    ns_proc = tuple(int(s / k) for s, k in zip(padded, kernel_size))
    map_rows, map_cols = (np.pad(np.arange(n), (1, 1), mode="edge") for n in ns_hist)
    coeffs = np.meshgrid(*tuple([np.arange(k) / k for k in kernel_size[::-1]]), indexing="ij")
    coeffs = [np.transpose(c).flatten() for c in coeffs]
    inv_coeffs = [1 - c for c in coeffs]
    edge_coeffs = tuple(
        np.prod([[inv_coeffs, coeffs][e][d] for d, e in enumerate(edge[::-1])], 0) for edge in np.ndindex(2, 2)
    )
    crop = tuple(slice(a, n - b) for a, b, n in zip(pad_start, pad_end, padded))
    return _Geometry(rows, cols, ns_hist, ns_proc, map_rows, map_cols, edge_coeffs, crop)


def _clahe(images: np.ndarray, kernel_size: tuple[int, int], clip_limits: Sequence[float], nbins: int) -> np.ndarray:
    """``skimage.exposure._adapthist._clahe`` for a stack ``(M, H, W)`` of 2-D images, all regions at once.

    The same integer and floating-point operations in the same order;
    padding and the per-region gathers are done by indexing, in the image
    layout (no transposed copies). Image ``m`` uses ``clip_limits[m]``.
    """
    dtype = images.dtype
    m = images.shape[0]
    geo = _geometry(images.shape[1:], kernel_size)
    image = images[:, geo.rows[:, None], geo.cols[None, :]] // (1 + NR_OF_GRAY // nbins)

    # Histograms of the contextual regions, one row each (image by image, region by region).
    k0, k1 = kernel_size
    kernel_elements = k0 * k1
    (h0, h1), (p0, p1) = geo.ns_hist, geo.ns_proc
    n_regions = m * h0 * h1
    blocks = image[:, k0 // 2 : k0 // 2 + h0 * k0, k1 // 2 : k1 // 2 + h1 * k1].reshape(m, h0, k0, h1, k1)
    clims = [int(max(c * kernel_elements, 1)) if c > 0.0 else kernel_elements for c in clip_limits]
    # Counts are at most kernel_elements (< 2**31): int32 is exact and halves the memory traffic.
    clim = np.repeat(np.asarray(clims, dtype=np.int32), h0 * h1)
    offsets = (np.arange(n_regions, dtype=np.int64) * nbins).reshape(m, h0, 1, h1, 1)
    hist = np.bincount((blocks + offsets).ravel(), minlength=n_regions * nbins).astype(np.int32)
    hist = hist.reshape(n_regions, nbins)
    hist = _clip_histograms(hist, clim)
    hist = _map_histograms(hist, 0, NR_OF_GRAY - 1, kernel_elements).ravel()  # (M, h0, h1, nbins) flat

    # Bilinear interpolation of the four neighbouring mappings of each block: block (i, j)
    # of image n reads the mapping of region (map_rows[i + e0], map_cols[j + e1]).
    blocks = image.reshape(m, p0, k0, p1, k1)
    base = blocks + (np.arange(m, dtype=np.int64) * (h0 * h1 * nbins)).reshape(m, 1, 1, 1, 1)
    result = np.zeros(blocks.shape, dtype=np.float32)
    for (e0, e1), edge_coeffs in zip(np.ndindex(2, 2), geo.edge_coeffs):
        region = geo.map_rows[e0 : e0 + p0, None] * h1 + geo.map_cols[None, e1 : e1 + p1]
        index = base + (region * nbins).reshape(1, p0, 1, p1, 1)
        result += (hist[index] * edge_coeffs.reshape(k0, 1, k1)).astype(result.dtype)
    result = result.astype(dtype).reshape(image.shape)
    return result[(slice(None),) + geo.crop]


def _clip_histograms(hist: np.ndarray, clip_limit: np.ndarray) -> np.ndarray:
    """``skimage.exposure._adapthist.clip_histogram`` on every row of ``hist`` (integers), in place.

    ``clip_limit`` holds one limit per row (the same integer dtype). The clipped excess is
    spread evenly, then the rest one count at a time in strides, in the
    same order as scikit-image's per-histogram loop: the rows advance in
    lock step through its ``index`` loop, each leaving it when its excess
    is spent (``break``) or, after a full pass, when the pass spread
    nothing. Every row's result depends on that row only.
    """
    limit = clip_limit[:, None]
    n_excess = np.maximum(hist - limit, 0).sum(axis=1)
    np.minimum(hist, limit, out=hist)
    bin_incr = n_excess // hist.shape[1]
    if bin_incr.any():  # with no increment both steps change nothing
        upper = (clip_limit - bin_incr)[:, None]
        low = hist < upper
        n_excess -= low.sum(axis=1) * bin_incr
        hist += low * bin_incr[:, None]
        mid = (hist >= upper) & (hist < limit)
        n_excess += np.where(mid, hist - limit, 0).sum(axis=1)
        np.copyto(hist, np.broadcast_to(limit, hist.shape), where=mid)

    positions = np.arange(hist.shape[1])
    active = np.flatnonzero(n_excess > 0)
    while len(active):
        before = n_excess[active].copy()
        rows = active
        for index in range(hist.shape[1]):
            under = hist[rows] < limit[rows]
            step = np.maximum(1, under.sum(axis=1) // n_excess[rows])
            take = under & ((positions - index) % step[:, None] == 0)
            if index:
                take[:, :index] = False
            hist[rows] += take
            n_excess[rows] -= take.sum(axis=1)
            rows = rows[n_excess[rows] > 0]
            if not len(rows):
                break
        # Rows that spent their excess are done; a full pass that spread nothing ends the rest.
        keep = (n_excess[active] > 0) & (n_excess[active] != before)
        active = active[keep]
    return hist


def _map_histograms(hist: np.ndarray, min_val: int, max_val: int, n_pixels: int) -> np.ndarray:
    """``skimage.exposure._adapthist.map_histogram``: the equalising lookup tables."""
    out = np.cumsum(hist, axis=-1).astype(float)
    out *= (max_val - min_val) / n_pixels
    out += min_val
    np.clip(out, a_min=None, a_max=max_val, out=out)
    return out.astype(int)

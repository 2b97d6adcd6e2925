"""Per-row-kernel correlations of image stacks, exact row by row.

The batched filters (``gaussian_blur``, ``sharpen``, ``box_blur``,
``motion_blur``, the anti-aliasing of ``pixelate``) transform a stack
``(N, C, H, W)`` with one kernel per row. Their single-input functions are
the batched ones on a stack of one, and row ``i`` of a batch must equal the
single-input result bit for bit whatever the other rows are.

That holds here because every output value is a sum over the kernel taps
taken in one fixed order (ascending tap index, or raster order in 2-D)
with elementwise NumPy multiplications and additions only: these round
each element on its own, whatever the array layout, the SIMD path or the
chunking, so no reduction whose order could depend on the batch is
involved (no BLAS, no FFT, no ``sum``). Rows whose kernel is smaller than
the largest one in the batch get zero weights on the outer taps; such a
tap adds a zero to an accumulator that starts at ``+0.0``, which leaves it
unchanged bit for bit (``a + 0 == a``; an accumulator started at ``+0.0``
never becomes ``-0.0``), so the result equals the one computed with the
row's own taps. Taps whose weight is zero in every row are skipped. Values
must be finite.

The work is done in float32 on blocks of at most ``_CHUNK`` elements (whole
rows, or channels of one row), so that the passes over the taps stay in
cache on large inputs; blocks do not change any result.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = [
    "gaussian_kernel",
    "gaussian_weights",
    "pad_kernels",
    "correlate_rows",
    "separable_rows",
    "correlate2d_rows",
]

_CHUNK = 1 << 15
"""Most elements per block of rows (or channels of one row) filtered at once."""


@lru_cache(maxsize=4096)
def gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """SciPy's normalised 1-D Gaussian kernel (``_gaussian_kernel1d``), read-only.

    Radius ``int(truncate * sigma + 0.5)``; a sigma of at most ``1e-15``
    (SciPy skips that axis) gives the identity kernel ``[1]``. Computed for
    one sigma at a time, so a row's kernel does not depend on its batch.
    """
    sigma = float(sigma)
    if sigma <= 1e-15:
        out = np.ones(1, np.float64)
    else:
        r = int(truncate * sigma + 0.5)
        t = np.arange(-r, r + 1, dtype=np.float64)
        phi = np.exp(-0.5 / (sigma * sigma) * t**2)
        out = phi / phi.sum()
    out.flags.writeable = False
    return out


def pad_kernels(kernels: list[np.ndarray]) -> np.ndarray:
    """Stack odd-length 1-D (or odd-sided square 2-D) kernels, centred, zero-padded to the largest."""
    big = max(k.shape[0] for k in kernels)
    out = np.zeros((len(kernels),) + (big,) * kernels[0].ndim, np.float64)
    for i, k in enumerate(kernels):
        o = (big - k.shape[0]) // 2
        out[(i,) + (slice(o, o + k.shape[0]),) * k.ndim] = k
    return out


def gaussian_weights(sigmas, truncate: float = 4.0) -> np.ndarray:
    """``(N, 2 R + 1)`` :func:`gaussian_kernel` rows, centred and zero-padded to the largest radius ``R``."""
    return pad_kernels([gaussian_kernel(float(s), truncate) for s in np.asarray(sigmas, np.float64).reshape(-1)])


def _blocks(xs: np.ndarray):
    """Index tuples cutting ``(N, C, ...)`` into blocks of at most ``_CHUNK`` elements (at least one channel)."""
    n, c = xs.shape[:2]
    per_channel = max(1, int(np.prod(xs.shape[2:], dtype=np.int64)))
    if c * per_channel <= _CHUNK:
        rows = max(1, _CHUNK // (c * per_channel))
        for i in range(0, n, rows):
            yield slice(i, i + rows), slice(None)
    else:
        chans = max(1, _CHUNK // per_channel)
        for i in range(n):
            for j in range(0, c, chans):
                yield slice(i, i + 1), slice(j, j + chans)


def _pad_edge(x: np.ndarray, axis: int, radius: int) -> np.ndarray:
    shape = list(x.shape)
    length = shape[axis]
    shape[axis] += 2 * radius
    out = np.empty(shape, x.dtype)
    idx = [slice(None)] * x.ndim

    def put(dst: slice, src: slice) -> None:
        idx[axis] = dst
        d = tuple(idx)
        idx[axis] = src
        out[d] = x[tuple(idx)]

    put(slice(radius, radius + length), slice(None))
    if radius:
        put(slice(0, radius), slice(0, 1))
        put(slice(radius + length, None), slice(length - 1, length))
    return out


def _accumulate(flat: np.ndarray, weights: np.ndarray, offsets: np.ndarray, length: int) -> np.ndarray:
    """``acc[i, m] = sum_t weights[i, t] * flat[i, m + offsets[t]]`` for ``m < length``, in float32.

    Taps in the given order from ``+0.0``; taps zero in every row skipped.
    ``acc`` has ``flat``'s width; its last columns are left at zero.
    """
    acc = np.zeros(flat.shape, np.float32)
    view = acc[:, :length]
    tmp = np.empty(view.shape, np.float32)
    for t in np.flatnonzero(np.any(weights != 0.0, axis=0)):
        o = int(offsets[t])
        np.multiply(flat[:, o : o + length], weights[:, t : t + 1], out=tmp)
        view += tmp
    return acc


def _accumulate_symmetric(flat: np.ndarray, weights: np.ndarray, step: int, length: int) -> np.ndarray:
    """:func:`_accumulate` for kernels with ``w[:, R - d] == w[:, R + d]``.

    ``sum_d w[:, R - d] * (flat[m + (R - d) step] + flat[m + (R + d) step])``
    for ``d = R, ..., 1``, then the centre tap: one multiplication per pair.
    """
    radius = weights.shape[1] // 2
    acc = np.zeros(flat.shape, np.float32)
    view = acc[:, :length]
    tmp = np.empty(view.shape, np.float32)
    used = np.any(weights != 0.0, axis=0)
    for d in range(radius, 0, -1):
        if not used[radius - d]:
            continue
        lo, hi = (radius - d) * step, (radius + d) * step
        np.add(flat[:, lo : lo + length], flat[:, hi : hi + length], out=tmp)
        tmp *= weights[:, radius - d : radius - d + 1]
        view += tmp
    o = radius * step
    np.multiply(flat[:, o : o + length], weights[:, radius : radius + 1], out=tmp)
    view += tmp
    return acc


def correlate_rows(xs: np.ndarray, weights: np.ndarray, axis: int, *, symmetric: bool = False) -> np.ndarray:
    """Correlate each ``(C, H, W)`` row of ``xs`` along H or W with its own 1-D kernel.

    Parameters
    ----------
    xs : np.ndarray
        ``(N, C, H, W)`` finite floats.
    weights : np.ndarray
        ``(N, 2 R + 1)`` kernels, centred (tap ``R`` is the output pixel).
    axis : int
        ``2`` / ``-2`` (H) or ``3`` / ``-1`` (W); borders repeat the edge
        value (``mode="nearest"`` of SciPy, ``"edge"`` of ``np.pad``).
    symmetric : bool, optional
        The caller's promise that every kernel it ever passes is symmetric
        (Gaussian, box): taps ``R - d`` and ``R + d`` are then added before
        one multiplication, pairs ``d = R, ..., 1`` then the centre. A
        property of the relation, never of the data, so that a row is
        summed the same way in any batch. Default False.

    Returns
    -------
    np.ndarray
        float32 array of ``xs.shape``:
        ``out[i, ..., j, ...] = sum_t w[i, t] * pad(xs)[i, ..., j + t, ...]``
        in float32, summed over ``t`` in ascending order from ``+0.0``
        (pairwise as above when ``symmetric``).

    Notes
    -----
    Each padded block is flattened per row, so that every tap is one
    contiguous slice: tap ``t`` reads the flat array ``t`` places (W) or
    ``t`` image rows (H) further on; the outputs that fall on padding are
    computed and dropped.
    """
    xs = np.asarray(xs, dtype=np.float32)
    w32 = np.asarray(weights, dtype=np.float64).astype(np.float32)
    k = w32.shape[1]
    radius = k // 2
    axis = axis % 4
    if axis not in (2, 3):
        raise ValueError(f"axis={axis}: expected 2 (H) or 3 (W) of an (N, C, H, W) stack")
    h, w = xs.shape[2:]
    out = np.empty(xs.shape, np.float32)
    for rows, chans in _blocks(xs):
        padded = _pad_edge(xs[rows, chans], axis, radius)
        b, cb, ph, pw = padded.shape
        flat = padded.reshape(b, -1)
        step = pw if axis == 2 else 1
        length = flat.shape[1] - 2 * radius * step
        if symmetric:
            acc = _accumulate_symmetric(flat, w32[rows], step, length)
        else:
            acc = _accumulate(flat, w32[rows], np.arange(k) * step, length)
        out[rows, chans] = acc.reshape(b, cb, ph, pw)[:, :, :h, :w]
    return out


def separable_rows(xs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Symmetric per-row kernel along H, then along W (as SciPy's separable filters); float32."""
    return correlate_rows(correlate_rows(xs, weights, 2, symmetric=True), weights, 3, symmetric=True)


def correlate2d_rows(xs: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """Correlate each ``(C, H, W)`` row of ``xs`` with its own 2-D kernel.

    Parameters
    ----------
    xs : np.ndarray
        ``(N, C, H, W)`` finite floats; every channel is filtered alike.
    kernels : np.ndarray
        ``(N, KH, KW)`` kernels with odd sides, centred; borders repeat
        the edge value.

    Returns
    -------
    np.ndarray
        float32 ``(N, C, H, W)``, taps summed in float32 in raster order
        (row-major over the kernel) from ``+0.0``, on flattened padded
        blocks as :func:`correlate_rows`.
    """
    xs = np.asarray(xs, dtype=np.float32)
    k32 = np.asarray(kernels, dtype=np.float64).astype(np.float32)
    _, kh, kw = k32.shape
    rh, rw = kh // 2, kw // 2
    h, w = xs.shape[2:]
    out = np.empty(xs.shape, np.float32)
    for rows, chans in _blocks(xs):
        padded = _pad_edge(_pad_edge(xs[rows, chans], 2, rh), 3, rw)
        b, cb, ph, pw = padded.shape
        flat = padded.reshape(b, -1)
        offsets = (np.arange(kh)[:, None] * pw + np.arange(kw)[None, :]).ravel()
        acc = _accumulate(flat, k32[rows].reshape(b, -1), offsets, flat.shape[1] - offsets[-1])
        out[rows, chans] = acc.reshape(b, cb, ph, pw)[:, :, :h, :w]
    return out

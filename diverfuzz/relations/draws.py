"""A bounded memo of seeded random draws, so that re-applying a relation is cheap.

The noise-like relations (Gaussian, speckle and salt-and-pepper noise,
fog, signal jitter) draw their randomness from
``np.random.default_rng(seed)`` with the step's integer ``seed``. The
genetic search's validity repair re-applies one chain several times with
its levels (``sigma``, ``amount``, ``density``) scaled towards identity but
the ``seed`` kept, so the same numbers would be drawn again on every
application: at 3x224x224 the draws (and fog's smoothing) are most of a
noise relation's cost. This module draws them once and keeps them in a
least-recently-used memo bounded in bytes.

The functions here are pure: each returns exactly (bit for bit) what the
direct ``np.random.default_rng(seed)`` call returns, whether or not it was
memoised, so the memo is never a source of nondeterminism; it only saves
time. Returned arrays are read-only (they are shared between calls).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np
from scipy import ndimage

__all__ = [
    "DrawMemo",
    "MEMO",
    "standard_normal",
    "normal",
    "uniform_pair",
    "smooth_field",
    "smoothed_uniform",
    "field_sigma",
    "elastic_field",
]

_Value = np.ndarray | tuple[np.ndarray, ...]


def _nbytes(value: _Value) -> int:
    arrays = value if isinstance(value, tuple) else (value,)
    return sum(a.nbytes for a in arrays)


def _freeze(value: _Value) -> _Value:
    arrays = value if isinstance(value, tuple) else (value,)
    for a in arrays:
        a.flags.writeable = False
    return value


class DrawMemo:
    """Thread-safe least-recently-used memo of read-only arrays, bounded in bytes.

    Parameters
    ----------
    max_bytes : int, optional
        Upper bound, ``>= 0``, on the total ``nbytes`` of the arrays held
        (default 32 MiB). A value larger than the bound is returned but not
        kept; ``0`` keeps nothing.

    Notes
    -----
    Like :func:`functools.lru_cache`, for pure functions only: a hit
    returns the value the computation returned the first time. The
    computation runs outside the lock, so two threads missing on one key
    may both compute it (the same value); the first stored wins.
    """

    def __init__(self, max_bytes: int = 32 * 2**20) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes={max_bytes}: expected >= 0")
        self.max_bytes = int(max_bytes)
        self._entries: OrderedDict[Hashable, _Value] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        """Total ``nbytes`` of the arrays held now (``int``, ``<= max_bytes``)."""
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        """Drop every entry (and reset the hit and miss counts)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], _Value]) -> _Value:
        """The value memoised under ``key``, computing (and keeping) it on a miss.

        Parameters
        ----------
        key : hashable
            Identifies the computation completely (kind, seed, shape, ...).
        compute : callable
            No-argument function returning a fresh array or tuple of arrays;
            called only on a miss.

        Returns
        -------
        np.ndarray or tuple of np.ndarray
            Read-only array(s), shared with later hits.
        """
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return value
            self.misses += 1
        value = _freeze(compute())
        size = _nbytes(value)
        if size > self.max_bytes:
            return value
        with self._lock:
            kept = self._entries.get(key)
            if kept is not None:  # another thread stored it meanwhile
                self._entries.move_to_end(key)
                return kept
            self._entries[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, old = self._entries.popitem(last=False)
                self._bytes -= _nbytes(old)
        return value


MEMO = DrawMemo()
"""The memo shared by the relations (32 MiB; pure values, so sharing is safe)."""


def _key(kind: str, seed: int, *rest: Hashable) -> tuple | None:
    # Memoise only plain integer seeds (what every relation passes); any other
    # seed ``np.random.default_rng`` accepts is drawn directly, not memoised.
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)):
        return (kind, int(seed)) + rest
    return None


def _memo(key: tuple | None, compute: Callable[[], _Value]) -> _Value:
    return _freeze(compute()) if key is None else MEMO.get(key, compute)


def standard_normal(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """``np.random.default_rng(seed).standard_normal(shape)``, memoised.

    Parameters
    ----------
    seed : int
        Seed, ``>= 0``.
    shape : tuple of int
        Output shape.

    Returns
    -------
    np.ndarray
        Read-only float64 array of ``shape``.

    Notes
    -----
    ``default_rng(seed).normal(0.0, s, shape)`` equals ``0.0 + s * z``
    bit for bit with ``z`` this array (NumPy computes ``loc + scale * z``;
    adding ``0.0`` turns a ``-0.0`` product into ``+0.0`` as it does).
    """
    shape = tuple(int(n) for n in shape)
    return _memo(_key("standard_normal", seed, shape), lambda: np.random.default_rng(seed).standard_normal(shape))


def normal(scale: float, seed: int, shape: tuple[int, ...], out: np.ndarray | None = None) -> np.ndarray:
    """``np.random.default_rng(seed).normal(0.0, scale, shape)``, bit for bit, from the memoised draws.

    Parameters
    ----------
    scale : float
        Standard deviation, ``>= 0`` (``-0.0`` and negatives raise
        ``ValueError("scale < 0")`` as NumPy does).
    seed : int
        Seed, ``>= 0``.
    shape : tuple of int
        Output shape.
    out : np.ndarray, optional
        Writable float64 array of ``shape`` to write into (default: a new one).

    Returns
    -------
    np.ndarray
        Float64 ``0.0 + scale * standard_normal(seed, shape)`` (writable;
        ``out`` when given).

    Notes
    -----
    NumPy computes ``loc + scale * z`` for each standard normal ``z``;
    with ``loc = 0.0`` the ``0.0 +`` only turns a ``-0.0`` product (``scale
    = 0``, ``z < 0``) into ``+0.0``, and is kept for that.
    """
    if np.signbit(scale):
        raise ValueError("scale < 0")  # NumPy's check and message
    out = np.multiply(standard_normal(seed, shape), scale, out=out)
    return np.add(out, 0.0, out=out)


def uniform_pair(seed: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The first two ``rng.random(shape)`` draws of ``rng = np.random.default_rng(seed)``, memoised.

    Parameters
    ----------
    seed : int
        Seed, ``>= 0``.
    shape : tuple of int
        Shape of each draw.

    Returns
    -------
    tuple of np.ndarray
        Two read-only float64 arrays of ``shape`` in ``[0, 1)``, drawn in
        this order from one generator.
    """
    shape = tuple(int(n) for n in shape)

    def draw() -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        return rng.random(shape), rng.random(shape)

    return _memo(_key("uniform_pair", seed, shape), draw)


def field_sigma(h: int, w: int) -> float:
    """Smoothing width of :func:`smooth_field`: ``max(h, w) / 8`` pixels."""
    return max(h, w) / 8.0


def smoothed_uniform(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Uniform noise ``rng.random(shape)`` smoothed by a Gaussian of ``sigma`` pixels, rescaled to ``[0, 1]``.

    Parameters
    ----------
    shape : tuple of int
        ``(h, w)``.
    sigma : float
        Gaussian standard deviation in pixels, ``>= 0`` (reflecting borders).
    rng : np.random.Generator
        Source of the uniform draws (one ``rng.random(shape)``).

    Returns
    -------
    np.ndarray
        Float64 ``shape`` in ``[0, 1]``; a constant field (e.g. 1x1) is all ``0.5``.
    """
    field = ndimage.gaussian_filter(rng.random(shape), sigma, mode="reflect")
    lo, hi = field.min(), field.max()
    if hi - lo < 1e-12:
        return np.full(shape, 0.5)
    return (field - lo) / (hi - lo)


def smooth_field(seed: int, h: int, w: int) -> np.ndarray:
    """Fog's transmission field: uniform noise smoothed by a Gaussian, rescaled to ``[0, 1]``, memoised.

    Parameters
    ----------
    seed : int
        Seed, ``>= 0``.
    h, w : int
        Field height and width, ``>= 1``.

    Returns
    -------
    np.ndarray
        Read-only float64 ``(h, w)``:
        ``smoothed_uniform((h, w), field_sigma(h, w),
        np.random.default_rng(seed))`` (all ``0.5`` when constant, e.g. 1x1).
    """
    h, w = int(h), int(w)
    return _memo(
        _key("smooth_field", seed, h, w),
        lambda: smoothed_uniform((h, w), field_sigma(h, w), np.random.default_rng(seed)),
    )


def elastic_field(seed: int, sigma: float, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The elastic relation's displacement components and their largest magnitude, memoised.

    Parameters
    ----------
    seed : int
        Seed, ``>= 0``.
    sigma : float
        Smoothness (Gaussian sigma, pixels), ``> 0``.
    h, w : int
        Field height and width, ``>= 1``.

    Returns
    -------
    (dy, dx, peak) : tuple of np.ndarray
        Read-only float64: uniform noise in ``[-1, 1]`` of shape ``(h, w)`` drawn twice from
        ``np.random.default_rng(seed)`` (rows, then columns), each smoothed by
        ``ndimage.gaussian_filter(..., sigma, mode="reflect")``, and ``peak``, shape ``(1,)``,
        the largest absolute value of either. A search changes the elastic ``alpha`` far more
        often than its seed and sigma.
    """
    h, w = int(h), int(w)

    def compute() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        dy = ndimage.gaussian_filter(rng.uniform(-1.0, 1.0, (h, w)), sigma, mode="reflect")
        dx = ndimage.gaussian_filter(rng.uniform(-1.0, 1.0, (h, w)), sigma, mode="reflect")
        return dy, dx, np.array([max(np.abs(dy).max(), np.abs(dx).max())])

    return _memo(_key("elastic_field", seed, float(sigma), h, w), compute)

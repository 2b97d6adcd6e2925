"""Geometric (affine) relations about the image centre.

Each relation is defined by its batched implementation: one inverse affine
matrix per row, about the centre ``((W - 1) / 2, (H - 1) / 2)``, and
:func:`diverfuzz.relations.sampling.warp_batch` resamples all rows and
channels at once with bilinear interpolation (``order=1``). The single-input
function is the batched one on a one-row stack, so a row of a batch is bit
for bit the same input transformed alone.

Borders use ``mode="edge"`` (the nearest edge value is repeated). We chose
it over ``mode="constant"`` because black corners are an artificial
occlusion that no natural camera motion produces, and they cost SSIM on
images that do not have a black background; for digit-like images with a
dark border the two modes agree.

Notes
-----
Rotation, translation, scale and shear are the affine transformations of
DeepTest (Tian et al., ICSE 2018) and DeepHunter (Xie et al., ISSTA 2019).
The maps are those of ``skimage.transform.AffineTransform`` about the
centre warped by ``skimage.transform.warp(order=1, mode="edge")``, which
is the test oracle: results agree with its float64 computation within
``5e-7`` (float32 interpolation; ``tests/relations/test_geometric_exact.py``),
not bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .relation import ParamSpec, Relation
from .sampling import warp_batch

__all__ = ["rotation", "translation", "zoom", "shear", "RELATIONS"]


def _about_centre(
    h: int, w: int, linear: tuple[float, float, float, float], shift: tuple[float, float] = (0.0, 0.0)
) -> list[float]:
    """Inverse map (3x3, row-major) of ``p -> A (p - c) + c + shift`` given ``linear = A^-1``.

    ``c`` is the centre ``((w - 1) / 2, (h - 1) / 2)`` in (col, row) pixel
    coordinates; the inverse is ``q -> A^-1 (q - c - shift) + c``.
    """
    a, b, c, d = linear
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    sx, sy = cx + shift[0], cy + shift[1]
    return [a, b, cx - (a * sx + b * sy), c, d, cy - (c * sx + d * sy), 0.0, 0.0, 1.0]


def _affine_batch(inverse: Callable[..., list[float]]) -> Callable[[np.ndarray, Sequence[Mapping]], np.ndarray]:
    """A batch function warping row ``i`` by ``inverse(h, w, **params[i])``."""

    def batch(xs: np.ndarray, params: Sequence[Mapping]) -> np.ndarray:
        _, _, h, w = xs.shape
        return warp_batch(xs, np.array([inverse(h, w, **p) for p in params], dtype=np.float64))

    return batch


def _rotation_inverse(h: int, w: int, *, angle: float) -> list[float]:
    # Forward: AffineTransform(rotation=-theta); its inverse rotates by +theta.
    theta = math.radians(angle)
    cos, sin = math.cos(theta), math.sin(theta)
    return _about_centre(h, w, (cos, -sin, sin, cos))


def _translation_inverse(h: int, w: int, *, dx: float, dy: float) -> list[float]:
    return _about_centre(h, w, (1.0, 0.0, 0.0, 1.0), (dx * w, dy * h))


def _zoom_inverse(h: int, w: int, *, scale: float) -> list[float]:
    return _about_centre(h, w, (1.0 / scale, 0.0, 0.0, 1.0 / scale))


def _shear_inverse(h: int, w: int, *, shear: float) -> list[float]:
    # Forward: AffineTransform(shear=shear) = [[1, -tan(shear)], [0, 1]].
    return _about_centre(h, w, (1.0, math.tan(shear), 0.0, 1.0))


_rotation_batch = _affine_batch(_rotation_inverse)
_translation_batch = _affine_batch(_translation_inverse)
_zoom_batch = _affine_batch(_zoom_inverse)
_shear_batch = _affine_batch(_shear_inverse)


def rotation(x: np.ndarray, *, angle: float) -> np.ndarray:
    """Rotate about the centre.

    Parameters
    ----------
    x : np.ndarray
        Image ``(C, H, W)``, float32 in ``[0, 1]``.
    angle : float
        Degrees in ``[-30, 30]``, counter-clockwise as displayed (the
        convention of ``skimage.transform.rotate``); identity ``0``.

    Notes
    -----
    Bilinear, borders ``mode="edge"``; within ``5e-7`` of scikit-image's float64
    ``warp`` of the same map (the test oracle), not bit for bit.
    """
    return _rotation_batch(x[None], [{"angle": angle}])[0]


def translation(x: np.ndarray, *, dx: float, dy: float) -> np.ndarray:
    """Shift the content.

    Parameters
    ----------
    x : np.ndarray
        Image ``(C, H, W)``, float32 in ``[0, 1]``.
    dx : float
        Shift as a fraction of the width, in ``[-0.2, 0.2]``; positive moves
        content right. Identity ``0``.
    dy : float
        Shift as a fraction of the height, in ``[-0.2, 0.2]``; positive moves
        content down. Identity ``0``.

    Notes
    -----
    Bilinear, borders ``mode="edge"``; within ``5e-7`` of scikit-image's float64
    ``warp`` of the same map (the test oracle), not bit for bit.
    """
    return _translation_batch(x[None], [{"dx": dx, "dy": dy}])[0]


def zoom(x: np.ndarray, *, scale: float) -> np.ndarray:
    """Scale about the centre, keeping the image size.

    Parameters
    ----------
    x : np.ndarray
        Image ``(C, H, W)``, float32 in ``[0, 1]``.
    scale : float
        Factor in ``[0.8, 1.25]``; above 1 enlarges the content (zoom in).
        Identity ``1``.

    Notes
    -----
    Bilinear, borders ``mode="edge"``; within ``5e-7`` of scikit-image's float64
    ``warp`` of the same map (the test oracle), not bit for bit.
    """
    return _zoom_batch(x[None], [{"scale": scale}])[0]


def shear(x: np.ndarray, *, shear: float) -> np.ndarray:
    """Horizontal shear about the centre row.

    Parameters
    ----------
    x : np.ndarray
        Image ``(C, H, W)``, float32 in ``[0, 1]``.
    shear : float
        Angle in radians, ``[-0.3, 0.3]``, as in
        ``skimage.transform.AffineTransform(shear=...)``: a point at
        row offset ``r`` from the centre moves by ``-tan(shear) * r`` columns.
        Identity ``0``.

    Notes
    -----
    Bilinear, borders ``mode="edge"``; within ``5e-7`` of scikit-image's float64
    ``warp`` of the same map (the test oracle), not bit for bit.
    """
    return _shear_batch(x[None], [{"shear": shear}])[0]


_KINDS = frozenset({"image", "spectral"})

RELATIONS: tuple[Relation, ...] = (
    Relation(
        "rotation",
        _KINDS,
        {"angle": ParamSpec(-30.0, 30.0, 0.0, doc="degrees, counter-clockwise")},
        rotation,
        batch_func=_rotation_batch,
    ),
    Relation(
        "translation",
        _KINDS,
        {
            "dx": ParamSpec(-0.2, 0.2, 0.0, doc="fraction of width, positive = right"),
            "dy": ParamSpec(-0.2, 0.2, 0.0, doc="fraction of height, positive = down"),
        },
        translation,
        batch_func=_translation_batch,
    ),
    Relation(
        "zoom",
        _KINDS,
        {"scale": ParamSpec(0.8, 1.25, 1.0, doc="scale factor about the centre")},
        zoom,
        batch_func=_zoom_batch,
    ),
    Relation(
        "shear",
        _KINDS,
        {"shear": ParamSpec(-0.3, 0.3, 0.0, doc="shear angle in radians")},
        shear,
        batch_func=_shear_batch,
    ),
)

"""Geometric (affine) relations about the image centre.

Each relation builds one ``skimage.transform.AffineTransform`` that acts
about the centre ``((W - 1) / 2, (H - 1) / 2)`` and warps all channels at
once with bilinear interpolation (``order=1``).

Borders use ``mode="edge"`` (the nearest edge value is repeated). We chose
it over ``mode="constant"`` because black corners are an artificial
occlusion that no natural camera motion produces, and they cost SSIM on
images that do not have a black background; for digit-like images with a
dark border the two modes agree.

Notes
-----
Rotation, translation, scale and shear are the affine transformations of
DeepTest (Tian et al., ICSE 2018) and DeepHunter (Xie et al., ISSTA 2019).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from skimage.transform import AffineTransform, warp

from .relation import ParamSpec, Relation

__all__ = ["rotation", "translation", "zoom", "shear", "warp_about_centre", "RELATIONS"]


@lru_cache(maxsize=16)
def _centre_shifts(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Matrices of the translations from the image centre to the origin and back, per image size."""
    centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    back, to_origin = AffineTransform(translation=centre).params, AffineTransform(translation=-centre).params
    back.flags.writeable = to_origin.flags.writeable = False  # shared by every call
    return back, to_origin


def warp_about_centre(x: np.ndarray, transform: AffineTransform) -> np.ndarray:
    """Apply ``transform`` (forward, in (col, row) pixel coordinates) about the centre.

    Parameters
    ----------
    x : np.ndarray
        Image ``(C, H, W)``, float32 in ``[0, 1]``.
    transform : AffineTransform
        Forward map with the image centre as origin.

    Returns
    -------
    np.ndarray
        Warped float32 image of the same shape.
    """
    back, to_origin = _centre_shifts(*x.shape[1:])
    # The inverse map, as AffineTransform(matrix=back @ T @ to_origin).inverse computes it.
    inverse = np.linalg.inv(back @ transform.params @ to_origin)
    hwc = np.moveaxis(x, 0, -1)
    out = warp(hwc, inverse, order=1, mode="edge", clip=True, preserve_range=True)
    return np.ascontiguousarray(np.moveaxis(out, -1, 0), dtype=np.float32)


def rotation(x: np.ndarray, *, angle: float) -> np.ndarray:
    """Rotate about the centre.

    Parameters
    ----------
    x : np.ndarray
        Image ``(C, H, W)``, float32 in ``[0, 1]``.
    angle : float
        Degrees in ``[-30, 30]``, counter-clockwise as displayed (the
        convention of ``skimage.transform.rotate``); identity ``0``.
    """
    return warp_about_centre(x, AffineTransform(rotation=-np.deg2rad(angle)))


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
    """
    _, h, w = x.shape
    return warp_about_centre(x, AffineTransform(translation=(dx * w, dy * h)))


def zoom(x: np.ndarray, *, scale: float) -> np.ndarray:
    """Scale about the centre, keeping the image size.

    Parameters
    ----------
    x : np.ndarray
        Image ``(C, H, W)``, float32 in ``[0, 1]``.
    scale : float
        Factor in ``[0.8, 1.25]``; above 1 enlarges the content (zoom in).
        Identity ``1``.
    """
    return warp_about_centre(x, AffineTransform(scale=(scale, scale)))


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
    """
    return warp_about_centre(x, AffineTransform(shear=shear))


_KINDS = frozenset({"image", "spectral"})

RELATIONS: tuple[Relation, ...] = (
    Relation(
        "rotation",
        _KINDS,
        {"angle": ParamSpec(-30.0, 30.0, 0.0, doc="degrees, counter-clockwise")},
        rotation,
    ),
    Relation(
        "translation",
        _KINDS,
        {
            "dx": ParamSpec(-0.2, 0.2, 0.0, doc="fraction of width, positive = right"),
            "dy": ParamSpec(-0.2, 0.2, 0.0, doc="fraction of height, positive = down"),
        },
        translation,
    ),
    Relation(
        "zoom",
        _KINDS,
        {"scale": ParamSpec(0.8, 1.25, 1.0, doc="scale factor about the centre")},
        zoom,
    ),
    Relation(
        "shear",
        _KINDS,
        {"shear": ParamSpec(-0.3, 0.3, 0.0, doc="shear angle in radians")},
        shear,
    ),
)

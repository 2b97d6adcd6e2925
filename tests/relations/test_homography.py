"""perspective's homography is bit for bit scikit-image's ProjectiveTransform.from_estimate; the
relation matches scikit-image's warp of it (the oracle) within ``TOLERANCE``."""

from __future__ import annotations

import numpy as np
from skimage.transform import ProjectiveTransform, warp

from diverfuzz.relations import REGISTRY
from diverfuzz.relations.corruptions import homography

TOLERANCE = 5e-7
"""Largest accepted absolute difference to the oracle run on float64 input (float32
interpolation weights; measured 1.2e-7). On float32 input scikit-image computes the
coordinates in float32 and is itself off by up to 4.5e-5 at 224x224."""


def _skimage_perspective(x: np.ndarray, tilt_x: float, tilt_y: float) -> np.ndarray:
    """The relation as first written, on scikit-image's estimator."""
    _, h, w = x.shape
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    src = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float64)
    dx, dy = src[:, 0] - cx, src[:, 1] - cy
    dst = np.stack([cx + dx * (1.0 + tilt_y * np.sign(dy)), cy + dy * (1.0 + tilt_x * np.sign(dx))], axis=1)
    out = warp(np.moveaxis(x, 0, -1), ProjectiveTransform.from_estimate(dst, src), order=1, mode="edge", clip=True, preserve_range=True)
    return np.clip(np.moveaxis(out, -1, 0), 0, 1).astype(np.float32)


def test_matrix_equals_skimage_on_random_quadrilaterals():
    rng = np.random.default_rng(0)
    for _ in range(300):
        src = rng.uniform(-50, 250, (4, 2))
        dst = src + rng.normal(0, rng.choice([0.01, 1.0, 20.0]), (4, 2))
        want = ProjectiveTransform.from_estimate(src, dst)
        got = homography(src, dst)
        assert got is not None and bool(want)
        assert np.array_equal(got, want.params)


def test_degenerate_points_fail_like_skimage():
    same = np.ones((4, 2))
    assert homography(same, same) is None and not ProjectiveTransform.from_estimate(same, same)


def test_perspective_relation_matches_skimage_warp():
    rng = np.random.default_rng(1)
    for shape in ((1, 28, 28), (3, 32, 32), (2, 9, 17), (200, 9, 9), (3, 64, 48)):
        x = rng.random(shape).astype(np.float32)
        for tilt_x, tilt_y in rng.uniform(-0.3, 0.3, (20, 2)):
            got = REGISTRY["perspective"].apply(x, tilt_x=float(tilt_x), tilt_y=float(tilt_y))
            assert np.abs(got - _skimage_perspective(x.astype(np.float64), float(tilt_x), float(tilt_y))).max() <= TOLERANCE

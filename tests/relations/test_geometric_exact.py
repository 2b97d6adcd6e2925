"""The geometric relations against their oracles: scikit-image's ``warp`` and SciPy's ``map_coordinates``.

Each relation is defined by its batched NumPy implementation
(:mod:`diverfuzz.relations.sampling`); the scikit-image and SciPy code the
relations were first written with is kept here as the reference, run on
the float64 copy of the input (on float32 input scikit-image computes the
coordinates in float32 and is itself off by up to 4.5e-5 at 224x224). The
results agree within ``TOLERANCE`` (float32 interpolation weights against
float64 ones: measured at most 1.8e-7, up to 224x224), not bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.transform import AffineTransform, warp

from diverfuzz.relations import REGISTRY

TOLERANCE = 5e-7
"""Largest accepted absolute difference to the oracle, on images in [0, 1]."""


def _composed(x: np.ndarray, transform: AffineTransform) -> np.ndarray:
    """warp_about_centre as first written: three AffineTransform objects and ``.inverse``."""
    _, h, w = x.shape
    centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    full = AffineTransform(
        matrix=AffineTransform(translation=centre).params @ transform.params @ AffineTransform(translation=-centre).params
    )
    out = warp(np.moveaxis(x, 0, -1), full.inverse, order=1, mode="edge", clip=True, preserve_range=True)
    return np.clip(np.ascontiguousarray(np.moveaxis(out, -1, 0), dtype=np.float32), 0, 1)


def _elastic_oracle(x: np.ndarray, alpha: float, sigma: float, seed: int) -> np.ndarray:
    """elastic as first written: one ``map_coordinates(order=1, mode="nearest")`` per channel."""
    _, h, w = x.shape
    rng = np.random.default_rng(seed)
    dy = ndimage.gaussian_filter(rng.uniform(-1.0, 1.0, (h, w)), sigma, mode="reflect")
    dx = ndimage.gaussian_filter(rng.uniform(-1.0, 1.0, (h, w)), sigma, mode="reflect")
    peak = max(np.abs(dy).max(), np.abs(dx).max())
    if peak < 1e-12:
        return x.copy()
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    coords = np.stack([rows + alpha * dy / peak, cols + alpha * dx / peak])
    out = np.stack([ndimage.map_coordinates(c, coords, order=1, mode="nearest") for c in x])
    return np.clip(out, 0, 1).astype(np.float32)


SHAPES = ((1, 28, 28), (3, 32, 32), (2, 7, 12), (200, 9, 9), (2, 1, 6), (2, 6, 1), (3, 64, 48))


@pytest.mark.parametrize("shape", SHAPES)
def test_affine_relations_match_composed_skimage_transforms(shape):
    rng = np.random.default_rng(0)
    x = rng.random(shape).astype(np.float32)
    h, w = shape[1:]
    for _ in range(10):
        angle, dx, dy = rng.uniform(-30, 30), rng.uniform(-0.2, 0.2), rng.uniform(-0.2, 0.2)
        scale, shear = rng.uniform(0.8, 1.25), rng.uniform(-0.3, 0.3)
        cases = {
            "rotation": ({"angle": angle}, AffineTransform(rotation=-np.deg2rad(angle))),
            "translation": ({"dx": dx, "dy": dy}, AffineTransform(translation=(dx * w, dy * h))),
            "zoom": ({"scale": scale}, AffineTransform(scale=(scale, scale))),
            "shear": ({"shear": shear}, AffineTransform(shear=shear)),
        }
        for name, (params, transform) in cases.items():
            got = REGISTRY[name].apply(x, **params)
            assert np.abs(got - _composed(x.astype(np.float64), transform)).max() <= TOLERANCE, name


@pytest.mark.parametrize("shape", SHAPES)
def test_elastic_matches_map_coordinates(shape):
    rng = np.random.default_rng(2)
    x = rng.random(shape).astype(np.float32)
    for _ in range(10):
        alpha, sigma, seed = rng.uniform(0.1, 2.0), rng.uniform(1.0, 4.0), int(rng.integers(0, 2**31 - 1))
        got = REGISTRY["elastic"].apply(x, alpha=alpha, sigma=sigma, seed=seed)
        assert np.abs(got - _elastic_oracle(x.astype(np.float64), alpha, sigma, seed)).max() <= TOLERANCE


def test_integer_translation_is_an_exact_shift():
    # Whole-pixel maps sample pixels with weight 0 on the neighbours: exact values.
    x = np.random.default_rng(3).random((2, 10, 20)).astype(np.float32)
    got = REGISTRY["translation"].apply(x, dx=0.1, dy=-0.2)  # +2 columns, -2 rows
    assert np.array_equal(got[:, :8, 2:], x[:, 2:, :-2])
    assert np.array_equal(got[:, 8:, 2:], np.repeat(x[:, 9:, :-2], 2, axis=1))

"""The affine relations give bit for bit what composing scikit-image transforms gives."""

from __future__ import annotations

import numpy as np
from skimage.transform import AffineTransform, warp

from diverfuzz.relations import REGISTRY


def _composed(x: np.ndarray, transform: AffineTransform) -> np.ndarray:
    """warp_about_centre as first written: three AffineTransform objects and ``.inverse``."""
    _, h, w = x.shape
    centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    full = AffineTransform(
        matrix=AffineTransform(translation=centre).params @ transform.params @ AffineTransform(translation=-centre).params
    )
    out = warp(np.moveaxis(x, 0, -1), full.inverse, order=1, mode="edge", clip=True, preserve_range=True)
    return np.clip(np.ascontiguousarray(np.moveaxis(out, -1, 0), dtype=np.float32), 0, 1)


def test_affine_relations_equal_composed_skimage_transforms():
    rng = np.random.default_rng(0)
    for shape in ((1, 28, 28), (3, 32, 32), (2, 7, 12)):
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
                assert np.array_equal(REGISTRY[name].apply(x, **params), _composed(x, transform)), name

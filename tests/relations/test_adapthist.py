"""The vectorised CLAHE is bit for bit scikit-image's equalize_adapthist."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.exposure import equalize_adapthist as skimage_clahe

from diverfuzz.relations import REGISTRY
from diverfuzz.relations.adapthist import equalize_adapthist


def _cases(n: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        h, w = (int(v) for v in rng.integers(2, 60, 2))
        image = rng.random((h, w))
        if rng.random() < 0.5:  # flat background, as on digits: the excess is spread in strides
            image = np.where(rng.random((h, w)) < 0.7, 0.0, image)
        image[0, 0], image[-1, -1] = 0.0, 1.0  # not constant
        kernel = int(rng.integers(1, max(2, min(h, w) // 2) + 1))
        clip = float(rng.choice([rng.uniform(0.005, 0.1), rng.uniform(0.1, 0.9), 0.0, 1.0]))
        yield image, kernel, clip


@pytest.mark.parametrize("seed", range(4))
def test_equal_to_skimage(seed):
    for image, kernel, clip in _cases(25, seed):
        want = skimage_clahe(image, kernel_size=kernel, clip_limit=clip)
        got = equalize_adapthist(image, kernel, clip)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(got, want), (image.shape, kernel, clip)


def test_clahe_relation_on_digit_sized_images_equals_skimage_per_channel():
    rng = np.random.default_rng(5)
    x = np.where(rng.random((3, 28, 28)) < 0.6, 0.0, rng.random((3, 28, 28))).astype(np.float32)
    for clip_limit, mix in ((0.005, 0.3), (0.05, 1.0), (0.1, 0.7)):
        got = REGISTRY["clahe"].apply(x, clip_limit=clip_limit, mix=mix)
        for c in range(3):
            eq = skimage_clahe(x[c].astype(np.float64), kernel_size=7, clip_limit=clip_limit)
            want = np.clip((1.0 - mix) * x[c] + mix * eq, 0, 1).astype(np.float32)
            assert np.array_equal(got[c], want)

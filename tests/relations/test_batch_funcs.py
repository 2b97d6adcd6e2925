"""Every relation's batch_func is bit for bit its func row by row; the noise relations are
bit for bit the scikit-image random_noise calls they were first written with."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.util import random_noise

from diverfuzz.relations import REGISTRY, Chain, Step, apply_batch


def _params(rel, rng) -> dict:
    return {k: spec.denormalize(float(rng.random())) for k, spec in rel.params.items()}


@pytest.mark.parametrize("name", [n for n, r in REGISTRY.items() if r.batch_func is not None])
def test_batch_func_equals_func_row_by_row(name):
    rel = REGISTRY[name]
    rng = np.random.default_rng(0)
    channels = rel.channels[0] if rel.channels else 2
    for shape in ((channels, 28, 28), (channels, 5, 9)):
        xs = rng.random((6,) + shape).astype(np.float32)
        params = [_params(rel, rng) for _ in xs]
        got = rel._finish(rel.batch_func(xs.copy(), params), xs.shape)
        for row, x, p in zip(got, xs, params):
            assert np.array_equal(row, rel._finish(rel.func(x.copy(), **p), x.shape))
        chains = [Chain((Step(name, p),)) for p in params]
        assert np.array_equal(apply_batch(chains, xs[0]), np.stack([c.apply(xs[0]) for c in chains]))


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 8, 11)])
def test_noise_relations_equal_skimage_random_noise(shape):
    rng = np.random.default_rng(1)
    for _ in range(20):
        x = rng.random(shape).astype(np.float32)
        seed = int(rng.integers(0, 2**31 - 1))
        sigma, amount = float(rng.uniform(0.001, 0.2)), float(rng.uniform(0.001, 0.2))
        want = random_noise(x, mode="gaussian", rng=seed, clip=True, mean=0.0, var=sigma**2).astype(np.float32)
        assert np.array_equal(REGISTRY["gaussian_noise"].func(x, sigma=sigma, seed=seed), want)
        want = random_noise(x, mode="s&p", rng=seed, clip=True, amount=amount, salt_vs_pepper=0.5).astype(np.float32)
        assert np.array_equal(REGISTRY["salt_pepper"].func(x, amount=amount, seed=seed), want)

"""The geometric relations are defined by their batched implementation: a row of a batch is
bit for bit that input transformed alone, for any batch size and mix of parameters."""

from __future__ import annotations

import numpy as np
import pytest

from diverfuzz.relations import REGISTRY

NAMES = ("rotation", "translation", "zoom", "shear", "perspective", "elastic")
SHAPES = ((1, 28, 28), (3, 32, 32), (200, 9, 9), (2, 5, 9))


def _params(rel, rng) -> dict:
    return {k: spec.denormalize(float(rng.random())) for k, spec in rel.params.items()}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("n", [1, 3, 10])
def test_batch_rows_equal_single_rows(name, shape, n):
    rel = REGISTRY[name]
    rng = np.random.default_rng(n)
    xs = rng.random((n,) + shape).astype(np.float32)
    params = [_params(rel, rng) for _ in range(n)]
    if n > 1:
        params[0] = rel.identity()  # a mix with an identity row
    got = rel.batch_func(xs.copy(), params)
    assert got.shape == xs.shape and got.dtype == np.float32
    for row, x, p in zip(got, xs, params):
        assert np.array_equal(row, rel.func(x.copy(), **p))
    # The same rows in another batch (reversed, doubled) give the same bits.
    again = rel.batch_func(np.concatenate([xs[::-1], xs]), params[::-1] + params)
    assert np.array_equal(again[n:], got) and np.array_equal(again[:n], got[::-1])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", SHAPES)
def test_identity_params_leave_input_unchanged(name, shape):
    rel = REGISTRY[name]
    x = np.random.default_rng(0).random(shape).astype(np.float32)
    assert np.array_equal(rel.apply(x, **rel.identity()), x)

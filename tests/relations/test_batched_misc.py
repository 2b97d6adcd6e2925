"""Batched occlusion, poisson_noise, fog and clahe (issue 27).

(1) Oracle: each relation against the implementation it had before it was
defined by its batch_func (copied below), within a measured tolerance:
all four kept their results bit for bit, so the tolerance is 0.
(2) Rows of ``batch_func`` are bit for bit ``func`` on that row, for mixed
parameters and several batch sizes.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from skimage.exposure import equalize_adapthist as skimage_clahe

from diverfuzz.relations import REGISTRY, Chain, Step, apply_batch
from diverfuzz.relations.adapthist import equalize_adapthist_stack
from diverfuzz.relations.draws import smooth_field

# --- the implementations before issue 27 (one row at a time) -------------------------------


def old_occlusion(x, *, size, cx, cy, value):
    h, w = x.shape[1:]
    ph = min(h, max(1, math.ceil(size * h - 1e-9)))
    pw = min(w, max(1, math.ceil(size * w - 1e-9)))
    r0 = min(max(int(round(cy * h - ph / 2.0)), 0), h - ph)  # noqa: RUF046 (verbatim)
    c0 = min(max(int(round(cx * w - pw / 2.0)), 0), w - pw)  # noqa: RUF046 (verbatim)
    out = x.copy()
    out[:, r0 : r0 + ph, c0 : c0 + pw] = np.float32(value)
    return out


def old_poisson_noise(x, *, level, seed):
    std = 0.3 * level
    lam = 1e12 if std < 1e-6 else min(1.0 / std**2, 1e12)
    counts = np.random.default_rng(seed).poisson(x.astype(np.float64) * lam)
    return (counts / lam).astype(np.float32)


def old_fog(x, *, density, seed):
    _, h, w = x.shape
    field = smooth_field(seed, h, w)
    haze = density * (0.5 + 0.5 * field)
    return (x * (1.0 - haze) + haze).astype(np.float32)


def old_clahe(x, *, clip_limit, mix):
    # scikit-image itself (the pre-issue-27 code was tested bit for bit equal to it).
    _, h, w = x.shape
    kernel = max(2, min(h, w) // 4)
    out = np.empty_like(x)
    for c, channel in enumerate(x):
        if channel.max() - channel.min() < 1e-6:
            out[c] = channel
        else:
            eq = skimage_clahe(channel.astype(np.float64), kernel_size=kernel, clip_limit=clip_limit)
            out[c] = (1.0 - mix) * channel + mix * eq
    return out


ORACLES = {
    "occlusion": (old_occlusion, 0.0),
    "poisson_noise": (old_poisson_noise, 0.0),
    "fog": (old_fog, 0.0),
    "clahe": (old_clahe, 0.0),
}
"""Reference and measured max abs difference (all kept exact)."""


def _params(rel, rng) -> dict:
    p = {k: spec.denormalize(float(rng.random())) for k, spec in rel.params.items()}
    u = rng.random()
    if u < 0.15:  # identity level (the batch may still receive it)
        p.update({k: rel.params[k].identity for k in rel.identity_params})
    elif u < 0.3:  # a bound
        k = next(iter(rel.params))
        p[k] = rel.params[k].high if rng.random() < 0.5 else rel.params[k].low
    return p


def _inputs(rng, shape, n):
    xs = rng.random((n,) + shape).astype(np.float32)
    xs[0, 0] = 0.25  # a constant channel
    if n > 1:  # a digit-like sparse row
        xs[1] = np.where(rng.random(shape) < 0.7, 0.0, xs[1])
    return xs


def _supports(rel, shape) -> bool:
    kind = "spectral" if shape[0] >= 8 else "image"
    return kind in rel.kinds and rel.accepts_channels(shape[0])


@pytest.mark.parametrize("name", sorted(ORACLES))
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (2, 7, 12)])
def test_oracle_within_tolerance(name, shape):
    rel = REGISTRY[name]
    old, tol = ORACLES[name]
    rng = np.random.default_rng(zlib.crc32(repr((name, shape)).encode()))
    xs = _inputs(rng, shape, 8)
    for x in xs:
        p = _params(rel, rng)
        got = rel.func(x.copy(), **p)
        want = old(x.copy(), **p)
        assert got.dtype == want.dtype == np.float32 and got.shape == want.shape
        assert np.max(np.abs(got.astype(np.float64) - want)) <= tol, p
        if tol == 0.0:
            assert np.array_equal(got, want), p


@pytest.mark.parametrize("name", sorted(ORACLES))
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (200, 9, 9)])
@pytest.mark.parametrize("n", [1, 3, 10])
def test_batch_rows_equal_single_rows(name, shape, n):
    rel = REGISTRY[name]
    if not _supports(rel, shape):
        pytest.skip(f"{name} does not take {shape}")
    assert rel.batch_func is not None
    rng = np.random.default_rng(zlib.crc32(repr((name, shape, n)).encode()))
    xs = _inputs(rng, shape, n)
    params = [_params(rel, rng) for _ in range(n)]
    got = rel.batch_func(xs.copy(), params)
    assert got.shape == xs.shape and got.dtype == np.float32
    for row, x, p in zip(got, xs, params):
        assert np.array_equal(row, rel.func(x.copy(), **p)), p
    # and through the campaign path (apply_batch groups rows) vs replay (Chain.apply)
    chains = [Chain((Step(name, p),)) for p in params]
    assert np.array_equal(apply_batch(chains, xs[-1]), np.stack([c.apply(xs[-1]) for c in chains]))


def test_batch_does_not_depend_on_the_other_rows():
    rng = np.random.default_rng(3)
    for name in ORACLES:
        rel = REGISTRY[name]
        xs = _inputs(rng, (3, 16, 20), 5)
        params = [_params(rel, rng) for _ in range(5)]
        full = rel.batch_func(xs.copy(), params)
        for order in (slice(None, None, -1), [2, 0, 4]):
            sub = rel.batch_func(xs[order].copy(), [params[i] for i in np.arange(5)[order]])
            assert np.array_equal(sub, full[order]), name


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (3, 2), (9, 9), (17, 33)])
def test_small_and_odd_sizes(shape):
    rng = np.random.default_rng(4)
    for name in ORACLES:
        rel = REGISTRY[name]
        xs = rng.random((4, 3) + shape).astype(np.float32)
        params = [_params(rel, rng) for _ in range(4)]
        got = rel.batch_func(xs.copy(), params)
        for row, x, p in zip(got, xs, params):
            assert np.array_equal(row, rel.func(x.copy(), **p))
            assert np.array_equal(row, ORACLES[name][0](x.copy(), **p)), (name, p)


def test_equalize_adapthist_stack_equals_skimage_per_image():
    rng = np.random.default_rng(6)
    images = rng.random((7, 23, 31))
    images[:3] = np.where(rng.random((3, 23, 31)) < 0.7, 0.0, images[:3])
    images[5] = 0.5 + 3e-6 * (rng.random((23, 31)) < 0.5)  # constant once converted to uint16
    images[6] = 0.4
    images[6, 0, 0] = 0.9
    clips = [0.005, 0.1, 0.0, 1.0, 0.03, 0.01, 0.5]
    got = equalize_adapthist_stack(images, 5, clips)
    for image, clip, row in zip(images, clips, got):
        assert np.array_equal(row, skimage_clahe(image, kernel_size=5, clip_limit=clip)), clip

"""Batched filters (issue 27): each relation is its batch_func on one row.

(1) Oracle: every relation stays within a stated tolerance of the SciPy /
scikit-image call it was first defined by (the reference code is kept here).
(2) Rows of a batch equal the single-input function bit for bit, for mixed
parameters and several batch sizes and shapes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.fft import dctn, idctn
from skimage.exposure import adjust_gamma
from skimage.filters import gaussian
from skimage.transform import resize

from diverfuzz.relations import REGISTRY
from diverfuzz.relations.filters import JPEG_LUMINANCE, motion_kernel

NAMES = ("gamma", "gaussian_blur", "motion_blur", "box_blur", "sharpen", "pixelate", "jpeg")


# --- the definitions the relations were first written with -------------------------------


def _motion_kernel_loop(length, angle):
    half = math.ceil(length / 2.0) + 1
    size = 2 * half + 1
    kernel = np.zeros((size, size), np.float64)
    n = max(2, math.ceil(length * 4) + 1)
    theta = math.radians(angle)
    for t in np.linspace(-length / 2.0, length / 2.0, n):
        col = half + t * math.cos(theta)
        row = half - t * math.sin(theta)
        r0, c0 = math.floor(row), math.floor(col)
        fr, fc = row - r0, col - c0
        for dr, wr in ((0, 1 - fr), (1, fr)):
            for dc, wc in ((0, 1 - fc), (1, fc)):
                kernel[r0 + dr, c0 + dc] += wr * wc
    return kernel / kernel.sum()


def _jpeg_ref(x, quality):
    c, h, w = x.shape
    q = int(quality)
    scale = 5000.0 / q if q < 50 else 200.0 - 2.0 * q
    table = np.maximum(np.floor((JPEG_LUMINANCE * scale + 50.0) / 100.0), 1.0)
    ph, pw = -h % 8, -w % 8
    padded = np.pad(x.astype(np.float64) * 255.0 - 128.0, ((0, 0), (0, ph), (0, pw)), mode="edge")
    hb, wb = padded.shape[1] // 8, padded.shape[2] // 8
    blocks = padded.reshape(c, hb, 8, wb, 8)
    coeffs = dctn(blocks, axes=(2, 4), norm="ortho")
    coeffs = np.round(coeffs / table[:, None, :]) * table[:, None, :]
    back = idctn(coeffs, axes=(2, 4), norm="ortho").reshape(padded.shape)
    return ((back[:, :h, :w] + 128.0) / 255.0).astype(np.float32)


def _pixelate_ref(x, factor):
    c, h, w = x.shape
    small = (c, max(1, round(h / factor)), max(1, round(w / factor)))
    down = resize(x, small, order=1, mode="edge", anti_aliasing=True, preserve_range=True)
    up = resize(down, x.shape, order=0, mode="edge", anti_aliasing=False, preserve_range=True)
    return up.astype(np.float32)


REFERENCE = {
    "gamma": lambda x, gamma: adjust_gamma(x, gamma=gamma, gain=1),
    "gaussian_blur": lambda x, sigma: gaussian(x, sigma=sigma, mode="nearest", preserve_range=True, channel_axis=0),
    "motion_blur": lambda x, length, angle: ndimage.convolve(
        x.astype(np.float64), _motion_kernel_loop(length, angle)[None], mode="nearest"
    ).astype(np.float32),
    "box_blur": lambda x, radius: ndimage.uniform_filter(x, size=(1, 2 * radius + 1, 2 * radius + 1), mode="nearest"),
    "sharpen": lambda x, amount, sigma: (
        x + amount * (x - gaussian(x, sigma=sigma, mode="nearest", preserve_range=True, channel_axis=0))
    ).astype(np.float32),
    "pixelate": _pixelate_ref,
    "jpeg": _jpeg_ref,
}

# Max abs difference to REFERENCE (unclipped outputs) allowed, about twice the
# worst measured over these shapes and 2400 random parameter draws per relation
# (gamma, jpeg 0: they compute exactly the reference; gaussian_blur, motion_blur,
# box_blur 1.8e-7; pixelate 2.4e-7; sharpen 3.6e-7, float32 ulps): the references
# sum in float64 and round to float32 between passes, the relations sum in float32.
TOLERANCE = {
    "gamma": 0.0,
    "gaussian_blur": 5e-7,
    "motion_blur": 5e-7,
    "box_blur": 5e-7,
    "sharpen": 1e-6,
    "pixelate": 5e-7,
    "jpeg": 0.0,
}


def _params(rel, rng) -> dict:
    return {k: spec.denormalize(float(rng.random())) for k, spec in rel.params.items()}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (2, 7, 12), (1, 1, 1), (2, 1, 5), (3, 9, 4)])
def test_relation_within_tolerance_of_its_reference(name, shape):
    rel = REGISTRY[name]
    rng = np.random.default_rng(hash((name, shape)) % 2**32)
    params = [_params(rel, rng) for _ in range(25)] + [rel.identity()]
    params += [{k: spec.low for k, spec in rel.params.items()}, {k: spec.high for k, spec in rel.params.items()}]
    for p in params:
        x = rng.random(shape).astype(np.float32)
        got = rel.func(x.copy(), **p)
        want = REFERENCE[name](x.copy(), **p)
        assert got.dtype == np.float32 and got.shape == x.shape
        assert float(np.max(np.abs(got.astype(np.float64) - want))) <= TOLERANCE[name], (name, shape, p)


def test_motion_kernel_equals_the_loop_it_replaced():
    rng = np.random.default_rng(3)
    for length, angle in [(0.0, 0.0), (4.0, 90.0), (4.0, -90.0), (1.0, 45.0)] + [
        (float(rng.uniform(0, 4)), float(rng.uniform(-90, 90))) for _ in range(200)
    ]:
        assert np.array_equal(motion_kernel(length, angle), _motion_kernel_loop(length, angle))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (200, 9, 9)])
def test_batch_rows_equal_single_rows_bit_for_bit(name, shape):
    rel = REGISTRY[name]
    if not rel.kinds & {"spectral"} and shape[0] > 4:
        shape = (4,) + shape[1:]
    rng = np.random.default_rng(sum(map(ord, name)) + shape[0])
    for n in (1, 3, 10):
        xs = rng.random((n,) + shape).astype(np.float32)
        params = [_params(rel, rng) for _ in range(n)]
        # a mix: extremes and identities among random draws
        if n >= 3:
            params[0] = {k: spec.high for k, spec in rel.params.items()}
            params[1] = rel.identity()
        got = rel.batch_func(xs.copy(), params)
        assert got.shape == xs.shape and got.dtype == np.float32
        for row, x, p in zip(got, xs, params):
            single = rel.func(x.copy(), **p)
            assert np.array_equal(row, single), (name, shape, n, p)
            assert np.array_equal(np.signbit(row), np.signbit(single))


def test_identity_params_leave_the_input_unchanged():
    x = np.random.default_rng(5).random((3, 11, 13)).astype(np.float32)
    for name in NAMES:
        rel = REGISTRY[name]
        if name != "jpeg":  # jpeg at quality 100 only skips quantisation; Relation.apply skips it
            assert np.array_equal(rel.func(x.copy(), **rel.identity()), x), name
        assert np.array_equal(rel.apply(x, **rel.identity()), x), name


@pytest.mark.parametrize("name", ["gaussian_blur", "motion_blur", "box_blur", "sharpen", "pixelate"])
def test_blocks_do_not_change_results(name, monkeypatch):
    # Large inputs are filtered in blocks of rows or of channels (convolve._CHUNK
    # elements); any blocking gives the same bits.
    from diverfuzz.relations import convolve

    rel = REGISTRY[name]
    rng = np.random.default_rng(7)
    xs = rng.random((4, 5, 13, 11)).astype(np.float32)
    params = [_params(rel, rng) for _ in xs]
    want = rel.batch_func(xs.copy(), params)
    for chunk in (1, 143, 700, 1500):
        monkeypatch.setattr(convolve, "_CHUNK", chunk)
        assert np.array_equal(rel.batch_func(xs.copy(), params), want), chunk


def test_large_input_rows_equal_single_rows():
    rng = np.random.default_rng(8)
    xs = rng.random((3, 3, 120, 100)).astype(np.float32)  # above convolve._CHUNK per row
    for name in ("gaussian_blur", "sharpen", "motion_blur"):
        rel = REGISTRY[name]
        params = [_params(rel, rng) for _ in xs]
        got = rel.batch_func(xs.copy(), params)
        for row, x, p in zip(got, xs, params):
            assert np.array_equal(row, rel.func(x.copy(), **p)), name

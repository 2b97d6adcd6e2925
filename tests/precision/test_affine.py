"""Integer affine fake quantization against torch's fake_quantize kernels."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.precision.affine import (
    affine_qparams,
    binarize,
    fake_quantize,
    int_range,
    quantize_int,
    ternarize,
)


def _data(seed: int, shape=(16, 3, 3, 3)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g) * torch.rand(shape[0], *[1] * (len(shape) - 1), generator=g) * 3 + 0.1


@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("symmetric", [True, False])
def test_per_tensor_equals_torch(bits, symmetric):
    x = _data(bits)
    qmin, qmax = int_range(bits, symmetric=symmetric)
    scale, zp = affine_qparams(x, bits, symmetric=symmetric)
    want = torch.fake_quantize_per_tensor_affine(x, float(scale), int(zp), qmin, qmax)
    assert torch.equal(quantize_int(x, bits, symmetric=symmetric), want)
    assert len(torch.unique(want)) <= 2**bits


@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("symmetric", [True, False])
def test_per_channel_equals_torch(bits, symmetric):
    x = _data(10 + bits)
    qmin, qmax = int_range(bits, symmetric=symmetric)
    scale, zp = affine_qparams(x, bits, symmetric=symmetric, axis=0)
    want = torch.fake_quantize_per_channel_affine(x, scale, zp, 0, qmin, qmax)
    assert torch.equal(quantize_int(x, bits, symmetric=symmetric, axis=0), want)
    assert torch.equal(fake_quantize(x, scale, zp, qmin, qmax, axis=0), want)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 8), st.booleans(), st.lists(st.floats(-1e4, 1e4, width=32), min_size=2, max_size=50))
def test_per_tensor_equals_torch_on_any_values(bits, symmetric, values):
    x = torch.tensor(values, dtype=torch.float32)
    qmin, qmax = int_range(bits, symmetric=symmetric)
    scale, zp = affine_qparams(x, bits, symmetric=symmetric)
    want = torch.fake_quantize_per_tensor_affine(x, float(scale), int(zp), qmin, qmax)
    got = quantize_int(x, bits, symmetric=symmetric)
    assert torch.equal(got, want)


def test_observer_agrees_with_torch_minmax_observer():
    from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver

    x = _data(3)
    obs = MinMaxObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine)
    obs(x)
    scale, zp = obs.calculate_qparams()
    mine = affine_qparams(x, 8, symmetric=False)
    assert torch.allclose(mine[0], scale) and int(mine[1]) == int(zp)
    obs = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    obs(x)
    scale, zp = obs.calculate_qparams()
    mine = affine_qparams(x, 8, symmetric=True, axis=0)
    assert torch.allclose(mine[0], scale) and torch.equal(mine[1], zp.to(torch.int32))


def test_group_wise_has_one_scale_per_group():
    w = _data(4, (4, 64))
    q = quantize_int(w, 4, group_size=32)
    for row in range(4):
        for group in (slice(0, 32), slice(32, 64)):
            assert len(torch.unique(q[row, group])) <= 16
            assert torch.equal(q[row, group], quantize_int(w[row, group], 4))
    with pytest.raises(DiverfuzzError, match="group_size=24"):
        quantize_int(w, 4, group_size=24)


def test_binary_and_ternary_weights():
    w = _data(5)
    b = binarize(w)
    for c in range(w.shape[0]):
        alpha = w[c].abs().mean()
        assert torch.allclose(b[c].abs(), alpha.expand_as(b[c]))
        assert torch.equal(b[c] > 0, w[c] >= 0)
    t = ternarize(w)
    for c in range(w.shape[0]):
        assert len(t[c].unique()) <= 3
        big = w[c].abs() > 0.7 * w[c].abs().mean()
        assert torch.equal(t[c] != 0, big)
        assert torch.allclose(t[c][big].abs(), w[c][big].abs().mean().expand(int(big.sum())))
        assert torch.equal(torch.sign(t[c][big]), torch.sign(w[c][big]))


def test_bad_bits():
    with pytest.raises(DiverfuzzError, match="integer bits must be 2..8 \\(got 9\\)"):
        quantize_int(torch.zeros(3), 9)

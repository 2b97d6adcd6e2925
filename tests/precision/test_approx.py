"""Approximate multipliers through a 256x256 product table."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.precision import build_counterpart
from diverfuzz.models.precision.approx import (
    ApproxConv2d,
    ApproxLinear,
    approx_model,
    exact,
    lut_matmul,
    mitchell,
    multiplier_table,
    truncated,
)


def test_tables():
    t = multiplier_table(exact)
    assert t.shape == (256, 256) and t.dtype == torch.int64
    a = torch.arange(-128, 128)
    assert torch.equal(t, a[:, None] * a[None, :])
    m = multiplier_table(mitchell)
    assert mitchell(3, 5) == 14 and mitchell(-3, 5) == -14 and mitchell(4, 8) == 32 and mitchell(0, 7) == 0
    assert mitchell(7, 7) == 48  # 2**(2+2+1) * (0.75 + 0.75), exact 49
    assert bool((m.abs() <= t.abs()).all()) and bool((m.abs() >= (t.abs() * 0.888)).all())
    assert truncated(7, 9) == 48 and truncated(-7, 9) == -48
    with pytest.raises(DiverfuzzError, match="must map two ints"):
        multiplier_table(lambda a, b: "x")


def test_exact_table_equals_integer_gemm():
    g = torch.Generator().manual_seed(0)
    qx = torch.randint(-128, 128, (300, 70), generator=g)
    qw = torch.randint(-128, 128, (9, 70), generator=g)
    assert torch.equal(lut_matmul(qx, qw, multiplier_table(exact)), qx @ qw.T)
    assert not torch.equal(lut_matmul(qx, qw, multiplier_table(mitchell)), qx @ qw.T)


def _net() -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 5)).eval()


def test_exact_layers_equal_the_quantized_integer_computation():
    net = _net()
    x = torch.rand(6, 2, 8, 8, generator=torch.Generator().manual_seed(1))
    low = approx_model(net, "exact", x.numpy())
    assert isinstance(low[0], ApproxConv2d) and isinstance(low[3], ApproxLinear)
    assert isinstance(net[0], nn.Conv2d), "the reference must not change"
    conv = low[0]
    qx = torch.clamp(torch.round(x * (1.0 / conv.input_scale)), -128, 127)
    qw = conv.qweight.reshape(net[0].weight.shape).double()
    acc = torch.nn.functional.conv2d(qx.double(), qw, stride=2, padding=1)  # exact: small integers in float64
    want = (acc * (conv.input_scale.double() * conv.weight_scale.double()).reshape(1, -1, 1, 1)).float() + net[0].bias.reshape(1, -1, 1, 1)
    with torch.no_grad():
        assert torch.equal(low[0](x), want)
        y, ref = low(x), net(x)
    assert torch.allclose(y, ref, atol=0.05)
    with torch.no_grad():
        assert torch.equal(low(x[2:4]), y[2:4])


def test_mitchell_counterpart_differs_but_stays_close():
    net = _net()
    x = torch.rand(20, 2, 8, 8, generator=torch.Generator().manual_seed(1))
    low = build_counterpart("approx:mitchell", net, x.numpy())
    with torch.no_grad():
        y, ref = low(x), net(x)
    assert not torch.allclose(y, ref, atol=1e-3)
    assert (y.argmax(1) == ref.argmax(1)).float().mean() >= 0.5


def test_custom_multiplier_and_errors():
    net = _net()
    x = np.random.default_rng(0).random((4, 2, 8, 8), dtype=np.float32)
    zero = approx_model(net, lambda a, b: 0, x)
    with torch.no_grad():
        assert torch.equal(zero[3](torch.ones(1, 64)), net[3].bias.reshape(1, -1))
    grouped = nn.Sequential(nn.Conv2d(2, 2, 3, groups=2))
    with pytest.raises(DiverfuzzError, match="layer '0' is a grouped"):
        approx_model(grouped, "exact", x)
    bare = approx_model(nn.Linear(3, 2), "exact", np.ones((2, 3), np.float32))
    assert isinstance(bare[0], ApproxLinear)


def test_float_significand_table():
    from diverfuzz.models.precision.approx import (
        approx_float_model,
        lut_float_matmul,
        mantissa_table,
        mitchell_mantissa,
    )

    t = mantissa_table(lambda a, b: a * b, 3)
    assert t.shape == (8, 8) and t[1, 2].item() == 1.125 * 1.25
    assert mitchell_mantissa(1.5, 1.5) == 2.0 and mitchell_mantissa(1.25, 1.5) == 1.75
    with pytest.raises(DiverfuzzError, match="1..8 mantissa bits"):
        mantissa_table(lambda a, b: a * b, 9)
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(30, 40, generator=g), torch.randn(7, 40, generator=g)
    x[0, :5] = 0.0
    for m in (3, 7):
        got = lut_float_matmul(x, w, mantissa_table(lambda a, b: a * b, m), m)
        # the exact table multiplies the operands truncated to m mantissa bits
        trunc = lambda v: torch.sign(v) * torch.ldexp(torch.floor(torch.frexp(v.double())[0].abs() * 2 ** (m + 1)) / 2 ** (m + 1), torch.frexp(v.double())[1])  # noqa: E731
        assert torch.allclose(got.double(), trunc(x) @ trunc(w).T, rtol=1e-5, atol=1e-5)
    net = _net()
    xs = torch.rand(5, 2, 8, 8, generator=g)
    low = build_counterpart("approx:mitchell:mantissa=7", net, xs.numpy())
    exact7 = approx_float_model(net, "exact", 7)
    with torch.no_grad():
        ref, a, b = net(xs), low(xs), exact7(xs)
    assert torch.allclose(b, ref, atol=0.05) and not torch.allclose(a, b, atol=1e-4)
    assert torch.equal(low(xs[1:3]), a[1:3])


def test_exact_table_is_exact_for_large_sums_too():
    g = torch.Generator().manual_seed(3)
    qx = torch.randint(-128, 128, (5, 3000), generator=g)
    qw = torch.randint(-128, 128, (4, 3000), generator=g)
    qx[0], qw[0] = -128, -128  # 3000 * 16384 > 2**24: needs the float64 path
    big = multiplier_table(lambda a, b: a * b * 1000)
    assert torch.equal(lut_matmul(qx, qw, multiplier_table(exact)), qx @ qw.T)
    assert torch.equal(lut_matmul(qx, qw, big), (qx @ qw.T) * 1000)

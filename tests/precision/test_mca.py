"""Monte Carlo Arithmetic: seeded samples and significant-bit statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.precision import build_counterpart
from diverfuzz.models.precision.mca import (
    MCAMode,
    inexact,
    mca_samples,
    significant_bits,
)


def _well_conditioned() -> tuple[nn.Module, torch.Tensor]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
        with torch.no_grad():
            for p in net.parameters():
                p.uniform_(0.5, 1.0)  # all-positive sums: condition number ~1
        x = torch.rand(6, 16) + 0.5
    return net, x


class Cancellation(nn.Module):
    """(x + 2**20) - 2**20: loses about 20 bits to cancellation."""

    def forward(self, x):
        return (x + 2.0**20) - 2.0**20


def test_inexact_perturbs_at_virtual_precision():
    x = torch.tensor([1.0, -3.0, 0.0, float("inf")], dtype=torch.float64)
    y = inexact(x, 10, torch.full((4,), 0.99, dtype=torch.float64))
    assert y[0].item() == pytest.approx(1 + 0.49 * 2.0**-9)
    assert y[1].item() == pytest.approx(-3 + 0.49 * 2.0**-8)
    assert y[2].item() == 0.0 and y[3].item() == float("inf")


def test_samples_are_seeded_and_shaped():
    net, x = _well_conditioned()
    a = mca_samples(net, x, 8, 20, seed=1)
    assert a.shape == (8, 6, 3) and a.dtype == torch.float64
    assert torch.equal(a, mca_samples(net, x, 8, 20, seed=1))
    assert not torch.equal(a, mca_samples(net, x, 8, 20, seed=2))
    assert len(torch.unique(a[:, 0, 0])) == 8
    assert net[0].weight.dtype == torch.float32, "the model must not be modified"


@pytest.mark.parametrize("mode", ["rr", "pb", "full"])
def test_well_conditioned_model_keeps_about_t_bits(mode):
    net, x = _well_conditioned()
    samples = mca_samples(net, x, 30, 24, seed=0, mode=mode)
    import copy

    ref = copy.deepcopy(net).double()(x.double()).detach()
    for method in ("CNH", "General"):
        bits = significant_bits(samples, ref, method=method)
        assert bits.shape == (6, 3)
        assert 20 <= bits.mean() <= 25, (method, bits)
    assert 20 <= significant_bits(samples).mean() <= 25  # reference: the sample mean


def test_cancellation_loses_bits():
    x = torch.rand(4, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    samples = mca_samples(Cancellation(), x, 30, 24, seed=0)
    bits = significant_bits(samples, x)
    assert bits.mean() < 8
    # and precision bounding t=40 recovers most of them
    assert significant_bits(mca_samples(Cancellation(), x, 30, 40, seed=0), x).mean() > 15


def test_mca_counterpart_is_reproducible_and_batch_independent():
    net, x = _well_conditioned()
    calib = x.numpy()
    a = build_counterpart("mca:t=11", net, calib)
    with torch.no_grad():
        y = a(x)
        assert torch.equal(y, build_counterpart("mca:t=11", net, calib)(x))
        assert torch.equal(a(x[2:4]), y[2:4])
        assert not torch.equal(y, build_counterpart("mca:t=11:seed=5", net, calib)(x))
        assert torch.allclose(y, net(x), rtol=2e-2)
        assert not torch.equal(y, net(x))


def test_exact_ops_are_not_perturbed():
    x = torch.tensor([[1.0, -2.0, 3.0]], dtype=torch.float64)
    with MCAMode(8, "full", seed=0):
        assert torch.equal(torch.relu(x), torch.tensor([[1.0, 0.0, 3.0]], dtype=torch.float64))
        assert torch.equal(x.reshape(3, 1).flatten(), x.flatten())
        assert not torch.equal(x * 1.0, x)


def test_bad_arguments():
    net, x = _well_conditioned()
    with pytest.raises(DiverfuzzError, match="t must be an integer 1..52"):
        mca_samples(net, x, 4, 60)
    with pytest.raises(DiverfuzzError, match="n=1"):
        mca_samples(net, x, 1, 20)
    with pytest.raises(DiverfuzzError, match="method='exact'"):
        significant_bits(np.ones((3, 2)), method="exact")

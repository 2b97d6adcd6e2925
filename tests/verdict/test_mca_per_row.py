"""Item 8 of issue 14: under Monte Carlo Arithmetic a row's result does not depend on its batch.

In ``pb`` and ``full`` modes operands are perturbed too, weights included; a
weight whose first dimension equalled the batch size used to share its noise
across that dimension, so the same input gave another result in a batch of
that size.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from diverfuzz.models.precision import build_counterpart
from diverfuzz.models.precision.mca import mca_samples


def _net() -> nn.Module:
    gen = torch.Generator().manual_seed(0)
    # Weights of shapes (10, 16), (2, 10) and conv (2, 1, 3, 3): first dimensions
    # equal to the batch sizes under test.
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 2 * 2, 16), nn.ReLU(),
        nn.Linear(16, 10), nn.ReLU(), nn.Linear(10, 2),
    )
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    return net.eval()


def _inputs() -> torch.Tensor:
    return torch.rand(10, 1, 4, 4, generator=torch.Generator().manual_seed(1))


BATCHES = ([0], [7], [3, 8], [8, 3], list(range(10)), [9, 1, 4, 0, 2, 8, 5, 7, 3, 6])


@pytest.mark.parametrize("mode", ["rr", "pb", "full"])
def test_mca_samples_of_a_row_do_not_depend_on_its_batch(mode: str) -> None:
    net, x = _net(), _inputs()
    alone = {i: mca_samples(net, x[i : i + 1], 3, 12, seed=4, mode=mode)[:, 0] for i in range(10)}
    for rows in BATCHES:  # batches of 1, 2 and 10, in several orders
        batch = mca_samples(net, x[rows], 3, 12, seed=4, mode=mode)
        for position, i in enumerate(rows):
            assert torch.equal(batch[:, position], alone[i]), (mode, rows, i)


@pytest.mark.parametrize("mode", ["pb", "full"])
def test_mca_counterpart_row_does_not_depend_on_its_batch(mode: str) -> None:
    net, x = _net(), _inputs()
    counterpart = build_counterpart(f"mca:t=10:mode={mode}", net, x.numpy())
    with torch.no_grad():
        alone = torch.cat([counterpart(x[i : i + 1]) for i in range(10)])
        for rows in BATCHES:
            assert torch.equal(counterpart(x[rows]), alone[rows]), (mode, rows)
        assert not torch.equal(alone, net(x).float())  # MCA did perturb
    assert np.isfinite(alone.numpy()).all()

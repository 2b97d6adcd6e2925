"""The real-size benchmark architectures: shapes, size, seeded weights."""

from __future__ import annotations

import torch

from diverfuzz.models.examples.architectures import mobilenet_v2, resnet20


def test_resnet20_and_mobilenet_v2_shapes_sizes_and_seeds():
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    net = resnet20(0)
    assert sum(p.numel() for p in net.parameters()) == 272474  # He et al.: ~0.27M
    with torch.no_grad():
        out = net(x)
        assert out.shape == (2, 10) and torch.isfinite(out).all()
        assert torch.equal(resnet20(0)(x), out) and not torch.equal(resnet20(1)(x), out)
    mobile = mobilenet_v2(0)
    assert 3.4e6 < sum(p.numel() for p in mobile.parameters()) < 3.6e6  # Sandler et al.: 3.4M + classifier
    with torch.no_grad():
        logits = mobile(torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)))
    assert logits.shape == (1, 1000) and logits.std() > 0.1  # not collapsed to zero

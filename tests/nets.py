"""Small seeded networks shared by tests (a helper module, not a test file)."""

from __future__ import annotations

import torch


def seeded_mlp(outputs: int, scale: float, inputs: int = 64, hidden: int = 32) -> torch.nn.Module:
    """Flatten -> Linear(inputs, hidden) -> ReLU -> Linear(hidden, outputs), weights ``N(0, scale**2)`` from seed 0, in eval mode."""
    gen = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(inputs, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, outputs)
    )
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return net.eval()

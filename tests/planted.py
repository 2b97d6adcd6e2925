"""The planted pair shared by the search, shrink and strategy tests (a helper module, not a test file).

The candidate says class 1 only when an input's mean brightness lies within
``width`` of :data:`TARGET`; the reference always says class 0. So a search
must find a brightness-raising chain, and how hard that is is set by ``width``.
"""

from __future__ import annotations

import numpy as np
import torch

TARGET = 0.65


def reference(x: torch.Tensor) -> torch.Tensor:
    zeros = torch.zeros(len(x))
    return torch.stack([zeros + 1.0, zeros], dim=1)


def planted_candidate(width: float):
    """Says class 1 when the mean brightness is within ``width`` of TARGET."""

    def candidate(x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=tuple(range(1, x.ndim)))
        return torch.stack([torch.ones(len(x)), 1.0 + (width - (m - TARGET).abs()) / width], dim=1)

    return candidate


def seeds(n: int = 10) -> np.ndarray:
    """``n`` seeds of 1x8x8 with mean brightness in [0.3, 0.5] (fixed RNG)."""
    rng = np.random.default_rng(1234)
    base = rng.uniform(0.3, 0.5, size=(n, 1, 1, 1))
    return np.clip(base + rng.normal(0, 0.05, size=(n, 1, 8, 8)), 0, 1).astype(np.float32)

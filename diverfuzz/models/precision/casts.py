"""Whole-model casts to float16 / bfloat16."""

from __future__ import annotations

import copy

import torch


class CastModel(torch.nn.Module):
    """Runs a copy of a model in ``dtype``; takes and returns float32.

    Inputs are rounded to ``dtype`` on entry, as a deployed half-precision
    model would receive them, and logits are widened back to float32.
    """

    def __init__(self, model: torch.nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).to(dtype).eval()
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.to(self.dtype)).float()


def cast_model(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """A copy of ``model`` computing in ``dtype`` (``torch.float16`` or ``torch.bfloat16``)."""
    return CastModel(model, dtype)

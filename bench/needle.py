"""The "needle" pair of the search benchmark: a counterpart that differs only where the margin does not point.

The reference is the bundled digits CNN. The counterpart is the same
network, except that on inputs where at least a quarter of the pixels lie in
the narrow band ``(0.02, 0.06]`` it shifts its logits by one class (so its
top-1 label changes). Digits' background is exactly 0, so a slight uniform
brightening (``brightness`` of +0.02..+0.06, PSNR about 25-34 dB) or faint
noise triggers it, while the reference's margin, which both models share
everywhere else, gives a search no slope towards it: a guided search only
finds it by exploring, as random search does.

``--model bench/needle.py:reference --counterpart bench/needle.py:counterpart``.
"""

from __future__ import annotations

import torch
from torch import nn

from diverfuzz.models.examples.digits import trained_digits_cnn

#: The band of grey levels that triggers the counterpart, and the fraction of pixels needed.
BAND = (0.02, 0.06)
FRACTION = 0.25


class NeedleCounterpart(nn.Module):
    """``base(x)``, with logits rolled by one class where the band trigger fires."""

    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        self.base = base

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.base(x)
        in_band = ((x > BAND[0]) & (x <= BAND[1])).float().flatten(1).mean(dim=1)
        fire = (in_band >= FRACTION)[:, None]
        return torch.where(fire, logits.roll(1, dims=1), logits)


def reference() -> nn.Module:
    """The bundled digits CNN (seed 0)."""
    return trained_digits_cnn(0)


def counterpart() -> nn.Module:
    """The digits CNN with the needle planted."""
    return NeedleCounterpart(trained_digits_cnn(0)).eval()

"""A model behind the preprocessing it expects (see :mod:`diverfuzz.models.preprocess`)."""

from __future__ import annotations

import hashlib
from typing import Any

import torch

from diverfuzz.models.preprocess import Preprocess


class Preprocessed(torch.nn.Module):
    """``model(preprocess(x))``: a model behind the preprocessing it expects.

    A ``torch.nn.Module`` whatever ``model`` is, so precision builders can
    quantize the whole thing; its ``fingerprint`` (when ``model`` has one)
    combines the model's with the settings.
    """

    def __init__(self, model: Any, preprocess: Preprocess) -> None:
        super().__init__()
        self.model = model  # a Module is registered as a child; a plain callable is just held
        self.preprocess = preprocess
        inner = getattr(model, "fingerprint", None)
        if isinstance(inner, str):
            self.fingerprint = hashlib.sha256(f"{inner} {preprocess!r}".encode()).hexdigest()[:16]

    def train(self, mode: bool = True) -> "Preprocessed":
        self.training = mode
        if isinstance(self.model, torch.nn.Module):
            try:
                self.model.train(mode)
            except NotImplementedError:  # torch.export modules fix their mode at export
                pass
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.preprocess(x))


def with_preprocess(model: Any, preprocess: Preprocess | None) -> Any:
    """``model`` behind ``preprocess``, or ``model`` itself when there is nothing to apply."""
    if preprocess is None or preprocess.identity:
        return model
    return Preprocessed(model, preprocess)

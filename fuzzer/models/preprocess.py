"""The preprocessing a model expects, applied inside the model wrapper.

Relations, validity metrics and the search always work on channel-first
inputs in [0, 1]; a model trained on ``0..255`` pixels, on inputs
standardised per channel, or on channel-last tensors gets them through a
:class:`Preprocessed` wrapper that applies, in this order:

1. ``input_range=(lo, hi)``: ``x * (hi - lo) + lo``;
2. ``mean`` / ``std`` per channel: ``(x - mean) / std``;
3. ``layout="nhwc"``: ``(N, C, H, W) -> (N, H, W, C)``.

Both models of a pair get the same wrapper, and the settings are part of
the campaign config, so replay applies exactly the same transform.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import torch

from fuzzer.errors import DiverfuzzError

LAYOUTS = ("nchw", "nhwc")


@dataclass(frozen=True)
class Preprocess:
    """Preprocessing settings.

    Parameters
    ----------
    input_range : tuple of float, optional
        ``(lo, hi)`` the model's inputs span (default ``(0.0, 1.0)``: unchanged).
    mean, std : tuple of float, optional
        Per-channel normalisation (one value each, or one per channel);
        default none.
    layout : {"nchw", "nhwc"}, optional
        The model's input layout (default ``nchw``). ``nhwc`` needs 4-D inputs.
    """

    input_range: tuple[float, float] = (0.0, 1.0)
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    layout: str = "nchw"

    def __post_init__(self) -> None:
        lo, hi = self.input_range
        if not hi > lo:
            raise DiverfuzzError(f"--input-range={lo:g},{hi:g}: the upper bound must exceed the lower one")
        if (self.mean is None) != (self.std is None):
            raise DiverfuzzError("--mean and --std go together: give both (one value, or one per channel)")
        if self.std is not None:
            if len(self.std) != len(self.mean) or not self.std:
                raise DiverfuzzError(f"--mean has {len(self.mean)} values but --std has {len(self.std)}; give as many")
            if any(s <= 0 for s in self.std):
                raise DiverfuzzError(f"--std={','.join(f'{s:g}' for s in self.std)}: every std must be > 0")
        if self.layout not in LAYOUTS:
            raise DiverfuzzError(f"--layout={self.layout!r}: choose nchw or nhwc")

    @property
    def identity(self) -> bool:
        return self.input_range == (0.0, 1.0) and self.mean is None and self.layout == "nchw"

    def check_channels(self, channels: int) -> None:
        """Refuse per-channel ``mean``/``std`` whose length fits neither 1 nor ``channels``."""
        if self.mean is not None and len(self.mean) not in (1, channels):
            raise DiverfuzzError(
                f"--mean/--std give {len(self.mean)} values but the inputs have {channels} channels; give 1 or {channels}"
            )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.input_range
        if (lo, hi) != (0.0, 1.0):
            x = x * (hi - lo) + lo
        if self.mean is not None:
            shape = (1, -1) + (1,) * (x.ndim - 2)
            mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).reshape(shape)
            std = torch.tensor(self.std, dtype=x.dtype, device=x.device).reshape(shape)
            x = (x - mean) / std
        if self.layout == "nhwc":
            if x.ndim != 4:
                raise DiverfuzzError(f"--layout=nhwc needs (N, C, H, W) image inputs, got shape {tuple(x.shape)}")
            x = x.permute(0, 2, 3, 1).contiguous()
        return x


def parse_floats(text: str, option: str, count: int | None = None) -> tuple[float, ...]:
    """``"0.5,0.25"`` -> ``(0.5, 0.25)``, or a one-line error naming ``option``."""
    try:
        values = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        raise DiverfuzzError(f"{option}={text!r}: expected comma-separated numbers, e.g. 0.485,0.456,0.406") from None
    if count is not None and len(values) != count:
        raise DiverfuzzError(f"{option}={text!r}: expected {count} comma-separated numbers")
    return values


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

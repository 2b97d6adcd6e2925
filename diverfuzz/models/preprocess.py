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

This module parses and checks the settings without importing torch (the
campaign config uses it); :mod:`diverfuzz.models.preprocessed` holds the
wrapper module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from diverfuzz.common.errors import DiverfuzzError

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

    def __call__(self, x: Any) -> Any:
        """Apply the settings to a float tensor ``(N, C, ...)`` with values in [0, 1]."""
        lo, hi = self.input_range
        if (lo, hi) != (0.0, 1.0):
            x = x * (hi - lo) + lo
        if self.mean is not None:
            shape = (1, -1) + (1,) * (x.ndim - 2)
            mean = x.new_tensor(self.mean).reshape(shape)
            std = x.new_tensor(self.std).reshape(shape)
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


def parse_size(text: str) -> tuple[int, int]:
    """``"224,224"`` -> ``(224, 224)``, or a one-line error."""
    parts = str(text).replace("x", ",").split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise DiverfuzzError(f"--size={text!r}: expected H,W as two positive integers, e.g. 224,224")
    return int(parts[0]), int(parts[1])


def preprocess_from_text(
    input_range: str | None = None, mean: str | None = None, std: str | None = None, layout: str = "nchw"
) -> Preprocess:
    """A :class:`Preprocess` from the command line's spellings (``"0,255"``, ``"0.485,0.456,0.406"``, ...)."""
    return Preprocess(
        input_range=parse_floats(input_range, "--input-range", 2) if input_range else (0.0, 1.0),
        mean=parse_floats(mean, "--mean") if mean else None,
        std=parse_floats(std, "--std") if std else None,
        layout=layout,
    )

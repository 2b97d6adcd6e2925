"""Saturating two's-complement fixed point emulated on float32 tensors."""

from __future__ import annotations

import torch

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.precision.minifloat import check_rounding


def check_fixed_format(word_bits: int, frac_bits: int, *, name: str = "fixed") -> None:
    """Raise :class:`DiverfuzzError` unless ``2 <= word_bits <= 24`` and ``0 <= frac_bits <= 126``."""
    for what, value, low, high in (("word", word_bits, 2, 24), ("fraction", frac_bits, 0, 126)):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise DiverfuzzError(f"{name}: {what} bits must be {low}..{high} (got {value!r})")


def fixed_limits(word_bits: int, frac_bits: int) -> tuple[float, float, float]:
    """``(lowest, highest, step)`` of the signed fixed-point format ``word_bits.frac_bits``."""
    check_fixed_format(word_bits, frac_bits)
    step = 2.0**-frac_bits
    return -(2.0 ** (word_bits - 1)) * step, (2.0 ** (word_bits - 1) - 1) * step, step


def quantize_fixed(
    x: torch.Tensor,
    word_bits: int,
    frac_bits: int,
    *,
    rounding: str = "nearest",
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Round float32 ``x`` to signed fixed point with ``word_bits`` bits, ``frac_bits`` after the point.

    Parameters
    ----------
    x : Tensor, float32
        Values to round.
    word_bits : int
        Total bits including the sign, 2..24 (so that every value is exact
        in float32).
    frac_bits : int
        Fractional bits, 0..126; the step is ``2**-frac_bits``.
    rounding : {"nearest", "stochastic"}
        Round to nearest (ties to even) or stochastically (unbiased).
    generator : torch.Generator or None
        Random source for stochastic rounding.
    noise : Tensor or None
        Stochastic rounding only: int64 random bits in ``[0, 2**60)``,
        broadcastable to ``x``, used instead of drawing from ``generator``.

    Returns
    -------
    Tensor, float32
        ``k * 2**-frac_bits`` with ``-2**(word_bits-1) <= k < 2**(word_bits-1)``;
        out-of-range values (and ±inf) saturate, NaN stays NaN.

    Notes
    -----
    The ``<16, 14>`` format with stochastic rounding is the one Gupta et al.
    train with in "Deep learning with limited numerical precision" (ICML
    2015). Scaling by ``2**frac_bits`` is exact, so the single rounding is
    that of ``torch.round`` (or floor plus a Bernoulli carry).

    Examples
    --------
    >>> quantize_fixed(torch.tensor([0.3, 9.0, -9.0]), 8, 4)
    tensor([ 0.3125,  7.9375, -8.0000])
    """
    check_fixed_format(word_bits, frac_bits)
    check_rounding(rounding)
    if not isinstance(x, torch.Tensor) or x.dtype != torch.float32:
        got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise DiverfuzzError(f"quantize_fixed needs a float32 tensor (got {got}); convert with .float() first")
    # Two exact power-of-two scalings: 2**frac_bits may exceed float32's range.
    half = frac_bits // 2
    scaled = x * 2.0**half * 2.0 ** (frac_bits - half)
    if rounding == "nearest":
        k = torch.round(scaled)
    else:
        low = torch.floor(scaled)
        frac = (scaled - low).double()  # exact in [0, 1)
        if noise is None:
            u = torch.rand(x.shape, generator=generator, device=x.device, dtype=torch.float64)
        else:
            u = (noise >> 7).double() * 2.0**-53  # 53 random bits, exact in float64
        k = low + (u < frac).to(torch.float32)
    k = k.clamp(-(2.0 ** (word_bits - 1)), 2.0 ** (word_bits - 1) - 1)
    return k * 2.0 ** -(frac_bits - half) * 2.0**-half


__all__ = ["check_fixed_format", "fixed_limits", "quantize_fixed"]

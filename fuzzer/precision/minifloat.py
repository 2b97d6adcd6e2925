"""Arbitrary IEEE-style minifloats emulated bit-exactly on float32 tensors.

A format ``(exp_bits, man_bits)`` has a sign bit, ``exp_bits`` exponent bits
with bias ``2**(exp_bits-1) - 1``, ``man_bits`` stored mantissa bits,
gradual underflow (subnormals) and the top exponent reserved for inf/NaN,
exactly as IEEE 754 binary formats. ``(5, 10)`` is float16, ``(8, 7)`` is
bfloat16, ``(5, 2)`` is float8_e5m2 and ``(8, 23)`` is float32 itself.
"""

from __future__ import annotations

import struct

import torch

from fuzzer.errors import DiverfuzzError

ROUNDINGS = ("nearest", "stochastic")

_SIGN = -(2**31)  # int32 0x80000000
_INF_BITS = 0x7F800000
_SR_BITS = 60  # random bits per element for stochastic rounding


def _f32_bits(value: float) -> int:
    return struct.unpack("<i", struct.pack("<f", value))[0]


def check_float_format(exp_bits: int, man_bits: int, *, name: str = "float") -> None:
    """Raise :class:`DiverfuzzError` unless ``1 <= exp_bits <= 8`` and ``0 <= man_bits <= 23``."""
    for what, value, high, low in (("exponent", exp_bits, 8, 1), ("mantissa", man_bits, 23, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise DiverfuzzError(f"{name}: {what} bits must be {low}..{high} (got {value!r})")


def check_rounding(rounding: str, *, name: str = "rounding") -> None:
    if rounding not in ROUNDINGS:
        raise DiverfuzzError(f"{name}={rounding!r} is unknown; choose one of {', '.join(ROUNDINGS)}")


def float_format_limits(exp_bits: int, man_bits: int) -> tuple[float, float, float]:
    """``(max_finite, min_normal, min_subnormal)`` of the format ``(exp_bits, man_bits)``."""
    check_float_format(exp_bits, man_bits)
    bias = 2 ** (exp_bits - 1) - 1
    emin = 1 - bias
    return (2.0 - 2.0**-man_bits) * 2.0**bias, 2.0**emin, 2.0 ** (emin - man_bits)


def quantize_float(
    x: torch.Tensor,
    exp_bits: int,
    man_bits: int,
    *,
    rounding: str = "nearest",
    saturate: bool = False,
    subnormals: bool = True,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Round float32 ``x`` to the minifloat with ``exp_bits`` / ``man_bits``.

    Parameters
    ----------
    x : Tensor, float32
        Values to round (any shape, any device).
    exp_bits : int
        Exponent bits, 1..8.
    man_bits : int
        Stored mantissa (fraction) bits, 0..23.
    rounding : {"nearest", "stochastic"}
        ``"nearest"``: round to nearest, ties to even (IEEE default).
        ``"stochastic"``: round to one of the two neighbours with
        probability proportional to proximity, so ``E[q(x)] == x``.
    saturate : bool
        If True, finite values beyond the largest finite value become that
        value (with sign) instead of inf. Infinite inputs stay infinite.
    subnormals : bool
        If False, results below the smallest normal flush to (signed) zero.
    generator : torch.Generator or None
        Source of the random bits for stochastic rounding; pass a seeded one
        for reproducible results.
    noise : Tensor or None
        Stochastic rounding only: int64 random bits in ``[0, 2**60)``,
        broadcastable to ``x``, used instead of drawing from ``generator``
        (e.g. one draw per sample shape, shared across a batch, so that a
        sample's rounding does not depend on its batch).

    Returns
    -------
    Tensor, float32
        Same shape; every finite value is representable in the format.
        NaN stays NaN (same bits), ±inf stays ±inf, -0 stays -0.

    Notes
    -----
    Pure integer arithmetic on the int32 view of ``x``: the significand
    (with its implicit bit) is shifted right by the number of bits the
    format drops at that exponent (more in the subnormal range), the
    remainder decides the rounding, and the result is rebuilt from the
    rounded integer and its exponent, so there is exactly one rounding
    (no double rounding through an intermediate format). Stochastic
    rounding compares the dropped bits with uniform random integers
    (Gupta et al., "Deep learning with limited numerical precision", 2015),
    exact for up to 60 dropped bits.

    Examples
    --------
    >>> x = torch.tensor([1.0 + 2**-11, 65520.0, 1e-8])
    >>> torch.equal(quantize_float(x, 5, 10), x.half().float())
    True
    """
    check_float_format(exp_bits, man_bits)
    check_rounding(rounding)
    if not isinstance(x, torch.Tensor) or x.dtype != torch.float32:
        got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise DiverfuzzError(f"quantize_float needs a float32 tensor (got {got}); convert with .float() first")
    if exp_bits == 8 and man_bits == 23:
        return x.clone()
    max_finite, min_normal, _ = float_format_limits(exp_bits, man_bits)
    max_bits = _f32_bits(max_finite)
    drop = 23 - man_bits
    keep_mask = ~((1 << drop) - 1)

    bits = x.contiguous().view(torch.int32)
    mag = bits & 0x7FFFFFFF
    # At or above the format's smallest normal (and everywhere when exp_bits
    # == 8, whose subnormals line up with float32's), rounding drops the same
    # `drop` low bits of the magnitude; a carry out of the mantissa bumps the
    # exponent, which is exactly IEEE behaviour.
    if rounding == "stochastic":
        if noise is None:
            noise = torch.randint(0, 2**_SR_BITS, x.shape, generator=generator, device=x.device, dtype=torch.int64)
        else:
            noise = torch.broadcast_to(noise, x.shape)
    else:
        noise = None
    if drop == 0:
        out = mag.clone()
    elif noise is None:
        out = mag >> drop
        out &= 1  # ties to even: round up on a tie only when the kept lsb is odd
        out += mag
        out += (1 << (drop - 1)) - 1
    else:
        # Adding `drop` uniform random bits then truncating rounds up with
        # probability (dropped bits) / 2**drop.
        out = (noise >> (_SR_BITS - drop)).to(torch.int32)
        out += mag
    out &= keep_mask
    if exp_bits < 8:
        # 0 < mag < min_normal, in one comparison: mag - 1 wraps 0 to the top.
        below = ((mag + 0x7FFFFFFF) < (_f32_bits(min_normal) - 1 - 2**31)).view(-1).nonzero().view(-1)
        if len(below):
            flat = out.view(-1)
            sub_noise = None if noise is None else noise.reshape(-1)[below]
            flat[below] = _round_subnormal(mag.view(-1)[below], exp_bits, man_bits, sub_noise)
    if subnormals is False:
        out.masked_fill_(out < _f32_bits(min_normal), 0)
    special = mag >= _INF_BITS  # inf or NaN input: keeps its bits
    out.masked_fill_(out > max_bits, max_bits if saturate else _INF_BITS)
    out |= bits & _SIGN
    out = torch.where(special, bits, out)
    return out.view(torch.float32).view(x.shape)


def _round_subnormal(mag: torch.Tensor, exp_bits: int, man_bits: int, noise: torch.Tensor | None) -> torch.Tensor:
    """Round finite positive float32 magnitudes (int32 bits) below the format's smallest normal.

    Works for any finite magnitude: the significand (with its implicit bit)
    is shifted right by the bits the format drops at that exponent, the
    remainder decides the rounding (to nearest even, or up when the
    ``noise`` bits fall below it), and the float32 bits are rebuilt from the
    rounded integer ``q`` and its exponent.
    """
    emin = 2 - 2 ** (exp_bits - 1)
    expfield = mag >> 23
    e_field = expfield.clamp_min(1)
    sig = torch.where(expfield > 0, (mag & 0x7FFFFF) | 0x800000, mag)
    shift = (emin + 127 - e_field).clamp_min(0) + (23 - man_bits)
    if noise is None:
        # sig < 2**24, so a shift of 25 already rounds everything to 0 (no ties).
        shift = shift.clamp_max(25)
        q = sig >> shift
        rem2 = (sig - (q << shift)) << 1
        one = torch.ones_like(shift) << shift
        q = q + ((rem2 > one) | ((rem2 == one) & ((q & 1) == 1))).to(torch.int32)
    else:
        sig64 = sig.to(torch.int64)
        shift64 = shift.to(torch.int64).clamp_max(_SR_BITS)
        q = sig64 >> shift64
        rem = sig64 - (q << shift64)
        q = (q + ((noise >> (_SR_BITS - shift64)) < rem).to(torch.int64)).to(torch.int32)
    q_exp = (e_field - 127).clamp_min(emin) - man_bits
    q_bits = q.to(torch.float32).view(torch.int32)  # exact: q <= 2**24
    normal = ((q_bits >> 23) + q_exp >= 1) & (q > 0)
    return torch.where(normal, q_bits + (q_exp << 23), q << (q_exp + 149).clamp(0, 31))


__all__ = ["ROUNDINGS", "check_float_format", "float_format_limits", "quantize_float"]

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

from diverfuzz.common.errors import DiverfuzzError

ROUNDINGS = ("nearest", "stochastic")

_SIGN = -(2**31)  # int32 0x80000000
_INF_BITS = 0x7F800000
_SR_BITS = 60  # random bits per element for stochastic rounding
_NATIVE = {
    (5, 10, False): torch.float16,
    (8, 7, False): torch.bfloat16,
    (5, 2, False): torch.float8_e5m2,
    (4, 3, True): torch.float8_e4m3fn,
}


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


def float_format_limits(exp_bits: int, man_bits: int, *, finite: bool = False) -> tuple[float, float, float]:
    """``(max_finite, min_normal, min_subnormal)`` of the format ``(exp_bits, man_bits)``.

    ``finite`` selects the OCP "fn" encoding (no infinities; the top exponent
    holds numbers and only its all-ones mantissa is NaN), e.g. E4M3 up to 448.
    """
    check_float_format(exp_bits, man_bits)
    if finite and (man_bits == 0 or exp_bits == 8):
        raise DiverfuzzError(f"float: finite (fn) formats need 1..7 exponent and 1..23 mantissa bits (got e{exp_bits}m{man_bits})")
    bias = 2 ** (exp_bits - 1) - 1
    emin = 1 - bias
    if finite:
        return (2.0 - 2.0 ** (1 - man_bits)) * 2.0 ** (bias + 1), 2.0**emin, 2.0 ** (emin - man_bits)
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
    native: bool = True,
    finite: bool = False,
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
    native : bool
        If True (default) and the format is float16, bfloat16 or
        float8_e5m2 with nearest rounding, no saturation and subnormals,
        use torch's own cast (same results, proven bit for bit by the tests,
        except that a NaN's payload may change); False always runs the
        integer emulation.
    finite : bool
        The OCP "fn" variant without infinities (``float8_e4m3fn`` for
        ``(4, 3)``): the top exponent holds finite values, and out-of-range
        values and ±inf saturate to ± the largest finite value, as torch's
        cast does. Needs ``1 <= exp_bits <= 7`` and ``man_bits >= 1``.

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
    (no double rounding through an intermediate format). Ties go to the
    encoding whose last bit is 0; with ``man_bits == 0`` that is the even
    biased exponent (e.g. e3m0 rounds 0.75 to 0.5). Stochastic
    rounding adds uniform random integers below the dropped bits' weight and
    truncates (Gupta et al., "Deep learning with limited numerical
    precision", ICML 2015): it rounds up with probability exactly
    (dropped bits) / 2**dropped, for up to 60 dropped bits.

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
    max_finite, min_normal, _ = float_format_limits(exp_bits, man_bits, finite=finite)
    if exp_bits == 8 and man_bits == 23:
        return x.clone()
    dtype = _NATIVE.get((exp_bits, man_bits, finite))
    if native and dtype is not None and rounding == "nearest" and (finite or not saturate) and subnormals:
        return x.to(dtype).float()
    max_bits = _f32_bits(max_finite)
    drop = 23 - man_bits
    keep_mask = ~((1 << drop) - 1)

    bits = x.contiguous().view(torch.int32)
    mag = bits & 0x7FFFFFFF
    # At or above the format's smallest normal (and everywhere when exp_bits
    # == 8, whose subnormals line up with float32's), rounding drops the same
    # `drop` low bits of the magnitude; a carry out of the mantissa bumps the
    # exponent, which is exactly IEEE behaviour.
    stochastic = rounding == "stochastic"
    if noise is not None and stochastic:
        noise = torch.broadcast_to(noise, x.shape)
    if drop == 0:
        out = mag.clone()
    elif not stochastic:
        out = mag >> drop
        out &= 1  # ties to even: round up on a tie only when the kept lsb is odd
        out += mag
        out += (1 << (drop - 1)) - 1
    else:
        # Adding `drop` uniform random bits then truncating rounds up with
        # probability (dropped bits) / 2**drop.
        if noise is None:
            out = torch.randint(0, 1 << drop, x.shape, generator=generator, device=x.device, dtype=torch.int32)
        else:
            out = (noise >> (_SR_BITS - drop)).to(torch.int32)
        out += mag
    out &= keep_mask
    if exp_bits < 8:
        # 0 < mag < min_normal, in one comparison: mag - 1 wraps 0 to the top.
        below = ((mag + 0x7FFFFFFF) < (_f32_bits(min_normal) - 1 - 2**31)).view(-1).nonzero().view(-1)
        if len(below):
            flat = out.view(-1)
            sub_noise = None
            if stochastic:
                if noise is None:  # the dropped bits here can be many more than `drop`
                    sub_noise = torch.randint(
                        0, 2**_SR_BITS, below.shape, generator=generator, device=x.device, dtype=torch.int64
                    )
                else:
                    sub_noise = noise.reshape(-1)[below]
            flat[below] = _round_subnormal(mag.view(-1)[below], exp_bits, man_bits, sub_noise)
    if subnormals is False:
        out.masked_fill_(out < _f32_bits(min_normal), 0)
    # inf or NaN input keeps its bits (a finite format saturates inf too)
    special = mag > _INF_BITS if finite else mag >= _INF_BITS
    out.masked_fill_(out > max_bits, max_bits if saturate or finite else _INF_BITS)
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

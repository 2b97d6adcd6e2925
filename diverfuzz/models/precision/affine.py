"""Integer affine fake quantization: per-tensor / per-channel / per-group, binary and ternary weights.

Fake quantization maps ``x`` to ``(clamp(round(x / scale) + zp, qmin, qmax) - zp) * scale``
in float32, which is what an integer kernel computes up to its accumulator.
"""

from __future__ import annotations

import torch

from diverfuzz.common.errors import DiverfuzzError

_EPS = torch.finfo(torch.float32).eps


def check_int_bits(bits: int, *, name: str = "int") -> None:
    """Raise :class:`DiverfuzzError` unless ``2 <= bits <= 8``."""
    if not isinstance(bits, int) or isinstance(bits, bool) or not 2 <= bits <= 8:
        raise DiverfuzzError(f"{name}: integer bits must be 2..8 (got {bits!r})")


def int_range(bits: int, *, symmetric: bool = True) -> tuple[int, int]:
    """``(qmin, qmax)``: signed ``[-2**(b-1), 2**(b-1)-1]`` if symmetric, else unsigned ``[0, 2**b - 1]``."""
    check_int_bits(bits)
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if symmetric else (0, 2**bits - 1)


def _reduce_dims(x: torch.Tensor, axis: int | None) -> list[int]:
    if axis is None:
        return list(range(x.ndim))
    if not -x.ndim <= axis < x.ndim:
        raise DiverfuzzError(f"axis={axis} is out of range for a tensor with {x.ndim} dimensions")
    axis %= x.ndim
    return [d for d in range(x.ndim) if d != axis]


def affine_qparams(
    x: torch.Tensor, bits: int, *, symmetric: bool = True, axis: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Min/max scale and zero point for ``x`` (per tensor, or per slice along ``axis``).

    Parameters
    ----------
    x : Tensor, float32
        The values to be quantized (weights or observed activations).
    bits : int
        2..8.
    symmetric : bool
        True: zero point 0, signed range, ``scale = max|x| / ((qmax - qmin) / 2)``.
        False: unsigned range covering ``[min(x, 0), max(x, 0)]``.
    axis : int or None
        None for one scale per tensor; an axis for one per channel.

    Returns
    -------
    scale : Tensor, float32
        Shape ``()`` or ``(x.shape[axis],)``, at least float32 eps.
    zero_point : Tensor, int32
        Same shape, within ``[qmin, qmax]``.

    Notes
    -----
    The formulas of PyTorch's ``MinMaxObserver`` / ``PerChannelMinMaxObserver``
    (and torchao's ``choose_qparams_affine``), so scales agree with
    ``torch.ao`` calibration.
    """
    qmin, qmax = int_range(bits, symmetric=symmetric)
    dims = _reduce_dims(x, axis)
    lo = x.detach().float().amin(dim=dims).clamp_max(0.0)
    hi = x.detach().float().amax(dim=dims).clamp_min(0.0)
    if symmetric:
        scale = (torch.maximum(-lo, hi) / ((qmax - qmin) / 2)).clamp_min(_EPS)
        zero_point = torch.zeros_like(scale, dtype=torch.int32)
    else:
        scale = ((hi - lo) / (qmax - qmin)).clamp_min(_EPS)
        zero_point = (qmin - torch.round(lo / scale)).clamp(qmin, qmax).to(torch.int32)
    return scale, zero_point


def fake_quantize(
    x: torch.Tensor,
    scale: torch.Tensor,
    zero_point: torch.Tensor,
    qmin: int,
    qmax: int,
    *,
    axis: int | None = None,
) -> torch.Tensor:
    """``(clamp(round(x * (1/scale)) + zp, qmin, qmax) - zp) * scale``, rounding half to even.

    Bit-identical to ``torch.fake_quantize_per_tensor_affine`` (``axis=None``)
    and ``torch.fake_quantize_per_channel_affine`` (``axis`` given).
    """
    scale = scale.float()
    zero_point = zero_point.float()
    if axis is not None:
        shape = [1] * x.ndim
        shape[axis % x.ndim] = -1
        scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
    q = torch.clamp(torch.round(x * (1.0 / scale)) + zero_point, qmin, qmax)
    return (q - zero_point) * scale


def quantize_int(
    x: torch.Tensor, bits: int, *, symmetric: bool = True, axis: int | None = None, group_size: int | None = None
) -> torch.Tensor:
    """Fake-quantize ``x`` to ``bits``-bit integers with scales from its own min/max.

    Parameters
    ----------
    x : Tensor, float32
    bits : int
        2..8.
    symmetric : bool
        Signed symmetric (default) or unsigned asymmetric.
    axis : int or None
        Per-channel along ``axis`` (0 = output channels of a weight), or
        per-tensor when None.
    group_size : int or None
        If given, one scale per ``group_size`` consecutive values along the
        last (input) dimension of each row of ``x.flatten(1)`` (the per-group
        scheme of int4 weight-only kernels); overrides ``axis``.

    Examples
    --------
    >>> quantize_int(torch.tensor([0.0, 0.5, 1.0, -1.0]), 2)
    tensor([ 0.0000,  0.6667,  0.6667, -1.3333])
    """
    qmin, qmax = int_range(bits, symmetric=symmetric)
    if group_size is not None:
        if x.ndim < 2 or x[0].numel() % group_size:
            raise DiverfuzzError(f"group_size={group_size} must divide the {x[0].numel()} inputs per output channel")
        grouped = x.reshape(x.shape[0], -1, group_size)
        scale, zero_point = affine_qparams(grouped.flatten(0, 1), bits, symmetric=symmetric, axis=0)
        out = fake_quantize(grouped.flatten(0, 1), scale, zero_point, qmin, qmax, axis=0)
        return out.reshape(x.shape)
    scale, zero_point = affine_qparams(x, bits, symmetric=symmetric, axis=axis)
    return fake_quantize(x, scale, zero_point, qmin, qmax, axis=axis)


def binarize(w: torch.Tensor, *, axis: int | None = 0) -> torch.Tensor:
    """Binary weights ``alpha * sign(w)`` with ``alpha = mean|w|`` per output channel (sign(0) = +1).

    Notes
    -----
    Binary-Weight-Networks (Rastegari et al., "XNOR-Net", ECCV 2016); the
    sign function is BinaryConnect's (Courbariaux et al., NeurIPS 2015).
    """
    alpha = w.abs().mean(dim=_reduce_dims(w, axis), keepdim=True)
    return torch.where(w >= 0, alpha, -alpha)


def ternarize(w: torch.Tensor, *, axis: int | None = 0, threshold: float = 0.7) -> torch.Tensor:
    """Ternary weights in ``{-alpha, 0, +alpha}`` per output channel.

    Values with ``|w| <= threshold * mean|w|`` become 0; ``alpha`` is the mean
    magnitude of the others.

    Notes
    -----
    Ternary Weight Networks (Li, Zhang and Liu, 2016), whose ``0.7`` factor
    approximately minimises the L2 error for Gaussian weights.
    """
    dims = _reduce_dims(w, axis)
    delta = threshold * w.abs().mean(dim=dims, keepdim=True)
    keep = w.abs() > delta
    alpha = (w.abs() * keep).sum(dim=dims, keepdim=True) / keep.sum(dim=dims, keepdim=True).clamp_min(1)
    return torch.where(keep, torch.sign(w) * alpha, torch.zeros_like(w))


__all__ = [
    "affine_qparams",
    "binarize",
    "check_int_bits",
    "fake_quantize",
    "int_range",
    "quantize_int",
    "ternarize",
]

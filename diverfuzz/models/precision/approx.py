"""Approximate multipliers: int8 Linear / Conv2d whose every product comes from a 256x256 table.

Weights are quantized to int8 per output channel (symmetric), inputs to int8
per tensor with a scale calibrated on the calibration batch; each product
``a * b`` of the integer GEMM is replaced by ``table[a + 128, b + 128]``
(a user's function of two integers), accumulated exactly in int64 and
scaled back to float32. With the exact multiplier this is the integer GEMM.

Notes
-----
The lookup-table approach of AdaPT and TFApprox (Mrazek et al., "TFApprox:
towards a fast emulation of DNN approximate hardware accelerators on GPU",
DATE 2020); the logarithmic multiplier is J. N. Mitchell's, "Computer
multiplication and division using binary logarithms" (IRE Trans. EC, 1962).
"""

from __future__ import annotations

import copy
import functools
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.inference import calibrate
from diverfuzz.models.layers import leaf_modules
from diverfuzz.models.precision.affine import affine_qparams

Multiplier = Callable[[int, int], int]


def exact(a: int, b: int) -> int:
    """The exact product."""
    return a * b


def truncated(a: int, b: int, drop: int = 4) -> int:
    """The product with its ``drop`` least significant magnitude bits cleared (sign kept)."""
    magnitude = (abs(a * b) >> drop) << drop
    return magnitude if a * b >= 0 else -magnitude


def mitchell(a: int, b: int) -> int:
    """Mitchell's logarithmic product: ``2**(k1+k2) * (1 + x1 + x2)`` (or ``2**(k1+k2+1) * (x1 + x2)``).

    With ``|a| = 2**k1 * (1 + x1)`` and ``|b| = 2**k2 * (1 + x2)``; always at
    most the exact product, by up to about 11.1 %. Computed in integers.
    """
    if a == 0 or b == 0:
        return 0
    ua, ub = abs(a), abs(b)
    k1, k2 = ua.bit_length() - 1, ub.bit_length() - 1
    r1, r2 = ua - (1 << k1), ub - (1 << k2)  # x1 = r1 / 2**k1, x2 = r2 / 2**k2
    frac = (r1 << k2) + (r2 << k1)  # 2**(k1+k2) * (x1 + x2)
    product = (1 << (k1 + k2)) + frac if frac < (1 << (k1 + k2)) else 2 * frac
    return product if (a < 0) == (b < 0) else -product


MULTIPLIERS: dict[str, Multiplier] = {"exact": exact, "truncated": truncated, "mitchell": mitchell}


@functools.lru_cache(maxsize=8)
def _builtin_table(name: str) -> torch.Tensor:
    values = range(-128, 128)
    return torch.tensor([[MULTIPLIERS[name](a, b) for b in values] for a in values], dtype=torch.int64)


def multiplier_table(fn: Multiplier) -> torch.Tensor:
    """``table[a + 128, b + 128] = fn(a, b)`` for int8 ``a`` and ``b``: int64, ``(256, 256)``."""
    for name, builtin in MULTIPLIERS.items():
        if fn is builtin:
            return _builtin_table(name).clone()
    values = range(-128, 128)
    try:
        table = torch.tensor([[int(fn(a, b)) for b in values] for a in values], dtype=torch.int64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DiverfuzzError(f"multiplier {getattr(fn, '__name__', fn)!r} must map two ints to an int: {exc}") from exc
    return table


def lut_matmul(qx: torch.Tensor, qw: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """``out[n, m] = sum_k table[qx[n, k] + 128, qw[m, k] + 128]``, exact in int64.

    ``qx`` is ``(N, K)``, ``qw`` is ``(M, K)``, both integer tensors in -128..127.

    Notes
    -----
    The weight side is folded into a ``(K * 256, M)`` table whose row
    ``k * 256 + a`` holds ``table[a, qw[:, k]]``; each output row is then an
    ``embedding_bag`` sum of K rows of it, in float32 when every partial sum
    stays below 2**24 (exact, and several times faster), else float64
    (exact below 2**53).
    """
    k = qw.shape[1]
    dtype = torch.float32 if int(table.abs().max()) * k < 2**24 else torch.float64
    folded = table.to(dtype)[:, qw.long() + 128].permute(2, 0, 1).reshape(k * 256, qw.shape[0])  # (K*256, M)
    rows = qx.long() + 128 + torch.arange(k) * 256
    return F.embedding_bag(rows, folded, mode="sum").round().to(torch.int64)


def _quantize(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return torch.clamp(torch.round(x * (1.0 / scale)), -128, 127).to(torch.int64)


def exact_mantissa(a: float, b: float) -> float:
    """The exact product of two significands in [1, 2)."""
    return a * b


def mitchell_mantissa(a: float, b: float) -> float:
    """Mitchell's approximation of ``a * b`` for significands ``a = 1 + x1``, ``b = 1 + x2``."""
    x = (a - 1) + (b - 1)
    return 1 + x if x < 1 else 2 * x


MANTISSA_MULTIPLIERS: dict[str, Callable[[float, float], float]] = {
    "exact": exact_mantissa,
    "truncated": lambda a, b: float(np.floor(a * b * 2.0**8) / 2.0**8),
    "mitchell": mitchell_mantissa,
}


def mantissa_table(fn: Callable[[float, float], float], man_bits: int) -> torch.Tensor:
    """``table[i, j] = fn(1 + i / 2**m, 1 + j / 2**m)``: float64, ``(2**m, 2**m)``, ``m = man_bits`` in 1..8."""
    if not isinstance(man_bits, int) or not 1 <= man_bits <= 8:
        raise DiverfuzzError(f"mantissa={man_bits!r}: a float multiplier table takes 1..8 mantissa bits")
    sig = [1 + i / 2**man_bits for i in range(2**man_bits)]
    try:
        return torch.tensor([[float(fn(a, b)) for b in sig] for a in sig], dtype=torch.float64)
    except (TypeError, ValueError) as exc:
        raise DiverfuzzError(f"multiplier {getattr(fn, '__name__', fn)!r} must map two floats to a float: {exc}") from exc


def _split(x: torch.Tensor, man_bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``x = scale * (1 + index / 2**m)`` with the mantissa truncated to ``m`` bits: float32 ``scale``
    (a signed power of two, 0 for zero) and int64 ``index``."""
    mantissa, exponent = torch.frexp(x.float())
    index = torch.floor((2 * mantissa.abs() - 1) * 2**man_bits).clamp(0, 2**man_bits - 1).long()
    scale = torch.ldexp(torch.sign(x.float()), exponent - 1)
    return scale, index


def lut_float_matmul(x: torch.Tensor, w: torch.Tensor, table: torch.Tensor, man_bits: int) -> torch.Tensor:
    """``out[n, m] = sum_k sx * sw * table[i(x[n,k]), i(w[m,k])]``, float32, where ``v = s * (1 + i / 2**m)``.

    Operand mantissas are truncated to ``man_bits`` bits to index the table
    and products are accumulated in float32 (the ApproxTrain design). As in
    :func:`lut_matmul`, the weight side is folded into a ``(K * 2**m, M)``
    table and each output row is an ``embedding_bag`` weighted by ``sx``.
    """
    xs, xi = _split(x, man_bits)
    ws, wi = _split(w, man_bits)
    size, k = 2**man_bits, w.shape[1]
    folded = (table.float()[:, wi] * ws).permute(2, 0, 1).reshape(k * size, w.shape[0])  # (K*2**m, M)
    rows = xi + torch.arange(k) * size
    return F.embedding_bag(rows, folded, mode="sum", per_sample_weights=xs)


class _IntGemm(nn.Module):
    """int8 x int8 through a product table, int64 accumulation, float32 out."""

    def _setup(self, layer: nn.Module, table: torch.Tensor, input_scale: torch.Tensor) -> None:
        weight = layer.weight.detach().float()
        scale, _ = affine_qparams(weight, 8, symmetric=True, axis=0)
        shape = (-1,) + (1,) * (weight.ndim - 1)
        self.register_buffer("qweight", _quantize(weight, scale.reshape(shape)).reshape(weight.shape[0], -1))
        self.register_buffer("weight_scale", scale)
        self.register_buffer("input_scale", input_scale.reshape(()).float())
        self.register_buffer("table", table)
        bias = layer.bias.detach().float() if layer.bias is not None else torch.zeros(weight.shape[0])
        self.register_buffer("bias", bias)

    def _gemm(self, x2d: torch.Tensor) -> torch.Tensor:
        acc = lut_matmul(_quantize(x2d.float(), self.input_scale), self.qweight, self.table)
        return (acc.double() * (self.input_scale.double() * self.weight_scale.double())).float() + self.bias


class _FloatGemm(nn.Module):
    """float32 operands, each product from a significand table, float32 accumulation."""

    def _setup(self, layer: nn.Module, table: torch.Tensor, man_bits: int) -> None:
        weight = layer.weight.detach().float()
        self.man_bits = man_bits
        self.register_buffer("weight2d", weight.reshape(weight.shape[0], -1))
        self.register_buffer("table", table)
        bias = layer.bias.detach().float() if layer.bias is not None else torch.zeros(weight.shape[0])
        self.register_buffer("bias", bias)

    def _gemm(self, x2d: torch.Tensor) -> torch.Tensor:
        return lut_float_matmul(x2d.float(), self.weight2d, self.table, self.man_bits) + self.bias


class _LinearForward(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        return self._gemm(x.reshape(-1, x.shape[-1])).reshape(*lead, -1)


class _ConvForward(nn.Module):
    def _geometry(self, layer: nn.Conv2d) -> None:
        self.kernel_size, self.stride = layer.kernel_size, layer.stride
        self.padding, self.dilation = layer.padding, layer.dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        cols = F.unfold(x, self.kernel_size, dilation=self.dilation, padding=self.padding, stride=self.stride)
        out_h = (h + 2 * self.padding[0] - self.dilation[0] * (self.kernel_size[0] - 1) - 1) // self.stride[0] + 1
        out_w = (w + 2 * self.padding[1] - self.dilation[1] * (self.kernel_size[1] - 1) - 1) // self.stride[1] + 1
        y = self._gemm(cols.transpose(1, 2).reshape(-1, cols.shape[1]))  # (n * L, out)
        return y.reshape(n, out_h * out_w, -1).transpose(1, 2).reshape(n, -1, out_h, out_w)


class ApproxLinear(_LinearForward, _IntGemm):
    """``nn.Linear`` computed with an int8 multiplier table."""

    def __init__(self, layer: nn.Linear, table: torch.Tensor, input_scale: torch.Tensor) -> None:
        super().__init__()
        self._setup(layer, table, input_scale)


class ApproxConv2d(_ConvForward, _IntGemm):
    """``nn.Conv2d`` (groups=1, zero padding) computed with an int8 multiplier table (im2col)."""

    def __init__(self, layer: nn.Conv2d, table: torch.Tensor, input_scale: torch.Tensor) -> None:
        super().__init__()
        self._setup(layer, table, input_scale)
        self._geometry(layer)


class FloatApproxLinear(_LinearForward, _FloatGemm):
    """``nn.Linear`` whose float products come from a significand table."""

    def __init__(self, layer: nn.Linear, table: torch.Tensor, man_bits: int) -> None:
        super().__init__()
        self._setup(layer, table, man_bits)


class FloatApproxConv2d(_ConvForward, _FloatGemm):
    """``nn.Conv2d`` (groups=1, zero padding) whose float products come from a significand table."""

    def __init__(self, layer: nn.Conv2d, table: torch.Tensor, man_bits: int) -> None:
        super().__init__()
        self._setup(layer, table, man_bits)
        self._geometry(layer)


def _layers(counterpart: nn.Module) -> tuple[nn.Module, dict[str, nn.Module]]:
    layers = dict(leaf_modules(counterpart, types=(nn.Linear, nn.Conv2d)))
    if "" in layers:
        counterpart = nn.Sequential(counterpart)  # a bare layer: give it a parent to be replaced in
        layers = {"0": counterpart[0]}
    for name, layer in layers.items():
        if isinstance(layer, nn.Conv2d) and (layer.groups != 1 or layer.padding_mode != "zeros" or isinstance(layer.padding, str)):
            raise DiverfuzzError(
                f"--precision='approx:...': layer {name!r} is a grouped, non-zero-padded or 'same'-padded "
                "Conv2d, which the table path does not support"
            )
    return counterpart, layers


def _replace(counterpart: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = counterpart.get_submodule(parent_name) if parent_name else counterpart
    setattr(parent, child, new)


def approx_float_model(model: nn.Module, multiplier: str | Callable[[float, float], float], man_bits: int) -> nn.Module:
    """A copy of ``model`` whose Linear and Conv2d products come from a ``man_bits``-bit significand table.

    Parameters
    ----------
    model : nn.Module
        Left unchanged.
    multiplier : str or callable
        ``"exact"``, ``"truncated"`` (product truncated to 8 fractional
        bits), ``"mitchell"``, or a function of two significands in [1, 2)
        returning their (approximate) product.
    man_bits : int
        1..8: operand mantissas are truncated to this many bits to index the
        table (ApproxTrain, Gong et al., "ApproxTrain: fast simulation of
        approximate multipliers for DNN training and inference", IEEE TCAD 2023).
    """
    fn = MANTISSA_MULTIPLIERS.get(multiplier) if isinstance(multiplier, str) else multiplier
    if fn is None:
        raise DiverfuzzError(f"--precision='approx:{multiplier}': choose one of {', '.join(MANTISSA_MULTIPLIERS)}")
    table = mantissa_table(fn, man_bits)
    counterpart, layers = _layers(copy.deepcopy(model).eval())
    for name, layer in layers.items():
        cls = FloatApproxConv2d if isinstance(layer, nn.Conv2d) else FloatApproxLinear
        _replace(counterpart, name, cls(layer, table, man_bits))
    return counterpart


def approx_model(
    model: nn.Module, multiplier: str | Multiplier, calibration: np.ndarray
) -> nn.Module:
    """A copy of ``model`` whose Linear and Conv2d layers multiply through ``multiplier``'s table.

    Parameters
    ----------
    model : nn.Module
        Left unchanged.
    multiplier : str or callable
        ``"exact"``, ``"truncated"``, ``"mitchell"``, or a function of two
        int8 integers returning an integer.
    calibration : ndarray, float32, (N, *input_shape)
        Sets each layer's input scale (``max|x| / 127.5`` over the batch).
    """
    fn = MULTIPLIERS.get(multiplier) if isinstance(multiplier, str) else multiplier
    if fn is None:
        raise DiverfuzzError(f"--precision='approx:{multiplier}': choose one of {', '.join(MULTIPLIERS)}")
    table = multiplier_table(fn)
    counterpart, layers = _layers(copy.deepcopy(model).eval())
    peaks = {name: torch.tensor(0.0) for name in layers}
    handles = [
        layer.register_forward_pre_hook(
            lambda m, args, name=name: peaks.__setitem__(name, torch.maximum(peaks[name], args[0].detach().abs().max()))
        )
        for name, layer in layers.items()
    ]
    calibrate(counterpart, calibration)
    for h in handles:
        h.remove()
    for name, layer in layers.items():
        scale, _ = affine_qparams(torch.stack([-peaks[name], peaks[name]]), 8, symmetric=True)
        cls = ApproxConv2d if isinstance(layer, nn.Conv2d) else ApproxLinear
        _replace(counterpart, name, cls(layer, table, scale))
    return counterpart


__all__ = [
    "ApproxConv2d",
    "ApproxLinear",
    "FloatApproxConv2d",
    "FloatApproxLinear",
    "MANTISSA_MULTIPLIERS",
    "MULTIPLIERS",
    "approx_float_model",
    "approx_model",
    "lut_float_matmul",
    "mantissa_table",
    "exact",
    "lut_matmul",
    "mitchell",
    "multiplier_table",
    "truncated",
]

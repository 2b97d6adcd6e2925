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
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fuzzer.errors import DiverfuzzError
from fuzzer.precision.affine import affine_qparams

Multiplier = Callable[[int, int], int]
_CHUNK = 2**22  # products gathered at once


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


def multiplier_table(fn: Multiplier) -> torch.Tensor:
    """``table[a + 128, b + 128] = fn(a, b)`` for int8 ``a`` and ``b``: int64, ``(256, 256)``."""
    values = range(-128, 128)
    try:
        table = torch.tensor([[int(fn(a, b)) for b in values] for a in values], dtype=torch.int64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DiverfuzzError(f"multiplier {getattr(fn, '__name__', fn)!r} must map two ints to an int: {exc}") from exc
    return table


def lut_matmul(qx: torch.Tensor, qw: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """``out[n, m] = sum_k table[qx[n, k] + 128, qw[m, k] + 128]``, exact in int64.

    ``qx`` is ``(N, K)``, ``qw`` is ``(M, K)``, both integer tensors in -128..127.
    """
    flat = table.reshape(-1)
    wcode = (qw.long() + 128).unsqueeze(0)  # (1, M, K)
    out = torch.empty((qx.shape[0], qw.shape[0]), dtype=torch.int64)
    rows = max(1, _CHUNK // max(1, qw.numel()))
    for start in range(0, qx.shape[0], rows):
        xcode = (qx[start : start + rows].long() + 128).unsqueeze(1) * 256  # (n, 1, K)
        out[start : start + rows] = flat[xcode + wcode].sum(dim=2)
    return out


def _quantize(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return torch.clamp(torch.round(x * (1.0 / scale)), -128, 127).to(torch.int64)


class _ApproxBase(nn.Module):
    def __init__(self, layer: nn.Module, table: torch.Tensor, input_scale: torch.Tensor) -> None:
        super().__init__()
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


class ApproxLinear(_ApproxBase):
    """``nn.Linear`` computed with an int8 multiplier table."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        return self._gemm(x.reshape(-1, x.shape[-1])).reshape(*lead, -1)


class ApproxConv2d(_ApproxBase):
    """``nn.Conv2d`` (groups=1, zero padding) computed with an int8 multiplier table (im2col)."""

    def __init__(self, layer: nn.Conv2d, table: torch.Tensor, input_scale: torch.Tensor) -> None:
        super().__init__(layer, table, input_scale)
        self.kernel_size, self.stride = layer.kernel_size, layer.stride
        self.padding, self.dilation = layer.padding, layer.dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        cols = F.unfold(x, self.kernel_size, dilation=self.dilation, padding=self.padding, stride=self.stride)
        out_h = (h + 2 * self.padding[0] - self.dilation[0] * (self.kernel_size[0] - 1) - 1) // self.stride[0] + 1
        out_w = (w + 2 * self.padding[1] - self.dilation[1] * (self.kernel_size[1] - 1) - 1) // self.stride[1] + 1
        y = self._gemm(cols.transpose(1, 2).reshape(-1, cols.shape[1]))  # (n * L, out)
        return y.reshape(n, out_h * out_w, -1).transpose(1, 2).reshape(n, -1, out_h, out_w)


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
    counterpart = copy.deepcopy(model).eval()
    layers = {name: m for name, m in counterpart.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))}
    if "" in layers:
        counterpart = nn.Sequential(counterpart)  # a bare layer: give it a parent to be replaced in
        layers = {"0": counterpart[0]}
    for name, layer in layers.items():
        if isinstance(layer, nn.Conv2d) and (layer.groups != 1 or layer.padding_mode != "zeros" or isinstance(layer.padding, str)):
            raise DiverfuzzError(
                f"--precision='approx:...': layer {name!r} is a grouped, non-zero-padded or 'same'-padded "
                "Conv2d, which the table path does not support"
            )
    peaks = {name: torch.tensor(0.0) for name in layers}
    handles = [
        layer.register_forward_pre_hook(
            lambda m, args, name=name: peaks.__setitem__(name, torch.maximum(peaks[name], args[0].detach().abs().max()))
        )
        for name, layer in layers.items()
    ]
    with torch.no_grad():
        data = np.ascontiguousarray(calibration, dtype=np.float32)
        for start in range(0, len(data), 256):
            counterpart(torch.from_numpy(data[start : start + 256]))
    for h in handles:
        h.remove()
    for name, layer in layers.items():
        scale, _ = affine_qparams(torch.stack([-peaks[name], peaks[name]]), 8, symmetric=True)
        cls = ApproxConv2d if isinstance(layer, nn.Conv2d) else ApproxLinear
        parent_name, _, child = name.rpartition(".")
        parent = counterpart.get_submodule(parent_name) if parent_name else counterpart
        setattr(parent, child, cls(layer, table, scale))
    return counterpart


__all__ = [
    "ApproxConv2d",
    "ApproxLinear",
    "MULTIPLIERS",
    "approx_model",
    "exact",
    "lut_matmul",
    "mitchell",
    "multiplier_table",
    "truncated",
]

"""Apply emulated number formats to a copy of a model, per layer, without editing the model.

Weights are quantized once in the copy; activations are rounded by forward
hooks on every matched leaf module, at its input (what the layer reads) and
its output (what a matmul/conv or activation unit writes back), which is
where hardware rounds. With the ``ops`` option a ``TorchFunctionMode`` also
rounds the result of every arithmetic torch call in the forward pass
(functional activations, residual additions) that no module hook sees. Stochastic rounding draws its random bits once per
(layer, side, sample shape) from the spec's seed and reuses them for every
sample, so a sample's result never depends on the batch it is evaluated in
and a replay reproduces it bit for bit.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.inference import calibrate
from diverfuzz.models.layers import leaf_modules
from diverfuzz.models.precision.affine import (
    affine_qparams,
    binarize,
    fake_quantize,
    int_range,
    quantize_int,
    ternarize,
)
from diverfuzz.models.precision.fixed import quantize_fixed
from diverfuzz.models.precision.mca import ARITHMETIC
from diverfuzz.models.precision.minifloat import _SR_BITS, quantize_float
from diverfuzz.models.precision.spec import PrecisionSpec, parse_precision

LAYER_KINDS = ("float", "fixed", "int", "binary", "ternary")


def _derived_seed(seed: int, *parts: str) -> int:
    digest = hashlib.sha256(":".join([str(seed), *parts]).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


class _Rounder:
    """Rounds the float32 tensors flowing through one side of one layer to a format."""

    def __init__(self, spec: PrecisionSpec, key: str) -> None:
        self.spec = spec
        self.seed = _derived_seed(spec.seed, key)
        self.noise: dict[tuple[int, ...], torch.Tensor] = {}
        self.lo = torch.tensor(np.inf)
        self.hi = torch.tensor(-np.inf)
        self.observing = False
        self.qparams: tuple[torch.Tensor, torch.Tensor] | None = None

    def _noise(self, x: torch.Tensor) -> torch.Tensor | None:
        if self.spec.rounding != "stochastic":
            return None
        shape = tuple(x.shape[1:]) if x.ndim > 1 else tuple(x.shape)
        if shape not in self.noise:
            g = torch.Generator().manual_seed(self.seed)
            self.noise[shape] = torch.randint(0, 2**_SR_BITS, shape, generator=g, dtype=torch.int64)
        return self.noise[shape].to(x.device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        spec = self.spec
        if spec.kind == "float":
            return quantize_float(
                x, spec.exp_bits, spec.man_bits, rounding=spec.rounding, saturate=spec.saturate,
                subnormals=spec.subnormals, finite=spec.finite, noise=self._noise(x),
            )
        if spec.kind == "fixed":
            return quantize_fixed(x, spec.word_bits, spec.frac_bits, rounding=spec.rounding, noise=self._noise(x))
        if spec.kind == "int":
            if self.observing:
                self.lo = torch.minimum(self.lo, x.detach().min().cpu())
                self.hi = torch.maximum(self.hi, x.detach().max().cpu())
                return x
            if self.qparams is None:
                raise DiverfuzzError(f"--precision={spec.text!r}: integer activations need a calibration batch")
            scale, zero_point = self.qparams
            return fake_quantize(x, scale, zero_point, *int_range(spec.bits, symmetric=False))
        return x

    def calibrate(self) -> None:
        lo, hi = (self.lo, self.hi) if torch.isfinite(self.lo) else (torch.tensor(0.0), torch.tensor(0.0))
        self.qparams = affine_qparams(torch.stack([lo, hi]), self.spec.bits, symmetric=False)
        self.observing = False


def _round_tree(rounder: _Rounder, value):
    if isinstance(value, torch.Tensor) and value.dtype == torch.float32:
        return rounder(value)
    if isinstance(value, tuple):
        return tuple(_round_tree(rounder, v) for v in value)
    if isinstance(value, list):
        return [_round_tree(rounder, v) for v in value]
    return value


class _InputHook:
    def __init__(self, rounder: _Rounder) -> None:
        self.rounder = rounder

    def __call__(self, module, args):
        return _round_tree(self.rounder, tuple(args))


class _OutputHook:
    def __init__(self, rounder: _Rounder) -> None:
        self.rounder = rounder

    def __call__(self, module, args, output):
        return _round_tree(self.rounder, output)


class _OpRounding(TorchFunctionMode):
    """Rounds the float32 result of every arithmetic torch call made inside it (the ``:ops`` option)."""

    def __init__(self, rounders: dict[int, _Rounder], spec: PrecisionSpec) -> None:
        super().__init__()
        self.rounders, self.spec, self.count = rounders, spec, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if getattr(func, "__name__", "") not in ARITHMETIC:
            return out
        index, self.count = self.count, self.count + 1
        if index not in self.rounders:
            self.rounders[index] = _Rounder(self.spec, f"op{index}")
        return _round_tree(self.rounders[index], out)


class EmulatedModel(nn.Module):
    """A copy of a model with emulated formats applied; takes and returns float32."""

    def __init__(self, model: nn.Module, spec: PrecisionSpec, assignment: dict[str, PrecisionSpec]) -> None:
        super().__init__()
        self.model = model
        self.spec_text = spec.text
        self.assignment = {name: s.text for name, s in assignment.items()}
        self.op_spec = spec if spec.ops else None
        self.op_rounders: dict[int, _Rounder] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.op_spec is None:
            return self.model(x)
        with _OpRounding(self.op_rounders, self.op_spec):
            return self.model(x)

    def extra_repr(self) -> str:
        return f"precision={self.spec_text!r}"


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return leaf_modules(model) or [("", model)]


def assign_layers(model: nn.Module, spec: PrecisionSpec) -> dict[str, PrecisionSpec]:
    """Map each leaf module name of ``model`` to the spec it gets (leaves without one stay float32).

    A policy's patterns are tried in order against the leaf's name and the
    names of its ancestors (``fnmatch``, so ``"classifier"`` and
    ``"classifier.*"`` both cover ``classifier.1``); the first match wins.
    A pattern mapped to ``float32`` keeps the leaves it matches first out of
    the assignment. Any other spec applies to every leaf.
    """
    leaves = _leaves(model)
    if spec.kind != "policy":
        return {name: spec for name, _ in leaves}
    assignment: dict[str, PrecisionSpec] = {}
    used = set()
    for name, _ in leaves:
        parts = name.split(".")
        scopes = [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
        for pattern, inner in spec.layers:
            if any(fnmatch.fnmatchcase(scope, pattern) for scope in scopes):
                if inner.kind != "keep":  # float32: the layer is left as it is
                    assignment[name] = inner
                used.add(pattern)
                break
    unused = [p for p, _ in spec.layers if p not in used]
    if unused:
        names = ", ".join(n for n, _ in leaves if n)
        raise DiverfuzzError(f"--precision={spec.text!r}: pattern {unused[0]!r} matches no layer; layers are {names}")
    return assignment


def _quantize_weights(name: str, module: nn.Module, spec: PrecisionSpec) -> None:
    with torch.no_grad():
        for pname, param in module.named_parameters(recurse=False):
            if not param.is_floating_point():
                continue
            if spec.kind in ("float", "fixed"):
                rounder = _Rounder(spec, f"{name}.{pname}")
                g = torch.Generator().manual_seed(rounder.seed)
                if spec.kind == "float":
                    new = quantize_float(
                        param.float(), spec.exp_bits, spec.man_bits, rounding=spec.rounding,
                        saturate=spec.saturate, subnormals=spec.subnormals, finite=spec.finite, generator=g,
                    )
                else:
                    new = quantize_fixed(param.float(), spec.word_bits, spec.frac_bits, rounding=spec.rounding, generator=g)
            elif pname != "weight" or param.ndim < 2:
                continue  # integer kernels keep biases in int32 at the product scale: no loss to emulate
            elif spec.kind == "int":
                if spec.group_size is not None and param[0].numel() % spec.group_size:
                    raise DiverfuzzError(
                        f"--precision={spec.text!r}: group={spec.group_size} does not divide the "
                        f"{param[0].numel()} inputs of layer {name!r}"
                    )
                new = quantize_int(
                    param.float(), spec.bits, symmetric=spec.symmetric,
                    axis=0 if spec.per_channel else None, group_size=spec.group_size,
                )
            elif spec.kind == "binary":
                new = binarize(param.float())
            else:
                new = ternarize(param.float())
            param.copy_(new.to(param.dtype))


def apply_precision(model: nn.Module, spec: str | PrecisionSpec, calibration: np.ndarray | None = None) -> EmulatedModel:
    """A copy of ``model`` computing in the emulated format(s) of ``spec``; ``model`` is untouched.

    Parameters
    ----------
    model : nn.Module
        The float32 reference.
    spec : str or PrecisionSpec
        ``float:...``, ``fixed:...``, ``intN...``, ``binary-weight``,
        ``ternary-weight`` or a per-layer policy (see :mod:`diverfuzz.models.precision.spec`).
    calibration : ndarray, float32, (N, *input_shape), optional
        Needed when integer activations are emulated: each rounded tensor's
        range is observed on it (static per-tensor asymmetric quantization).

    Returns
    -------
    EmulatedModel
        In eval mode.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> low = apply_precision(net, "float:e4m3")
    >>> out = low(torch.ones(1, 4))
    >>> torch.equal(out, quantize_float(out, 4, 3))
    True
    """
    if isinstance(spec, str):
        spec = parse_precision(spec)
    if spec.kind not in LAYER_KINDS + ("policy",):
        raise DiverfuzzError(f"--precision={spec.text!r} is not an emulated format; build it with build_counterpart")
    if spec.kind == "policy" and any(inner.kind not in LAYER_KINDS + ("keep",) for _, inner in spec.layers):
        raise DiverfuzzError(f"--precision={spec.text!r} applies a runtime per layer; build it with build_counterpart")
    if spec.kind == "policy" and any(inner.ops for _, inner in spec.layers):
        raise DiverfuzzError(f"--precision={spec.text!r}: the ops option applies to a whole model, not per layer")
    counterpart = copy.deepcopy(model).eval()
    assignment = assign_layers(counterpart, spec)
    modules = dict(counterpart.named_modules())
    rounders = []
    for name, inner in assignment.items():
        module = modules[name]
        if inner.targets in ("both", "weights"):
            _quantize_weights(name, module, inner)
        if inner.targets in ("both", "activations") and inner.kind in ("float", "fixed", "int"):
            before, after = _Rounder(inner, f"{name}:in"), _Rounder(inner, f"{name}:out")
            module.register_forward_pre_hook(_InputHook(before))
            module.register_forward_hook(_OutputHook(after))
            rounders += [before, after]
    needs_calibration = [r for r in rounders if r.spec.kind == "int"]
    if needs_calibration:
        if calibration is None or len(calibration) == 0:
            raise DiverfuzzError(f"--precision={spec.text!r}: integer activations need a non-empty calibration batch")
        for r in needs_calibration:
            r.observing = True
        calibrate(counterpart, calibration)
        for r in needs_calibration:
            r.calibrate()
    return EmulatedModel(counterpart, spec, assignment).eval()


__all__ = ["EmulatedModel", "apply_precision", "assign_layers"]

"""Reduced-precision counterparts built from a reference model, from one spec string.

Every builder takes the reference ``nn.Module`` and a calibration batch and
returns a new module; the reference is never modified. :func:`parse_precision`
reads the spec (grammar in :mod:`diverfuzz.models.precision.spec`):

=====================  ==========================================================
spec                   counterpart
=====================  ==========================================================
``int8-static``        int8 post-training static quantization (weights and
                       activations), calibrated on the calibration batch
                       (torchao PT2E, x86 quantizer)
``int8-dynamic``       int8 weights, int8 activations quantized per batch at run
                       time (torchao ``Int8DynamicActivationInt8WeightConfig``)
``int8-weight``        int8 weight-only (torchao ``Int8WeightOnlyConfig``)
``int4-weight``        int4 weight-only per group of 32 (torchao ``IntxWeightOnlyConfig``)
``fp16``, ``bf16``     the whole model cast to float16 / bfloat16
``float:eXmY``         emulated minifloat weights and activations (``:sr`` stochastic)
``fixed:W.F``          emulated saturating fixed point
``intN``               emulated N-bit integer fake quantization
``binary-weight``      binary (``ternary-weight``: ternary) weights
``mca:t=T``            Monte Carlo Arithmetic at virtual precision T
``approx:NAME``        int8 Linear/Conv2d through an approximate multiplier table
``PATH.json``          per-layer mixed precision policy
=====================  ==========================================================
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: Public name -> submodule defining it. Loaded on first use (PEP 562), so that
#: :mod:`diverfuzz.models.precision.spec` (the spec grammar) is readable without
#: importing torch, which every other submodule needs.
_EXPORTS = {
    "EXAMPLES": "spec",
    "PrecisionSpec": "spec",
    "parse_precision": "spec",
    "PRECISIONS": "build",
    "build_counterpart": "build",
    "apply_precision": "apply",
    "binarize": "affine",
    "fake_quantize": "affine",
    "quantize_int": "affine",
    "ternarize": "affine",
    "quantize_fixed": "fixed",
    "quantize_float": "minifloat",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)

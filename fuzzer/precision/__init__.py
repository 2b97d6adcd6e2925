"""Reduced-precision counterparts built from a reference model, from one spec string.

Every builder takes the reference ``nn.Module`` and a calibration batch and
returns a new module; the reference is never modified. :func:`parse_precision`
reads the spec (grammar in :mod:`fuzzer.precision.spec`):

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

from typing import Callable

import numpy as np
import torch

from fuzzer.errors import DiverfuzzError
from fuzzer.precision.affine import binarize, fake_quantize, quantize_int, ternarize
from fuzzer.precision.apply import apply_precision
from fuzzer.precision.casts import cast_model
from fuzzer.precision.fixed import quantize_fixed
from fuzzer.precision.int8 import int8_dynamic, int8_static
from fuzzer.precision.minifloat import quantize_float
from fuzzer.precision.spec import EXAMPLES, PrecisionSpec, parse_precision
from fuzzer.precision.weight_only import int4_weight, int8_weight

Builder = Callable[[torch.nn.Module, np.ndarray], torch.nn.Module]

#: The named runtime counterparts (real quantized kernels or dtype casts).
PRECISIONS: dict[str, Builder] = {
    "int8-static": int8_static,
    "int8-dynamic": int8_dynamic,
    "fp16": lambda model, calibration: cast_model(model, torch.float16),
    "bf16": lambda model, calibration: cast_model(model, torch.bfloat16),
    "int8-weight": int8_weight,
    "int4-weight": int4_weight,
}


def build_counterpart(name: str, reference: torch.nn.Module, calibration: np.ndarray) -> torch.nn.Module:
    """Build the reduced-precision counterpart ``name`` of ``reference``.

    Parameters
    ----------
    name : str
        A precision spec: a name of :data:`PRECISIONS` or any spec
        :func:`parse_precision` accepts (``float:e4m3``, ``fixed:16.14:sr``,
        ``int4``, ``binary-weight``, ``mca:t=11``, ``approx:mitchell``,
        ``policy.json``, ...).
    reference : torch.nn.Module
        The full-precision model; left unchanged.
    calibration : ndarray, float32, (N, *input_shape)
        Inputs for calibrating static quantization (N >= 1), and the example
        input for export.

    Returns
    -------
    torch.nn.Module
        The counterpart, in eval mode, mapping float32 batches to logits.
        Stochastic counterparts are seeded (``:seed=S``, default 0) and give
        each sample the same result whatever its batch.
    """
    spec = parse_precision(name)
    if not isinstance(reference, torch.nn.Module):
        raise DiverfuzzError(
            f"--precision={name!r} needs the reference to be a torch.nn.Module, "
            f"got {type(reference).__name__}; pass --candidate instead"
        )
    calibration = np.ascontiguousarray(calibration, dtype=np.float32)
    if calibration.ndim < 2 or len(calibration) == 0:
        raise DiverfuzzError("calibration data must be a non-empty batch (N, *input_shape)")
    if spec.kind == "native":
        counterpart = PRECISIONS[spec.name](reference, calibration)
    elif spec.kind == "mca":
        from fuzzer.precision.mca import mca_model

        counterpart = mca_model(reference, t=spec.t, mode=spec.mode, seed=spec.seed)
    elif spec.kind == "approx":
        from fuzzer.precision.approx import approx_float_model, approx_model

        if spec.man_bits:
            counterpart = approx_float_model(reference, spec.name, spec.man_bits)
        else:
            counterpart = approx_model(reference, spec.name, calibration)
    else:
        counterpart = apply_precision(reference, spec, calibration)
    counterpart.eval()  # exported graphs' eval() returns None, so don't chain it
    return counterpart


__all__ = [
    "EXAMPLES",
    "PRECISIONS",
    "PrecisionSpec",
    "apply_precision",
    "binarize",
    "build_counterpart",
    "fake_quantize",
    "parse_precision",
    "quantize_fixed",
    "quantize_float",
    "quantize_int",
    "ternarize",
]

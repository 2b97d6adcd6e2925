"""Building a counterpart from a precision spec: the registry of named runtimes."""


from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.inference import batched_logits
from diverfuzz.models.precision.apply import apply_precision
from diverfuzz.models.precision.approx import approx_float_model, approx_model
from diverfuzz.models.precision.casts import cast_model
from diverfuzz.models.precision.int8 import (
    int8_dynamic,
    int8_static,
    int8_static_compiled,
)
from diverfuzz.models.precision.mca import mca_model
from diverfuzz.models.precision.onnx_runtime import onnx_fp16, onnx_int8
from diverfuzz.models.precision.restore import build_with_policy_runtime
from diverfuzz.models.precision.spec import parse_precision, policy_runtime
from diverfuzz.models.precision.weight_only import int4_weight, int8_weight
from diverfuzz.models.preprocessed import Preprocessed
from diverfuzz.models.runtimes.base import OneAtATime
from diverfuzz.models.runtimes.onnx import OnnxModel
from diverfuzz.models.runtimes.torch_files import TorchFileModel, eval_mode

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


def build_counterpart(
    name: str, reference: torch.nn.Module, calibration: np.ndarray, *, device: str = "cpu", threads: int = 1
) -> torch.nn.Module:
    """Build the reduced-precision counterpart ``name`` of ``reference``.

    Parameters
    ----------
    name : str
        A precision spec: a name of :data:`PRECISIONS` or any spec
        :func:`parse_precision` accepts (``float:e4m3``, ``fixed:16.14:sr``,
        ``int4``, ``binary-weight``, ``mca:t=11``, ``approx:mitchell``,
        ``policy.json``, ...); a policy may also apply one runtime
        (``int8-static``, ...) to the layers it matches and keep the others
        at float32 (``{"fc": "float32", "*": "int8-static"}``).
    reference : torch.nn.Module
        The full-precision model; left unchanged.
    calibration : ndarray, float32, (N, *input_shape)
        Inputs for calibrating static quantization (N >= 1), and the example
        input for export. The reference is run once on two of them first, so
        data that does not fit the model fails with the reference's own
        one-line shape error, before any quantizer or exporter sees it.
    device : {"cpu", "cuda"}, optional
        Where ONNX Runtime counterparts (``onnx-int8``, ``onnx-fp16``) run.
        Those two also take an ONNX reference (a loaded ``.onnx`` file), whose
        file is quantized or converted as it is, without a PyTorch export.
    threads : int, optional
        ONNX Runtime intra-op threads.

    Returns
    -------
    torch.nn.Module or OnnxModel
        The counterpart, in eval mode, mapping float32 batches to logits.
        Stochastic counterparts are seeded (``:seed=S``, default 0) and give
        each sample the same result whatever its batch.
    """
    spec = parse_precision(name)
    runtime = policy_runtime(spec)
    onnx_spec = spec.kind == "onnx" or (runtime is not None and runtime.kind == "onnx")
    onnx_file = onnx_spec and isinstance(getattr(reference, "model", reference), OnnxModel)
    if not isinstance(reference, torch.nn.Module) and not onnx_file:
        raise DiverfuzzError(
            f"--precision={name!r} needs the reference to be a torch.nn.Module, "
            f"got {type(reference).__name__}; pass --candidate instead"
        )
    calibration = np.ascontiguousarray(calibration, dtype=np.float32)
    if calibration.ndim < 2 or len(calibration) == 0:
        raise DiverfuzzError("calibration data must be a non-empty batch (N, *input_shape)")
    if isinstance(reference, torch.nn.Module):
        eval_mode(reference)
    batched_logits(reference, calibration[:2], name="reference")
    if runtime is not None:  # {"fc": "float32", "*": "int8-static"}: a runtime on some layers
        return build_with_policy_runtime(spec, reference, calibration, device=device, threads=threads)
    if isinstance(reference, Preprocessed):
        # Quantize the model itself, calibrated on what it sees; the preprocessing stays float, as deployed.
        with torch.no_grad():
            seen = reference.preprocess(torch.from_numpy(calibration)).numpy()
        inner = build_counterpart(name, reference.model, seen, device=device, threads=threads)
        return Preprocessed(inner, reference.preprocess)
    if isinstance(reference, TorchFileModel) and reference.kind == "pt2":
        # A torch.export graph nested in another module is re-exported without the
        # quantizer's annotations: quantize the loaded graph itself (one input at a
        # time when it was exported with a fixed batch of one).
        reference = OneAtATime(reference.inner) if reference.one_at_a_time else reference.inner
    if spec.kind == "native" and spec.compiled:
        counterpart = int8_static_compiled(reference, calibration)
    elif spec.kind == "onnx":
        if spec.name == "onnx-int8":
            return onnx_int8(reference, calibration, per_channel=spec.per_channel, device=device, threads=threads)
        return onnx_fp16(reference, calibration, device=device, threads=threads)
    elif spec.kind == "native":
        counterpart = PRECISIONS[spec.name](reference, calibration)
    elif spec.kind == "mca":
        counterpart = mca_model(reference, t=spec.t, mode=spec.mode, seed=spec.seed)
    elif spec.kind == "approx":
        if spec.man_bits:
            counterpart = approx_float_model(reference, spec.name, spec.man_bits)
        else:
            counterpart = approx_model(reference, spec.name, calibration)
    else:
        counterpart = apply_precision(reference, spec, calibration)
    counterpart.eval()  # exported graphs' eval() returns None, so don't chain it
    return counterpart


__all__ = ["Builder", "PRECISIONS", "build_counterpart"]

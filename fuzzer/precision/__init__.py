"""Named precision counterparts built from a reference model.

Every builder takes the reference ``nn.Module`` and a calibration batch and
returns a new module; the reference is never modified.

=================  ==========================================================
name               counterpart
=================  ==========================================================
``int8-static``    int8 post-training static quantization (weights and
                   activations), calibrated on the calibration batch
                   (torchao PT2E, x86 quantizer)
``int8-dynamic``   int8 weights, int8 activations quantized per batch at run
                   time (torchao ``Int8DynamicActivationInt8WeightConfig``)
``fp16``           the whole model cast to float16
``bf16``           the whole model cast to bfloat16
=================  ==========================================================
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from fuzzer.errors import DiverfuzzError
from fuzzer.precision.casts import cast_model
from fuzzer.precision.int8 import int8_dynamic, int8_static

Builder = Callable[[torch.nn.Module, np.ndarray], torch.nn.Module]

PRECISIONS: dict[str, Builder] = {
    "int8-static": int8_static,
    "int8-dynamic": int8_dynamic,
    "fp16": lambda model, calibration: cast_model(model, torch.float16),
    "bf16": lambda model, calibration: cast_model(model, torch.bfloat16),
}


def build_counterpart(name: str, reference: torch.nn.Module, calibration: np.ndarray) -> torch.nn.Module:
    """Build the reduced-precision counterpart ``name`` of ``reference``.

    Parameters
    ----------
    name : str
        One of :data:`PRECISIONS` (``int8-static``, ``int8-dynamic``, ``fp16``, ``bf16``).
    reference : torch.nn.Module
        The full-precision model; left unchanged.
    calibration : ndarray, float32, (N, *input_shape)
        Inputs for calibrating static quantization (N >= 1), and the example
        input for export.

    Returns
    -------
    torch.nn.Module
        The counterpart, in eval mode, mapping float32 batches to logits.
    """
    if name not in PRECISIONS:
        raise DiverfuzzError(
            f"--precision={name!r} is unknown; choose one of {', '.join(PRECISIONS)}"
        )
    if not isinstance(reference, torch.nn.Module):
        raise DiverfuzzError(
            f"--precision={name!r} needs the reference to be a torch.nn.Module, "
            f"got {type(reference).__name__}; pass --candidate instead"
        )
    calibration = np.ascontiguousarray(calibration, dtype=np.float32)
    if calibration.ndim < 2 or len(calibration) == 0:
        raise DiverfuzzError("calibration data must be a non-empty batch (N, *input_shape)")
    counterpart = PRECISIONS[name](reference, calibration)
    counterpart.eval()  # exported graphs' eval() returns None, so don't chain it
    return counterpart


__all__ = ["PRECISIONS", "build_counterpart"]

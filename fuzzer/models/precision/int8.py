"""int8 counterparts through torchao: static PTQ (PT2E) and dynamic quantization."""

from __future__ import annotations

import copy
import logging
import warnings
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch

from fuzzer.errors import DiverfuzzError


@contextmanager
def _quiet_torchao() -> Iterator[None]:
    """Silence torchao's import-time chatter about CUDA-only kernels missing on CPU,
    and the deprecation warnings its imports raise (torch.jit), which say
    nothing about the user's model."""
    loggers = [logging.getLogger(n) for n in ("torchao", "torch.utils._pytree", "torch._export")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def int8_static(model: torch.nn.Module, calibration: np.ndarray) -> torch.nn.Module:
    """int8 static post-training quantization, calibrated on ``calibration``.

    The model is exported with a dynamic batch dimension
    (``torch.export``), annotated by torchao's ``X86InductorQuantizer``
    (per-channel symmetric int8 weights, per-tensor affine uint8/int8
    activations), observed on the calibration batch and converted to a
    quantize/dequantize graph that reproduces int8 inference numerics.

    Notes
    -----
    This is the PT2E flow that replaces the deprecated
    ``torch.ao.quantization`` FX flow; see torchao's "PyTorch 2 Export
    Post Training Quantization" tutorial.
    """
    with _quiet_torchao():
        import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
        from torchao.quantization.pt2e import allow_exported_model_train_eval, move_exported_model_to_eval
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    example = torch.from_numpy(calibration[: max(2, min(len(calibration), 8))])
    if len(example) < 2:
        # torch.export specialises a batch of one; give it two rows.
        example = torch.cat([example, example])
    reference = copy.deepcopy(model).eval()
    try:
        with _quiet_torchao():
            batch = torch.export.Dim("batch")
            exported = torch.export.export(reference, (example,), dynamic_shapes=({0: batch},)).module()
            quantizer = xiq.X86InductorQuantizer()
            quantizer.set_global(xiq.get_default_x86_inductor_quantization_config())
            prepared = prepare_pt2e(exported, quantizer)
            with torch.no_grad():
                for start in range(0, len(calibration), 256):
                    prepared(torch.from_numpy(calibration[start : start + 256]))
            converted = convert_pt2e(prepared)
            move_exported_model_to_eval(converted)
            # Let ModelPair call .eval() on it like on any module.
            allow_exported_model_train_eval(converted)
            return converted
    except Exception as exc:
        raise DiverfuzzError(
            f"--precision='int8-static' could not quantize the model: {type(exc).__name__}: {exc}. "
            "The model must be exportable with torch.export and a dynamic batch dimension."
        ) from exc


def int8_dynamic(model: torch.nn.Module, calibration: np.ndarray) -> torch.nn.Module:
    """int8 weights with activations quantized per batch at run time (torchao).

    Only ``nn.Linear`` layers are quantized, as torchao's
    ``Int8DynamicActivationInt8WeightConfig`` does; convolutions stay float32.
    ``calibration`` is unused (dynamic quantization needs none).
    """
    with _quiet_torchao():
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    counterpart = copy.deepcopy(model).eval()
    try:
        with _quiet_torchao():
            quantize_(counterpart, Int8DynamicActivationInt8WeightConfig())
    except Exception as exc:
        raise DiverfuzzError(
            f"--precision='int8-dynamic' could not quantize the model: {type(exc).__name__}: {exc}"
        ) from exc
    return counterpart

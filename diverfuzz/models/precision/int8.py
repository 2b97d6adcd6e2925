"""int8 counterparts through torchao: static PTQ (PT2E) and dynamic quantization."""

from __future__ import annotations

import copy
import os
import shutil

import numpy as np
import torch

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.inference import calibrate
from diverfuzz.models.quiet import quiet
from diverfuzz.models.runtimes.base import one_line
from diverfuzz.models.runtimes.torch_files import eval_mode


def _quiet_torchao():
    """Silence torchao's import-time chatter about CUDA-only kernels missing on CPU,
    and the deprecation warnings its imports raise (torch.jit), which say
    nothing about the user's model."""
    return quiet(("torchao", "torch.utils._pytree", "torch._export"), categories=(DeprecationWarning, FutureWarning))


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
        from torchao.quantization.pt2e import (
            allow_exported_model_train_eval,
            move_exported_model_to_eval,
        )
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    example = torch.from_numpy(calibration[: max(2, min(len(calibration), 8))])
    if len(example) < 2:
        # torch.export specialises a batch of one; give it two rows.
        example = torch.cat([example, example])
    reference = eval_mode(copy.deepcopy(model))
    try:
        with _quiet_torchao():
            batch = torch.export.Dim("batch")
            exported = torch.export.export(reference, (example,), dynamic_shapes=({0: batch},)).module()
            quantizer = xiq.X86InductorQuantizer()
            quantizer.set_global(xiq.get_default_x86_inductor_quantization_config())
            prepared = prepare_pt2e(exported, quantizer)
            calibrate(prepared, calibration)
            converted = convert_pt2e(prepared)
            quantized = any("quantize" in str(node.target) for node in converted.graph.nodes)
            move_exported_model_to_eval(converted)
            # Let ModelPair call .eval() on it like on any module.
            allow_exported_model_train_eval(converted)
    except Exception as exc:
        raise DiverfuzzError(
            f"--precision='int8-static' could not quantize the model: {one_line(exc)}. "
            "The model must be exportable with torch.export and a dynamic batch dimension."
        ) from exc
    if not quantized:
        raise DiverfuzzError(
            "--precision='int8-static' quantized nothing: the X86 quantizer found no convolution or linear "
            "layer to annotate in the exported graph, so the counterpart would equal the reference"
        )
    return converted


def cxx_compiler() -> str | None:
    """The C++ compiler ``torch.compile`` would use (``$CXX``, ``c++``, ``g++`` or ``clang++``), or None."""
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class CompiledInt8(torch.nn.Module):
    """A converted PT2E int8 graph lowered by ``torch.compile`` (inductor) to x86 int8 kernels.

    Inductor's quantization passes replace each quantize/dequantize pattern
    around a convolution or linear layer by oneDNN int8 kernels
    (``qconv``/``qlinear`` with prepacked weights, ``freezing`` on). Shapes
    are compiled statically, so batches are zero-padded to the next power of
    two (at least 8) and the padding rows dropped: with static activation
    scales each row's result does not depend on the others, and at most 8
    sizes (8 .. 1024) are ever compiled.

    Notes
    -----
    torchao, "PyTorch 2 Export Quantization with X86 Backend through Inductor".
    """

    def __init__(self, converted: torch.nn.Module) -> None:
        super().__init__()
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        self.converted = converted
        self.compiled = torch.compile(converted, dynamic=False)

    def train(self, mode: bool = True) -> "CompiledInt8":
        self.training = mode
        return self  # the converted graph is already in eval mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = len(x)
        size = max(8, 1 << (n - 1).bit_length())
        if size != n:
            x = torch.cat([x, x.new_zeros((size - n, *x.shape[1:]))])
        with torch.no_grad(), _quiet_torchao():
            return self.compiled(x)[:n]


def int8_static_compiled(model: torch.nn.Module, calibration: np.ndarray) -> torch.nn.Module:
    """``int8-static`` lowered with ``torch.compile`` so that x86 int8 kernels run (:class:`CompiledInt8`).

    Needs a C++ compiler (inductor compiles the generated kernels); without
    one this raises a one-line :class:`DiverfuzzError`.
    """
    if cxx_compiler() is None:
        raise DiverfuzzError(
            "--precision='int8-static:compiled' needs a C++ compiler (g++ or clang++; torch.compile builds "
            "the int8 kernels with it): install one, or use int8-static (the fake-quant graph) or onnx-int8"
        )
    counterpart = CompiledInt8(int8_static(model, calibration))
    try:
        counterpart(torch.from_numpy(np.ascontiguousarray(calibration[:2], dtype=np.float32)))
    except Exception as exc:
        raise DiverfuzzError(f"--precision='int8-static:compiled': torch.compile failed: {one_line(exc)}") from exc
    return counterpart


def int8_dynamic(model: torch.nn.Module, calibration: np.ndarray) -> torch.nn.Module:
    """int8 weights with activations quantized per batch at run time (torchao).

    Only ``nn.Linear`` layers are quantized, as torchao's
    ``Int8DynamicActivationInt8WeightConfig`` does; convolutions stay float32.
    ``calibration`` is unused (dynamic quantization needs none).
    """
    with _quiet_torchao():
        from torchao.quantization import (
            Int8DynamicActivationInt8WeightConfig,
            quantize_,
        )

    counterpart = copy.deepcopy(model).eval()
    try:
        with _quiet_torchao():
            quantize_(counterpart, Int8DynamicActivationInt8WeightConfig())
    except Exception as exc:
        raise DiverfuzzError(
            f"--precision='int8-dynamic' could not quantize the model: {type(exc).__name__}: {exc}"
        ) from exc
    return counterpart

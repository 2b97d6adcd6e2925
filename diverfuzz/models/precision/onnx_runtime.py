"""Counterparts run by ONNX Runtime: ``onnx-int8`` (static QDQ) and ``onnx-fp16``.

The reference is exported with ``torch.onnx.export`` (the torch.export-based
exporter, dynamic batch dimension), then

- ``onnx-int8``: quantized by ``onnxruntime.quantization.quantize_static``
  in QDQ format, calibrated with min/max on the calibration batch like
  ``int8-static`` (int8 weights, symmetric; uint8 activations, asymmetric,
  one scale per tensor); ``onnx-int8:per-channel`` gives weights one scale
  per output channel, as ``int8-static`` does. ONNX Runtime then runs real
  int8 kernels (QLinearConv, QLinearMatMul, ...) where it can fuse the QDQ
  pairs.
- ``onnx-fp16``: every float tensor converted to float16
  (``onnxruntime.transformers.float16``), inputs and outputs kept float32.

The result is an :class:`~diverfuzz.models.runtimes.onnx.OnnxModel` whose
fingerprint is the hash of the ONNX bytes; the files are written to a
temporary folder that is removed once the session holds the model.

Notes
-----
ONNX Runtime quantization: https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np
import torch

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.quiet import quiet
from diverfuzz.models.runtimes.base import OneAtATime, one_line
from diverfuzz.models.runtimes.onnx import OnnxModel
from diverfuzz.models.runtimes.torch_files import eval_mode


def _quiet():
    """Keep the exporter's and the quantizer's progress lines and warnings off the terminal."""
    return quiet(("torch.onnx", "torch._export", "torch.export", "onnxscript", "onnx_ir", ""), stdout=True)


def export_onnx(model: torch.nn.Module, example: np.ndarray, path: Path, spec: str) -> None:
    """Export ``model`` to ``path`` with a dynamic batch dimension, or a one-line error.

    A graph with a fixed batch of one (:class:`OneAtATime`) is exported as it
    is, batch 1; ONNX Runtime then runs it one input at a time.
    """
    fixed = isinstance(model, OneAtATime)
    if fixed:
        x, model, dynamic = torch.from_numpy(np.ascontiguousarray(example[:1])), model.inner, None
    else:
        x = torch.from_numpy(np.ascontiguousarray(example[:2] if len(example) >= 2 else np.concatenate([example] * 2)))
        dynamic = ({0: torch.export.Dim("batch")},)
    module = eval_mode(copy.deepcopy(model))
    try:
        with _quiet():
            torch.onnx.export(module, (x,), str(path), dynamic_shapes=dynamic, optimize=True)
    except Exception as exc:
        raise DiverfuzzError(
            f"--precision={spec!r}: torch.onnx.export could not export the reference: {one_line(exc)}. "
            "The model must be exportable with torch.export and a dynamic batch dimension."
        ) from exc


class _Reader:
    """Feeds the calibration batch to ONNX Runtime's calibrator, 8 inputs at a time
    (``rows`` at a time: 1 for a graph with a fixed batch of one).

    With ``CalibStridedMinMax=1`` the calibrator reduces each chunk to its
    min/max before reading the next (``set_range``), so memory holds one
    chunk's activations rather than every activation of every input (about
    30 MB per 3x224x224 input for MobileNetV2).
    """

    def __init__(self, name: str, data: np.ndarray, rows: int = 8) -> None:
        self._chunks = [{name: data[i : i + rows]} for i in range(0, len(data), rows)]
        self._iter = iter(self._chunks)

    def __len__(self) -> int:
        return len(self._chunks)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._iter = iter(self._chunks[start_index:end_index])

    def get_next(self):
        return next(self._iter, None)


def _source(model: torch.nn.Module | OnnxModel, calibration: np.ndarray, path: Path, spec: str) -> Path:
    """The ONNX file to quantize: an ONNX reference's own file, or the PyTorch reference exported to ``path``."""
    if isinstance(model, OnnxModel):
        return model.path
    export_onnx(model, calibration, path, spec)
    return path


def onnx_int8(
    model: torch.nn.Module | OnnxModel, calibration: np.ndarray, *, per_channel: bool = False, device: str = "cpu", threads: int = 1
) -> OnnxModel:
    """``model`` exported to ONNX and statically quantized to int8 (QDQ), run by ONNX Runtime.

    Parameters
    ----------
    model : torch.nn.Module or OnnxModel
        The float32 reference: a PyTorch module (exported first) or a loaded
        ``.onnx`` file (quantized as it is).
    calibration : ndarray, float32, (N, *input_shape)
        Calibration inputs (min/max of every activation over them).
    per_channel : bool, optional
        One weight scale per output channel (default False: per tensor).
    device : {"cpu", "cuda"}, optional
    threads : int, optional
        ONNX Runtime intra-op threads.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    spec = "onnx-int8:per-channel" if per_channel else "onnx-int8"
    with tempfile.TemporaryDirectory(prefix="diverfuzz-onnx-") as tmp:
        target = Path(tmp) / "int8.onnx"
        source = _source(model, calibration, Path(tmp) / "reference.onnx", spec)
        graph_input = onnx.load(str(source), load_external_data=False).graph.input[0]
        name, rows = graph_input.name, 1 if _fixed_batch_of_one(graph_input) else 8
        try:
            with _quiet():
                quantize_static(
                    str(source),
                    str(target),
                    _Reader(name, np.ascontiguousarray(calibration, dtype=np.float32), rows),
                    quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    per_channel=per_channel,
                    calibrate_method=CalibrationMethod.MinMax,
                    extra_options={"CalibStridedMinMax": 1},
                )
        except Exception as exc:
            raise DiverfuzzError(
                f"--precision={spec!r}: onnxruntime could not quantize {_failed_operator(exc, source)}: {one_line(exc)}"
            ) from exc
        return _session(target, spec, device, threads)


def onnx_fp16(
    model: torch.nn.Module | OnnxModel, calibration: np.ndarray, *, device: str = "cpu", threads: int = 1
) -> OnnxModel:
    """``model`` exported to ONNX with every float tensor in float16 (float32 inputs and outputs)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with tempfile.TemporaryDirectory(prefix="diverfuzz-onnx-") as tmp:
        target = Path(tmp) / "fp16.onnx"
        source = _source(model, calibration, Path(tmp) / "reference.onnx", "onnx-fp16")
        try:
            with _quiet():
                converted = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
                onnx.save(converted, str(target))
        except Exception as exc:
            raise DiverfuzzError(f"--precision='onnx-fp16': converting the ONNX graph to float16 failed: {one_line(exc)}") from exc
        return _session(target, "onnx-fp16", device, threads)


def _failed_operator(exc: BaseException, source: Path) -> str:
    """The ONNX node a quantizer failure names, with its operator type; else the graph's operator types."""
    import onnx

    try:
        nodes = list(onnx.load(str(source), load_external_data=False).graph.node)
    except Exception:  # noqa: BLE001 - only the message is at stake
        return "the model"
    text = str(exc)
    named = [n for n in nodes if n.name and n.name in text]
    if named:
        return ", ".join(f"operator {n.op_type} (node {n.name!r})" for n in named[:3])
    types = sorted({n.op_type for n in nodes})
    return f"the model (operators {', '.join(types[:12])}{', ...' if len(types) > 12 else ''})" if types else "the model"


def _fixed_batch_of_one(graph_input) -> bool:
    """Whether an ONNX graph input's first dimension is the constant 1 (not a named, free dimension)."""
    dims = graph_input.type.tensor_type.shape.dim
    return len(dims) > 0 and dims[0].HasField("dim_value") and dims[0].dim_value == 1


def _session(path: Path, spec: str, device: str, threads: int) -> OnnxModel:
    return OnnxModel(path, device=device, threads=threads, option=f"--precision={spec}")

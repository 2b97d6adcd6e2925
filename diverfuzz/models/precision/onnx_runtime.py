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

import ast
import copy
import tempfile
from pathlib import Path
from typing import Collection

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

    def __iter__(self):  # qdq_loss_debug.collect_activations iterates the reader
        return iter(self._chunks)


def _source(model: torch.nn.Module | OnnxModel, calibration: np.ndarray, path: Path, spec: str) -> Path:
    """The ONNX file to quantize: an ONNX reference's own file, or the PyTorch reference exported to ``path``."""
    if isinstance(model, OnnxModel):
        return model.path
    export_onnx(model, calibration, path, spec)
    return path


def layer_nodes(source: Path, layers: Collection[str]) -> list[str]:
    """Names of the ONNX nodes ``torch.onnx.export`` emitted for the modules ``layers`` (their name scopes).

    The exporter records each node's module path in the metadata property
    ``pkg.torch.onnx.name_scopes``; a name that is a node's own name (the
    layers of an ONNX reference file, :func:`onnx_layers`) is that node. A
    layer matching no node is a one-line :class:`DiverfuzzError`.
    """
    import onnx

    wanted = set(layers)
    found: dict[str, list[str]] = {name: [] for name in wanted}
    for layer, node in _layer_nodes_in_order(onnx.load(str(source), load_external_data=False).graph, wanted):
        found[layer].append(node.name)
    missing = sorted(name for name, nodes in found.items() if not nodes)
    if missing:
        raise DiverfuzzError(
            f"layer={missing[0]!r}: no ONNX node of the exported graph belongs to it (no pkg.torch.onnx.name_scopes "
            "metadata names it), so it cannot be excluded from onnx-int8 quantization"
        )
    return sorted({node for nodes in found.values() for node in nodes})


def _layer_nodes_in_order(graph, wanted: set[str]):
    """``(layer, node)`` for every node of ``graph`` that belongs to a layer in ``wanted``, in graph order.

    A node belongs to the layer of its own name (the layers of an ONNX reference file) and to every
    module its ``pkg.torch.onnx.name_scopes`` metadata names (what ``torch.onnx.export`` emitted for it).
    """
    for node in graph.node:
        if node.name in wanted:
            yield node.name, node
        props = {p.key: p.value for p in node.metadata_props}
        try:
            scopes = ast.literal_eval(props.get("pkg.torch.onnx.name_scopes", "[]"))
        except (ValueError, SyntaxError):
            continue
        for scope in wanted.intersection(scopes):
            yield scope, node


def layer_tensors(source: Path, layers: Collection[str], quantized: Path | None = None) -> dict[str, str]:
    """Per layer, the name of the tensor it writes in the ONNX file ``source`` (or in its QDQ file ``quantized``).

    A layer's node is the last node, in graph (topological) order, that
    belongs to it: the node of that name (the layers of an ONNX reference
    file, :func:`onnx_layers`), or a node whose ``pkg.torch.onnx.name_scopes``
    name the module (what ``torch.onnx.export`` emitted for it, as in
    :func:`layer_nodes`). Its tensor is the node's first output; with
    ``quantized``, the output of the node of the same name there (ONNX
    Runtime's quantizer keeps node names, fuses a following ``Relu`` into a
    Conv or Gemm node, which then writes the ``Relu``'s tensor, and renames a
    graph output ``T`` to ``T_QuantizeLinear_Input``, given here as ``T``).
    Layers with no node are left out.
    """
    import onnx

    wanted = set(layers)
    last: dict[str, onnx.NodeProto] = {}
    for layer, node in _layer_nodes_in_order(onnx.load(str(source), load_external_data=False).graph, wanted):
        if node.output:
            last[layer] = node
    written = {node.name: node.output[0] for node in last.values()}
    if quantized is not None:
        suffix = "_QuantizeLinear_Input"
        nodes = {n.name: n for n in onnx.load(str(quantized), load_external_data=False).graph.node if n.output}
        written = {
            name: nodes[name].output[0].removesuffix(suffix) for name in written if name in nodes and name
        }
    return {layer: written[last[layer].name] for layer in layers if layer in last and last[layer].name in written}


#: ONNX operators whose weights ``quantize_static`` quantizes: the layers of an ONNX reference file.
QUANTIZED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def onnx_layers(path: Path) -> dict[str, int]:
    """The quantizable nodes of an ONNX file (:data:`QUANTIZED_OPS`), in graph order, with their weights' sizes.

    A node's weights are the elements of the initializers it reads; unnamed
    nodes are left out (``nodes_to_exclude`` names nodes).
    """
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    sizes = {init.name: int(np.prod(init.dims)) for init in graph.initializer}
    return {
        node.name: sum(sizes.get(name, 0) for name in node.input)
        for node in graph.node if node.op_type in QUANTIZED_OPS and node.name
    }


def onnx_int8(
    model: torch.nn.Module | OnnxModel,
    calibration: np.ndarray,
    *,
    per_channel: bool = False,
    device: str = "cpu",
    threads: int = 1,
    keep: Collection[str] = (),
    folder: Path | None = None,
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
    keep : collection of str, optional
        Modules whose nodes stay float32 (``quantize_static``'s
        ``nodes_to_exclude``; :func:`layer_nodes`); default none.
    folder : path-like, optional
        An existing folder to write ``reference.onnx`` (the export; not for
        an ``.onnx`` reference) and ``int8.onnx`` into and leave there, for
        :func:`onnx_tensor_errors`; default: a temporary folder, removed.

    Returns
    -------
    OnnxModel
    """
    import contextlib

    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    spec = "onnx-int8:per-channel" if per_channel else "onnx-int8"
    where = contextlib.nullcontext(str(folder)) if folder is not None else tempfile.TemporaryDirectory(
        prefix="diverfuzz-onnx-"
    )
    with where as tmp:
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
                    nodes_to_exclude=layer_nodes(source, keep) if keep else None,
                )
        except DiverfuzzError:
            raise
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


def onnx_tensor_errors(
    float_path: str | Path, qdq_path: str | Path, x: np.ndarray, *, unquantized: bool = False
) -> dict[str, np.ndarray]:
    """Per tensor the two files share, per input, ``||q - f||_2 / ||f||_2`` of the QDQ file's dequantized
    activation ``q`` against the float file's ``f``.

    Uses ONNX Runtime's ``qdq_loss_debug`` (``modify_model_output_intermediate_tensors``,
    ``collect_activations``, ``create_activation_matching``), which pairs tensors by name: it
    works for a QDQ file made from the float one by ONNX Runtime's quantizer, which keeps the
    names. Returns an empty dict when no name is shared.

    Parameters
    ----------
    float_path, qdq_path : path-like
        The float32 model and its QDQ-quantized counterpart (``.onnx``).
    x : ndarray, float32, (N, *input_shape)
        Inputs as the files take them (after any preprocessing).
    unquantized : bool, optional
        Also compare the tensors both files compute under the same name that
        the QDQ file does not quantize (its value as computed, e.g. the output
        of a node left at float32, which still carries the error of the
        quantized nodes before it); default False: only quantized tensors.

    Returns
    -------
    dict of str to ndarray, float64, (N,)
    """
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        create_activation_matching,
        modify_model_output_intermediate_tensors,
    )

    import onnx

    x = np.ascontiguousarray(x, dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="diverfuzz-tensors-") as tmp:
        found = {}
        for role, path in (("float", float_path), ("qdq", qdq_path)):
            augmented = Path(tmp) / f"{role}.onnx"
            name = onnx.load(str(path), load_external_data=False).graph.input[0].name
            with _quiet():
                modify_model_output_intermediate_tensors(str(path), str(augmented))
                found[role] = collect_activations(str(augmented), _Reader(name, x, rows=1))
    matched = create_activation_matching(found["qdq"], found["float"])
    if unquantized:
        for tensor in set(found["qdq"]) & set(found["float"]) - set(matched):
            matched[tensor] = {"float": found["float"][tensor], "post_qdq": found["qdq"][tensor]}
    errors = {}
    for tensor, pair in matched.items():
        floats, post = pair.get("float"), pair.get("post_qdq")
        if not floats or not post or len(floats) != len(x) or len(post) != len(x):
            continue
        f = np.stack([np.asarray(a, np.float64).reshape(-1) for a in floats])
        q = np.stack([np.asarray(a, np.float64).reshape(-1) for a in post])
        if f.shape != q.shape:
            continue
        scale = np.linalg.norm(f, axis=1)
        diff = np.linalg.norm(q - f, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            errors[tensor] = np.where(scale > 0, diff / scale, np.where(diff > 0, np.inf, 0.0))
    return errors


def _fixed_batch_of_one(graph_input) -> bool:
    """Whether an ONNX graph input's first dimension is the constant 1 (not a named, free dimension)."""
    dims = graph_input.type.tensor_type.shape.dim
    return len(dims) > 0 and dims[0].HasField("dim_value") and dims[0].dim_value == 1


def _session(path: Path, spec: str, device: str, threads: int) -> OnnxModel:
    return OnnxModel(path, device=device, threads=threads, option=f"--precision={spec}")

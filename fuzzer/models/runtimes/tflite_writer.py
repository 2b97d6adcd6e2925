"""Write a small classifier as a ``.tflite`` file, without TensorFlow.

LiteRT (``ai-edge-litert``) only runs ``.tflite`` files; converters need
TensorFlow or a large conversion stack. For round-trip tests and examples,
this module writes the flatbuffer directly with the object API of the
LiteRT schema that ``ai-edge-litert`` ships (``schema_py_generated``): an
NHWC float input, ``RESHAPE`` to ``(N, features)``, ``FULLY_CONNECTED``
and an optional ``SOFTMAX``, optionally behind ``QUANTIZE`` /
``DEQUANTIZE`` so the file's input and output tensors are int8 or uint8
with a scale and zero point, as fully-quantized deployed models have.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_linear_tflite(
    path: str | Path,
    weight: np.ndarray,
    bias: np.ndarray,
    input_hwc: tuple[int, int, int],
    *,
    softmax: bool = False,
    io_dtype: str = "float32",
    input_quant: tuple[float, int] = (1 / 255, 0),
    output_quant: tuple[float, int] = (1 / 256, 0),
    batch: int = 1,
) -> Path:
    """Write ``x -> (softmax)(flatten_nhwc(x) @ weight.T + bias)`` as a ``.tflite`` file.

    Parameters
    ----------
    path : path-like
        Where to write.
    weight : ndarray, float32, (classes, H*W*C)
        Weights over the NHWC-flattened input.
    bias : ndarray, float32, (classes,)
    input_hwc : tuple of int
        ``(H, W, C)`` of one input.
    softmax : bool, optional
        End in a ``SOFTMAX`` (default False: the output is logits).
    io_dtype : {"float32", "int8", "uint8"}, optional
        Type of the file's input and output tensors (default float32). For
        int8/uint8 the graph quantizes at both ends with ``input_quant`` and
        ``output_quant`` ``(scale, zero_point)``.
    batch : int, optional
        The input's batch dimension as stored (default 1; LiteRT resizes it).

    Returns
    -------
    Path
    """
    from ai_edge_litert import schema_py_generated as s
    from ai_edge_litert.tools import flatbuffer_utils

    weight = np.ascontiguousarray(weight, dtype=np.float32)
    bias = np.ascontiguousarray(bias, dtype=np.float32)
    classes, features = weight.shape
    h, w, c = input_hwc
    if h * w * c != features:
        raise ValueError(f"weight has {features} inputs, input_hwc {input_hwc} has {h * w * c}")
    types = {"float32": s.TensorType.FLOAT32, "int8": s.TensorType.INT8, "uint8": s.TensorType.UINT8}

    model = s.ModelT()
    model.version = 3
    model.description = "diverfuzz linear classifier"
    buffers: list = [s.BufferT()]  # buffer 0 is the empty sentinel
    tensors: list = []

    def tensor(name: str, shape: list[int], ttype: int, data: np.ndarray | None = None, quant=None) -> int:
        t = s.TensorT()
        t.name, t.shape, t.type = name, list(shape), ttype
        t.buffer = 0
        if data is not None:
            b = s.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
            buffers.append(b)
            t.buffer = len(buffers) - 1
        if quant is not None:
            q = s.QuantizationParametersT()
            q.scale, q.zeroPoint = [float(quant[0])], [int(quant[1])]
            t.quantization = q
        tensors.append(t)
        return len(tensors) - 1

    codes: list[int] = []

    def op(code: int, inputs: list[int], outputs: list[int], options_type: int = 0, options=None):
        if code not in codes:
            codes.append(code)
        o = s.OperatorT()
        o.opcodeIndex = codes.index(code)
        o.inputs, o.outputs = inputs, outputs
        if options is not None:
            o.builtinOptionsType, o.builtinOptions = options_type, options
        return o

    ops = []
    quantized = io_dtype != "float32"
    x_in = tensor("input", [batch, h, w, c], types[io_dtype], quant=input_quant if quantized else None)
    x = x_in
    if quantized:
        x = tensor("input_float", [batch, h, w, c], s.TensorType.FLOAT32)
        ops.append(op(s.BuiltinOperator.DEQUANTIZE, [x_in], [x]))
    shape = tensor("flat_shape", [2], s.TensorType.INT32, np.array([-1, features], dtype=np.int32))
    flat = tensor("flat", [batch, features], s.TensorType.FLOAT32)
    reshape = s.ReshapeOptionsT()
    reshape.newShape = [-1, features]
    ops.append(op(s.BuiltinOperator.RESHAPE, [x, shape], [flat], s.BuiltinOptions.ReshapeOptions, reshape))
    wt = tensor("weight", [classes, features], s.TensorType.FLOAT32, weight)
    bt = tensor("bias", [classes], s.TensorType.FLOAT32, bias)
    logits = tensor("logits", [batch, classes], s.TensorType.FLOAT32)
    fc = s.FullyConnectedOptionsT()
    ops.append(op(s.BuiltinOperator.FULLY_CONNECTED, [flat, wt, bt], [logits], s.BuiltinOptions.FullyConnectedOptions, fc))
    out = logits
    if softmax:
        out = tensor("probabilities", [batch, classes], s.TensorType.FLOAT32)
        sm = s.SoftmaxOptionsT()
        sm.beta = 1.0
        ops.append(op(s.BuiltinOperator.SOFTMAX, [logits], [out], s.BuiltinOptions.SoftmaxOptions, sm))
    if quantized:
        final = tensor("output", [batch, classes], types[io_dtype], quant=output_quant)
        ops.append(op(s.BuiltinOperator.QUANTIZE, [out], [final]))
        out = final

    graph = s.SubGraphT()
    graph.tensors, graph.inputs, graph.outputs, graph.operators = tensors, [x_in], [out], ops
    graph.name = "main"
    model.subgraphs = [graph]
    model.buffers = buffers
    model.operatorCodes = []
    for code in codes:
        oc = s.OperatorCodeT()
        oc.builtinCode = code
        oc.deprecatedBuiltinCode = min(code, 127)
        oc.version = 1
        model.operatorCodes.append(oc)
    path = Path(path)
    flatbuffer_utils.write_model(model, str(path))
    return path

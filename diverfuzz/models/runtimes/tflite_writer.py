"""Write a small feed-forward classifier as a ``.tflite`` file, without TensorFlow.

LiteRT (``ai-edge-litert``) only runs ``.tflite`` files; converters need
TensorFlow or a large conversion stack (``litert-torch`` pulls JAX and
transformers). For round-trip tests, examples and benchmarks, this module
writes the flatbuffer directly with the object API of the LiteRT schema that
``ai-edge-litert`` ships (``schema_py_generated``), from a list of layer
records: :class:`Conv2D`, :class:`Pool2D`, :class:`Pad`, :class:`Flatten`,
:class:`Dense`, :class:`Activation` and :class:`Softmax`, all float32.
Optionally the graph sits behind ``DEQUANTIZE`` / ``QUANTIZE`` so that the
file's input and output tensors are int8 or uint8 with a scale and zero
point, as the I/O of fully-quantized deployed models is.

:func:`diverfuzz.models.runtimes.torch_to_tflite.torch_to_tflite` turns a
PyTorch stack of layers into these records.

Notes
-----
Operator codes and option tables follow the LiteRT schema
(``tensorflow/lite/schema/schema.fbs``): ``AVERAGE_POOL_2D`` = 1,
``CONV_2D`` = 3 (``Conv2DOptions``: padding, strides, fused activation,
dilations), ``DEQUANTIZE`` = 6, ``FULLY_CONNECTED`` = 9, ``LOGISTIC`` = 14,
``MAX_POOL_2D`` = 17 (``Pool2DOptions``: padding, strides, filter size, fused
activation), ``RELU`` = 19, ``RELU6`` = 21, ``RESHAPE`` = 22, ``SOFTMAX`` = 25,
``TANH`` = 28, ``PAD`` = 34, ``LOG_SOFTMAX`` = 50, ``QUANTIZE`` = 114. Tensors
are NHWC; ``CONV_2D`` filters are OHWI ``(out, kh, kw, in)`` and
``FULLY_CONNECTED`` weights ``(out, in)``. Fused activations are limited to
RELU and RELU6: LiteRT's float kernels apply a fused activation as a clamp
range, and silently ignore a fused TANH, so TANH is always its own operator.
Operator versions are those LiteRT's converter records
(``tensorflow/lite/tools/versioning/op_version.cc``): 1 for float inputs;
for int8 inputs ``CONV_2D`` 3, ``FULLY_CONNECTED`` 4, ``RESHAPE`` 1, the
other operators here 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Fused activations a Conv2D / Dense record may carry (LiteRT clamps).
FUSED = ("NONE", "RELU", "RELU6")
#: Stand-alone activation operators.
ACTIVATIONS = ("RELU", "RELU6", "TANH", "LOGISTIC")


@dataclass(frozen=True)
class Conv2D:
    """``CONV_2D``: float32 ``weight`` (out, kh, kw, in) (OHWI), ``bias`` (out,).

    ``padding`` is ``"VALID"`` or ``"SAME"`` (TensorFlow's: output
    ``ceil(size / stride)``, extra padding at the bottom/right); ``activation``
    one of :data:`FUSED`.
    """

    weight: np.ndarray
    bias: np.ndarray
    stride: tuple[int, int] = (1, 1)
    padding: str = "VALID"
    dilation: tuple[int, int] = (1, 1)
    activation: str = "NONE"


@dataclass(frozen=True)
class Pool2D:
    """``MAX_POOL_2D`` (``kind="MAX"``) or ``AVERAGE_POOL_2D`` (``"AVERAGE"``), VALID padding."""

    kind: str
    size: tuple[int, int]
    stride: tuple[int, int]


@dataclass(frozen=True)
class Pad:
    """``PAD`` with zeros: ``((top, bottom), (left, right))`` rows and columns."""

    pads: tuple[tuple[int, int], tuple[int, int]]


@dataclass(frozen=True)
class Flatten:
    """``RESHAPE`` to ``(N, H*W*C)`` in NHWC order (a Dense after it takes NHWC-ordered features)."""


@dataclass(frozen=True)
class Dense:
    """``FULLY_CONNECTED``: float32 ``weight`` (out, in), ``bias`` (out,), fused ``activation`` of :data:`FUSED`."""

    weight: np.ndarray
    bias: np.ndarray
    activation: str = "NONE"


@dataclass(frozen=True)
class Activation:
    """A stand-alone activation operator, one of :data:`ACTIVATIONS`."""

    kind: str


@dataclass(frozen=True)
class Softmax:
    """``SOFTMAX`` over the last axis (``log=True``: ``LOG_SOFTMAX``)."""

    log: bool = False


Layer = Conv2D | Pool2D | Pad | Flatten | Dense | Activation | Softmax


class _Builder:
    """Tensors, buffers, operator codes and operators of one subgraph."""

    def __init__(self) -> None:
        from ai_edge_litert import schema_py_generated as s

        self.s = s
        self.buffers: list = [s.BufferT()]  # buffer 0 is the empty sentinel
        self.tensors: list = []
        self.codes: list[int] = []
        self.versions: dict[int, int] = {}
        self.ops: list = []

    def tensor(self, name: str, shape, ttype: int | None = None, data: np.ndarray | None = None, quant=None) -> int:
        t = self.s.TensorT()
        t.name, t.shape = name, [int(d) for d in shape]
        t.type = self.s.TensorType.FLOAT32 if ttype is None else ttype
        t.buffer = 0
        if data is not None:
            b = self.s.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        if quant is not None:  # (scale, zero_point), or (scales, zero_points, axis) per channel
            q = self.s.QuantizationParametersT()
            scale, zero = np.atleast_1d(quant[0]), np.atleast_1d(quant[1])
            q.scale, q.zeroPoint = [float(v) for v in scale], [int(v) for v in zero]
            q.quantizedDimension = int(quant[2]) if len(quant) > 2 else 0
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, code: int, inputs: list[int], outputs: list[int], options_type: int = 0, options=None) -> None:
        if code not in self.codes:
            self.codes.append(code)
        self.versions[code] = max(self.versions.get(code, 1), self._version(code, inputs[0]))
        o = self.s.OperatorT()
        o.opcodeIndex = self.codes.index(code)
        o.inputs, o.outputs = list(inputs), list(outputs)
        if options is not None:
            o.builtinOptionsType, o.builtinOptions = options_type, options
        self.ops.append(o)

    def _version(self, code: int, first_input: int) -> int:
        """The operator version LiteRT's converter records (``tools/versioning/op_version.cc``) for int8 inputs."""
        op = self.s.BuiltinOperator
        if self.tensors[first_input].type != self.s.TensorType.INT8:
            return 1
        return {op.CONV_2D: 3, op.FULLY_CONNECTED: 4}.get(code, 1 if code in (op.RESHAPE, op.QUANTIZE) else 2)

    def write(self, path: Path, inputs: list[int], outputs: list[int], description: str) -> Path:
        from ai_edge_litert.tools import flatbuffer_utils

        s = self.s
        graph = s.SubGraphT()
        graph.tensors, graph.inputs, graph.outputs, graph.operators = self.tensors, inputs, outputs, self.ops
        graph.name = "main"
        model = s.ModelT()
        model.version = 3
        model.description = description
        model.subgraphs = [graph]
        model.buffers = self.buffers
        model.operatorCodes = []
        for code in self.codes:
            oc = s.OperatorCodeT()
            oc.builtinCode = code
            oc.deprecatedBuiltinCode = min(code, 127)  # codes above 127 live in builtinCode only
            oc.version = self.versions[code]
            model.operatorCodes.append(oc)
        flatbuffer_utils.write_model(model, str(path))
        return path


def affine_int8(lo: float, hi: float) -> tuple[float, int]:
    """``(scale, zero_point)`` of asymmetric int8 covering ``[min(lo, 0), max(hi, 0)]`` (0.0 exact)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = max(hi - lo, 1e-8) / 255
    return scale, int(np.clip(np.round(-128 - lo / scale), -128, 127))


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def _conv_out(size: int, k: int, stride: int, dilation: int, padding: str) -> int:
    if padding == "SAME":
        return -(-size // stride)
    return (size - dilation * (k - 1) - 1) // stride + 1


#: TensorType of the file's input and output per ``io_dtype`` (INT8 = 9, UINT8 = 3; None: float32).
_IO_TYPES = {"float32": None, "int8": 9, "uint8": 3}


class _Chain:
    """The graph of :func:`write_tflite` as layer records are appended to it.

    Tracks the current tensor ``x``, its NHWC (or flat) ``shape`` and, for a
    fully-quantized graph, its int8 ``(scale, zero_point)`` ``qin``.
    """

    def __init__(self, b: _Builder, shape: list[int], int8_ranges: list[tuple[float, float]] | None) -> None:
        s = b.s
        self.b, self.s = b, s
        self.shape = shape
        self.batch = shape[0]
        self.ranges = int8_ranges
        self.full_int8 = int8_ranges is not None
        self.qin = affine_int8(*int8_ranges[0]) if self.full_int8 else None
        self.x = -1  # the current tensor; write_tflite sets the input
        self.fused = {"NONE": s.ActivationFunctionType.NONE, "RELU": s.ActivationFunctionType.RELU,
                      "RELU6": s.ActivationFunctionType.RELU6}
        self.paddings = {"SAME": s.Padding.SAME, "VALID": s.Padding.VALID}

    def add(self, i: int, layer) -> None:
        """Append layer ``i``'s operator; its output becomes the current tensor."""
        name = f"{i}_{type(layer).__name__.lower()}"
        if isinstance(layer, (Conv2D, Pool2D, Pad)) and len(self.shape) != 4:
            raise ValueError(f"layer {i} ({type(layer).__name__}) needs an NHWC image, got shape {self.shape}")
        for kind, method in ((Conv2D, self._conv), (Pool2D, self._pool), (Pad, self._pad), (Flatten, self._flatten),
                             (Dense, self._dense), (Activation, self._activation), (Softmax, self._softmax)):
            if isinstance(layer, kind):
                self.x = method(i, name, layer)
                return
        raise TypeError(f"layer {i}: not a layer record: {type(layer).__name__}")

    def _output(self, name: str, i: int, fixed: tuple[float, int] | None = None) -> int:
        """The layer's output tensor: float32, or int8 with ``fixed`` or calibrated parameters."""
        if not self.full_int8:
            return self.b.tensor(name, self.shape)
        self.qin = fixed or affine_int8(*self.ranges[i + 1])
        return self.b.tensor(name, self.shape, self.s.TensorType.INT8, quant=self.qin)

    def _weights(self, name: str, w: np.ndarray, bias: np.ndarray, per_channel: bool) -> list[int]:
        """Weight and bias tensors: float32, or int8 symmetric weights and int32 biases."""
        b = self.b
        if not self.full_int8:
            return [b.tensor(f"{name}_w", w.shape, data=w), b.tensor(f"{name}_b", bias.shape, data=bias)]
        axes = tuple(range(1, w.ndim))
        peak = np.abs(w).max(axis=axes) if per_channel else np.full(len(w), np.abs(w).max())
        w_scale = np.maximum(peak, 1e-12).astype(np.float64) / 127
        wq = np.clip(np.round(w / w_scale.reshape((-1,) + (1,) * len(axes))), -127, 127).astype(np.int8)
        b_scale = self.qin[0] * w_scale
        bq = np.round(bias / b_scale).astype(np.int32)
        if per_channel:
            wquant, bquant = (w_scale, np.zeros(len(w), np.int64), 0), (b_scale, np.zeros(len(w), np.int64), 0)
        else:
            wquant, bquant = (w_scale[0], 0), (b_scale[0], 0)
        return [b.tensor(f"{name}_w", w.shape, self.s.TensorType.INT8, wq, wquant),
                b.tensor(f"{name}_b", bias.shape, self.s.TensorType.INT32, bq, bquant)]

    def _conv(self, i: int, name: str, layer: Conv2D) -> int:
        s, shape = self.s, self.shape
        w = np.ascontiguousarray(layer.weight, dtype=np.float32)
        bias = np.ascontiguousarray(layer.bias, dtype=np.float32)
        out_c, kh, kw, in_c = w.shape
        if in_c != shape[3] or bias.shape != (out_c,):
            raise ValueError(f"layer {i}: Conv2D weight {w.shape} / bias {bias.shape} do not fit input {shape}")
        (sh, sw), (dh, dw) = _pair(layer.stride), _pair(layer.dilation)
        o = s.Conv2DOptionsT()
        o.padding, o.strideH, o.strideW = self.paddings[layer.padding], sh, sw
        o.dilationHFactor, o.dilationWFactor = dh, dw
        o.fusedActivationFunction = self.fused[layer.activation]
        self.shape = [self.batch, _conv_out(shape[1], kh, sh, dh, layer.padding),
                      _conv_out(shape[2], kw, sw, dw, layer.padding), out_c]
        inputs = [self.x, *self._weights(name, w, bias, per_channel=True)]
        y = self._output(name, i)
        self.b.op(s.BuiltinOperator.CONV_2D, inputs, [y], s.BuiltinOptions.Conv2DOptions, o)
        return y

    def _pool(self, i: int, name: str, layer: Pool2D) -> int:
        s, shape, op_code = self.s, self.shape, self.s.BuiltinOperator
        (kh, kw), (sh, sw) = _pair(layer.size), _pair(layer.stride)
        codes = {"MAX": op_code.MAX_POOL_2D, "AVERAGE": op_code.AVERAGE_POOL_2D}
        if layer.kind not in codes:
            raise ValueError(f"layer {i}: Pool2D kind must be MAX or AVERAGE, got {layer.kind!r}")
        o = s.Pool2DOptionsT()
        o.padding, o.strideH, o.strideW, o.filterHeight, o.filterWidth = s.Padding.VALID, sh, sw, kh, kw
        self.shape = [self.batch, _conv_out(shape[1], kh, sh, 1, "VALID"), _conv_out(shape[2], kw, sw, 1, "VALID"),
                      shape[3]]
        y = self._output(name, i, self.qin)
        self.b.op(codes[layer.kind], [self.x], [y], s.BuiltinOptions.Pool2DOptions, o)
        return y

    def _pad(self, i: int, name: str, layer: Pad) -> int:
        s, shape = self.s, self.shape
        (top, bottom), (left, right) = layer.pads
        pads = np.array([[0, 0], [top, bottom], [left, right], [0, 0]], dtype=np.int32)
        self.shape = [self.batch, shape[1] + top + bottom, shape[2] + left + right, shape[3]]
        y = self._output(name, i, self.qin)  # int8 PAD pads with the zero point, i.e. 0.0
        self.b.op(s.BuiltinOperator.PAD, [self.x, self.b.tensor(f"{name}_pads", pads.shape, s.TensorType.INT32, pads)],
                  [y], s.BuiltinOptions.PadOptions, s.PadOptionsT())
        return y

    def _flatten(self, i: int, name: str, layer: Flatten) -> int:
        s = self.s
        features = int(np.prod(self.shape[1:]))
        new = np.array([-1, features], dtype=np.int32)
        o = s.ReshapeOptionsT()
        o.newShape = [-1, features]
        self.shape = [self.batch, features]
        y = self._output(name, i, self.qin)
        self.b.op(s.BuiltinOperator.RESHAPE, [self.x, self.b.tensor(f"{name}_shape", [2], s.TensorType.INT32, new)],
                  [y], s.BuiltinOptions.ReshapeOptions, o)
        return y

    def _dense(self, i: int, name: str, layer: Dense) -> int:
        s, shape = self.s, self.shape
        w = np.ascontiguousarray(layer.weight, dtype=np.float32)
        bias = np.ascontiguousarray(layer.bias, dtype=np.float32)
        if len(shape) != 2 or w.ndim != 2 or w.shape[1] != shape[1] or bias.shape != (w.shape[0],):
            raise ValueError(f"layer {i}: Dense weight {w.shape} / bias {bias.shape} do not fit input {shape}")
        o = s.FullyConnectedOptionsT()
        o.fusedActivationFunction = self.fused[layer.activation]
        self.shape = [self.batch, w.shape[0]]
        inputs = [self.x, *self._weights(name, w, bias, per_channel=False)]
        y = self._output(name, i)
        self.b.op(s.BuiltinOperator.FULLY_CONNECTED, inputs, [y], s.BuiltinOptions.FullyConnectedOptions, o)
        return y

    def _activation(self, i: int, name: str, layer: Activation) -> int:
        if layer.kind not in ACTIVATIONS:
            raise ValueError(f"layer {i}: activation must be one of {', '.join(ACTIVATIONS)}, got {layer.kind!r}")
        y = self._output(name, i, {"TANH": (1 / 128, 0), "LOGISTIC": (1 / 256, -128)}.get(layer.kind))
        self.b.op(getattr(self.s.BuiltinOperator, layer.kind), [self.x], [y])
        return y

    def _softmax(self, i: int, name: str, layer: Softmax) -> int:
        s = self.s
        y = self._output(name, i, (16 / 256, 127) if layer.log else (1 / 256, -128))
        if layer.log:
            self.b.op(s.BuiltinOperator.LOG_SOFTMAX, [self.x], [y], s.BuiltinOptions.LogSoftmaxOptions,
                      s.LogSoftmaxOptionsT())
        else:
            o = s.SoftmaxOptionsT()
            o.beta = 1.0
            self.b.op(s.BuiltinOperator.SOFTMAX, [self.x], [y], s.BuiltinOptions.SoftmaxOptions, o)
        return y


def write_tflite(
    path: str | Path,
    layers: list,
    input_shape: tuple[int, ...],
    *,
    io_dtype: str = "float32",
    input_quant: tuple[float, int] = (1 / 255, 0),
    output_quant: tuple[float, int] = (1 / 256, 0),
    batch: int = 1,
    description: str = "diverfuzz classifier",
    int8_ranges: list[tuple[float, float]] | None = None,
) -> Path:
    """Write a chain of layer records as a ``.tflite`` file.

    Parameters
    ----------
    path : path-like
        Where to write.
    layers : list of Conv2D, Pool2D, Pad, Flatten, Dense, Activation, Softmax
        Applied in order to the input.
    input_shape : tuple of int
        One input: ``(H, W, C)`` (NHWC images) or ``(features,)``.
    io_dtype : {"float32", "int8", "uint8"}, optional
        Type of the file's input and output tensors (default float32). For
        int8/uint8 the float graph is wrapped in ``DEQUANTIZE`` / ``QUANTIZE``
        with ``input_quant`` and ``output_quant`` ``(scale, zero_point)``
        (defaults ``(1/255, 0)`` and ``(1/256, 0)``).
    batch : int, optional
        The input's batch dimension as stored (default 1; LiteRT resizes it).
    description : str, optional
        The model's description field.
    int8_ranges : list of (float, float), optional
        Calibrated ``(min, max)`` of the input and of every layer's output
        (``len(layers) + 1`` pairs). When given, the whole graph is written
        fully quantized, as post-training integer quantization does: int8
        input, activations and output (asymmetric, from the ranges), int8
        symmetric weights (per output channel for convolutions, per tensor
        for fully-connected layers), int32 biases with scale
        ``input scale * weight scale``; ``io_dtype``, ``input_quant`` and
        ``output_quant`` are then ignored. LiteRT's int8 kernels fix some
        output parameters: pooling, padding and reshaping keep their input's,
        ``TANH`` gives ``(1/128, 0)``, ``LOGISTIC`` and ``SOFTMAX``
        ``(1/256, -128)``, ``LOG_SOFTMAX`` ``(16/256, 127)``.

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        A record that does not fit the tensor it gets (a Conv2D or Pool2D on
        a flat tensor, a Dense on an image, mismatched sizes, unknown kinds).
    TypeError
        An item of ``layers`` that is not a layer record.
    """
    if io_dtype not in _IO_TYPES:
        raise ValueError(f"io_dtype must be one of {', '.join(_IO_TYPES)}, got {io_dtype!r}")
    b = _Builder()
    op_code = b.s.BuiltinOperator
    full_int8 = int8_ranges is not None
    if full_int8 and len(int8_ranges) != len(layers) + 1:
        raise ValueError(f"int8_ranges needs {len(layers) + 1} (min, max) pairs, got {len(int8_ranges)}")
    quantized = io_dtype != "float32" and not full_int8
    graph = _Chain(b, [batch, *[int(d) for d in input_shape]], int8_ranges)
    x_in = b.tensor("input", graph.shape, b.s.TensorType.INT8 if full_int8 else _IO_TYPES[io_dtype],
                    quant=graph.qin if full_int8 else input_quant if quantized else None)
    graph.x = x_in
    if quantized:
        graph.x = b.tensor("input_float", graph.shape)
        b.op(op_code.DEQUANTIZE, [x_in], [graph.x])
    for i, layer in enumerate(layers):
        graph.add(i, layer)
    out = graph.x
    if quantized:
        out = b.tensor("output", graph.shape, _IO_TYPES[io_dtype], quant=output_quant)
        b.op(op_code.QUANTIZE, [graph.x], [out])
    return b.write(Path(path), [x_in], [out], description)


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
    io_dtype, input_quant, output_quant, batch
        As in :func:`write_tflite`.

    Returns
    -------
    Path
    """
    weight = np.asarray(weight, dtype=np.float32)
    h, w, c = input_hwc
    if h * w * c != weight.shape[1]:
        raise ValueError(f"weight has {weight.shape[1]} inputs, input_hwc {input_hwc} has {h * w * c}")
    layers = [Flatten(), Dense(weight, bias)] + ([Softmax()] if softmax else [])
    return write_tflite(
        path, layers, input_hwc, io_dtype=io_dtype, input_quant=input_quant, output_quant=output_quant, batch=batch,
        description="diverfuzz linear classifier",
    )

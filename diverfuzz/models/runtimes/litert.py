"""LiteRT (TensorFlow Lite) models run by ``ai-edge-litert`` (``.tflite``).

A ``.tflite`` file is a flatbuffer of builtin operators: loading it executes
no Python code and unpickles nothing, so it is safe to load from untrusted
sources (custom operators are not registered, so a file needing one is
refused).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from diverfuzz.common.errors import DiverfuzzError, ModelError
from diverfuzz.models.runtimes.base import (
    check_model_file,
    file_digest,
    log_probabilities,
    one_line,
)

_QUANTIZED = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255)}


class TfliteModel:
    """A callable ``batch tensor (N, C, H, W) -> logits (N, classes)`` over a LiteRT interpreter.

    Parameters
    ----------
    path : path-like
        The ``.tflite`` file.
    threads : int, optional
        Interpreter threads (default 1).
    option : str, optional
        The CLI option naming the file, for error messages.

    Notes
    -----
    - Layout: LiteRT vision models take NHWC. A channel-first batch
      ``(N, C, H, W)`` is transposed to ``(N, H, W, C)`` when that is what
      the file's input shape ``(1, H, W, C)`` asks for; a file whose input
      is already ``(1, C, H, W)`` (as ``litert-torch`` writes) gets it as is.
    - int8/uint8 input tensors get ``round(x / scale + zero_point)``,
      clipped to the type's range; int8/uint8 outputs are dequantized as
      ``(q - zero_point) * scale``.
    - A graph ending in ``SOFTMAX`` returns probabilities; they come back as
      log-probabilities, floored at half the output's quantization step
      (or 1e-30 for float outputs), so the oracle's softmax sees the same
      probabilities and argmax is unchanged.
    - The batch dimension is resized to each batch's size; a file that
      refuses resizing is run one input at a time.
    - The CPU runs every ``.tflite`` file; LiteRT's GPU delegates are not used.
    """

    def __init__(
        self, path: str | Path, *, threads: int = 1, option: str = "--model", preserve_tensors: bool = False
    ) -> None:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.path = check_model_file(path, option, (".tflite",), "LiteRT")
        self.option, self.threads = option, threads
        self.fingerprint = file_digest(self.path)
        content = self.path.read_bytes()
        # preserve_tensors: every intermediate tensor stays readable after invoke (for
        # tflite_tensor_errors); the default XNNPACK delegate would compute them out of sight.
        debug = (
            {"experimental_preserve_all_tensors": True,
             "experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
            if preserve_tensors else {}
        )
        try:
            self.softmax = _ends_in_softmax(content)
            self.content = content if preserve_tensors else None
            with warnings.catch_warnings():  # preserve_all_tensors warns that it is meant for debugging: it is
                warnings.simplefilter("ignore", UserWarning)
                self.interpreter = Interpreter(model_content=content, num_threads=threads, **debug)
            self.interpreter.allocate_tensors()
        except Exception as exc:
            raise DiverfuzzError(f"{option}={str(self.path)!r} is not a loadable LiteRT model: {one_line(exc)}") from exc
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise DiverfuzzError(
                f"{option}={str(self.path)!r}: expected one input and one output, found {len(inputs)} and {len(outputs)}"
            )
        self.input, self.output = inputs[0], outputs[0]
        self.input_shape = [int(d) for d in self.input["shape"]]
        self._batch = self.input_shape[0]
        self._resizable = True

    def __repr__(self) -> str:
        return f"TfliteModel({str(self.path)!r})"

    def __reduce__(self):  # a worker gets the path and loads the file itself
        return (_reload, (str(self.path), self.threads, self.option))

    def _layout(self, shape: tuple[int, ...]) -> tuple[int, ...] | None:
        """The transpose taking the data to the file's layout, () for none; None if neither fits."""
        want = tuple(self.input_shape[1:])
        if shape[1:] == want:
            return ()
        if len(shape) == 4 and (shape[2], shape[3], shape[1]) == want:
            return (0, 2, 3, 1)
        return None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        name = f"{self.option.lstrip('-')} model ({self.path.name})"
        data = x.detach().cpu().numpy().astype(np.float32, copy=False)
        order = self._layout(tuple(data.shape))
        if order is None:
            want = ", ".join(map(str, self.input_shape[1:]))
            fix = "resize the data (--size H,W)"
            fixed, got = [int(d) for d in self.input_shape[1:]], [int(d) for d in data.shape[1:]]
            if len(fixed) == len(got) + 1 and ((fixed[-1] == 1 and fixed[:-1] == got) or (fixed[0] == 1 and fixed[1:] == got)):
                fix = "the data has no channel axis: add one, x[:, None], before saving --data"
            raise ModelError(
                f"the {name} expects inputs of shape (N, {want}) but the data has shape "
                f"(N, {', '.join(map(str, data.shape[1:]))}); {fix}"
            )
        if order:
            data = data.transpose(order)
        data = self._quantize(data)
        try:
            if self._resizable and self._resize(len(data)):
                out = self._invoke(data)
            else:
                out = np.concatenate([self._invoke(row[None]) for row in data])
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"the {name} failed in LiteRT: {one_line(exc)}") from exc
        return torch.from_numpy(self._dequantize(out).reshape(len(data), -1).astype(np.float32))

    def _resize(self, n: int) -> bool:
        if self._batch == n:
            return True
        try:
            self.interpreter.resize_tensor_input(self.input["index"], [n, *self.input_shape[1:]])
            self.interpreter.allocate_tensors()
        except Exception:
            # Fixed-batch graph: fall back to one input at a time.
            self._resizable = False
            self.interpreter.resize_tensor_input(self.input["index"], self.input_shape)
            self.interpreter.allocate_tensors()
            self._batch = self.input_shape[0]
            return False
        self._batch = n
        return True

    def _invoke(self, data: np.ndarray) -> np.ndarray:
        if self._batch != len(data):
            self._resize(len(data))
        self.interpreter.set_tensor(self.input["index"], data)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"]).copy()

    def _quantize(self, data: np.ndarray) -> np.ndarray:
        dtype = np.dtype(self.input["dtype"])
        if dtype in _QUANTIZED:
            scale, zero = self.input["quantization"]
            lo, hi = _QUANTIZED[dtype]
            return np.clip(np.round(data / scale + zero), lo, hi).astype(dtype)
        return data.astype(dtype, copy=False)

    def _dequantize(self, out: np.ndarray) -> np.ndarray:
        dtype = np.dtype(self.output["dtype"])
        scale, zero = self.output["quantization"]
        quantized = dtype in _QUANTIZED and scale > 0
        values = (out.astype(np.float64) - zero) * scale if quantized else out.astype(np.float64)
        if self.softmax:
            values = log_probabilities(values, scale / 2 if quantized else 1e-30)
        return values


def _operator_outputs(model: TfliteModel) -> dict[str, dict]:
    """The tensors the main subgraph's operators write, by name: ``{name: tensor details}`` (activations, not weights)."""
    from ai_edge_litert import schema_py_generated as s

    graph = s.Model.GetRootAs(model.content, 0).Subgraphs(0)
    written = {graph.Operators(i).Outputs(j) for i in range(graph.OperatorsLength())
               for j in range(graph.Operators(i).OutputsLength())}
    return {d["name"]: d for d in model.interpreter.get_tensor_details() if d["index"] in written}


def _readable(detail: dict) -> bool:
    """Whether a tensor's value can be read as real numbers: float, or int8/uint8/int16 with one scale."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return True
    scales = detail.get("quantization_parameters", {}).get("scales")
    one_scale = scales is None or len(scales) <= 1
    return dtype in (np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16)) and detail["quantization"][0] > 0 \
        and one_scale


def _real(model: TfliteModel, detail: dict) -> np.ndarray:
    """A tensor's value after the last invoke, dequantized (``(q - zero_point) * scale``) when quantized."""
    value = model.interpreter.get_tensor(detail["index"]).astype(np.float64)
    scale, zero = detail["quantization"]
    return (value - zero) * scale if np.dtype(detail["dtype"]).kind != "f" else value


def tflite_tensor_errors(float_path: str | Path, int8_path: str | Path, x: np.ndarray) -> dict[str, np.ndarray]:
    """Per tensor two ``.tflite`` files both compute under the same name, per input, ``||q - f||_2 / ||f||_2``.

    Both files run one input at a time on LiteRT's builtin kernels with every
    intermediate tensor kept (``experimental_preserve_all_tensors``, no
    default delegate); after each run, the tensors the operators write are
    read, int8/uint8/int16 ones dequantized with their own scale and zero
    point, and paired by name and shape (as TensorFlow Lite's converter keeps
    the names of the float graph's tensors when it quantizes it). Tensors
    whose names differ are not paired: matching by operator position or
    shape is not sound, since quantization inserts, fuses and drops operators.

    Parameters
    ----------
    float_path, int8_path : path-like
        The float model and its quantized counterpart.
    x : ndarray, float32, (N, *input_shape)
        Inputs as :class:`TfliteModel` takes them (channel-first is transposed
        to the file's layout; an int8 input is quantized).

    Returns
    -------
    dict of str to ndarray, float64, (N,)
        In the float file's order; empty when no name is shared (then also for N = 0).
    """
    models = [TfliteModel(path, option=option, preserve_tensors=True)
              for path, option in ((float_path, "--model"), (int8_path, "--candidate"))]
    outputs = [_operator_outputs(m) for m in models]
    shared = [
        name for name, detail in outputs[0].items()
        if name in outputs[1] and list(detail["shape"]) == list(outputs[1][name]["shape"])
        and _readable(detail) and _readable(outputs[1][name])
    ]
    errors = {name: np.zeros(len(x)) for name in shared}
    for i in range(len(x)):
        values = []
        for model, details in zip(models, outputs):
            model(torch.from_numpy(np.ascontiguousarray(x[i : i + 1], dtype=np.float32)))
            values.append({name: _real(model, details[name]).reshape(-1) for name in shared})
        for name in shared:
            f, q = values[0][name], values[1][name]
            scale, diff = np.linalg.norm(f), np.linalg.norm(q - f)
            errors[name][i] = diff / scale if scale > 0 else (np.inf if diff > 0 else 0.0)
    return errors


def _reload(path: str, threads: int, option: str) -> TfliteModel:
    return TfliteModel(path, threads=threads, option=option)


def _ends_in_softmax(content: bytes) -> bool:
    """Whether the main subgraph's output comes from a SOFTMAX (through a final QUANTIZE), read from the flatbuffer."""
    from ai_edge_litert import schema_py_generated as s

    model = s.Model.GetRootAs(content, 0)
    if model.SubgraphsLength() < 1:
        raise ValueError("the file has no subgraph")
    graph = model.Subgraphs(0)
    if graph.OutputsLength() < 1:
        return False
    code, op = _producer(model, graph, graph.Outputs(0))
    if code == s.BuiltinOperator.QUANTIZE and op is not None and op.InputsLength():
        code, op = _producer(model, graph, op.Inputs(0))
    return code == s.BuiltinOperator.SOFTMAX


def _producer(model, graph, tensor: int):
    """``(builtin operator code, operator)`` writing ``tensor``, or ``(None, None)``."""
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        if tensor in [op.Outputs(j) for j in range(op.OutputsLength())]:
            code = model.OperatorCodes(op.OpcodeIndex())
            return max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), op
    return None, None

"""ONNX models run by ONNX Runtime (``.onnx``).

An ``.onnx`` file is a protobuf graph of standard operators: loading it
executes no Python code and unpickles nothing, so it is safe to load from
untrusted sources (ONNX Runtime's own parser still sees hostile bytes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from diverfuzz.common.errors import DiverfuzzError, ModelError
from diverfuzz.models.runtimes.base import (
    check_model_file,
    check_shape,
    file_digest,
    log_probabilities,
    one_line,
)

_FLOAT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


def providers_for(device: str) -> list[str]:
    """ONNX Runtime execution providers for a resolved device (``cpu`` or ``cuda``)."""
    import onnxruntime as ort

    if device == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise DiverfuzzError(
                "--device='cuda': this onnxruntime has no CUDAExecutionProvider "
                "(install onnxruntime-gpu) ; use --device cpu"
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxModel:
    """A callable ``batch tensor (N, *input_shape) -> logits (N, classes)`` over an ONNX Runtime session.

    Parameters
    ----------
    path : path-like
        The ``.onnx`` file.
    device : {"cpu", "cuda"}, optional
        ``cuda`` runs on ONNX Runtime's CUDA execution provider (default ``cpu``).
    threads : int, optional
        ONNX Runtime intra-op threads (default 1, as campaigns use one torch thread).
    option : str, optional
        The CLI option naming the file, for error messages.

    Notes
    -----
    A graph whose output is produced by a ``Softmax`` node returns
    probabilities; they are returned as log-probabilities (floored at
    1e-30), which the oracle's softmax maps back to the same probabilities.
    A graph with a fixed batch dimension of 1 is run one input at a time.
    """

    def __init__(self, path: str | Path, *, device: str = "cpu", threads: int = 1, option: str = "--model") -> None:
        import onnxruntime as ort

        self.path = check_model_file(path, option, (".onnx",), "ONNX")
        self.option, self.device, self.threads = option, device, threads
        self.fingerprint = file_digest(self.path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=providers_for(device))
        except DiverfuzzError:
            raise
        except Exception as exc:
            raise DiverfuzzError(
                f"{option}={str(self.path)!r} is not a loadable ONNX model: {one_line(exc)}"
            ) from exc
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise DiverfuzzError(
                f"{option}={str(self.path)!r}: expected one input and a logits output, "
                f"found {len(inputs)} inputs and {len(outputs)} outputs"
            )
        self.input_name, self.input_shape = inputs[0].name, list(inputs[0].shape)
        if inputs[0].type not in _FLOAT_TYPES:
            raise DiverfuzzError(f"{option}={str(self.path)!r}: input type {inputs[0].type} is not a float tensor")
        self.input_dtype = _FLOAT_TYPES[inputs[0].type]
        self.output_name = outputs[0].name
        self.softmax, external = _graph_facts(self.path, self.output_name)
        if external:
            # Weights saved beside the graph (``FILE.onnx.data``) are part of the model's identity.
            self.fingerprint = file_digest(self.path, *external)
        batch = self.input_shape[0] if self.input_shape else None
        self.one_at_a_time = isinstance(batch, int) and batch == 1

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path)!r})"

    def __reduce__(self):  # a worker gets the path and loads the file itself
        return (_reload, (str(self.path), self.device, self.threads, self.option))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        name = f"{self.option.lstrip('-')} model ({self.path.name})"
        check_shape(name, self.input_shape, tuple(x.shape))
        data = x.detach().cpu().numpy().astype(self.input_dtype, copy=False)
        try:
            if self.one_at_a_time:
                out = np.concatenate([self.session.run([self.output_name], {self.input_name: row[None]})[0] for row in data])
            else:
                out = self.session.run([self.output_name], {self.input_name: data})[0]
        except Exception as exc:
            raise ModelError(f"the {name} failed in ONNX Runtime: {one_line(exc)}") from exc
        out = np.asarray(out, dtype=np.float64).reshape(len(data), -1)
        if self.softmax:
            out = log_probabilities(out, 1e-30)
        return torch.from_numpy(out.astype(np.float32))


def _reload(path: str, device: str, threads: int, option: str) -> OnnxModel:
    return OnnxModel(path, device=device, threads=threads, option=option)


def _graph_facts(path: Path, output: str) -> tuple[bool, list[Path]]:
    """Whether ``output`` comes from a ``Softmax`` node, and the external weight files the graph reads."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    producer = [n for n in model.graph.node if output in n.output]
    locations = set()
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            locations.update(e.value for e in tensor.external_data if e.key == "location")
    external = sorted((path.parent / loc) for loc in locations)
    return bool(producer) and producer[0].op_type == "Softmax", [p for p in external if p.is_file()]

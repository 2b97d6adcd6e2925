"""Model files as ``--model`` / ``--candidate``, chosen by extension.

==========  ==========================  ====================================
extension   runtime                     safe from untrusted sources?
==========  ==========================  ====================================
``.onnx``   ONNX Runtime (CPU; CUDA     yes: a protobuf graph, no code
            execution provider with     and no pickles
            ``--device cuda``)
``.tflite`` LiteRT (``ai-edge-litert``) yes: a flatbuffer of builtin ops,
                                        no code and no pickles
``.pt2``    ``torch.export.load``       no: unpickles parts of the archive
``.pt``     ``torch.jit.load``          no: runs the TorchScript code it
            (TorchScript only)          holds
==========  ==========================  ====================================

Every loaded model is a callable ``float32 batch -> logits`` whose
``fingerprint`` attribute is the SHA-256 of its file, and which pickles as
its path: process and Ray workers load the file themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.runtimes.base import DEVICES, file_digest, resolve_device
from diverfuzz.models.runtimes.litert import TfliteModel
from diverfuzz.models.runtimes.onnx import OnnxModel
from diverfuzz.models.runtimes.torch_files import load_torch_file

#: Extensions of model files, and the runtime each goes to.
MODEL_SUFFIXES = {".onnx": "ONNX Runtime", ".tflite": "LiteRT", ".pt2": "torch.export", ".pt": "TorchScript"}


def is_model_file(spec: str) -> bool:
    """True when ``spec`` names a model file by extension (not ``FILE.py:FUNC``)."""
    return Path(str(spec)).suffix.lower() in MODEL_SUFFIXES


def load_model_file(path: str | Path, *, option: str = "--model", device: str = "cpu", threads: int = 1) -> Any:
    """Load a model file with the runtime its extension names.

    Parameters
    ----------
    path : path-like
        ``.onnx``, ``.tflite``, ``.pt2`` or TorchScript ``.pt``.
    option : str, optional
        The CLI option naming the file, for error messages.
    device : {"cpu", "cuda"}, optional
        A resolved device (:func:`resolve_device`); ``.tflite`` always runs on the CPU.
    threads : int, optional
        Intra-op threads of ONNX Runtime and LiteRT (default 1).

    Raises
    ------
    DiverfuzzError
        One line: unknown extension, missing, empty, truncated or invalid file.
    """
    suffix = Path(str(path)).suffix.lower()
    if suffix == ".onnx":
        return OnnxModel(path, device=device, threads=threads, option=option)
    if suffix == ".tflite":
        return TfliteModel(path, threads=threads, option=option)
    if suffix in (".pt2", ".pt"):
        return load_torch_file(path, option=option, device=device)
    raise DiverfuzzError(
        f"{option}={str(path)!r}: unknown model file type {suffix or '(none)'!r}; "
        f"give FILE.py:FUNC or a file ending in {', '.join(MODEL_SUFFIXES)}"
    )


__all__ = ["DEVICES", "MODEL_SUFFIXES", "file_digest", "is_model_file", "load_model_file", "resolve_device"]

"""PyTorch model files: ``torch.export`` programs (``.pt2``) and TorchScript (``.pt``).

Neither format is safe from untrusted sources: ``torch.export.load``
unpickles parts of the archive (its documentation says never to load one
from an untrusted source) and TorchScript runs the code stored in the file.
Load only files you or a party you trust produced.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import torch

from diverfuzz.common.errors import DiverfuzzError, ModelError
from diverfuzz.models.quiet import quiet
from diverfuzz.models.runtimes.base import check_model_file, file_digest, one_line


def eval_mode(module: torch.nn.Module) -> torch.nn.Module:
    """``module.eval()``, also for ``torch.export`` modules.

    An exported module's ``eval()`` raises ``NotImplementedError``: its
    train/eval behaviour was fixed when it was exported. Such a module is
    returned as it is (a graph exported in training mode is caught later by
    the campaign's determinism check).
    """
    try:
        module.eval()
    except NotImplementedError:
        pass
    return module


class TorchFileModel(torch.nn.Module):
    """A PyTorch model loaded from a file, fingerprinted by the file's hash.

    Parameters
    ----------
    inner : torch.nn.Module
        The loaded module.
    path : Path
        Where it came from.
    kind : {"pt2", "torchscript"}
    one_at_a_time : bool, optional
        The graph was exported with a fixed batch of one input (``torch.export``
        without ``dynamic_shapes``): batches are run one input at a time.
    """

    def __init__(self, inner: torch.nn.Module, path: Path, kind: str, option: str, one_at_a_time: bool = False) -> None:
        super().__init__()
        self.inner = inner
        self.path, self.kind, self.option, self.device = path, kind, option, "cpu"
        self.one_at_a_time = one_at_a_time
        self.fingerprint = file_digest(path)

    def train(self, mode: bool = True) -> "TorchFileModel":
        self.training = mode
        if self.kind == "torchscript":
            self.inner.train(mode)
        return self  # an exported program's mode was fixed at export

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        try:
            if self.one_at_a_time and len(x) != 1:
                return torch.cat([self.inner(row[None]) for row in x])
            return self.inner(x)
        except Exception as exc:
            # TorchScript errors carry a multi-line interpreter traceback; its last line says what failed.
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            message = f"{type(exc).__name__}: {lines[-1]}" if self.kind == "torchscript" and lines else one_line(exc)
            raise ModelError(f"{self.path.name}: {message}") from None

    def __reduce__(self):  # a worker gets the path and loads the file itself
        return (_reload, (str(self.path), self.option, self.device))

    def __repr__(self) -> str:
        return f"TorchFileModel({str(self.path)!r}, {self.kind})"


def _quiet():
    """Keep torch's loader warnings and logs off the user's terminal."""
    return quiet(("torch._export", "torch.export", "torch.utils._pytree", "torch.fx"), stdout=True)


def load_torch_file(path: str | Path, *, option: str = "--model", device: str = "cpu") -> TorchFileModel:
    """Load a ``.pt2`` (``torch.export.load(...).module()``) or TorchScript ``.pt`` file.

    Parameters
    ----------
    path : path-like
        ``.pt2`` or ``.pt``; a ``.pt`` must be TorchScript (``torch.jit.save``),
        not a pickled module or state dict, which diverfuzz never unpickles.
    option : str, optional
        The CLI option naming the file, for error messages.
    device : {"cpu", "cuda"}, optional
        Where the module's weights go (default ``cpu``).
    """
    p = check_model_file(path, option, (".pt2", ".pt"), "PyTorch model (.pt2 export or TorchScript .pt)")
    if not zipfile.is_zipfile(p):
        raise DiverfuzzError(
            f"{option}={str(p)!r} is not a {'torch.export' if p.suffix.lower() == '.pt2' else 'TorchScript'} "
            "archive (not a zip file: truncated, or a plain torch.save pickle, which diverfuzz does not load)"
        )
    try:
        with _quiet():
            fixed = False
            if p.suffix.lower() == ".pt2":
                program = torch.export.load(str(p))
                inner, kind, fixed = program.module(), "pt2", fixed_batch_of_one(program)
            else:
                inner, kind = torch.jit.load(str(p), map_location=device), "torchscript"
    except Exception as exc:
        what = "torch.export program" if p.suffix.lower() == ".pt2" else "TorchScript module (torch.jit.save)"
        raise DiverfuzzError(f"{option}={str(p)!r} is not a loadable {what}: {one_line(exc)}") from exc
    model = TorchFileModel(inner, p, kind, option, one_at_a_time=fixed)
    model.device = device
    return eval_mode(model).to(device)


def fixed_batch_of_one(program: "torch.export.ExportedProgram") -> bool:
    """Whether the program's (first) input has a static batch dimension of 1 (exported without ``dynamic_shapes``)."""
    user_inputs = set(program.graph_signature.user_inputs)
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in user_inputs:
            shape = getattr(node.meta.get("val"), "shape", None)
            # A dynamic batch is a SymInt, not an int.
            return bool(shape) and type(shape[0]) is int and shape[0] == 1
    return False


def _reload(path: str, option: str, device: str) -> TorchFileModel:
    return load_torch_file(path, option=option, device=device)

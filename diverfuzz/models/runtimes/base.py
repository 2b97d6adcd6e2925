"""What every model-file runtime shares: file checks, digests, devices, input shapes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from diverfuzz.common.errors import DiverfuzzError, ModelError

#: ``--device`` values.
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> str:
    """``"cpu"`` or ``"cuda"`` for a ``--device`` value.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        ``auto`` picks CUDA when torch sees a GPU, else the CPU.

    Raises
    ------
    DiverfuzzError
        For an unknown value, or ``cuda`` on a machine without CUDA.
    """
    if device not in DEVICES:
        raise DiverfuzzError(f"--device={device!r}: choose one of {', '.join(DEVICES)}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise DiverfuzzError("--device='cuda': torch sees no CUDA device here; use --device cpu or auto")
    return device


def file_digest(path: str | Path, *more: str | Path) -> str:
    """The first 16 hex digits of the SHA-256 of the file's bytes (then ``more`` files'): a file model's fingerprint."""
    digest = hashlib.sha256()
    for p in (path, *more):
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def check_model_file(path: str | Path, option: str, suffixes: tuple[str, ...], what: str) -> Path:
    """The path of an existing, non-empty file ending in one of ``suffixes``, or a one-line error."""
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise DiverfuzzError(f"{option}={str(p)!r}: a {what} file must end in {' or '.join(suffixes)}")
    if not p.is_file():
        raise DiverfuzzError(f"{option}={str(p)!r}: file does not exist")
    if p.stat().st_size == 0:
        raise DiverfuzzError(f"{option}={str(p)!r}: the file is empty")
    return p


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` of ``exc`` on one line, cut to ``limit`` characters."""
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def check_shape(name: str, expected: list, got: tuple[int, ...]) -> None:
    """Refuse a batch whose non-batch dimensions differ from the model's fixed ones.

    ``expected`` is the model's input shape with the batch first; ``None``
    or a string marks a free dimension.
    """
    fixed = list(expected)[1:]
    if len(fixed) != len(got) - 1 or any(
        isinstance(e, (int, np.integer)) and e > 0 and e != g for e, g in zip(fixed, got[1:])
    ):
        shown = ["N" if not isinstance(e, (int, np.integer)) or e <= 0 else int(e) for e in expected]
        fix = "resize the data (--size H,W) or check --layout"
        if len(fixed) == len(got) and fixed[0] == 1 and list(fixed[1:]) == [int(g) for g in got[1:]]:
            fix = "the data has no channel axis: add one, x[:, None], before saving --data"
        raise ModelError(
            f"the {name} expects inputs of shape ({', '.join(map(str, shown))}) but the data has shape "
            f"(N, {', '.join(map(str, got[1:]))}); {fix}"
        )


def log_probabilities(p: np.ndarray, floor: float) -> np.ndarray:
    """``log(max(p, floor))``: logits equivalent to softmax outputs ``p``.

    ``softmax(log p) == p`` for rows summing to one, so the oracle's own
    softmax recovers the model's probabilities and argmax is unchanged;
    the floor keeps probabilities that rounded to zero finite.
    """
    return np.log(np.maximum(p.astype(np.float64), floor))



class OneAtATime(torch.nn.Module):
    """Runs ``inner``, a graph with a fixed batch of one input (the exporters' default), row by row.

    ``torch.export`` and ``torch.onnx.export`` record the example's batch
    size unless told otherwise; such a graph refuses any other batch
    (``Guard failed: x.size()[0] == 1``). Wrapped, it takes any batch, and
    precision builders that find this wrapper export and calibrate ``inner``
    one input at a time.
    """

    one_at_a_time = True

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def train(self, mode: bool = True) -> "OneAtATime":
        self.training = mode
        try:
            self.inner.train(mode)
        except NotImplementedError:  # torch.export modules fix their mode at export
            pass
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(x) == 1:
            return self.inner(x)
        return torch.cat([self.inner(row[None]) for row in x])


def runs_one_at_a_time(model: object) -> bool:
    """Whether ``model``, or a model it wraps (preprocessing, a device or dtype wrapper),
    has a fixed batch of one input and is therefore run one input at a time."""
    for _ in range(8):
        if getattr(model, "one_at_a_time", False) is True:
            return True
        inner = next((getattr(model, a) for a in ("model", "inner", "converted") if hasattr(model, a)), None)
        if inner is None or inner is model:
            return False
        model = inner
    return False

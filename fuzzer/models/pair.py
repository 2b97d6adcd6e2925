"""A reference model and its counterpart, queried together in batches.

Both models always see the same batch, in eval mode and under
``torch.no_grad``; outputs come back as float64 numpy arrays so the oracles
never depend on the counterpart's dtype.
"""

from __future__ import annotations

import hashlib
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import ContextManager, Iterator

import numpy as np
import torch

from fuzzer.errors import ModelError
from fuzzer.models.inference import Model, batched_logits


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` intra-op torch threads, then restore the caller's setting.

    Campaign batches are small (a population of mutants); on them extra
    OpenMP threads mostly spin, and on a loaded machine they make inference
    many times slower. Kernels may also sum in another order with another
    thread count, so the count is part of a campaign's config and replay
    uses the same one.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _prepare(model: Model, role: str) -> Model:
    if isinstance(model, torch.nn.Module):
        # Training-mode outputs (dropout, batch-norm statistics) are not
        # deterministic, which would make every divergence spurious.
        try:
            model.eval()
        except NotImplementedError:
            # torch.export modules (ExportedProgram.module()) refuse eval():
            # their mode was fixed when they were exported.
            pass
        return model
    if callable(model):
        return model
    raise ModelError(
        f"{role}={type(model).__name__!r} is not a model: expected a torch.nn.Module "
        "or a callable mapping a batch tensor to logits"
    )


def fingerprint(model: Model) -> str:
    """A short SHA-256 of a module's state dict (or the callable's qualified name).

    Models loaded from files (``fuzzer.models.runtimes``) carry their own
    ``fingerprint``: the hash of the file.
    """
    own = getattr(model, "fingerprint", None)
    if isinstance(own, str):
        return own
    digest = hashlib.sha256()
    if isinstance(model, torch.nn.Module):
        for name, value in sorted(model.state_dict().items()):
            digest.update(name.encode())
            if isinstance(value, torch.Tensor):
                t = value.detach().cpu()
                if t.is_quantized or type(t) is not torch.Tensor:
                    # Quantized tensors and torchao's tensor subclasses
                    # (int4/int8 weight-only) hash their dequantized values.
                    t = t.dequantize()
                    if type(t) is not torch.Tensor:
                        t = t.as_subclass(torch.Tensor)
                digest.update(t.contiguous().float().numpy().tobytes())
    else:
        digest.update(getattr(model, "__qualname__", type(model).__qualname__).encode())
    return digest.hexdigest()[:16]


class _OnDevice:
    """A torch module on ``device`` that takes CPU batches (fingerprinted as the module)."""

    def __init__(self, model: torch.nn.Module, device: str) -> None:
        self.model, self.device = model.to(device), device
        self.fingerprint = fingerprint(model)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.to(self.device))


def _on_device(model: Model, device: str) -> Model:
    if device == "cpu" or not isinstance(model, torch.nn.Module):
        return model
    return _OnDevice(model, device)


@dataclass
class ModelPair:
    """A reference model and the counterpart it is compared with.

    Parameters
    ----------
    reference, candidate : torch.nn.Module or callable
        Map a float32 batch ``(N, *input_shape)`` to logits ``(N, classes)``.
        Modules are switched to eval mode.
    batch_size : int, optional
        Largest batch sent to the models at once (default 1024).
    labels : tuple of str, optional
        How error messages name the two models (e.g. their ``FILE.py:FUNC``).
    batch_dependent : tuple of str, optional
        Roles (``"reference"``, ``"candidate"``) whose output for one input
        depends on the other inputs of its batch (dynamic quantization,
        batch statistics): those models are run one input at a time, so a
        result never depends on how inputs were batched. Default: none.
    device : {"cpu", "cuda"}, optional
        Where torch modules run (default ``cpu``): modules are moved there and
        batches sent there; outputs come back to the CPU. File runtimes
        (ONNX Runtime, LiteRT) pick their device when loaded.
    """

    reference: Model
    candidate: Model
    batch_size: int = 1024
    labels: tuple[str, str] = ("reference", "candidate")
    device: str = "cpu"
    batch_dependent: tuple[str, ...] = ()
    queries: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.reference = _on_device(_prepare(self.reference, "reference"), self.device)
        self.candidate = _on_device(_prepare(self.candidate, "candidate"), self.device)
        if self.batch_size < 1:
            raise ModelError(f"batch_size={self.batch_size} must be >= 1")

    def _named(self, role: str) -> str:
        label = self.labels[0] if role == "reference" else self.labels[1]
        return role if label == role else f"{role} ({label})"

    def _rows(self, role: str) -> int:
        return 1 if role in self.batch_dependent else self.batch_size

    def logits(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits of both models on ``batch``; counts ``len(batch)`` queries.

        Returns
        -------
        (reference_logits, candidate_logits) : tuple of ndarray, float64, (N, classes)
        """
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        ref = batched_logits(self.reference, batch, batch_size=self._rows("reference"), name=self._named("reference"))
        cand = batched_logits(self.candidate, batch, batch_size=self._rows("candidate"), name=self._named("candidate"))
        self.queries += len(batch)
        if ref.shape != cand.shape:
            raise ModelError(
                f"reference returns {ref.shape[1]} classes but candidate returns {cand.shape[1]}"
            )
        return ref, cand

    def fingerprints(self) -> dict[str, str]:
        return {"reference": fingerprint(self.reference), "candidate": fingerprint(self.candidate)}

    def exclusive(self) -> ContextManager[object]:
        """Context in which the caller runs the models directly (e.g. MCA triage); a no-op here."""
        return nullcontext()


class SerialPair:
    """One thread's view of a :class:`ModelPair` that several threads share.

    Model calls (:meth:`logits`, and whatever runs inside :meth:`exclusive`)
    take a lock the views share, so the models (which need not be
    thread-safe: a LiteRT interpreter is not) run one call at a time, while
    the other threads apply relations. :attr:`queries` counts this view's
    own queries; the shared pair counts everyone's. Every other attribute is
    the shared pair's.

    Parameters
    ----------
    pair : ModelPair
        The shared pair.
    lock : threading.Lock
        The lock all views of ``pair`` share.
    """

    def __init__(self, pair: ModelPair, lock: threading.Lock) -> None:
        self._pair, self._lock = pair, lock
        self.queries = 0

    def logits(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`ModelPair.logits`, under the shared lock."""
        with self._lock:
            out = self._pair.logits(batch)
        self.queries += len(batch)
        return out

    def exclusive(self) -> ContextManager[object]:
        """The shared lock."""
        return self._lock

    def __getattr__(self, name: str):
        return getattr(self._pair, name)

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

from diverfuzz.common.errors import ModelError
from diverfuzz.models.inference import Model, batched_logits
from diverfuzz.models.runtimes.base import log_probabilities

#: How far from 1 a row of probabilities may sum (:func:`is_probabilities`): a float32
#: softmax sums to 1 within 1e-6, fp16 and bf16 counterparts within about 1e-3.
PROBABILITY_TOLERANCE = 1e-2
#: Floor of probabilities read as log-probabilities (a probability that underflowed to 0
#: stays finite), as for float outputs of model files (:mod:`diverfuzz.models.runtimes`).
PROBABILITY_FLOOR = 1e-30


def is_probabilities(outputs: np.ndarray) -> bool:
    """Whether ``outputs`` ``(N, classes)`` look like probabilities: two or more classes, and
    every row non-negative and summing to 1 within :data:`PROBABILITY_TOLERANCE`.

    Logits almost never do on more than a handful of inputs; a model ending in softmax
    always does.
    """
    out = np.asarray(outputs, dtype=np.float64)
    return bool(
        out.ndim == 2 and len(out) > 0 and out.shape[1] >= 2 and np.isfinite(out).all() and (out >= 0).all()
        and np.abs(out.sum(axis=1) - 1.0).max() <= PROBABILITY_TOLERANCE
    )


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

    Models loaded from files (``diverfuzz.models.runtimes``) carry their own
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
    probabilities : tuple of str, optional
        Roles whose model returns probabilities (it ends in softmax; see
        :func:`is_probabilities`): their outputs are returned as log-probabilities
        (:func:`~diverfuzz.models.runtimes.base.log_probabilities`), so the softmax every
        oracle applies gives back the model's own probabilities, not a second softmax of
        them; argmax is unchanged. Default: none
        (:func:`diverfuzz.fuzzer.campaign.workload.probe_models` sets it).
    """

    reference: Model
    candidate: Model
    batch_size: int = 1024
    labels: tuple[str, str] = ("reference", "candidate")
    device: str = "cpu"
    batch_dependent: tuple[str, ...] = ()
    probabilities: tuple[str, ...] = ()
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
        ref, cand = self.run("reference", batch), self.run("candidate", batch)
        self.queries += len(batch)
        return same_classes(ref, cand)

    def run(self, role: str, batch: np.ndarray) -> np.ndarray:
        """Logits of one model (``role``: ``"reference"`` or ``"candidate"``) on a float32 ``batch``; counts nothing."""
        model = self.reference if role == "reference" else self.candidate
        out = batched_logits(model, batch, batch_size=self._rows(role), name=self._named(role))
        return log_probabilities(out, PROBABILITY_FLOOR) if role in self.probabilities else out

    def fingerprints(self) -> dict[str, str]:
        return {"reference": fingerprint(self.reference), "candidate": fingerprint(self.candidate)}

    def exclusive(self) -> ContextManager[object]:
        """Context in which the caller runs the models directly (e.g. MCA triage); a no-op here."""
        return nullcontext()


def same_classes(ref: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ref, cand)``, or a :class:`ModelError` when the two models return different class counts."""
    if ref.shape != cand.shape:
        raise ModelError(f"reference returns {ref.shape[1]} classes but candidate returns {cand.shape[1]}")
    return ref, cand


class SeedStopped(Exception):
    """Raised by a :class:`SerialPair` once :attr:`PairLocks.stop` is set (Ctrl-C, a failed seed)."""


@dataclass(frozen=True)
class PairLocks:
    """The locks the :class:`SerialPair` views of one pair share: one per model, one for the shared count.

    ``stop``, once set, makes every view raise :class:`SeedStopped` at its
    next model call, so seed threads end within a batch instead of running
    to their budget.
    """

    reference: threading.Lock = field(default_factory=threading.Lock)
    candidate: threading.Lock = field(default_factory=threading.Lock)
    count: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def for_pair(cls, pair: ModelPair) -> PairLocks:
        """Locks for ``pair``'s views: one model lock for both when the two models are one object."""
        if pair.reference is pair.candidate:
            one = threading.RLock()  # exclusive() takes it twice
            return cls(one, one)
        return cls()


class SerialPair:
    """One thread's view of a :class:`ModelPair` that several threads share.

    Each model runs one call at a time (it need not be thread-safe: a
    LiteRT interpreter is not): :meth:`logits` holds the reference's lock
    while the reference runs and the candidate's while the candidate runs,
    so one thread's batch can be in the reference while another's is in the
    candidate and others apply relations (one lock serves both when they are
    one object). :meth:`exclusive` holds both locks (MCA triage runs the
    reference itself). :attr:`queries`
    counts this view's own queries; the shared pair counts everyone's.
    Every other attribute is the shared pair's. Once ``locks.stop`` is set,
    :meth:`logits` and :meth:`exclusive` raise :class:`SeedStopped`.

    Parameters
    ----------
    pair : ModelPair
        The shared pair.
    locks : PairLocks
        The locks all views of ``pair`` share.
    """

    def __init__(self, pair: ModelPair, locks: PairLocks) -> None:
        self._pair, self._locks = pair, locks
        self.queries = 0

    def logits(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`ModelPair.logits`, each model under its lock."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        with self._locks.reference:
            self._check_stop()
            ref = self._pair.run("reference", batch)
        with self._locks.candidate:
            self._check_stop()
            cand = self._pair.run("candidate", batch)
        with self._locks.count:
            self._pair.queries += len(batch)
        self.queries += len(batch)
        return same_classes(ref, cand)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Both models' locks (MCA triage may instrument modules the two models share)."""
        with self._locks.reference, self._locks.candidate:
            self._check_stop()
            yield

    def _check_stop(self) -> None:
        if self._locks.stop.is_set():
            raise SeedStopped("the campaign stopped")

    def __getattr__(self, name: str):
        return getattr(self._pair, name)

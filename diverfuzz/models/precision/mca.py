"""Monte Carlo Arithmetic (MCA) on a model, through a ``TorchFunctionMode``.

Every floating-point operation the model calls (convolutions, matmuls,
elementwise arithmetic, reductions, normalisations, transcendental
functions; not exact ops such as ReLU, max-pooling or reshapes) is
intercepted, and its result (``rr``), its operands (``pb``) or both
(``full``) are perturbed by the MCA "inexact" function at virtual precision
``t``::

    inexact(x) = x + 2**(e_x - t) * xi,   xi ~ U(-1/2, 1/2),   e_x = exponent of x (frexp)

The model runs in float64 so that ``t`` up to 52 is meaningful. Each input
is run alone, under a generator seeded afresh with the pass's seed (every
input of a pass sees the same stream of draws), so an input's result is a
function of the input and the seed only: it does not depend on the batch it
arrives in, its position there, or kernels that block by batch size, and a
replay reproduces it. (Drawing per sample inside one batched pass cannot
promise that: in ``pb`` and ``full`` modes weights are operands too, and a
weight whose first dimension equals the batch size is indistinguishable
from a batched activation.)

Notes
-----
D. S. Parker, "Monte Carlo Arithmetic: exploiting randomness in
floating-point arithmetic" (UCLA TR 970002, 1997); C. Denis et al.,
"Verificarlo: checking floating point accuracy through Monte Carlo
Arithmetic" (ARITH 2016), whose modes are random rounding (``rr``),
precision bounding (``pb``) and full MCA (``full``). Significant bits are
estimated with the ``significantdigits`` package (Sohier et al., "Confidence
intervals for stochastic arithmetic", ACM TOMS 2021).
"""

from __future__ import annotations

import copy
import hashlib

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from diverfuzz.common.errors import DiverfuzzError

MODES = ("rr", "pb", "full")

#: Functions (by ``__name__``) whose results are rounded in floating-point hardware.
ARITHMETIC = frozenset(
    """linear bilinear conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d matmul mm bmm
    addmm addmv baddbmm addbmm einsum dot mv tensordot add sub subtract mul multiply div divide true_divide
    __add__ __radd__ __iadd__ __sub__ __rsub__ __isub__ __mul__ __rmul__ __imul__ __truediv__ __rtruediv__
    __itruediv__ __matmul__ __rmatmul__ __pow__ __rpow__ pow square sqrt rsqrt reciprocal exp exp2 expm1 log
    log2 log10 log1p sin cos tan tanh sigmoid softmax log_softmax logsumexp gelu silu mish softplus elu selu
    celu sum mean prod cumsum var std norm batch_norm layer_norm group_norm instance_norm rms_norm
    avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d
    addcmul addcdiv lerp hardswish scaled_dot_product_attention""".split()
)


def _check(t: int, mode: str) -> None:
    if not isinstance(t, int) or isinstance(t, bool) or not 1 <= t <= 52:
        raise DiverfuzzError(f"--precision='mca:t={t}': t must be an integer 1..52 (got {t!r})")
    if mode not in MODES:
        raise DiverfuzzError(f"--precision='mca:mode={mode}': mode must be one of {', '.join(MODES)} (got {mode!r})")


def inexact(x: torch.Tensor, t: int, noise: torch.Tensor) -> torch.Tensor:
    """Parker's ``inexact``: ``x + 2**(exponent(x) - t) * (noise - 1/2)``, ``noise`` uniform in [0, 1).

    Zeros, infinities and NaN are returned unchanged.
    """
    _, exponent = torch.frexp(x)
    perturbed = x + torch.ldexp(torch.broadcast_to(noise - 0.5, x.shape), exponent - t).to(x.dtype)
    return torch.where(torch.isfinite(x) & (x != 0), perturbed, x)


class MCAMode(TorchFunctionMode):
    """A ``TorchFunctionMode`` applying MCA to every arithmetic op run inside it.

    Parameters
    ----------
    t : int
        Virtual precision in bits, 1..52.
    mode : {"rr", "pb", "full"}
        Perturb results, operands, or both.
    seed : int
        Seed of this pass's random stream (>= 0).
    batch : int or None
        Leading dimension shared by the batch; tensors with it get one draw
        per sample shape, broadcast across the batch. None: draw per element.
    """

    def __init__(self, t: int, mode: str = "rr", seed: int = 0, batch: int | None = None) -> None:
        super().__init__()
        _check(t, mode)
        self.t, self.mode, self.batch = t, mode, batch
        self.generator = torch.Generator().manual_seed(seed)

    def _perturb(self, x):
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.numel() == 0:
            return x
        shape = x.shape[1:] if self.batch is not None and x.ndim >= 1 and x.shape[0] == self.batch else x.shape
        noise = torch.rand(shape, generator=self.generator, dtype=torch.float64).to(x.device)
        return inexact(x, self.t, noise)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") not in ARITHMETIC:
            return func(*args, **kwargs)
        if self.mode in ("pb", "full"):
            args = tuple(self._perturb(a) for a in args)
        out = func(*args, **kwargs)
        if self.mode in ("rr", "full"):
            out = tuple(self._perturb(o) for o in out) if isinstance(out, tuple) else self._perturb(out)
        return out


class _ArithmeticCounter(TorchFunctionMode):
    """Counts the calls :class:`MCAMode` would perturb (the same test: :data:`ARITHMETIC`, by name)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ARITHMETIC:
            self.calls += 1
        return func(*args, **(kwargs or {}))


def count_arithmetic(model, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``(model(x), calls)``: the output, and how many of the calls it made MCA would perturb.

    0 calls means MCA cannot reach the model's arithmetic: a TorchScript module runs its
    operations in the TorchScript interpreter, a ``torch.export`` program calls aten
    operator overloads (``linear.default``), a wrapper hands the input to another runtime.
    """
    with _ArithmeticCounter() as counter:
        out = model(x)
    return out, counter.calls


def _per_input(model: nn.Module, x: torch.Tensor, t: int, mode: str, seed: int) -> torch.Tensor:
    """``model(x)`` under MCA, one input at a time, each under the same seeded stream."""
    if len(x) == 0:
        with MCAMode(t, mode, seed):
            return model(x)
    outs = []
    for i in range(len(x)):
        with MCAMode(t, mode, seed, batch=1):
            outs.append(model(x[i : i + 1]))
    return torch.cat(outs)


def _sample_seed(seed: int, index: int) -> int:
    digest = hashlib.sha256(f"mca:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


class MCAModel(nn.Module):
    """A float64 copy of a model run under MCA with a fixed seed; float32 in and out."""

    def __init__(self, model: nn.Module, *, t: int, mode: str = "rr", seed: int = 0) -> None:
        super().__init__()
        _check(t, mode)
        self.model = copy.deepcopy(model).double().eval()
        self.t, self.mode, self.seed = t, mode, seed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # One input at a time: a row's result never depends on its batch.
        return _per_input(self.model, x.double(), self.t, self.mode, self.seed).float()

    def extra_repr(self) -> str:
        return f"t={self.t}, mode={self.mode!r}, seed={self.seed}"


def mca_model(model: nn.Module, *, t: int, mode: str = "rr", seed: int = 0) -> MCAModel:
    """One seeded MCA instance of ``model`` (the ``mca:t=T`` counterpart); ``model`` is untouched."""
    return MCAModel(model, t=t, mode=mode, seed=seed)


def mca_samples(
    model: nn.Module, x: torch.Tensor | np.ndarray, n: int, t: int, seed: int = 0, *, mode: str = "rr"
) -> torch.Tensor:
    """``n`` MCA samples of ``model(x)``, float64, shape ``(n, *model(x).shape)``.

    Parameters
    ----------
    model : nn.Module
        Evaluated in a float64 copy; left unchanged.
    x : Tensor or ndarray
        A batch of inputs.
    n : int
        Number of samples (>= 2).
    t : int
        Virtual precision, 1..52.
    seed : int
        Sample ``k`` uses a seed derived from ``(seed, k)``: reproducible.
        Each input is run alone, so sample ``k`` of an input is the same in
        any batch.
    mode : {"rr", "pb", "full"}
        See :class:`MCAMode`.

    Examples
    --------
    >>> net = nn.Linear(3, 2)
    >>> mca_samples(net, torch.ones(4, 3), n=5, t=20).shape
    torch.Size([5, 4, 2])
    """
    _check(t, mode)
    if not isinstance(n, int) or n < 2:
        raise DiverfuzzError(f"n={n!r} must be an integer >= 2 (MCA needs several samples)")
    x = torch.as_tensor(x).double()
    copy_ = copy.deepcopy(model).double().eval()
    outs = []
    with torch.no_grad():
        for k in range(n):
            outs.append(_per_input(copy_, x, t, mode, _sample_seed(seed, k)))
    return torch.stack(outs)


def significant_bits(
    samples: torch.Tensor | np.ndarray,
    reference: torch.Tensor | np.ndarray | None = None,
    *,
    method: str = "CNH",
    error: str = "Relative",
    probability: float = 0.95,
    confidence: float = 0.95,
) -> np.ndarray:
    """Significant bits of each output across MCA samples (``significantdigits``).

    Parameters
    ----------
    samples : (n, ...) array
        From :func:`mca_samples`.
    reference : array or None
        The exact result (e.g. the float64 model's output); None uses the
        sample mean.
    method : {"CNH", "General"}
        Centred-normal hypothesis or the distribution-free estimate.
    error : {"Relative", "Absolute"}
    probability, confidence : float
        The estimate holds with this probability at this confidence.

    Returns
    -------
    ndarray, float64, ``samples.shape[1:]``
    """
    import significantdigits as sd

    array = samples.detach().cpu().numpy() if isinstance(samples, torch.Tensor) else np.asarray(samples)
    array = array.astype(np.float64)
    if reference is None:
        ref = array.mean(axis=0)
    else:
        ref = reference.detach().cpu().numpy() if isinstance(reference, torch.Tensor) else np.asarray(reference)
        ref = ref.astype(np.float64)
    methods = {m.value.lower(): m for m in sd.Method}
    errors = {e.value.lower(): e for e in sd.Error}
    if method.lower() not in methods:
        raise DiverfuzzError(f"method={method!r} is unknown; choose one of {', '.join(m.value for m in sd.Method)}")
    if error.lower() not in errors:
        raise DiverfuzzError(f"error={error!r} is unknown; choose one of {', '.join(e.value for e in sd.Error)}")
    bits = sd.significant_digits(
        array, reference=ref, axis=0, basis=2, error=errors[error.lower()], method=methods[method.lower()],
        probability=probability, confidence=confidence,
    )
    return np.asarray(bits, dtype=np.float64)


__all__ = ["ARITHMETIC", "MCAMode", "MCAModel", "inexact", "mca_model", "mca_samples", "significant_bits"]

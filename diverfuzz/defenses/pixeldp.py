"""PixelDP: a differentially private noise layer with certified robustness.

A PixelDP network is any network with a noise layer inserted after its first
layer, whose weights are normalised so that the layer's sensitivity is 1.
Prediction is the expectation of the softmax scores over noise draws, and
every prediction can be certified robust to input perturbations of p-norm up
to a radius, from Monte Carlo bounds on the expected scores.

References
----------
.. [1] M. Lecuyer, V. Atlidakis, R. Geambasu, D. Hsu and S. Jana, "Certified
   Robustness to Adversarial Examples with Differential Privacy", IEEE S&P
   2019 (arXiv:1802.03471).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from typing import Callable, Union

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from torch import nn

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.inference import batched_logits
from diverfuzz.models.layers import execution_order
from diverfuzz.models.training import ExampleData, train_classifier

#: Paper defaults ([1], Section IV): epsilon = 1, delta = 0.05, 300 noise draws
#: for prediction and certification, eta = 0.05 for the confidence bounds.
DEFAULT_EPSILON = 1.0
DEFAULT_DELTA = 0.05
DEFAULT_L = 0.1
DEFAULT_DRAWS = 300
DEFAULT_ETA = 0.05

MECHANISMS = ("gaussian", "laplace")
BOUNDS = ("clopper-pearson", "hoeffding")


def _check_params(epsilon: float, delta: float, L: float, mechanism: str, norm: int) -> None:
    if mechanism not in MECHANISMS:
        raise DiverfuzzError(f"mechanism={mechanism!r} is not one of {MECHANISMS}; pick one of them")
    if not (isinstance(epsilon, (int, float)) and epsilon > 0):
        raise DiverfuzzError(
            f"epsilon={epsilon!r} must be > 0 (paper default 1.0); pass math.inf or noise=False to switch noise off"
        )
    if not (isinstance(L, (int, float)) and 0 < L < math.inf):
        raise DiverfuzzError(f"L={L!r} must be a finite number > 0 (the construction attack bound, e.g. 0.1)")
    if norm not in (1, 2):
        raise DiverfuzzError(f"norm={norm!r} must be 1 or 2 (the p-norm of the attacks certified against)")
    if mechanism == "gaussian":
        if not (0 < delta < 1):
            raise DiverfuzzError(f"delta={delta!r} must be in (0, 1) for the Gaussian mechanism (paper: 0.05)")
        if epsilon != math.inf and epsilon > 1:
            raise DiverfuzzError(
                f"epsilon={epsilon!r} must be <= 1 for the Gaussian mechanism (its bound holds for epsilon <= 1); "
                "use mechanism='laplace' for larger epsilon"
            )
    else:
        if delta != 0:
            raise DiverfuzzError(f"delta={delta!r} must be 0 for the Laplace mechanism (it is pure epsilon-DP)")
        if norm != 1:
            raise DiverfuzzError(
                f"norm={norm!r}: the Laplace mechanism certifies L1 attacks only; pass norm=1 or mechanism='gaussian'"
            )


def noise_scale(epsilon: float, delta: float, L: float, *, mechanism: str = "gaussian", sensitivity: float = 1.0) -> float:
    """Scale of the PixelDP noise for an (epsilon, delta)-PixelDP layer of bound ``L``.

    Parameters
    ----------
    epsilon : float
        Privacy budget, ``> 0`` (``<= 1`` for the Gaussian mechanism).
        ``math.inf`` means no noise (scale 0).
    delta : float
        ``(0, 1)`` for the Gaussian mechanism, ``0`` for Laplace.
    L : float
        Construction attack bound (p-norm of the perturbations), ``> 0``.
    mechanism : {"gaussian", "laplace"}
    sensitivity : float
        ``Delta_{p,2}`` (Gaussian) or ``Delta_{p,1}`` (Laplace) of the
        pre-noise layer; 1 after PixelDP's weight normalisation.

    Returns
    -------
    float
        Gaussian: ``sigma = sqrt(2 ln(1.25/delta)) * Delta_{p,2} * L / epsilon``;
        Laplace: ``b = Delta_{p,1} * L / epsilon``.

    Notes
    -----
    [1], Section III-B (the Gaussian and Laplace mechanisms).

    Examples
    --------
    >>> round(noise_scale(1.0, 0.05, 0.1), 4)
    0.2537
    >>> noise_scale(0.5, 0.0, 0.1, mechanism="laplace")
    0.2
    """
    if epsilon == math.inf:
        return 0.0
    if mechanism == "gaussian":
        return math.sqrt(2.0 * math.log(1.25 / delta)) * sensitivity * L / epsilon
    return sensitivity * L / epsilon


def layer_sensitivity(weight: torch.Tensor, *, norm: int, q: int) -> torch.Tensor:
    """Upper bound on ``Delta_{p,q} = max_{||x||_p <= 1} ||W x||_q`` of a Linear or Conv weight.

    Parameters
    ----------
    weight : Tensor
        ``(out, in)`` (Linear) or ``(out, in, *kernel)`` (Conv).
    norm : {1, 2}
        ``p``, the input norm.
    q : {1, 2}
        The output norm (1 for Laplace, 2 for Gaussian).

    Returns
    -------
    Tensor
        Scalar, differentiable in ``weight``.

    Notes
    -----
    [1], Section III-B: for ``p = 1``, ``Delta_{1,q}`` is the largest q-norm
    of a column of the layer's matrix; a convolution's column for an input
    pixel of channel ``c`` holds at most the weights ``W[:, c]``, so the
    maximum over channels of ``||W[:, c]||_q`` bounds it. For ``p = q = 2``
    it is the spectral norm; for a convolution we bound it by
    ``sqrt(prod(kernel)) * ||W.reshape(out, -1)||_2`` (each input pixel
    appears at most ``prod(kernel)`` times in the unfolded input).
    """
    if norm == 1:
        cols = weight.transpose(0, 1).reshape(weight.shape[1], -1)
        return torch.linalg.vector_norm(cols, ord=q, dim=1).max()
    mat = weight.reshape(weight.shape[0], -1)
    spectral = torch.linalg.matrix_norm(mat, ord=2)
    if weight.ndim > 2:
        spectral = spectral * math.sqrt(math.prod(weight.shape[2:]))
    return spectral


class PixelDPNoise(nn.Module):
    """The PixelDP noise layer: adds Gaussian or Laplace noise of the paper's scale.

    Parameters
    ----------
    epsilon : float
        ``> 0`` (paper default 1.0; ``<= 1`` for Gaussian). ``math.inf``: no noise.
    delta : float
        Gaussian: in ``(0, 1)``, default 0.05. Laplace: must be 0.
    L : float
        Construction attack bound, ``> 0`` (default 0.1).
    mechanism : {"gaussian", "laplace"}
        Gaussian certifies L1 or L2 attacks, Laplace L1 attacks.
    norm : {1, 2}
        The attack p-norm.
    sensitivity : float
        Sensitivity of the pre-noise layer (1 after normalisation).
    seed : int
        Seed of the layer's ``torch.Generator``.

    Notes
    -----
    In training mode each element gets fresh noise from the layer's
    generator (seeded once, so training is reproducible). In eval mode the
    generator is re-seeded with ``seed`` on every forward call and draws
    ``draws`` noise tensors of one input's feature shape; the ``i``-th block
    of ``B`` rows gets draw ``i``, so every input sees the same noise
    whatever batch it is in, and the output is a deterministic function of
    the input (diverfuzz replays a divergence bit for bit). [1], Section III.
    """

    def __init__(
        self,
        epsilon: float = DEFAULT_EPSILON,
        delta: float = DEFAULT_DELTA,
        L: float = DEFAULT_L,
        *,
        mechanism: str = "gaussian",
        norm: int = 2,
        sensitivity: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        _check_params(epsilon, delta, L, mechanism, norm)
        self.epsilon, self.delta, self.L = float(epsilon), float(delta), float(L)
        self.mechanism, self.norm, self.sensitivity = mechanism, norm, float(sensitivity)
        self.seed = int(seed)
        self.draws = 1
        self.enabled = True
        self.scale = noise_scale(self.epsilon, self.delta, self.L, mechanism=mechanism, sensitivity=self.sensitivity)
        self._train_gen = torch.Generator().manual_seed(self.seed)
        self.register_buffer("_bank", None, persistent=False)
        self._bank_key: tuple | None = None

    def extra_repr(self) -> str:
        return (
            f"mechanism={self.mechanism}, epsilon={self.epsilon}, delta={self.delta}, L={self.L}, "
            f"norm={self.norm}, scale={self.scale:.4g}, seed={self.seed}"
        )

    def _sample(self, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        if self.mechanism == "gaussian":
            return torch.randn(shape, generator=generator) * self.scale
        # Laplace(0, b) by inverse CDF of a seeded uniform in (-1/2, 1/2).
        u = torch.rand(shape, generator=generator).clamp(1e-7, 1 - 1e-7) - 0.5
        return -self.scale * torch.sign(u) * torch.log1p(-2.0 * u.abs())

    def eval_noise(self, feature_shape: tuple[int, ...]) -> torch.Tensor:
        """The ``(draws, *feature_shape)`` noise used in eval mode (re-seeded from ``seed``)."""
        key = (tuple(feature_shape), self.draws, self.seed)
        if self._bank is None or self._bank_key != key:
            if torch.compiler.is_compiling():
                raise DiverfuzzError(
                    "the PixelDP noise for this input shape was never drawn, so export would trace a random op; "
                    "call model.warm_up(input_shape) (or run the model once in eval mode) before exporting "
                    "or quantizing it"
                )
            generator = torch.Generator().manual_seed(self.seed)
            self._bank = self._sample((self.draws, *feature_shape), generator)
            self._bank_key = key
        return self._bank

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if not self.enabled or self.scale == 0.0:
            return h
        if self.training:
            return h + self._sample(tuple(h.shape), self._train_gen).to(h.dtype)
        noise = self.eval_noise(tuple(h.shape[1:])).to(h.dtype)
        return h + noise.repeat_interleave(h.shape[0] // self.draws, dim=0)


class _NormalisedNoisy(nn.Module):
    """A Linear/Conv layer with weights divided by their sensitivity, then the noise layer."""

    def __init__(self, layer: nn.Module, noise: PixelDPNoise) -> None:
        super().__init__()
        self.layer = layer
        self.noise = noise

    def normalised_weight(self) -> torch.Tensor:
        q = 2 if self.noise.mechanism == "gaussian" else 1
        w = self.layer.weight
        return w / layer_sensitivity(w, norm=self.noise.norm, q=q)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.normalised_weight()
        if isinstance(self.layer, nn.Linear):
            h = F.linear(x, w, self.layer.bias)
        else:
            h = self.layer._conv_forward(x, w, self.layer.bias)
        return self.noise(h)


_LAYER_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _first_layer(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[nn.Module, str, nn.Module]:
    """The first Linear/Conv layer a forward pass calls (forward hooks), with its parent."""
    order = execution_order(model, input_shape, types=_LAYER_TYPES)
    if not order:
        raise DiverfuzzError(
            f"model={type(model).__name__}: PixelDP needs a Linear or Conv layer to put the noise after; "
            "none runs in its forward pass"
        )
    name, module = order[0]
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    return parent, attr, module


class PixelDPModel(nn.Module):
    """A network with PixelDP's normalised first layer and noise layer.

    Parameters
    ----------
    network : nn.Module
        The base network; it is deep-copied, never modified. The first
        ``Linear``/``Conv`` layer its forward pass calls (found with forward
        hooks, not registration order) gets its weights normalised to
        sensitivity 1 and is followed by :class:`PixelDPNoise`.
    input_shape : tuple of int
        One input's shape (no batch axis), e.g. ``(1, 8, 8)``: the network
        is run once on zeros of this shape to find its first layer.
    epsilon, delta, L, mechanism, norm, seed
        As for :class:`PixelDPNoise`.
    draws : int
        Noise draws per prediction in eval mode (paper: 300).
    noise : bool
        ``False`` switches the noise off: the model then returns the base
        network's logits (with the normalised first layer) exactly.

    Notes
    -----
    Training mode: one noise draw per input, logits returned (the paper trains
    with noise, [1] Section III-C). Eval mode: the input batch is repeated
    ``draws`` times, and the output is ``log(mean_i softmax(logits_i))``,
    the log of the expected scores whose argmax is the PixelDP prediction
    ([1], Section III-C, Eq. 6). Deterministic given ``seed``.
    """

    def __init__(
        self,
        network: nn.Module,
        *,
        input_shape: tuple[int, ...],
        epsilon: float = DEFAULT_EPSILON,
        delta: float = DEFAULT_DELTA,
        L: float = DEFAULT_L,
        mechanism: str = "gaussian",
        norm: int = 2,
        draws: int = DEFAULT_DRAWS,
        seed: int = 0,
        noise: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(draws, int) or draws < 1:
            raise DiverfuzzError(f"draws={draws!r} must be an int >= 1 (paper: 300)")
        self.network = copy.deepcopy(network)
        parent, attr, layer = _first_layer(self.network, tuple(input_shape))
        self.noise_layer = PixelDPNoise(epsilon, delta, L, mechanism=mechanism, norm=norm, seed=seed)
        self.noise_layer.enabled = bool(noise)
        self.noise_layer.draws = draws
        setattr(parent, attr, _NormalisedNoisy(layer, self.noise_layer))

    @property
    def draws(self) -> int:
        return self.noise_layer.draws

    @draws.setter
    def draws(self, value: int) -> None:
        if not isinstance(value, int) or value < 1:
            raise DiverfuzzError(f"draws={value!r} must be an int >= 1 (paper: 300)")
        self.noise_layer.draws = value

    def warm_up(self, input_shape: tuple[int, ...]) -> PixelDPModel:
        """Draw the eval-mode noise for inputs of ``input_shape`` (one input, no batch axis).

        Call before ``torch.export``/quantization (e.g. ``build_counterpart``),
        so the fixed, seeded noise is a constant of the exported graph.
        Returns ``self``.
        """
        training = self.training
        self.eval()
        with torch.no_grad():
            self(torch.zeros((1, *input_shape)))
        self.train(training)
        return self

    @property
    def noisy(self) -> bool:
        return self.noise_layer.enabled and self.noise_layer.scale > 0

    def config(self) -> dict:
        """The defense's parameters (JSON-ready)."""
        n = self.noise_layer
        return {
            "mechanism": n.mechanism,
            "epsilon": n.epsilon,
            "delta": n.delta,
            "L": n.L,
            "norm": n.norm,
            "scale": n.scale,
            "draws": n.draws,
            "seed": n.seed,
        }

    def sample_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for each noise draw, ``(draws, N, classes)`` (eval-mode noise)."""
        if not self.noisy:
            return self.network(x).unsqueeze(0)
        n = self.noise_layer.draws
        out = self.network(x.repeat(n, *([1] * (x.ndim - 1))))
        return out.reshape(n, x.shape[0], -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or not self.noisy:
            return self.network(x)
        probs = torch.softmax(self.sample_logits(x), dim=-1).mean(dim=0)
        return torch.log(probs.clamp_min(1e-30))


def pixeldp_model(
    build_or_model: Union[nn.Module, Callable[[], nn.Module]],
    **params: float | int | str | bool,
) -> PixelDPModel:
    """Wrap a network (or a zero-argument builder of one) as a :class:`PixelDPModel`.

    Parameters
    ----------
    build_or_model : nn.Module or callable
        The base network, or a factory returning one. A module is deep-copied.
    **params
        ``input_shape`` (required), ``epsilon``, ``delta``, ``L``,
        ``mechanism``, ``norm``, ``draws``, ``seed``, ``noise``, as for
        :class:`PixelDPModel`.

    Notes
    -----
    Lecuyer et al., S&P 2019: the noise layer goes right after the first layer.

    Examples
    --------
    >>> from diverfuzz.models.examples.digits import DigitsCNN
    >>> m = pixeldp_model(DigitsCNN, input_shape=(1, 8, 8), epsilon=1.0, draws=10).eval()
    >>> m(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """
    network = build_or_model if isinstance(build_or_model, nn.Module) else build_or_model()
    if not isinstance(network, nn.Module):
        raise DiverfuzzError(f"build_or_model returned {type(network).__name__}; expected a torch.nn.Module")
    return PixelDPModel(network, **params)


def train_pixeldp(
    build: Callable[[], nn.Module],
    data: ExampleData,
    *,
    seed: int = 0,
    epochs: int = 40,
    lr: float = 2e-3,
    **params: float | int | str,
) -> PixelDPModel:
    """Train a PixelDP network with noise, deterministically from ``seed``.

    Parameters
    ----------
    build : callable
        Zero-argument factory of the base network (initialised under a
        seeded, forked torch RNG).
    data : ExampleData
    seed : int
        Seeds initialisation, batch order and the noise generator.
    epochs : int, lr : float
        Adam training schedule (as :func:`diverfuzz.models.training.train_classifier`).
    **params
        PixelDP parameters (``epsilon``, ``delta``, ``L``, ``mechanism``,
        ``norm``, ``draws``); ``input_shape`` defaults to ``data``'s.

    Returns
    -------
    PixelDPModel
        In eval mode, noise on.

    Notes
    -----
    [1], Section III-C: training runs the noise layer with one fresh draw per
    input and the normalised pre-noise layer, with the ordinary loss.
    """
    params = {k: v for k, v in params.items() if k != "seed"}
    params.setdefault("input_shape", tuple(data.x_train.shape[1:]))
    model = train_classifier(lambda: PixelDPModel(build(), seed=seed, **params), data, seed=seed, epochs=epochs, lr=lr)
    return model.eval()


@dataclass(frozen=True)
class Certificate:
    """PixelDP certification of one input.

    Attributes
    ----------
    label : int
        The label the model predicts (its forward pass: argmax of the
        expected scores over its own fixed noise draws).
    certified : bool
        Whether the prediction is robust to attacks of p-norm ``<= L`` (the
        construction bound).
    radius : float
        The largest certified p-norm radius (0 when nothing is certified).
    lower, upper : float
        Lower bound on the top label's expected score, upper bound on the
        largest other label's.
    """

    label: int
    certified: bool
    radius: float
    lower: float
    upper: float

    def to_dict(self) -> dict:
        return asdict(self)


def robust_epsilon(lower: float, upper: float, delta: float, *, max_epsilon: float = math.inf) -> float:
    """Largest ``eps`` with ``lower > exp(2 eps) * upper + (1 + exp(eps)) * delta`` (0 if none).

    Notes
    -----
    [1], Proposition 1 (the robustness condition), solved for ``eps``: with
    ``t = exp(eps)`` it reads ``upper t^2 + delta t + (delta - lower) < 0``.
    """
    if lower <= upper + 2 * delta:
        return 0.0
    if upper <= 0:
        t = (lower - delta) / delta if delta > 0 else math.inf
    else:
        t = (-delta + math.sqrt(delta * delta + 4 * upper * (lower - delta))) / (2 * upper)
    eps = math.log(t) if t > 0 else 0.0
    return float(min(max(eps, 0.0), max_epsilon))


def score_bounds(
    scores: np.ndarray,
    *,
    eta: float = DEFAULT_ETA,
    bound: str = "clopper-pearson",
    labels: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted labels and confidence bounds on the expected scores.

    Parameters
    ----------
    scores : ndarray, (draws, N, K)
        Softmax scores of each draw.
    eta : float
        Total failure probability, in ``(0, 1)``; split over the ``K``
        one-sided bounds of an input (Bonferroni).
    bound : {"clopper-pearson", "hoeffding"}
        ``"clopper-pearson"``: exact binomial bounds on the expected argmax
        (one-hot) scores; ``"hoeffding"``: Hoeffding bounds on the expected
        softmax scores (the paper's choice, looser at 300 draws).
    labels : ndarray of int, (N,), optional
        The labels to bound (the model's predictions); default the argmax
        of the estimated expected scores (mean softmax), which is what
        :class:`PixelDPModel` predicts.

    Returns
    -------
    (labels, lower, upper) : ndarray (N,), ndarray (N,), ndarray (N,)
        Label, lower bound on its expected score, upper bound on the largest
        other expected score.
    """
    if bound not in BOUNDS:
        raise DiverfuzzError(f"bound={bound!r} is not one of {BOUNDS}")
    if not 0 < eta < 1:
        raise DiverfuzzError(f"eta={eta!r} must be in (0, 1) (paper: 0.05)")
    n, _, k = scores.shape
    alpha = eta / k
    if labels is None:
        labels = scores.mean(axis=0).argmax(axis=1)
    labels = np.asarray(labels, dtype=np.int64)
    if bound == "hoeffding":
        mean = scores.mean(axis=0)
        half = math.sqrt(math.log(1.0 / alpha) / (2.0 * n))
        lo = np.clip(mean - half, 0.0, 1.0)
        hi = np.clip(mean + half, 0.0, 1.0)
    else:
        counts = np.stack([np.bincount(row, minlength=k) for row in scores.argmax(axis=2).T])
        lo = np.where(counts > 0, stats.beta.ppf(alpha, counts, n - counts + 1), 0.0)
        hi = np.where(counts < n, stats.beta.ppf(1 - alpha, counts + 1, n - counts), 1.0)
    idx = np.arange(len(labels))
    lower = lo[idx, labels]
    others = hi.copy()
    others[idx, labels] = -np.inf
    return labels, lower, others.max(axis=1)


def certify(
    model: PixelDPModel,
    x: np.ndarray,
    n_draws: int = DEFAULT_DRAWS,
    eta: float = DEFAULT_ETA,
    seed: int = 0,
    *,
    bound: str = "clopper-pearson",
    batch_size: int = 64,
) -> list[Certificate]:
    """Certify PixelDP predictions on a batch, from ``n_draws`` seeded noise draws.

    Parameters
    ----------
    model : PixelDPModel
        With noise on.
    x : ndarray, float32, (N, *input_shape)
    n_draws : int
        Monte Carlo draws per input (paper: 300).
    eta : float
        Failure probability of the bounds (paper: 0.05).
    seed : int
        Noise seed for these draws (independent of the model's own seed);
        the same seed gives the same certificates.
    bound : {"clopper-pearson", "hoeffding"}
        See :func:`score_bounds`.

    Returns
    -------
    list of Certificate

    Notes
    -----
    [1], Proposition 1: if ``lower_k > e^{2 eps} upper_i + (1 + e^{eps}) delta``
    for every ``i != k``, label ``k`` is robust to attacks of p-norm ``<= L``.
    With the noise scale fixed, the mechanism is ``(eps', delta)``-DP for
    radius ``L' = L eps' / epsilon``, so the certified radius is
    ``L * robust_epsilon(lower, upper, delta) / epsilon``, capped for the
    Gaussian mechanism at ``L / epsilon`` (its bound needs ``eps' <= 1``).
    """
    if not isinstance(model, PixelDPModel):
        raise DiverfuzzError(f"model={type(model).__name__}: certify needs a PixelDPModel")
    if not model.noisy:
        raise DiverfuzzError("model has its noise off (noise=False or epsilon=inf); nothing can be certified")
    if not isinstance(n_draws, int) or n_draws < 1:
        raise DiverfuzzError(f"n_draws={n_draws!r} must be an int >= 1 (paper: 300)")
    noise = model.noise_layer
    training = model.training
    model.eval()
    try:
        # The certified label is the label the model predicts (its own noise
        # seed and draws), never a separate vote of the certification draws.
        predicted = batched_logits(model, x, batch_size=batch_size).argmax(axis=1)
    finally:
        model.train(training)
    saved = (noise.seed, noise.draws, model.training, noise._bank, noise._bank_key)
    noise.seed, noise.draws = int(seed), n_draws
    model.eval()
    try:
        chunks = []
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size], dtype=np.float32))
                chunks.append(torch.softmax(model.sample_logits(batch), dim=-1).double().numpy())
    finally:
        noise.seed, noise.draws = saved[0], saved[1]
        noise._bank, noise._bank_key = saved[3], saved[4]
        model.train(saved[2])
    scores = np.concatenate(chunks, axis=1)
    labels, lower, upper = score_bounds(scores, eta=eta, bound=bound, labels=predicted)
    max_eps = 1.0 if noise.mechanism == "gaussian" else math.inf
    out = []
    for label, lo, hi in zip(labels, lower, upper):
        eps = robust_epsilon(float(lo), float(hi), noise.delta, max_epsilon=max_eps)
        certified = eps >= noise.epsilon and eps > 0
        out.append(Certificate(int(label), bool(certified), noise.L * eps / noise.epsilon, float(lo), float(hi)))
    return out


def certified_accuracy(certificates: list[Certificate], y: np.ndarray, radius: float | None = None) -> float:
    """Fraction of inputs both correctly predicted and certified.

    Parameters
    ----------
    certificates : list of Certificate
    y : ndarray of int, (N,)
    radius : float, optional
        Default: certified at the construction bound ``L``
        (``Certificate.certified``). Otherwise: certified radius ``> 0`` and
        ``>= radius`` (``radius=0``: any certificate at all).
    """
    if radius is None:
        ok = [c.certified and c.label == int(t) for c, t in zip(certificates, y)]
    else:
        ok = [c.radius > 0 and c.radius >= radius and c.label == int(t) for c, t in zip(certificates, y)]
    return float(np.mean(ok)) if ok else float("nan")


__all__ = [
    "Certificate",
    "PixelDPModel",
    "PixelDPNoise",
    "certified_accuracy",
    "certify",
    "layer_sensitivity",
    "noise_scale",
    "pixeldp_model",
    "robust_epsilon",
    "score_bounds",
    "train_pixeldp",
]

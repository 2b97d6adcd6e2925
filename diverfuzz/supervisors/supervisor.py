"""Supervisors: uncertainty monitors that score inputs and reject suspicious ones.

A supervisor maps a batch to scores, higher meaning more suspicious. Its
threshold is calibrated on nominal (unfuzzed) inputs so that a chosen
fraction of them (the false-alarm rate, default 5%) score above it; inputs
scoring above the threshold are rejected.

References
----------
.. [1] D. Hendrycks and K. Gimpel, "A Baseline for Detecting Misclassified and
   Out-of-Distribution Examples in Neural Networks", ICLR 2017 (max softmax).
.. [2] Y. Feng, Q. Shi, X. Gao, J. Wan, C. Fang and Z. Chen, "DeepGini:
   Prioritizing Massive Tests to Enhance the Robustness of Deep Neural
   Networks", ISSTA 2020.
.. [3] Y. Gal and Z. Ghahramani, "Dropout as a Bayesian Approximation", ICML 2016.
.. [4] B. Lakshminarayanan, A. Pritzel and C. Blundell, "Simple and Scalable
   Predictive Uncertainty Estimation using Deep Ensembles", NeurIPS 2017.
.. [5] M. Weiss and P. Tonella, "Fail-Safe Execution of Deep Learning based
   Systems through Uncertainty Monitoring", ICST 2021 (prediction confidence
   score, variance ratio, and the supervisor evaluation protocol).
"""

from __future__ import annotations

import copy
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.inference import batched_logits
from diverfuzz.models.layers import leaf_modules
from diverfuzz.supervisors.quantifiers import (
    POINT_QUANTIFIERS,
    SAMPLED_QUANTIFIERS,
    entropy,
    point_quantity,
    sampled_quantity,
    softmax,
)

Model = Callable[[torch.Tensor], torch.Tensor]
SAMPLED_QUANTITIES = tuple(SAMPLED_QUANTIFIERS)


class Supervisor:
    """Base class: ``score`` (higher = more suspicious), ``calibrate`` and ``accepts``.

    Attributes
    ----------
    name : str
    threshold : float or None
        Set by :meth:`calibrate`; inputs with ``score > threshold`` are rejected.
    """

    name = "supervisor"

    def __init__(self) -> None:
        self.threshold: float | None = None

    def score(self, x: np.ndarray) -> np.ndarray:
        """Scores of a batch ``(N, *input_shape)``: float64 ``(N,)``, higher = more suspicious."""
        raise NotImplementedError

    def calibrate(self, nominal_x: np.ndarray, false_alarm: float = 0.05) -> float:
        """Set the threshold so at most ``false_alarm`` of ``nominal_x`` is rejected.

        Parameters
        ----------
        nominal_x : ndarray, (N, *input_shape)
            Nominal inputs, ``N >= 1``.
        false_alarm : float
            Target false-alarm rate in ``(0, 1)`` (default 0.05).

        Returns
        -------
        float
            The threshold: the ``ceil((1 - false_alarm) N)``-th smallest
            nominal score (``np.quantile(..., method="higher")``), so the
            fraction of calibration inputs above it is at most ``false_alarm``
            and exceeds it by less than ``1/N`` plus the mass of ties.
        """
        if not (isinstance(false_alarm, (int, float)) and 0 < false_alarm < 1):
            raise DiverfuzzError(f"false_alarm={false_alarm!r} must be in (0, 1), e.g. 0.05 for 5%")
        if len(nominal_x) == 0:
            raise DiverfuzzError("nominal_x is empty: calibration needs at least one nominal input")
        scores = self.score(nominal_x)
        self.threshold = float(np.quantile(scores, 1.0 - false_alarm, method="higher"))
        return self.threshold

    def accepts(self, x: np.ndarray) -> np.ndarray:
        """Boolean ``(N,)``: ``score(x) <= threshold``."""
        if self.threshold is None:
            raise DiverfuzzError(f"supervisor {self.name!r} is not calibrated; call calibrate(nominal_x) first")
        return self.score(x) <= self.threshold

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, threshold={self.threshold})"


class SoftmaxSupervisor(Supervisor):
    """A point-prediction supervisor computed from one model's softmax.

    Parameters
    ----------
    model : nn.Module or callable
        Batch -> logits; a module is used in eval mode.
    kind : {"max_softmax", "margin", "entropy", "deepgini"}
        ``max_softmax``: ``1 - max_k p_k`` (Hendrycks and Gimpel [1]);
        ``margin``: ``1 - (p_(1) - p_(2))``, one minus the prediction
        confidence score [5]; ``entropy``: softmax entropy [5];
        ``deepgini``: ``1 - sum_k p_k^2`` (Feng et al. [2]).
    """

    KINDS = tuple(POINT_QUANTIFIERS)

    def __init__(self, model: Model, kind: str) -> None:
        super().__init__()
        if kind not in self.KINDS:
            raise DiverfuzzError(f"kind={kind!r} is not one of {self.KINDS}")
        if isinstance(model, nn.Module):
            model.eval()
        self.model, self.kind, self.name = model, kind, kind

    def score(self, x: np.ndarray) -> np.ndarray:
        return point_quantity(softmax(batched_logits(self.model, x)), self.kind)


class _SeededDropout(nn.Module):
    """Dropout whose masks come from a shared ``torch.Generator``, active in eval mode."""

    def __init__(self, p: float, channelwise: bool, generator: torch.Generator) -> None:
        super().__init__()
        self.p, self.channelwise, self.generator = float(p), channelwise, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0:
            return x
        shape = x.shape[:2] + (1,) * (x.ndim - 2) if self.channelwise else x.shape
        keep = torch.rand(shape, generator=self.generator) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)


_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)


class MCDropoutSupervisor(Supervisor):
    """Monte Carlo dropout: ``samples`` stochastic passes with dropout kept on.

    Parameters
    ----------
    model : nn.Module
        Must contain ``nn.Dropout`` (or ``Dropout1d/2d/3d``) layers; it is
        deep-copied and its dropout layers replaced by seeded ones.
    quantity : {"variation_ratio", "predictive_entropy", "mutual_information", "mean_softmax"}
        See :mod:`diverfuzz.supervisors.quantifiers`.
    samples : int
        Stochastic forward passes per input (default 20, ``>= 2``).
    seed : int
        The dropout generator is re-seeded on every :meth:`score` call, so
        the same batch always gets the same score.

    Notes
    -----
    Gal and Ghahramani [3]; quantities as in Weiss and Tonella [5].
    """

    def __init__(self, model: nn.Module, quantity: str = "variation_ratio", *, samples: int = 20, seed: int = 0) -> None:
        super().__init__()
        if quantity not in SAMPLED_QUANTITIES:
            raise DiverfuzzError(f"quantity={quantity!r} is not one of {SAMPLED_QUANTITIES}")
        if not isinstance(model, nn.Module) or not any(isinstance(m, _DROPOUTS) for m in model.modules()):
            raise DiverfuzzError(
                f"model={type(model).__name__}: MC dropout needs a torch.nn.Module with dropout layers "
                "(nn.Dropout, nn.Dropout2d, ...); none was found. Pass a model trained with dropout "
                "as mc_model, or use the softmax supervisors"
            )
        if not isinstance(samples, int) or samples < 2:
            raise DiverfuzzError(f"samples={samples!r} must be an int >= 2 (e.g. 20)")
        self.generator = torch.Generator()
        self.model = copy.deepcopy(model).eval()
        for name, module in leaf_modules(self.model, types=_DROPOUTS):
            parent_name, _, attr = name.rpartition(".")
            parent = self.model.get_submodule(parent_name) if parent_name else self.model
            setattr(parent, attr, _SeededDropout(module.p, not isinstance(module, nn.Dropout), self.generator))
        self.quantity, self.samples, self.seed = quantity, samples, int(seed)
        self.name = f"mc_dropout_{quantity}"

    def sample_probs(self, x: np.ndarray) -> np.ndarray:
        """Softmax of each stochastic pass, ``(samples, N, K)``."""
        self.generator.manual_seed(self.seed)
        return np.stack([softmax(batched_logits(self.model, x)) for _ in range(self.samples)])

    def score(self, x: np.ndarray) -> np.ndarray:
        return sampled_quantity(self.sample_probs(x), self.quantity)


class EnsembleSupervisor(Supervisor):
    """Deep ensemble: the disagreement of independently trained models.

    Parameters
    ----------
    models : sequence of nn.Module or callables
        At least two members.
    quantity : {"variation_ratio", "predictive_entropy", "mutual_information", "mean_softmax"}
        See :mod:`diverfuzz.supervisors.quantifiers`.

    Notes
    -----
    Lakshminarayanan et al. [4].
    """

    def __init__(self, models: Sequence[Model], quantity: str = "predictive_entropy") -> None:
        super().__init__()
        if quantity not in SAMPLED_QUANTITIES:
            raise DiverfuzzError(f"quantity={quantity!r} is not one of {SAMPLED_QUANTITIES}")
        models = list(models)
        if len(models) < 2:
            raise DiverfuzzError(f"ensemble has {len(models)} model(s); a deep ensemble needs at least 2")
        for m in models:
            if isinstance(m, nn.Module):
                m.eval()
        self.models, self.quantity = models, quantity
        self.name = f"ensemble_{quantity}"

    def score(self, x: np.ndarray) -> np.ndarray:
        probs = np.stack([softmax(batched_logits(m, x)) for m in self.models])
        return sampled_quantity(probs, self.quantity)


#: Every supervisor by name, as ``factory(model, mc_model, ensemble) -> Supervisor``.
SUPERVISORS: dict[str, Callable[..., Supervisor]] = {
    **{k: (lambda k: lambda model, mc_model, ensemble, **kw: SoftmaxSupervisor(model, k))(k) for k in SoftmaxSupervisor.KINDS},
    **{
        f"mc_dropout_{q}": (lambda q: lambda model, mc_model, ensemble, **kw: MCDropoutSupervisor(mc_model, q, **kw))(q)
        for q in SAMPLED_QUANTITIES
    },
    **{
        f"ensemble_{q}": (lambda q: lambda model, mc_model, ensemble, **kw: EnsembleSupervisor(ensemble, q))(q)
        for q in SAMPLED_QUANTITIES
    },
}


def build_supervisors(
    model: Model,
    *,
    mc_model: nn.Module | None = None,
    ensemble: Sequence[Model] | None = None,
    samples: int = 20,
    seed: int = 0,
) -> list[Supervisor]:
    """Every supervisor that applies: softmax ones on ``model``, MC dropout on
    ``mc_model`` (when given), ensemble ones on ``ensemble`` (when given).

    Parameters
    ----------
    model : nn.Module or callable
        The monitored model.
    mc_model : nn.Module, optional
        A model with dropout layers (often ``model`` itself); raises
        :class:`DiverfuzzError` if it has none.
    ensemble : sequence of models, optional
        At least two members.
    samples, seed : int
        MC dropout passes and dropout seed.

    Returns
    -------
    list of Supervisor
        Uncalibrated, in :data:`SUPERVISORS` order.
    """
    out: list[Supervisor] = []
    for name, factory in SUPERVISORS.items():
        if name.startswith("mc_dropout_"):
            if mc_model is None:
                continue
            out.append(factory(model, mc_model, ensemble, samples=samples, seed=seed))
        elif name.startswith("ensemble_"):
            if ensemble is None:
                continue
            out.append(factory(model, mc_model, ensemble))
        else:
            out.append(factory(model, mc_model, ensemble))
    return out


__all__ = [
    "SAMPLED_QUANTITIES",
    "SUPERVISORS",
    "EnsembleSupervisor",
    "MCDropoutSupervisor",
    "SoftmaxSupervisor",
    "Supervisor",
    "build_supervisors",
    "entropy",
    "point_quantity",
    "sampled_quantity",
    "softmax",
]

"""Defensive distillation: a student trained on a tempered teacher's soft labels.

References
----------
.. [1] N. Papernot, P. McDaniel, X. Wu, S. Jha and A. Swami, "Distillation as
   a Defense to Adversarial Perturbations against Deep Neural Networks",
   IEEE S&P 2016 (arXiv:1511.04508).
.. [2] N. Carlini and D. Wagner, "Defensive Distillation is Not Robust to
   Adversarial Examples", arXiv:1607.04311, 2016 (dividing the logits by T
   restores the gradients distillation masks).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import nn

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.training import ExampleData, train_classifier

#: Papernot et al. evaluate T in 1..100 and report the largest robustness gain at
#: T = 100 ([1], Section V); Carlini and Wagner [2] attack the T = 100 networks.
DEFAULT_TEMPERATURE = 100.0


class Tempered(nn.Module):
    """``network(x) / temperature``: the softmax at temperature ``T`` as logits.

    Parameters
    ----------
    network : nn.Module
        Not copied: training a ``Tempered`` trains ``network``.
    temperature : float
        ``> 0``.
    """

    def __init__(self, network: nn.Module, temperature: float) -> None:
        super().__init__()
        _check_temperature(temperature)
        self.network = network
        self.temperature = float(temperature)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x) / self.temperature


def _check_temperature(temperature: float) -> None:
    if not isinstance(temperature, (int, float)) or not (0 < temperature < math.inf):
        raise DiverfuzzError(
            f"temperature={temperature!r} must be a finite number > 0 (paper: 20 to 100; 1 means no distillation)"
        )


def distill(
    build: Callable[[], nn.Module],
    data: ExampleData,
    *,
    temperature: float = DEFAULT_TEMPERATURE,
    seed: int = 0,
    epochs: int = 20,
    lr: float = 2e-3,
    batch_size: int = 64,
    return_teacher: bool = False,
) -> nn.Module | tuple[nn.Module, nn.Module]:
    """Train a defensively distilled network.

    Parameters
    ----------
    build : callable
        Zero-argument factory of the architecture (teacher and student share it,
        as in the paper). Initialised under a seeded, forked torch RNG.
    data : ExampleData
        Training split used for both networks.
    temperature : float
        Distillation temperature ``T > 0`` (default 100, as in [1] and [2]).
    seed : int
        Seeds both networks' initialisation and batch order (student: ``seed + 1``).
    epochs : int
        Epochs for each of the two trainings (default 20).
    lr, batch_size
        Adam learning rate and batch size. Both trainings run through
        :func:`diverfuzz.models.training.train_classifier` (the one loop).
    return_teacher : bool
        Also return the teacher (whose raw logits are its softmax at ``T``
        times ``T``).

    Returns
    -------
    nn.Module or (student, teacher)
        The student in eval mode, deployed at ``T = 1``: its raw logits.

    Notes
    -----
    [1], Section IV: (1) train the teacher with softmax at temperature ``T``;
    (2) label the training set with the teacher's probabilities at ``T``;
    (3) train the student on those soft labels at temperature ``T``;
    (4) deploy the student at temperature 1, which makes its softmax saturate
    (its logits are about ``T`` times larger than an undistilled network's).

    Examples
    --------
    >>> from diverfuzz.models.examples.digits import DigitsCNN, load_digits_data
    >>> student = distill(DigitsCNN, load_digits_data(), temperature=20, epochs=1)
    """
    _check_temperature(temperature)
    if not isinstance(epochs, int) or epochs < 1:
        raise DiverfuzzError(f"epochs={epochs!r} must be an int >= 1")
    teacher = train_classifier(build, data, seed=seed, epochs=epochs, lr=lr, batch_size=batch_size, temperature=temperature)
    with torch.no_grad():
        soft = torch.softmax(teacher(torch.from_numpy(data.x_train)) / temperature, dim=1).numpy()
    # Cross-entropy against the teacher's probabilities at T (soft targets).
    student = train_classifier(
        build, data, seed=seed + 1, epochs=epochs, lr=lr, batch_size=batch_size, temperature=temperature, targets=soft
    )
    return (student, teacher) if return_teacher else student


def fgsm_success(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    eps: float,
    temperature: float = 1.0,
) -> float:
    """Success rate of a one-step gradient-sign attack (FGSM) on correctly classified inputs.

    Parameters
    ----------
    model : nn.Module
        Attacked in eval mode; its predictions are judged on its raw logits.
    x : ndarray, float32, (N, *input_shape)
        Inputs in ``[0, 1]``.
    y : ndarray, int, (N,)
    eps : float
        L-infinity step, ``> 0``; adversarial inputs are clipped to ``[0, 1]``.
    temperature : float, optional
        The attacker's loss is cross-entropy of ``model(x) / temperature``
        (default 1: the deployed logits). Carlini and Wagner [2]: against a
        student distilled at ``T``, ``temperature=T`` undoes the saturation
        that makes the ``T = 1`` gradients vanish.

    Returns
    -------
    float
        Fraction of the correctly classified inputs whose label the attack
        changes (``nan`` when none is correctly classified).

    Notes
    -----
    Goodfellow et al., ICLR 2015. A low success at ``temperature=1`` next to
    a high one at ``temperature=T`` is gradient masking, not robustness [2].
    """
    _check_temperature(temperature)
    model.eval()
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).requires_grad_(True)
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    logits = model(xt)
    correct = logits.argmax(dim=1) == yt
    torch.nn.functional.cross_entropy(logits / temperature, yt, reduction="sum").backward()
    adv = (xt + eps * xt.grad.sign()).clamp(0.0, 1.0).detach()
    with torch.no_grad():
        flipped = model(adv).argmax(dim=1) != yt
    if not bool(correct.any()):
        return float("nan")
    return float(flipped[correct].float().mean())


__all__ = ["DEFAULT_TEMPERATURE", "Tempered", "distill", "fgsm_success"]

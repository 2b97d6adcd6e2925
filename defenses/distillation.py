"""Defensive distillation: a student trained on a tempered teacher's soft labels.

References
----------
.. [1] N. Papernot, P. McDaniel, X. Wu, S. Jha and A. Swami, "Distillation as
   a Defense to Adversarial Perturbations against Deep Neural Networks",
   IEEE S&P 2016 (arXiv:1511.04508).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from fuzzer.errors import DiverfuzzError
from fuzzer.models.training import ExampleData, train_classifier

#: The paper evaluates T in 1..100 and recommends 20 to 100 ([1], Section V).
DEFAULT_TEMPERATURE = 20.0


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


def _train_soft(
    build: Callable[[], nn.Module],
    x: torch.Tensor,
    soft: torch.Tensor,
    *,
    temperature: float,
    seed: int,
    epochs: int,
    lr: float,
    batch_size: int,
) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build()
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            optimiser.zero_grad()
            log_p = torch.log_softmax(model(x[idx]) / temperature, dim=1)
            loss = -(soft[idx] * log_p).sum(dim=1).mean()
            loss.backward()
            optimiser.step()
    return model.eval()


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
        Distillation temperature ``T > 0`` (default 20; paper: 20 to 100).
    seed : int
        Seeds both networks' initialisation and batch order (student: ``seed + 1``).
    epochs : int
        Epochs for each of the two trainings (default 20).
    lr, batch_size
        Adam learning rate and batch size.
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
    >>> from fuzzer.models.examples.digits import DigitsCNN, load_digits_data
    >>> student = distill(DigitsCNN, load_digits_data(), temperature=20, epochs=1)
    """
    _check_temperature(temperature)
    if not isinstance(epochs, int) or epochs < 1:
        raise DiverfuzzError(f"epochs={epochs!r} must be an int >= 1")
    tempered = train_classifier(lambda: Tempered(build(), temperature), data, seed=seed, epochs=epochs, lr=lr)
    teacher = tempered.network.eval()
    x = torch.from_numpy(data.x_train)
    with torch.no_grad():
        soft = torch.softmax(teacher(x) / temperature, dim=1)
    student = _train_soft(
        build, x, soft, temperature=temperature, seed=seed + 1, epochs=epochs, lr=lr, batch_size=batch_size
    )
    return (student, teacher) if return_teacher else student


__all__ = ["DEFAULT_TEMPERATURE", "Tempered", "distill"]

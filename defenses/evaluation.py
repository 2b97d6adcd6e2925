"""Score supervisors on divergence-inducing inputs versus nominal inputs.

References
----------
.. [1] M. Weiss and P. Tonella, "Fail-Safe Execution of Deep Learning based
   Systems through Uncertainty Monitoring", ICST 2021 (AUROC, true-positive
   rate at a calibrated threshold, acceptance and accuracy of accepted inputs).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from defenses.supervisors import Supervisor
from fuzzer.errors import DiverfuzzError
from fuzzer.models.inference import batched_logits


@dataclass(frozen=True)
class SupervisorScore:
    """How well one supervisor separates divergent from nominal inputs.

    Attributes
    ----------
    name : str
        The supervisor's name.
    auroc : float
        Area under the ROC curve of the scores, divergent (positive) versus
        held-out nominal (negative) inputs; ``nan`` if either set is empty.
    tpr_at_threshold : float
        Fraction of divergent inputs rejected at the calibrated threshold.
    nominal_acceptance : float
        Fraction of held-out nominal inputs accepted.
    accepted_accuracy : float
        Top-1 accuracy of ``model`` on the accepted held-out nominal inputs
        (``nan`` if none is accepted).
    """

    name: str
    auroc: float
    tpr_at_threshold: float
    nominal_acceptance: float
    accepted_accuracy: float

    def to_dict(self) -> dict:
        """JSON-ready dict (``nan`` becomes ``None``)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def split_nominal(n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (calibration, held-out) index halves of ``range(n)``, shuffled from ``seed``."""
    order = np.random.default_rng(seed).permutation(n)
    half = n // 2
    return np.sort(order[:half]), np.sort(order[half:])


def evaluate_supervisors(
    supervisors: Sequence[Supervisor],
    nominal_x: np.ndarray,
    nominal_y: np.ndarray,
    divergent_x: np.ndarray,
    *,
    false_alarm: float = 0.05,
    model: Callable[[torch.Tensor], torch.Tensor],
    seed: int = 0,
) -> list[SupervisorScore]:
    """Calibrate each supervisor on half the nominal data and score it on the rest.

    Parameters
    ----------
    supervisors : sequence of Supervisor
        Recalibrated here (their ``threshold`` is overwritten).
    nominal_x, nominal_y : ndarray
        Unfuzzed inputs ``(N, *input_shape)`` with labels ``(N,)``, ``N >= 2``.
    divergent_x : ndarray
        Divergence-inducing inputs ``(M, *input_shape)`` (may be empty).
    false_alarm : float
        Calibration false-alarm rate in ``(0, 1)`` (default 0.05).
    model : nn.Module or callable
        The monitored model, for the accuracy of accepted inputs.
    seed : int
        Seeds the split of the nominal data.

    Returns
    -------
    list of SupervisorScore

    Notes
    -----
    The nominal data is split at random (from ``seed``) into two halves:
    thresholds are calibrated on the first, and acceptance, accepted
    accuracy and the negatives of the AUROC come from the second, so no
    number is measured on the data that set the threshold (Weiss and
    Tonella [1] likewise calibrate on a held-out nominal set).
    """
    from sklearn.metrics import roc_auc_score

    nominal_x = np.asarray(nominal_x, dtype=np.float32)
    nominal_y = np.asarray(nominal_y)
    divergent_x = np.asarray(divergent_x, dtype=np.float32)
    if len(nominal_x) < 2 or len(nominal_x) != len(nominal_y):
        raise DiverfuzzError(
            f"nominal_x has {len(nominal_x)} inputs and nominal_y {len(nominal_y)} labels; "
            "pass at least 2 labelled nominal inputs"
        )
    calib, held = split_nominal(len(nominal_x), seed=seed)
    held_x, held_y = nominal_x[held], nominal_y[held]
    pred = batched_logits(model, held_x).argmax(axis=1)
    out = []
    for sup in supervisors:
        threshold = sup.calibrate(nominal_x[calib], false_alarm)
        s_nom = sup.score(held_x)
        s_div = sup.score(divergent_x) if len(divergent_x) else np.zeros(0)
        accepted = s_nom <= threshold
        if len(s_div):
            labels = np.r_[np.zeros(len(s_nom)), np.ones(len(s_div))]
            auroc = float(roc_auc_score(labels, np.r_[s_nom, s_div]))
            tpr = float(np.mean(s_div > threshold))
        else:
            auroc = tpr = float("nan")
        acc = float(np.mean(pred[accepted] == held_y[accepted])) if accepted.any() else float("nan")
        out.append(SupervisorScore(sup.name, auroc, tpr, float(accepted.mean()), acc))
    return out


__all__ = ["SupervisorScore", "evaluate_supervisors", "split_nominal"]

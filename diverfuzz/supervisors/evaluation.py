"""Score supervisors on divergence-inducing inputs against matched and nominal negatives.

Two questions, two columns:

* **matched** (the deployment question): among valid mutants that look alike
  (same seeds, same relation chains, same validity rule, similar distortion),
  does the monitor reject the ones on which the deployed model disagrees
  with the full-precision one? Negatives are such mutants on which the two
  models agree.
* **nominal** (the usual, easier question): are divergence-inducing mutants
  more suspicious than clean test inputs? Any confidence score separates
  "distorted to the decision boundary" from "clean", so this AUROC is high
  almost by construction; it is kept as a second, labelled column.

Thresholds follow Weiss and Tonella's S1/S5/S10 protocol [1]: set on the
correctly classified inputs of a calibration half of the nominal data so
that 1%, 5% or 10% of them are rejected; acceptance and accuracy of the
accepted inputs are measured on the other, held-out half.

References
----------
.. [1] M. Weiss and P. Tonella, "Fail-Safe Execution of Deep Learning based
   Systems through Uncertainty Monitoring", ICST 2021.
.. [2] B. Efron and R. Tibshirani, "An Introduction to the Bootstrap",
   Chapman & Hall, 1993 (percentile intervals).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.inference import batched_logits
from diverfuzz.supervisors.supervisor import Supervisor

#: Weiss and Tonella's false-alarm rates, by protocol name.
FALSE_ALARMS = {"S1": 0.01, "S5": 0.05, "S10": 0.10}

#: Bootstrap resamples behind every 95% interval.
BOOTSTRAP_RESAMPLES = 1000


@dataclass(frozen=True)
class SupervisorScore:
    """How well one supervisor separates divergent from non-divergent inputs.

    Attributes
    ----------
    name : str
        The supervisor's name.
    auroc : float
        Same as ``auroc_nominal`` (kept for older readers).
    tpr_at_threshold : float
        Fraction of divergent inputs rejected at the ``false_alarm`` threshold.
    nominal_acceptance : float
        Fraction of held-out nominal inputs accepted at that threshold.
    accepted_accuracy : float
        Top-1 accuracy of the monitored model on the accepted held-out
        nominal inputs (``nan`` if none is accepted).
    monitored : {"reference", "candidate"}
        Which model the supervisor's scores are computed from.
    auroc_matched, auroc_nominal : float
        AUROC, divergent (positive) versus matched negatives / held-out
        nominal inputs; ``nan`` when either side is empty.
    auroc_matched_ci, auroc_nominal_ci : list of float
        Bootstrap 95% percentile intervals ``[low, high]``.
    average_precision : float
        Average precision, divergent versus matched negatives (``nan``
        without matched negatives); its chance level is the positive share
        ``n_divergent / (n_divergent + n_matched)``.
    average_precision_nominal : float
        The same against held-out nominal inputs.
    n_divergent, n_matched, n_nominal : int
        Sizes of the three sets (``n_nominal``: the held-out half).
    at : dict
        ``{"S1": {...}, "S5": {...}, "S10": {...}}``, each with
        ``false_alarm``, ``threshold``, ``tpr``, ``tpr_ci``, ``acceptance``,
        ``accepted_accuracy`` and ``matched_rejection`` (fraction of matched
        negatives rejected: a monitor that helps rejects far more divergent
        than matched inputs).
    """

    name: str
    auroc: float
    tpr_at_threshold: float
    nominal_acceptance: float
    accepted_accuracy: float
    monitored: str = "reference"
    auroc_matched: float = float("nan")
    auroc_matched_ci: list = field(default_factory=lambda: [float("nan"), float("nan")])
    auroc_nominal: float = float("nan")
    auroc_nominal_ci: list = field(default_factory=lambda: [float("nan"), float("nan")])
    average_precision: float = float("nan")
    average_precision_nominal: float = float("nan")
    n_divergent: int = 0
    n_matched: int = 0
    n_nominal: int = 0
    at: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready dict (``nan`` becomes ``None``, also inside lists and dicts)."""
        return _jsonable(asdict(self))


def _jsonable(value):
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def split_nominal(n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (calibration, held-out) index halves of ``range(n)``, shuffled from ``seed``."""
    order = np.random.default_rng(seed).permutation(n)
    half = n // 2
    return np.sort(order[:half]), np.sort(order[half:])


def auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Area under the ROC curve, ``pos`` scored above ``neg`` (ties count half).

    The Mann-Whitney statistic divided by ``len(pos) * len(neg)``; equal to
    ``sklearn.metrics.roc_auc_score``. ``nan`` when either side is empty.
    """
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    ranks = rankdata(np.r_[pos, neg])
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2.0
    return float(u / (len(pos) * len(neg)))


def bootstrap_auroc(
    pos: np.ndarray, neg: np.ndarray, rng: np.random.Generator, *, resamples: int = BOOTSTRAP_RESAMPLES
) -> list[float]:
    """Percentile 95% interval of the AUROC, resampling positives and negatives separately.

    Parameters
    ----------
    pos, neg : ndarray, (P,), (Q,)
    rng : numpy.random.Generator
        The only source of randomness.
    resamples : int, optional
        Default 1000.

    Returns
    -------
    [low, high] : list of float
        ``[nan, nan]`` when either side is empty.
    """
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    if len(pos) == 0 or len(neg) == 0:
        return [float("nan"), float("nan")]
    stats = np.empty(resamples)
    for b in range(resamples):
        stats[b] = auroc(pos[rng.integers(0, len(pos), len(pos))], neg[rng.integers(0, len(neg), len(neg))])
    return [float(v) for v in np.percentile(stats, [2.5, 97.5])]


def bootstrap_rate(
    hits: np.ndarray, rng: np.random.Generator, *, resamples: int = BOOTSTRAP_RESAMPLES
) -> list[float]:
    """Percentile 95% interval of the mean of a boolean array (``[nan, nan]`` when empty)."""
    hits = np.asarray(hits, float)
    if len(hits) == 0:
        return [float("nan"), float("nan")]
    means = rng.binomial(len(hits), hits.mean(), size=resamples) / len(hits)
    return [float(v) for v in np.percentile(means, [2.5, 97.5])]


def _average_precision(pos: np.ndarray, neg: np.ndarray) -> float:
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    return float(average_precision_score(np.r_[np.ones(len(pos)), np.zeros(len(neg))], np.r_[pos, neg]))


def _operating_points(
    s_cal: np.ndarray,
    s_nom: np.ndarray,
    s_div: np.ndarray,
    s_match: np.ndarray,
    held_correct: np.ndarray,
    rng: np.random.Generator,
    resamples: int,
) -> dict[str, dict]:
    """One supervisor's row at each of :data:`FALSE_ALARMS` (S1/S5/S10).

    Each threshold is the ``(1 - false alarm)`` quantile of the calibration
    scores ``s_cal``; at it: the share of divergent inputs rejected (with a
    bootstrap interval drawn from ``rng``), of held-out nominal inputs
    accepted and their accuracy, and of matched negatives rejected.
    """
    at = {}
    for key, fa in FALSE_ALARMS.items():
        thr = float(np.quantile(s_cal, 1.0 - fa, method="higher"))
        accepted = s_nom <= thr
        rejected = s_div > thr
        at[key] = {
            "false_alarm": fa,
            "threshold": thr,
            "tpr": float(rejected.mean()) if len(s_div) else float("nan"),
            "tpr_ci": bootstrap_rate(rejected, rng, resamples=resamples),
            "acceptance": float(accepted.mean()),
            "accepted_accuracy": float(held_correct[accepted].mean()) if accepted.any() else float("nan"),
            "matched_rejection": float((s_match > thr).mean()) if len(s_match) else float("nan"),
        }
    return at


def evaluate_supervisors(
    supervisors: Sequence[Supervisor],
    nominal_x: np.ndarray,
    nominal_y: np.ndarray,
    divergent_x: np.ndarray,
    *,
    model: Callable[[torch.Tensor], torch.Tensor],
    matched_x: np.ndarray | None = None,
    false_alarm: float = 0.05,
    monitored: str = "reference",
    seed: int = 0,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> list[SupervisorScore]:
    """Calibrate each supervisor on half the nominal data and score it on the rest.

    Parameters
    ----------
    supervisors : sequence of Supervisor
        Their ``threshold`` is set here, at ``false_alarm``.
    nominal_x, nominal_y : ndarray
        Unfuzzed inputs ``(N, *input_shape)`` with labels ``(N,)``, ``N >= 2``.
    divergent_x : ndarray
        Divergence-inducing inputs ``(M, *input_shape)`` (may be empty).
    model : nn.Module or callable
        The monitored model: its predictions pick the correctly classified
        calibration inputs and give the accuracy of accepted inputs.
    matched_x : ndarray, optional
        Matched negatives ``(R, *input_shape)``: valid mutants on which the
        models agree (see the module docstring). Without them the matched
        columns are ``nan``.
    false_alarm : float
        The threshold behind ``tpr_at_threshold``, ``nominal_acceptance`` and
        ``accepted_accuracy`` and the supervisors' own ``threshold``, in
        ``(0, 1)`` (default 0.05). S1/S5/S10 are always reported in ``at``.
    monitored : {"reference", "candidate"}
        Recorded in each row.
    seed : int
        Seeds the nominal split and the bootstrap.
    resamples : int
        Bootstrap resamples (default 1000).

    Returns
    -------
    list of SupervisorScore

    Notes
    -----
    Thresholds are the ``(1 - false_alarm)`` quantile (``method="higher"``)
    of the scores of the correctly classified calibration inputs [1]; no
    reported number is measured on the inputs that set a threshold. The
    AUROC intervals resample positives and negatives separately; the TPR
    intervals resample the positives with the threshold held fixed.
    """
    if not (isinstance(false_alarm, (int, float)) and 0 < false_alarm < 1):
        raise DiverfuzzError(f"false_alarm={false_alarm!r} must be in (0, 1), e.g. 0.05 for 5%")
    if monitored not in ("reference", "candidate"):
        raise DiverfuzzError(f"monitored={monitored!r} must be 'reference' or 'candidate'")
    nominal_x = np.asarray(nominal_x, dtype=np.float32)
    nominal_y = np.asarray(nominal_y)
    divergent_x = np.asarray(divergent_x, dtype=np.float32)
    matched_x = np.zeros((0, *nominal_x.shape[1:]), np.float32) if matched_x is None else np.asarray(matched_x, np.float32)
    if len(nominal_x) < 2 or len(nominal_x) != len(nominal_y):
        raise DiverfuzzError(
            f"nominal_x has {len(nominal_x)} inputs and nominal_y {len(nominal_y)} labels; "
            "pass at least 2 labelled nominal inputs"
        )
    calib, held = split_nominal(len(nominal_x), seed=seed)
    pred = batched_logits(model, nominal_x).argmax(axis=1)
    calib_ok = calib[pred[calib] == nominal_y[calib]]
    if len(calib_ok) == 0:
        raise DiverfuzzError("the monitored model classifies no calibration input correctly; thresholds cannot be set")
    held_correct = pred[held] == nominal_y[held]
    parts = [nominal_x[calib_ok], nominal_x[held], divergent_x, matched_x]
    bounds = np.cumsum([0] + [len(p) for p in parts])
    everything = np.concatenate([p.reshape(len(p), *nominal_x.shape[1:]) for p in parts])
    out = []
    for i, sup in enumerate(supervisors):
        rng = np.random.default_rng([seed, i])
        scores = sup.score(everything)
        s_cal, s_nom, s_div, s_match = (scores[bounds[j] : bounds[j + 1]] for j in range(4))
        at = _operating_points(s_cal, s_nom, s_div, s_match, held_correct, rng, resamples)
        sup.threshold = float(np.quantile(s_cal, 1.0 - false_alarm, method="higher"))
        accepted = s_nom <= sup.threshold
        nominal_auroc = auroc(s_div, s_nom)
        out.append(
            SupervisorScore(
                name=sup.name,
                auroc=nominal_auroc,
                tpr_at_threshold=float(np.mean(s_div > sup.threshold)) if len(s_div) else float("nan"),
                nominal_acceptance=float(accepted.mean()),
                accepted_accuracy=float(held_correct[accepted].mean()) if accepted.any() else float("nan"),
                monitored=monitored,
                auroc_matched=auroc(s_div, s_match),
                auroc_matched_ci=bootstrap_auroc(s_div, s_match, rng, resamples=resamples),
                auroc_nominal=nominal_auroc,
                auroc_nominal_ci=bootstrap_auroc(s_div, s_nom, rng, resamples=resamples),
                average_precision=_average_precision(s_div, s_match),
                average_precision_nominal=_average_precision(s_div, s_nom),
                n_divergent=len(s_div),
                n_matched=len(s_match),
                n_nominal=len(s_nom),
                at=at,
            )
        )
    return out


__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "FALSE_ALARMS",
    "SupervisorScore",
    "auroc",
    "bootstrap_auroc",
    "bootstrap_rate",
    "evaluate_supervisors",
    "split_nominal",
]

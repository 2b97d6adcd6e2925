"""Supervisors rank known-suspicious inputs first; thresholds hit the false-alarm rate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from defenses import SupervisorScore, build_supervisors, evaluate_supervisors
from defenses.supervisors import SUPERVISORS, EnsembleSupervisor, MCDropoutSupervisor, SoftmaxSupervisor
from fuzzer.errors import DiverfuzzError

K, R = 4, 50


def _identity() -> nn.Module:
    """Logits = the 4 input features."""
    return nn.Flatten()


def _dropout_model() -> nn.Module:
    """Replicates the features R times, drops half, averages: noisy identity."""
    up = nn.Linear(K, K * R, bias=False)
    down = nn.Linear(K * R, K, bias=False)
    with torch.no_grad():
        up.weight.copy_(torch.eye(K).repeat(R, 1))
        down.weight.copy_(torch.eye(K).repeat(1, R) / R)
    return nn.Sequential(nn.Flatten(), up, nn.Dropout(0.5), down)


class _Offset(nn.Module):
    def __init__(self, bias: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) * 3.0 + self.bias


def _ensemble() -> list[nn.Module]:
    return [_Offset(torch.tensor(b, dtype=torch.float32)) for b in ([3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 0, 0])]


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nominal: one dominant feature (margin ~10). Suspicious: a tie between features 0 and 1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)
    nominal = rng.normal(0, 0.3, (n, K)).astype(np.float32)
    nominal[np.arange(n), y] += 10.0
    suspicious = rng.normal(0, 0.05, (n, K)).astype(np.float32)
    suspicious[:, :2] += 2.0
    return nominal.reshape(n, 1, 1, K), y, suspicious.reshape(n, 1, 1, K)


def _all() -> list:
    return build_supervisors(_identity(), mc_model=_dropout_model(), ensemble=_ensemble(), samples=30, seed=0)


def test_registry_and_builder_cover_every_supervisor():
    names = [s.name for s in _all()]
    assert names == list(SUPERVISORS)
    assert len(names) == 10
    assert [s.name for s in build_supervisors(_identity())] == ["max_softmax", "margin", "entropy", "deepgini"]


@pytest.mark.parametrize("index", range(10))
def test_each_supervisor_ranks_suspicious_inputs_above_nominal(index):
    nominal, _, suspicious = _data(200, seed=1)
    sup = _all()[index]
    scores = np.r_[sup.score(nominal), sup.score(suspicious)]
    labels = np.r_[np.zeros(200), np.ones(200)]
    assert roc_auc_score(labels, scores) > 0.97, sup.name


@pytest.mark.parametrize("false_alarm", [0.01, 0.05, 0.2])
def test_calibrated_threshold_hits_false_alarm_rate(false_alarm):
    sup = SoftmaxSupervisor(_identity(), "entropy")
    rng = np.random.default_rng(0)
    nominal = rng.normal(0, 1.0, (2000, 1, 1, K)).astype(np.float32)
    sup.calibrate(nominal, false_alarm)
    rejected = 1.0 - sup.accepts(nominal).mean()
    assert false_alarm - 1 / 2000 - 1e-9 <= rejected <= false_alarm + 1e-9
    fresh = rng.normal(0, 1.0, (2000, 1, 1, K)).astype(np.float32)
    # the calibration quantile and the fresh sample each add one binomial error
    se = np.sqrt(2 * false_alarm * (1 - false_alarm) / 2000)
    assert abs((1.0 - sup.accepts(fresh).mean()) - false_alarm) < 4 * se


def test_mc_dropout_scores_are_seeded_and_leave_model_alone():
    model = _dropout_model()
    nominal, _, suspicious = _data(20, seed=2)
    a = MCDropoutSupervisor(model, "mutual_information", seed=5)
    assert np.array_equal(a.score(suspicious), a.score(suspicious))
    assert isinstance(model[2], nn.Dropout)


def test_mc_dropout_needs_dropout_layers():
    with pytest.raises(DiverfuzzError, match="MC dropout needs a torch.nn.Module with dropout layers"):
        MCDropoutSupervisor(_identity())
    with pytest.raises(DiverfuzzError, match="dropout layers"):
        build_supervisors(_identity(), mc_model=nn.Linear(4, 4))


def test_bad_supervisor_arguments():
    sup = SoftmaxSupervisor(_identity(), "margin")
    with pytest.raises(DiverfuzzError, match="not calibrated"):
        sup.accepts(np.zeros((1, 1, 1, K), np.float32))
    with pytest.raises(DiverfuzzError, match=r"false_alarm=1.5 must be in \(0, 1\)"):
        sup.calibrate(np.zeros((3, 1, 1, K), np.float32), 1.5)
    with pytest.raises(DiverfuzzError, match="at least 2"):
        EnsembleSupervisor([_identity()])
    with pytest.raises(DiverfuzzError, match="kind='softmin'"):
        SoftmaxSupervisor(_identity(), "softmin")


def test_evaluate_supervisors_on_known_case():
    nominal, y, suspicious = _data(400, seed=3)
    scores = evaluate_supervisors(_all(), nominal, y, suspicious[:100], false_alarm=0.05, model=_identity())
    assert [s.name for s in scores] == list(SUPERVISORS)
    for s in scores:
        assert isinstance(s, SupervisorScore)
        assert set(s.to_dict()) == {"name", "auroc", "tpr_at_threshold", "nominal_acceptance", "accepted_accuracy"}
        assert s.auroc > 0.97 and s.tpr_at_threshold > 0.8, s
        assert 0.85 <= s.nominal_acceptance <= 1.0
        assert s.accepted_accuracy == 1.0


def test_evaluate_supervisors_without_divergences_gives_none():
    nominal, y, _ = _data(40, seed=4)
    (score,) = evaluate_supervisors(
        [SoftmaxSupervisor(_identity(), "deepgini")], nominal, y, nominal[:0], model=_identity()
    )
    assert score.to_dict()["auroc"] is None and score.to_dict()["tpr_at_threshold"] is None

"""Supervisors rank known-suspicious inputs first; thresholds hit the false-alarm rate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.supervisors import (
    SupervisorScore,
    build_supervisors,
    evaluate_supervisors,
)
from diverfuzz.supervisors.supervisor import (
    SUPERVISORS,
    EnsembleSupervisor,
    MCDropoutSupervisor,
    SoftmaxSupervisor,
)

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
    assert len(names) == 12
    assert [s.name for s in build_supervisors(_identity())] == ["max_softmax", "margin", "entropy", "deepgini"]


@pytest.mark.parametrize("index", range(12))
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
        row = s.to_dict()
        assert {"name", "auroc", "tpr_at_threshold", "nominal_acceptance", "accepted_accuracy"} <= set(row)
        assert row["monitored"] == "reference" and row["auroc_matched"] is None
        assert set(row["at"]) == {"S1", "S5", "S10"}
        assert s.auroc > 0.97 and s.tpr_at_threshold > 0.8, s
        assert s.auroc == s.auroc_nominal
        low, high = s.auroc_nominal_ci
        assert low <= s.auroc_nominal <= high
        assert 0.85 <= s.nominal_acceptance <= 1.0
        assert s.accepted_accuracy == 1.0


def test_evaluate_supervisors_without_divergences_gives_none():
    nominal, y, _ = _data(40, seed=4)
    (score,) = evaluate_supervisors(
        [SoftmaxSupervisor(_identity(), "deepgini")], nominal, y, nominal[:0], model=_identity()
    )
    assert score.to_dict()["auroc"] is None and score.to_dict()["tpr_at_threshold"] is None


def test_quantifiers_on_known_probabilities():
    from diverfuzz.supervisors import quantifiers as q

    p = np.array([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3]])
    assert q.max_softmax(p) == pytest.approx([0.3, 2 / 3])
    assert q.margin(p) == pytest.approx([0.5, 1.0])
    assert q.deepgini(p) == pytest.approx([1 - 0.54, 2 / 3])
    assert q.entropy(p) == pytest.approx([-(0.7 * np.log(0.7) + 0.2 * np.log(0.2) + 0.1 * np.log(0.1)), np.log(3)])
    # two samples of two inputs: input 0 split 1:1 between confident opposites, input 1 unanimous
    probs = np.array([[[0.9, 0.1], [0.8, 0.2]], [[0.1, 0.9], [0.8, 0.2]]])
    assert q.variation_ratio(probs) == pytest.approx([0.5, 0.0])
    assert q.mean_softmax(probs) == pytest.approx([0.5, 0.2])
    assert q.predictive_entropy(probs) == pytest.approx([np.log(2), q.entropy(np.array([0.8, 0.2]))])
    h9 = q.entropy(np.array([0.9, 0.1]))
    assert q.mutual_information(probs) == pytest.approx([np.log(2) - h9, 0.0], abs=1e-12)
    with pytest.raises(DiverfuzzError, match="quantity='variance'"):
        q.sampled_quantity(probs, "variance")


def test_auroc_matches_sklearn_and_bootstrap_is_seeded():
    from diverfuzz.supervisors.evaluation import auroc, bootstrap_auroc, bootstrap_rate

    rng = np.random.default_rng(0)
    pos, neg = rng.normal(1, 1, 60).round(1), rng.normal(0, 1, 90).round(1)  # with ties
    assert auroc(pos, neg) == pytest.approx(roc_auc_score(np.r_[np.ones(60), np.zeros(90)], np.r_[pos, neg]))
    a = bootstrap_auroc(pos, neg, np.random.default_rng(3), resamples=200)
    assert a == bootstrap_auroc(pos, neg, np.random.default_rng(3), resamples=200)
    assert a[0] < auroc(pos, neg) < a[1]
    # 95% interval of a proportion of 0.3 over 400: about +-1.96 * sqrt(0.3 * 0.7 / 400) = +-0.045
    lo, hi = bootstrap_rate(np.r_[np.ones(120), np.zeros(280)], np.random.default_rng(1), resamples=4000)
    assert lo == pytest.approx(0.3 - 0.045, abs=0.01) and hi == pytest.approx(0.3 + 0.045, abs=0.01)


def test_matched_negatives_give_their_own_auroc_and_thresholds_use_correct_nominal_inputs():
    nominal, y, suspicious = _data(400, seed=6)
    # matched negatives: as suspicious-looking as the positives -> chance AUROC
    rng = np.random.default_rng(7)
    matched = rng.normal(0, 0.05, (300, K)).astype(np.float32)
    matched[:, :2] += 2.0
    y_wrong = y.copy()
    y_wrong[:200] = (y_wrong[:200] + 1) % K  # half the labels wrong: those inputs never set thresholds
    (s,) = evaluate_supervisors(
        [SoftmaxSupervisor(_identity(), "margin")],
        nominal,
        y_wrong,
        suspicious[:100],
        matched_x=matched.reshape(300, 1, 1, K),
        model=_identity(),
        monitored="candidate",
    )
    assert s.monitored == "candidate" and s.n_matched == 300 and s.n_divergent == 100
    assert s.auroc_nominal > 0.97
    assert 0.35 < s.auroc_matched < 0.65
    assert s.auroc_matched_ci[0] < s.auroc_matched < s.auroc_matched_ci[1]
    assert 0.15 < s.average_precision < 0.45  # chance level: 100 / 400
    for key, fa in (("S1", 0.01), ("S5", 0.05), ("S10", 0.10)):
        at = s.at[key]
        assert at["false_alarm"] == fa
        assert at["accepted_accuracy"] == pytest.approx(0.5, abs=0.1)
        assert at["acceptance"] >= 1 - fa - 0.06
    with pytest.raises(DiverfuzzError, match="monitored='deployed'"):
        evaluate_supervisors([], nominal, y, suspicious, model=_identity(), monitored="deployed")

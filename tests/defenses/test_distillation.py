"""Defensive distillation: a sharper student at T = 1 that agrees with its teacher."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.defenses.distillation import distill
from diverfuzz.models.examples.digits import load_digits_data


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


@pytest.fixture(scope="module")
def distilled():
    data = load_digits_data()
    student, teacher = distill(_mlp, data, temperature=20.0, seed=0, epochs=6, lr=1e-2, return_teacher=True)
    return data, student, teacher


def test_student_softmax_at_t1_is_sharper_than_at_t(distilled):
    data, student, _ = distilled
    with torch.no_grad():
        logits = student(torch.from_numpy(data.x_test))
    p1 = torch.softmax(logits, dim=1).max(dim=1).values
    pt = torch.softmax(logits / 20.0, dim=1).max(dim=1).values
    assert float(p1.mean()) > float(pt.mean()) + 0.2
    assert bool((p1 >= pt - 1e-6).all())


def test_student_agrees_with_teacher(distilled):
    data, student, teacher = distilled
    x = torch.from_numpy(data.x_test)
    with torch.no_grad():
        agree = (student(x).argmax(1) == teacher(x).argmax(1)).float().mean()
    assert float(agree) >= 0.85
    assert not student.training


def test_distillation_is_deterministic_from_seed():
    data = load_digits_data()
    a = distill(_mlp, data, temperature=5.0, seed=3, epochs=1)
    b = distill(_mlp, data, temperature=5.0, seed=3, epochs=1)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("temperature", [0.0, -20.0, float("inf")])
def test_bad_temperature_raises(temperature):
    data = load_digits_data()
    with pytest.raises(DiverfuzzError, match=r"temperature=.* must be a finite number > 0"):
        distill(_mlp, data, temperature=temperature)


def test_bad_epochs_raise():
    with pytest.raises(DiverfuzzError, match="epochs=0"):
        distill(_mlp, load_digits_data(), epochs=0)


def test_dividing_logits_by_t_restores_the_gradient_attack():
    """Carlini and Wagner (2016): distillation at T = 100 masks gradients; the
    attacker who divides the logits by T gets them back."""
    from diverfuzz.defenses.distillation import fgsm_success

    data = load_digits_data()
    student = distill(_mlp, data, temperature=100.0, seed=0, epochs=10, lr=1e-2)
    x = torch.from_numpy(data.x_test).requires_grad_(True)
    nn.functional.cross_entropy(student(x), torch.from_numpy(data.y_test), reduction="sum").backward()
    vanished = float((x.grad.flatten(1).abs().sum(dim=1) == 0).float().mean())
    assert vanished > 0.2  # saturated softmax: no gradient at all on these inputs
    masked = fgsm_success(student, data.x_test, data.y_test, eps=0.2)
    restored = fgsm_success(student, data.x_test, data.y_test, eps=0.2, temperature=100.0)
    assert restored > masked + 0.3
    assert restored > 0.8

"""Randomized smoothing (Cohen et al. 2019): the paper's numbers on known base classifiers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.defenses.smoothing import (
    ABSTAIN,
    SmoothedModel,
    certified_accuracy,
    certify,
    lower_confidence_bound,
    predict,
)


class _Constant(nn.Module):
    """Always label 1 of 3."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor([0.0, 5.0, 0.0]).repeat(x.shape[0], 1) + 0 * x.flatten(1)[:, :1]


class _HalfPlane(nn.Module):
    """Label 1 where x[0] > 0.5, else label 0: the distance to the boundary is |x[0] - 0.5|."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.flatten(1)[:, :1] - 0.5
        return torch.cat([-s, s], dim=1) * 100.0


def _x(first: float, n: int = 1) -> np.ndarray:
    x = np.full((n, 1, 2, 2), 0.3, np.float32)
    x[:, 0, 0, 0] = first
    return x


def test_unanimous_vote_of_10000_at_alpha_0001_certifies_3_20_sigma():
    sigma = 0.5
    (cert,) = certify(_Constant(), _x(0.2), sigma, 100, 10_000, 0.001, np.random.default_rng(0))
    assert cert.label == 1
    assert cert.p_lower == pytest.approx(0.001 ** (1 / 10_000))
    assert cert.radius / sigma == pytest.approx(3.20, abs=0.005)


def test_prediction_with_10_draws_at_alpha_0001_always_abstains():
    # the smallest two-sided p-value with 10 draws is 2 * 0.5**10 = 0.00195 > 0.001
    labels = predict(_Constant(), _x(0.2, n=5), 0.25, 10, 0.001, np.random.default_rng(0))
    assert labels.tolist() == [ABSTAIN] * 5
    # and with enough draws the unanimous vote is returned
    assert predict(_Constant(), _x(0.2, n=2), 0.25, 12, 0.001, np.random.default_rng(0)).tolist() == [1, 1]


@pytest.mark.parametrize("distance", [0.1, 0.3])
def test_certified_radius_is_sound_and_tight_on_a_half_plane(distance):
    """For a linear boundary the smoothed classifier's true radius is the distance to it."""
    sigma = 0.25
    (cert,) = certify(_HalfPlane(), _x(0.5 + distance), sigma, 100, 20_000, 0.001, np.random.default_rng(1))
    assert cert.label == 1
    assert cert.radius <= distance
    assert cert.radius >= distance - 0.03


def test_certify_abstains_at_the_boundary_and_is_seeded():
    x = _x(0.5, n=3)
    a = certify(_HalfPlane(), x, 0.25, 50, 1000, 0.001, np.random.default_rng(2))
    assert all(c.label == ABSTAIN and c.radius == 0.0 for c in a)
    assert a == certify(_HalfPlane(), x, 0.25, 50, 1000, 0.001, np.random.default_rng(2))


def test_certified_accuracy_counts_correct_labels_beyond_the_radius():
    certs = certify(_HalfPlane(), np.concatenate([_x(0.9), _x(0.6), _x(0.1)]), 0.25, 50, 5000, 0.001, np.random.default_rng(3))
    y = np.array([1, 1, 1])  # the third is correctly certified as 0, so wrong here
    assert certified_accuracy(certs, y, 0.0) == pytest.approx(2 / 3)
    assert certified_accuracy(certs, y, 0.25) == pytest.approx(1 / 3)
    assert certified_accuracy(certs, y, 0.5) == 0.0


def test_lower_confidence_bound_is_clopper_pearson():
    from scipy.stats import binomtest

    # the Clopper-Pearson interval at confidence 1 - 2 alpha has our bound as its lower end
    ci = binomtest(70, 100).proportion_ci(confidence_level=0.9, method="exact")
    assert float(lower_confidence_bound(70, 100, 0.05)) == pytest.approx(ci.low)
    assert float(lower_confidence_bound(0, 100, 0.05)) == 0.0


def test_smoothed_model_is_deterministic_and_follows_the_base():
    model = SmoothedModel(_HalfPlane(), 0.1, input_shape=(1, 2, 2), draws=32, seed=4)
    x = torch.from_numpy(np.concatenate([_x(0.9), _x(0.1)]))
    with torch.no_grad():
        a, b = model(x), model(x)
        alone = model(x[:1])
    assert torch.equal(a, b)
    torch.testing.assert_close(alone, a[:1])
    assert a.argmax(dim=1).tolist() == [1, 0]


@pytest.mark.parametrize(
    "args, fragment",
    [((0.0, 10, 0.001), "sigma=0.0"), ((0.25, 0, 0.001), "n=0"), ((0.25, 10, 1.5), "alpha=1.5")],
)
def test_bad_arguments_raise(args, fragment):
    with pytest.raises(DiverfuzzError, match=fragment):
        predict(_Constant(), _x(0.2), *args, np.random.default_rng(0))

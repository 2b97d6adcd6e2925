"""PixelDP: noise off equals the plain network, scale and radius formulas, seeded certification."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.defenses.pixeldp import (
    PixelDPModel,
    PixelDPNoise,
    certify,
    layer_sensitivity,
    noise_scale,
    pixeldp_model,
    robust_epsilon,
)

SHAPE = (1, 8, 8)


def _net(seed: int = 0) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))


def _x(n: int = 12, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 1, 8, 8), dtype=np.float32)


def test_noise_off_equals_plain_network_with_normalised_first_layer():
    net = _net()
    before = copy.deepcopy(net.state_dict())
    model = pixeldp_model(net, input_shape=SHAPE, noise=False).eval()
    plain = copy.deepcopy(net).eval()
    with torch.no_grad():
        plain[0].weight /= layer_sensitivity(plain[0].weight, norm=2, q=2)
    x = torch.from_numpy(_x())
    with torch.no_grad():
        assert torch.equal(model(x), plain(x))
        infinite = pixeldp_model(net, input_shape=SHAPE, epsilon=math.inf).eval()
        assert torch.equal(infinite(x), model(x))
    # the user's network is untouched
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_normalised_layer_has_sensitivity_one():
    model = pixeldp_model(_net(), input_shape=SHAPE)
    layer = model.network[0]
    assert float(layer_sensitivity(layer.normalised_weight().detach(), norm=2, q=2)) == pytest.approx(1.0, rel=1e-5)
    laplace = pixeldp_model(_net(), input_shape=SHAPE, mechanism="laplace", delta=0.0, norm=1)
    w = laplace.network[0].normalised_weight().detach()
    assert float(w.abs().sum(dim=(0, 2, 3)).max()) == pytest.approx(1.0, rel=1e-5)


def test_noise_scale_matches_paper_formulas():
    assert noise_scale(0.5, 0.05, 0.1) == pytest.approx(math.sqrt(2 * math.log(1.25 / 0.05)) * 0.1 / 0.5)
    assert noise_scale(2.0, 0.0, 0.3, mechanism="laplace", sensitivity=2.0) == pytest.approx(0.3)
    layer = PixelDPNoise(1.0, 0.05, 0.1).train()
    sample = layer(torch.zeros(200, 16, 8, 8))
    assert float(sample.std()) == pytest.approx(layer.scale, rel=0.02)


def test_eval_forward_is_deterministic_and_batch_invariant():
    model = pixeldp_model(_net(), input_shape=SHAPE, draws=20, seed=3).eval()
    x = torch.from_numpy(_x())
    with torch.no_grad():
        a, b = model(x), model(x)
        alone = model(x[:1])
    assert torch.equal(a, b)
    torch.testing.assert_close(alone, a[:1], rtol=1e-5, atol=1e-6)


def test_robust_epsilon_solves_the_paper_condition():
    # Laplace (delta = 0): lower > exp(2 eps) upper  <=>  eps < ln(lower / upper) / 2
    assert robust_epsilon(0.9, 0.1, 0.0) == pytest.approx(0.5 * math.log(9))
    eps = robust_epsilon(0.9, 0.05, 0.01)
    assert 0.9 == pytest.approx(math.exp(2 * eps) * 0.05 + (1 + math.exp(eps)) * 0.01)
    assert robust_epsilon(0.3, 0.25, 0.05) == 0.0


class _Constant(nn.Module):
    """Always predicts label 2 with certainty, whatever the noise."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x.flatten(1))
        return torch.zeros_like(h) + torch.nn.functional.one_hot(torch.tensor(2), 10) * 1e4 + 0 * h


@pytest.mark.parametrize("epsilon", [0.25, 0.5, 1.0, 2.0])
def test_certified_radius_follows_the_formula(epsilon):
    """Radius = L * eps'/epsilon with eps' = ln(lower/upper)/2 (Laplace); with the
    noise scale b = L/epsilon fixed, the radius is b * eps', growing linearly with eps'."""
    L, n, eta = 0.1, 300, 0.05
    model = pixeldp_model(_Constant(), input_shape=SHAPE, mechanism="laplace", delta=0.0, norm=1, epsilon=epsilon, L=L)
    certs = certify(model, _x(3), n_draws=n, eta=eta, seed=0)
    lower = (eta / 10) ** (1 / n)  # Clopper-Pearson, all n draws on label 2
    upper = 1 - lower
    eps_star = 0.5 * math.log(lower / upper)
    for c in certs:
        assert c.label == 2
        assert c.lower == pytest.approx(lower) and c.upper == pytest.approx(upper)
        assert c.radius == pytest.approx(L * eps_star / epsilon)
        assert c.radius == pytest.approx(model.noise_layer.scale * eps_star)
        assert c.certified == (eps_star >= epsilon)


def test_certification_is_reproducible_from_a_seed():
    model = pixeldp_model(_net(), input_shape=SHAPE, epsilon=0.2, L=1.0).eval()
    x = _x(8)
    a = certify(model, x, n_draws=100, seed=7)
    b = certify(model, x, n_draws=100, seed=7)
    c = certify(model, x, n_draws=100, seed=8)
    assert a == b
    assert [(r.lower, r.upper) for r in a] != [(r.lower, r.upper) for r in c]
    # certification leaves the model's own noise seed and draws alone
    assert model.noise_layer.seed == 0 and model.draws == 300


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"epsilon": 0.0}, "epsilon=0.0 must be > 0"),
        ({"epsilon": -1.0}, "epsilon=-1.0 must be > 0"),
        ({"epsilon": 2.0}, "must be <= 1 for the Gaussian"),
        ({"delta": 0.0}, "delta=0.0 must be in (0, 1)"),
        ({"mechanism": "laplace", "delta": 0.05, "norm": 1}, "delta=0.05 must be 0"),
        ({"mechanism": "laplace", "delta": 0.0, "norm": 2}, "norm=2"),
        ({"L": 0.0}, "L=0.0 must be"),
        ({"draws": 0}, "draws=0 must be"),
        ({"mechanism": "cauchy"}, "mechanism='cauchy'"),
    ],
)
def test_bad_parameters_raise_clear_errors(params, fragment):
    with pytest.raises(DiverfuzzError, match=re_escape(fragment)):
        pixeldp_model(_net(), input_shape=SHAPE, **params)


def re_escape(s: str) -> str:
    import re

    return re.escape(s)


def test_certify_rejects_noise_off_and_plain_models():
    with pytest.raises(DiverfuzzError, match="noise off"):
        certify(pixeldp_model(_net(), input_shape=SHAPE, noise=False), _x(2))
    with pytest.raises(DiverfuzzError, match="PixelDPModel"):
        certify(_net(), _x(2))


def test_model_without_linear_layer_is_rejected():
    with pytest.raises(DiverfuzzError, match="Linear or Conv"):
        PixelDPModel(nn.Sequential(nn.Flatten()), input_shape=SHAPE)


@pytest.mark.slow
def test_train_pixeldp_on_digits_learns_and_certifies():
    from diverfuzz.defenses.pixeldp import certified_accuracy, train_pixeldp
    from diverfuzz.models.examples.digits import DigitsCNN, load_digits_data
    from diverfuzz.models.training import accuracy

    data = load_digits_data()
    model = train_pixeldp(DigitsCNN, data, seed=0, epochs=4, draws=20)
    assert accuracy(model, data.x_test[:200], data.y_test[:200]) > 0.4  # chance: 0.1
    certs = certify(model, data.x_test[:50], n_draws=100, seed=0)
    assert 0.0 <= certified_accuracy(certs, data.y_test[:50]) <= 1.0


@pytest.mark.slow
def test_warmed_up_model_quantizes_to_a_deterministic_counterpart(monkeypatch):
    from diverfuzz.models.precision import build_counterpart

    model = pixeldp_model(_net(), input_shape=SHAPE, draws=4).eval()
    x = _x(8)
    with monkeypatch.context() as m:  # tracing a model whose noise was never drawn is refused
        m.setattr(torch.compiler, "is_compiling", lambda: True)
        with pytest.raises(DiverfuzzError, match="warm_up"):
            model(torch.from_numpy(x))
    counterpart = build_counterpart("int8-static", model.warm_up((1, 8, 8)), x)
    t = torch.from_numpy(x)
    with torch.no_grad():
        assert torch.equal(counterpart(t), counterpart(t))
        torch.testing.assert_close(counterpart(t), model(t), atol=0.1, rtol=0.0)


def _power_iteration_norm(apply, adjoint, shape: tuple[int, ...], iters: int = 300) -> float:
    """Largest singular value of a linear map, by power iteration on ``adjoint(apply(v))``."""
    v = torch.randn((1, *shape), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for _ in range(iters):
        v = adjoint(apply(v))
        v = v / torch.linalg.vector_norm(v)
    return float(torch.linalg.vector_norm(apply(v)))


@pytest.mark.parametrize("padding, stride", [(1, 1), (0, 1), (1, 2)])
def test_conv_sensitivity_bounds_the_power_iteration_operator_norm(padding, stride):
    conv = nn.Conv2d(3, 5, 3, padding=padding, stride=stride, bias=False).double()
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=torch.Generator().manual_seed(1)))
    w = conv.weight.detach()
    out_shape = conv(torch.zeros(1, 3, 10, 10, dtype=torch.float64)).shape[1:]

    def apply(v):
        return torch.nn.functional.conv2d(v, w, padding=padding, stride=stride)

    def adjoint(u):
        out_pad = (10 + 2 * padding - 3) % stride
        return torch.nn.functional.conv_transpose2d(u, w, padding=padding, stride=stride, output_padding=out_pad)

    assert apply(torch.zeros(1, 3, 10, 10, dtype=torch.float64)).shape[1:] == out_shape
    true_norm = _power_iteration_norm(apply, adjoint, (3, 10, 10))
    bound = float(layer_sensitivity(w, norm=2, q=2))
    assert bound >= true_norm * (1 - 1e-6)
    # the bound is an over-estimate, but not a vacuous one (at most sqrt(9) = 3 times)
    assert bound <= 3.0 * true_norm
    # after PixelDP's normalisation the layer is a contraction
    normalised = w / bound
    assert _power_iteration_norm(
        lambda v: torch.nn.functional.conv2d(v, normalised, padding=padding, stride=stride),
        lambda u: torch.nn.functional.conv_transpose2d(
            u, normalised, padding=padding, stride=stride, output_padding=(10 + 2 * padding - 3) % stride
        ),
        (3, 10, 10),
    ) <= 1.0 + 1e-6


def test_linear_sensitivity_equals_the_power_iteration_operator_norm():
    w = torch.randn(7, 12, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    true_norm = _power_iteration_norm(lambda v: v @ w.T, lambda u: u @ w, (12,))
    assert float(layer_sensitivity(w, norm=2, q=2)) == pytest.approx(true_norm, rel=1e-6)
    # p = 1, q = 1: the largest column L1 norm, attained at a basis vector
    cols = [float(torch.linalg.vector_norm(w @ torch.eye(12, dtype=torch.float64)[i], ord=1)) for i in range(12)]
    assert float(layer_sensitivity(w, norm=1, q=1)) == pytest.approx(max(cols))


class _RegisteredBackwards(nn.Module):
    """Registers its Linear head before the Conv it calls first."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(4 * 8 * 8, 10)
        self.body = nn.Conv2d(1, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.body(x)).flatten(1))


def test_noise_goes_after_the_first_layer_the_forward_pass_runs():
    model = pixeldp_model(_RegisteredBackwards(), input_shape=SHAPE)
    assert type(model.network.body).__name__ == "_NormalisedNoisy"
    assert isinstance(model.network.head, nn.Linear)


def test_certified_label_is_the_predicted_label():
    from diverfuzz.models.inference import batched_logits

    # much noise (epsilon 0.1, L 1) and 3 prediction draws: the 50 certification
    # draws vote for other labels than the model predicts on every one of these inputs
    model = pixeldp_model(_net(), input_shape=SHAPE, epsilon=0.1, L=1.0, draws=3).eval()
    x = _x(40, seed=5)
    certs = certify(model, x, n_draws=50, seed=9)
    predicted = batched_logits(model, x).argmax(axis=1)
    assert [c.label for c in certs] == list(predicted)
    noise = model.noise_layer
    noise.seed, noise.draws = 9, 50
    with torch.no_grad():
        votes = torch.softmax(model.sample_logits(torch.from_numpy(x)), dim=-1).argmax(dim=-1).mode(dim=0).values
    assert (votes.numpy() != predicted).any()  # the old vote-based certificate would have certified other labels


def test_score_bounds_bound_the_mean_score_argmax_not_the_vote():
    from diverfuzz.defenses.pixeldp import score_bounds

    # 6 of 10 draws vote label 0 weakly, 4 vote label 1 with certainty: mean favours 1
    weak = np.array([0.4, 0.35, 0.25])
    sure = np.array([0.0, 1.0, 0.0])
    scores = np.stack([weak] * 6 + [sure] * 4)[:, None, :]
    labels, lower, upper = score_bounds(scores, eta=0.05)
    assert labels.tolist() == [1]
    labels0, _, _ = score_bounds(scores, eta=0.05, labels=np.array([0]))
    assert labels0.tolist() == [0]


@pytest.mark.parametrize("eta", [0.001, 0.05, 0.3])
def test_certification_honours_eta(eta):
    n = 300
    model = pixeldp_model(_Constant(), input_shape=SHAPE, mechanism="laplace", delta=0.0, norm=1, epsilon=0.5)
    (cert,) = certify(model, _x(1), n_draws=n, eta=eta, seed=0)
    assert cert.lower == pytest.approx((eta / 10) ** (1 / n))

"""Triage of divergences under Monte Carlo Arithmetic (issue 8)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.driver import run_campaign
from diverfuzz.fuzzer.campaign.workload import Workload
from diverfuzz.models.examples import load_digits_data, trained_digits_cnn
from diverfuzz.models.pair import ModelPair
from diverfuzz.oracles.triage import (
    PRECISION_INDUCED,
    REFERENCE_UNSTABLE,
    Triage,
    triage,
    triage_divergences,
)


class Cancelling(nn.Module):
    """Ill-conditioned on purpose: logits pass through ``(z + C) - C`` with ``C = 2**24``.

    The two operands are nearly equal large activations, so float32 keeps
    about one unit of each logit and rounding decides close labels.
    """

    def __init__(self, base: nn.Module, offset: float = 2.0**24) -> None:
        super().__init__()
        self.base, self.offset = base, offset

    def forward(self, x):
        z = self.base(x)
        return (z + self.offset) - self.offset


class Float64(nn.Module):
    """The same model computed in float64: differs from the float32 one only by rounding."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).double()

    def forward(self, x):
        return self.model(x.double()).float()


@pytest.fixture(scope="module")
def digits():
    data = load_digits_data()
    return data, trained_digits_cnn(0, data)


def test_triage_is_plain_data_and_reproducible():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 3))
    x = np.random.default_rng(0).uniform(0, 1, (5, 6)).astype(np.float32)
    a, b = triage(net, x, samples=4, seed=3), triage(net, x, samples=4, seed=3)
    assert a == b
    assert all(isinstance(r, Triage) and r.label == PRECISION_INDUCED for r in a)
    d = a[0].to_dict()
    assert set(d) == {"label", "significant_bits", "margin_bits", "label_stability", "reference_label", "samples", "t"}
    assert 10 < d["significant_bits"] <= 24 and d["label_stability"] == 1.0
    # one input alone triages like it does inside the batch
    alone = triage(net, x[2:3], samples=4, seed=3)[0]
    assert (alone.label, alone.label_stability) == (a[2].label, a[2].label_stability)
    assert alone.significant_bits == pytest.approx(a[2].significant_bits, abs=1e-6)
    assert triage(net, x[:0]) == []
    with pytest.raises(DiverfuzzError, match="samples|n="):
        triage(net, x, samples=1)


def test_ill_conditioned_reference_divergences_are_reference_unstable(digits, tmp_path):
    data, model = digits
    reference = Cancelling(model)
    pair = ModelPair(reference, Float64(reference))
    workload = Workload(pair, data.x_test, data.y_test, {"model": "cancelling", "candidate": "float64"})
    config = CampaignConfig(seeds=6, budget=120, candidate="float64", rng_seed=0)
    report = run_campaign(config, tmp_path / "ill", workload=workload).report
    divergences = report["divergences"]
    assert len(divergences) >= 3
    rows = triage_divergences(reference, data.x_test, divergences, samples=16, seed=0)
    assert len(rows) == len(divergences)
    assert all(r["label"] == REFERENCE_UNSTABLE for r in rows), rows
    assert all(r["label_stability"] < 1.0 and r["margin_bits"] < 4 for r in rows)
    assert rows == triage_divergences(reference, data.x_test, divergences, samples=16, seed=0)


def test_int4_counterpart_divergences_are_precision_induced(digits, tmp_path):
    data, model = digits
    report = run_campaign(CampaignConfig(seeds=5, budget=150, precision="int:4"), tmp_path / "int4").report
    divergences = report["divergences"]
    assert divergences, "a short campaign against int4 finds divergences"
    rows = triage_divergences(model, data.x_test, divergences, samples=16, seed=0)
    labels = [r["label"] for r in rows]
    # The reference keeps ~20 significant bits at these inputs: int4 error dwarfs
    # float32 noise. (An input at reference p~0.5 could in principle flip; none
    # does with this seed, and the majority rule below is what the issue promises.)
    assert labels.count(PRECISION_INDUCED) > len(labels) / 2
    assert all(r["label"] == PRECISION_INDUCED for r in rows), rows
    assert min(r["significant_bits"] for r in rows) > 12

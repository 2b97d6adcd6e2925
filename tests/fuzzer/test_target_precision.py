"""Model pairs and named precision counterparts on the bundled digits CNN."""

import numpy as np
import pytest
import torch

from diverfuzz.common.errors import DiverfuzzError, ModelError
from diverfuzz.models.examples.digits import (
    accuracy,
    load_digits_data,
    trained_digits_cnn,
)
from diverfuzz.models.pair import ModelPair, fingerprint
from diverfuzz.models.precision import PRECISIONS, build_counterpart


@pytest.fixture(scope="module")
def digits():
    return load_digits_data()


@pytest.fixture(scope="module")
def model(digits):
    return trained_digits_cnn(0, digits)


def test_bundled_model_is_accurate_and_cached_deterministically(model, digits):
    assert accuracy(model, digits.x_test, digits.y_test) >= 0.95
    again = trained_digits_cnn(0, digits)
    assert fingerprint(again) == fingerprint(model)


@pytest.mark.parametrize("name", list(PRECISIONS))
def test_counterparts_are_close_but_not_identical(name, model, digits):
    before = fingerprint(model)
    counterpart = build_counterpart(name, model, digits.x_train)
    assert fingerprint(model) == before, "the reference must not be modified"
    pair = ModelPair(model, counterpart)
    ref, cand = pair.logits(digits.x_test)
    assert cand.shape == ref.shape == (len(digits.x_test), 10)
    agreement = (ref.argmax(1) == cand.argmax(1)).mean()
    assert agreement >= 0.97
    assert accuracy(counterpart, digits.x_test, digits.y_test) >= 0.93
    assert not np.array_equal(ref, cand), f"{name} computes exactly like float32"
    # Batching does not change the counterpart's answers beyond its own rounding.
    small = ModelPair(model, counterpart, batch_size=7).logits(digits.x_test[:20])[1]
    np.testing.assert_allclose(small, cand[:20], atol=0.05)


def test_unknown_precision(model, digits):
    with pytest.raises(DiverfuzzError, match="int3"):
        build_counterpart("int3", model, digits.x_train)


def test_precision_needs_a_module(digits):
    with pytest.raises(DiverfuzzError, match="torch.nn.Module"):
        build_counterpart("fp16", lambda x: x, digits.x_train)


def test_pair_sets_eval_mode_and_counts_queries():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(4, 3))
    net.train()
    pair = ModelPair(net, net, batch_size=2)
    assert not net.training
    x = np.random.default_rng(0).random((5, 1, 2, 2), dtype=np.float32)
    ref, cand = pair.logits(x)
    np.testing.assert_array_equal(ref, cand)
    assert pair.queries == 5


def test_pair_reports_a_raising_model():
    def broken(x):
        raise RuntimeError("boom")

    pair = ModelPair(lambda x: torch.zeros(len(x), 2), broken)
    with pytest.raises(ModelError, match="candidate model raised RuntimeError: boom"):
        pair.logits(np.zeros((1, 1, 2, 2), dtype=np.float32))


def test_pair_rejects_bad_outputs_and_non_models():
    with pytest.raises(ModelError, match="shape"):
        ModelPair(lambda x: torch.zeros(len(x)), lambda x: torch.zeros(len(x))).logits(np.zeros((2, 1, 1, 1), np.float32))
    with pytest.raises(ModelError, match="classes"):
        ModelPair(lambda x: torch.zeros(len(x), 2), lambda x: torch.zeros(len(x), 3)).logits(np.zeros((2, 1, 1, 1), np.float32))
    with pytest.raises(ModelError, match="not a model"):
        ModelPair(3, lambda x: x)

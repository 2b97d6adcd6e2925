"""The bundled MNIST example: real 28x28 digits, deterministic split, LeNets that learn."""

from __future__ import annotations

import numpy as np
import torch

from diverfuzz.models.examples import EXAMPLES
from diverfuzz.models.examples.mnist import (
    LeNet1,
    LeNet5,
    load_mnist_data,
    trained_lenet1,
    trained_lenet5,
)
from diverfuzz.models.training import accuracy, cache_dir


def test_split_is_deterministic_stratified_and_scaled():
    a, b = load_mnist_data(), load_mnist_data()
    assert a.x_train.shape == (4000, 1, 28, 28) and a.x_test.shape == (1000, 1, 28, 28)
    assert a.x_train.dtype == np.float32 and 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert np.bincount(a.y_test, minlength=10).tolist() == [100] * 10


def test_architectures_have_lenet_shapes():
    x = torch.zeros(2, 1, 28, 28)
    assert LeNet1()(x).shape == (2, 10) and LeNet5()(x).shape == (2, 10)
    assert sum(p.numel() for p in LeNet1().parameters()) < 5_000
    assert sum(p.numel() for p in LeNet5().parameters()) > 50_000


def test_trained_lenets_generalise_and_are_registered():
    # The session's weights cache: CI trains each LeNet once here, and every
    # later test that needs one loads it.
    data = load_mnist_data()
    for build in (trained_lenet1, trained_lenet5):
        assert accuracy(build(0, data), data.x_test, data.y_test) > 0.93
    assert EXAMPLES["mnist"].kind == "image"
    assert sorted(p.name for p in cache_dir().glob("mnist_lenet*_seed0.safetensors")) == [
        "mnist_lenet1_v1_seed0.safetensors",
        "mnist_lenet5_v1_seed0.safetensors",
    ]
    cached = trained_lenet5(0)  # loaded from the cache
    assert accuracy(cached, data.x_test, data.y_test) > 0.93

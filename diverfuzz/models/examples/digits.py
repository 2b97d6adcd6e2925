"""A small CNN on scikit-learn's 8x8 digits, trained in seconds, cached on disk.

The data is the real UCI handwritten-digits set bundled with scikit-learn
(1,797 images, 8x8, 16 grey levels), scaled to ``[0, 1]`` and split 70/30
with a fixed split seed. Training is deterministic given ``seed``; the
weights are cached as safetensors in the user cache directory, keyed by seed
and architecture version.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from diverfuzz.models.training import (
    ExampleData,
    accuracy,
    cache_dir,
    cached_model,
    train_classifier,
)

ARCH_VERSION = 1
SPLIT_SEED = 0

DigitsData = ExampleData


def load_digits_data() -> ExampleData:
    """Load scikit-learn's digits and split them 70/30 (stratified, fixed seed)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.3, random_state=SPLIT_SEED, stratify=y
    )
    return ExampleData(x_train, y_train, x_test, y_test)


class DigitsCNN(nn.Module):
    """Two 3x3 convolutions, max-pooling and two linear layers (about 40k weights)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(32 * 4 * 4, 64),
            nn.ReLU(),
            nn.Linear(64, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def train_digits_cnn(data: ExampleData, *, seed: int = 0, epochs: int = 40) -> DigitsCNN:
    """Train :class:`DigitsCNN` deterministically from ``seed`` (about 5 s on CPU)."""
    return train_classifier(DigitsCNN, data, seed=seed, epochs=epochs)


def trained_digits_cnn(seed: int = 0, data: ExampleData | None = None) -> DigitsCNN:
    """The bundled reference model: trained once from ``seed``, then loaded from cache."""
    return cached_model(
        f"digits_cnn_v{ARCH_VERSION}_seed{seed}",
        DigitsCNN,
        lambda: train_digits_cnn(data or load_digits_data(), seed=seed),
    )


class DropoutDigitsCNN(DigitsCNN):
    """:class:`DigitsCNN` with dropout (p = 0.3) before each linear layer: the MC-dropout companion."""

    def __init__(self) -> None:
        super().__init__()
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Dropout(0.3), nn.Linear(64, 10)
        )


#: Training seeds of the deep-ensemble companion (the reference is seed 0).
ENSEMBLE_SEEDS = (1, 2, 3, 4, 5)


def trained_digits_dropout_cnn(seed: int = 0, data: ExampleData | None = None) -> DropoutDigitsCNN:
    """The dropout variant, trained like the reference (one loop, 40 epochs), cached."""
    return cached_model(
        f"digits_cnn_dropout_v{ARCH_VERSION}_seed{seed}",
        DropoutDigitsCNN,
        lambda: train_classifier(DropoutDigitsCNN, data or load_digits_data(), seed=seed, epochs=40),
    )


def trained_digits_ensemble(data: ExampleData | None = None) -> list[DigitsCNN]:
    """Five digits CNNs trained like the reference from seeds :data:`ENSEMBLE_SEEDS`, cached."""
    data = data or load_digits_data()
    return [trained_digits_cnn(seed, data) for seed in ENSEMBLE_SEEDS]


def default_model() -> DigitsCNN:
    """Zero-argument factory for ``--model``: the bundled digits CNN (seed 0)."""
    return trained_digits_cnn(0)


__all__ = [
    "DigitsCNN",
    "DigitsData",
    "DropoutDigitsCNN",
    "ENSEMBLE_SEEDS",
    "accuracy",
    "cache_dir",
    "default_model",
    "load_digits_data",
    "train_digits_cnn",
    "trained_digits_cnn",
    "trained_digits_dropout_cnn",
    "trained_digits_ensemble",
]

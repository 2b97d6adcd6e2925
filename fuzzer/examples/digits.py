"""A small CNN on scikit-learn's 8x8 digits, trained in seconds, cached on disk.

The data is the real UCI handwritten-digits set bundled with scikit-learn
(1,797 images, 8x8, 16 grey levels), scaled to ``[0, 1]`` and split 70/30
with a fixed split seed. Training is deterministic given ``seed``: weight
initialisation runs under a forked, seeded torch RNG and batches are shuffled
by a ``torch.Generator``; the weights are cached as safetensors in the user
cache directory, keyed by seed and architecture version.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

ARCH_VERSION = 1
SPLIT_SEED = 0


@dataclass(frozen=True)
class DigitsData:
    """Train/test split of the digits, float32 ``(N, 1, 8, 8)`` in ``[0, 1]``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_data() -> DigitsData:
    """Load scikit-learn's digits and split them 70/30 (stratified, fixed seed)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.3, random_state=SPLIT_SEED, stratify=y
    )
    return DigitsData(x_train, y_train, x_test, y_test)


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


def cache_dir() -> Path:
    """Where trained weights are cached (``$DIVERFUZZ_CACHE`` or the user cache dir)."""
    override = os.environ.get("DIVERFUZZ_CACHE")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("diverfuzz"))


def train_digits_cnn(data: DigitsData, *, seed: int = 0, epochs: int = 40) -> DigitsCNN:
    """Train :class:`DigitsCNN` deterministically from ``seed`` (a few seconds on CPU)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitsCNN()
    generator = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(data.x_train)
    y = torch.from_numpy(data.y_train)
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 64):
            idx = order[start : start + 64]
            optimiser.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            optimiser.step()
    return model.eval()


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of ``model`` on ``(x, y)``."""
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(dim=1).numpy()
    return float((pred == y).mean())


def trained_digits_cnn(seed: int = 0, data: DigitsData | None = None) -> DigitsCNN:
    """The bundled reference model: trained once from ``seed``, then loaded from cache.

    Weights are stored with safetensors (no pickle); a corrupt cache file is
    retrained and replaced.
    """
    from safetensors.torch import load_file, save_file

    path = cache_dir() / f"digits_cnn_v{ARCH_VERSION}_seed{seed}.safetensors"
    model = DigitsCNN()
    if path.exists():
        try:
            model.load_state_dict(load_file(str(path)))
            return model.eval()
        except Exception:  # corrupt or stale cache: retrain below
            pass
    model = train_digits_cnn(data or load_digits_data(), seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
    os.replace(tmp, path)
    return model


def default_model() -> DigitsCNN:
    """Zero-argument factory for ``--model``: the bundled digits CNN (seed 0)."""
    return trained_digits_cnn(0)

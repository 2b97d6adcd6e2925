"""A small 1-D CNN on SYNTHETIC multi-channel activity windows.

Stands in for human-activity recognition on a microcontroller (three
accelerometer axes, 64 samples per window). No such data ships in a Python
package, so windows are generated deterministically: rest (sensor noise
around a gravity offset), walk (2 Hz gait oscillation), run (faster, larger
oscillation) and jump (sparse impacts), with per-window random phase,
amplitude and noise, scaled into [0, 1]. Everything here is synthetic and
says so wherever a user sees it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from diverfuzz.models.training import ExampleData, cached_model, train_classifier

ARCH_VERSION = 1
CHANNELS = 3
LENGTH = 64
CLASSES = 4  # rest, walk, run, jump
DATA_SEED = 7


def load_signal_data(n: int = 1200) -> ExampleData:
    """Synthetic activity windows ``(n, 3, 64)`` in [0, 1], 70/30 split, fixed seed."""
    rng = np.random.default_rng(DATA_SEED)
    t = np.arange(LENGTH) / 32.0  # 32 Hz sampling, 2 s windows
    y = np.arange(n) % CLASSES
    rng.shuffle(y)
    x = np.empty((n, CHANNELS, LENGTH))
    for i, label in enumerate(y):
        phase = rng.uniform(0, 2 * np.pi, size=(CHANNELS, 1))
        gain = rng.uniform(0.7, 1.3, size=(CHANNELS, 1))
        base = np.array([[0.0], [0.0], [0.5]])  # gravity on the z axis
        if label == 0:
            motion = np.zeros((CHANNELS, LENGTH))
        elif label in (1, 2):
            freq, amp = (2.0, 0.25) if label == 1 else (3.2, 0.45)
            motion = amp * gain * np.sin(2 * np.pi * freq * t + phase)
        else:
            motion = np.zeros((CHANNELS, LENGTH))
            for hit in rng.choice(LENGTH - 4, size=3, replace=False):
                motion[:, hit : hit + 3] += 0.6 * gain
        x[i] = base + motion + rng.normal(0.0, 0.05, size=(CHANNELS, LENGTH))
    x = np.clip(0.5 + 0.4 * x, 0.0, 1.0).astype(np.float32)
    cut = int(0.7 * n)
    return ExampleData(x[:cut], y[:cut].astype(np.int64), x[cut:], y[cut:].astype(np.int64))


class SignalCNN(nn.Module):
    """Two 1-D convolutions, global average pooling and a linear classifier.

    ``channels`` and ``classes`` default to the synthetic windows'; the real HAR example
    (:mod:`diverfuzz.models.examples.har`) uses the same network on its own sizes.
    """

    def __init__(self, channels: int = CHANNELS, classes: int = CLASSES) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(channels, 16, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(16, 32, 5, padding=2),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(1),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def trained_signal_cnn(seed: int = 0, data: ExampleData | None = None) -> SignalCNN:
    """The bundled signal model, trained from ``seed`` on the synthetic windows, cached."""
    return cached_model(
        f"signal_cnn_v{ARCH_VERSION}_seed{seed}",
        SignalCNN,
        lambda: train_classifier(SignalCNN, data or load_signal_data(), seed=seed, epochs=30),
    )

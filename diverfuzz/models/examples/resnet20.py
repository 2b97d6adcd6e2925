"""ResNet-20 for CIFAR-10 with the weights akamaster/pytorch_resnet_cifar10 trained (BSD-2-Clause).

The architecture is written here (He et al. 2016, the CIFAR variant, as in
akamaster's ``resnet.py``): a 3x3 convolution to 16 channels, three stages of
three basic blocks (16, 32, 64 channels; the first block of stages 2 and 3
strides by 2), option A shortcuts (the strided identity ``x[:, :, ::2, ::2]``
padded with ``planes // 4`` zero channels on each side), global average
pooling and a linear layer 64 -> 10. Layer names follow the checkpoint's keys.

Nothing is trained or downloaded: the checkpoint ``resnet20-12fca82f.th`` is
read from ``$DIVERFUZZ_RESNET20``, else from
``../shared/realpairs/resnet20-cifar10/`` beside the repository (see
:mod:`diverfuzz.models.examples.realpairs`); absent, a one-line error says so.

Inputs are CIFAR-10 images as float ``[0, 1]`` ``(N, 3, 32, 32)``. The network
was trained on inputs normalised with mean (0.485, 0.456, 0.406) and std
(0.229, 0.224, 0.225); :func:`resnet20_cifar10` applies that normalisation
itself (a :class:`~diverfuzz.models.preprocessed.Preprocessed` wrapper, which
counterpart builders keep in float and do not quantize), so do NOT also pass
``--mean``/``--std``::

    diverfuzz --model diverfuzz/models/examples/resnet20.py:resnet20_cifar10 \\
        --precision int8-static --data ../shared/realpairs/cifar10-test

:func:`resnet20_network` gives the bare network (normalised inputs).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from diverfuzz.models.examples.realpairs import realpairs_file
from diverfuzz.models.preprocess import Preprocess
from diverfuzz.models.preprocessed import Preprocessed
from diverfuzz.models.training import ExampleData

#: The checkpoint, relative to the real pairs' folder; ``$CHECKPOINT_ENV`` overrides it.
CHECKPOINT = "resnet20-cifar10/resnet20-12fca82f.th"
CHECKPOINT_ENV = "DIVERFUZZ_RESNET20"
#: The 1,000 CIFAR-10 test images (ImageFolder layout), relative to the real pairs' folder.
IMAGES = "cifar10-test"
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm; an option A shortcut where the shape changes."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pad = planes // 4 if stride != 1 or in_planes != planes else 0

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if not self.pad:
            return x
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNetCifar(nn.Module):
    """ResNet for CIFAR (6n + 2 layers); ``blocks=3`` is ResNet-20."""

    def __init__(self, blocks: int = 3, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        in_planes = 16
        stages = []
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            layers = []
            for i in range(blocks):
                layers.append(BasicBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def resnet20_network() -> ResNetCifar:
    """The bare ResNet-20 with akamaster's weights, in eval mode; expects normalised inputs."""
    path = realpairs_file(CHECKPOINT, what="ResNet-20 CIFAR-10 checkpoint", env=CHECKPOINT_ENV)
    checkpoint = torch.load(path, weights_only=True, map_location="cpu")
    state = checkpoint.get("state_dict", checkpoint)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model = ResNetCifar()
    model.load_state_dict(state)
    return model.eval()


def resnet20_cifar10() -> Preprocessed:
    """ResNet-20 behind its input normalisation: takes ``[0, 1]`` ``(N, 3, 32, 32)`` images.

    The ``--model FILE.py:FUNC`` factory. Pass no ``--mean``/``--std``: the
    normalisation is applied here (and stays float in every counterpart).
    """
    return Preprocessed(resnet20_network(), Preprocess(mean=MEAN, std=STD))


def load_cifar10_data() -> ExampleData:
    """The 1,000 CIFAR-10 test images, split 50/50 per class (even-numbered files calibrate, odd ones are seeds)."""
    from diverfuzz.models.data import load_image_folder

    x, y = load_image_folder(realpairs_file(IMAGES, what="CIFAR-10 test images"))
    assert y is not None
    calibrate = (np.arange(len(y)) % 2) == 0
    return ExampleData(x[calibrate], y[calibrate], x[~calibrate], y[~calibrate])


def trained_resnet20(seed: int = 0, data: ExampleData | None = None) -> Preprocessed:
    """The registry's loader: akamaster's weights as they are (``seed`` and ``data`` are ignored: nothing is trained)."""
    del seed, data
    return resnet20_cifar10()

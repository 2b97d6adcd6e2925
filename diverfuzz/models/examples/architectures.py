"""Real-size architectures for benchmarks: a ResNet-20 at 3x32x32 and a MobileNetV2 at 3x224x224.

Defined here rather than taken from torchvision: the registry's torchvision
wheels do not load their C++ operators beside the CPU torch 2.13 build, and
these two need nothing but ``torch.nn``.

The weights are **untrained** (seeded He initialisation, batch-norm
statistics at their defaults): these models measure throughput and memory
at real input sizes, not accuracy, and divergence rates found on them say
nothing about trained networks.

Notes
-----
- ResNet-20: He et al., "Deep Residual Learning for Image Recognition",
  CVPR 2016, Sec. 4.2 (CIFAR-10 network, n=3: 6n+2 = 20 layers, 16/32/64
  channels, option A shortcuts replaced by 1x1 projection convolutions;
  about 0.27M weights).
- MobileNetV2: Sandler et al., "MobileNetV2: Inverted Residuals and Linear
  Bottlenecks", CVPR 2018, Table 2 (width 1.0, 1000 classes; about 3.5M
  weights).
"""

from __future__ import annotations

import torch
from torch import nn


def _init(model: nn.Module, seed: int) -> nn.Module:
    """He-normal (fan-in) convolutions and linear layers from a private generator; eval mode.

    Fan-in, not torchvision's fan-out: without trained batch-norm statistics
    to rescale them, fan-out depthwise convolutions shrink activations by
    sqrt(channels) per block and MobileNetV2's logits collapse to ~1e-10.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu", generator=gen)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, m.in_features**-0.5, generator=gen)
                m.bias.zero_()
    return model.eval()


class _Basic(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet20(nn.Module):
    """ResNet-20 for 3x32x32 inputs, 10 classes."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        layers, cin = [], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(3):
                layers.append(_Basic(cin, cout, stride if i == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.stem(x))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class _Inverted(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout),
        ]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (width 1.0) for 3x224x224 inputs, 1000 classes."""

    #: (expansion t, channels c, repeats n, first stride s), Sandler et al. Table 2.
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6()]
        cin = 32
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(_Inverted(cin, c, s if i == 0 else 1, t))
                cin = c
        layers += [nn.Conv2d(cin, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(1280, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


def resnet20(seed: int = 0) -> ResNet20:
    """An untrained ResNet-20 (3x32x32 -> 10 logits), seeded; for throughput only."""
    return _init(ResNet20(), seed)


def mobilenet_v2(seed: int = 0) -> MobileNetV2:
    """An untrained MobileNetV2 (3x224x224 -> 1000 logits), seeded; for throughput only."""
    return _init(MobileNetV2(), seed)


__all__ = ["MobileNetV2", "ResNet20", "mobilenet_v2", "resnet20"]
